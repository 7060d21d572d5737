#!/usr/bin/env python3
"""A nightly database dump in the lab: MariaDB in a private directory, the dump job under sfn-agent.

In production the job (job.sh) is the image's command and the database is somewhere else.  Here this
runner starts a MariaDB server of its own (a private datadir, a unix socket under a temporary
directory, no network), loads a few rows (seed.sql), creates the state machine `sfn-agent template`
writes, plays ECS with the agent as the ENTRYPOINT, and runs the execution the way an operator does:
`sfn-agent start --state-machine ARN --input JSON`, which waits and prints the output.

    python3 examples/db-dump/run.py [--bin ./sfn-agent] [--keep]

Needs mariadb-server and mariadb-client (setup.sh installs them when run as root).
"""
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "lab"))
import flow  # noqa: E402

JOB = os.path.join(HERE, "job.sh")
DB_NAME = "shop"


def _find(name):
	for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/bin", "/sbin"]:
		p = os.path.join(d, name)
		if os.path.isfile(p) and os.access(p, os.X_OK):
			return p
	return None


def tools():
	"""{name: path} of the MariaDB programs this example needs; runs setup.sh when one is missing."""
	names = {"server": ("mariadbd", "mysqld"), "install": ("mariadb-install-db", "mysql_install_db"),
		 "client": ("mariadb", "mysql"), "dump": ("mysqldump", "mariadb-dump")}

	def look():
		return {k: next((p for p in map(_find, v) if p), None) for k, v in names.items()}
	found = look()
	if not all(found.values()):
		p = subprocess.run([os.path.join(HERE, "setup.sh")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
		if p.returncode != 0:
			raise RuntimeError(p.stderr.decode("utf-8", "replace").strip())
		found = look()
	missing = [names[k][0] for k, v in found.items() if not v]
	if missing:
		raise RuntimeError("examples/db-dump needs %s: run examples/db-dump/setup.sh as root" % ", ".join(missing))
	return found


class MariaDB:
	"""A throwaway MariaDB server: its own datadir and socket under `work`, no TCP port, stopped by stop()."""

	def __init__(self, work, stream):
		self.dir = os.path.join(work, "mariadb")
		self.datadir = os.path.join(self.dir, "data")
		self.socket = os.path.join(self.dir, "mysqld.sock")
		self.stream = stream
		self.proc = None
		self.tools = tools()

	def start(self, timeout=60):
		os.makedirs(self.dir, exist_ok=True)
		# --no-defaults: nothing from /etc/mysql may point this server at the system's files or port.
		# --user=root: the lab runs as root and mariadbd refuses root without it; as another user the
		# server simply runs as that user.
		user = ["--user=root"] if os.geteuid() == 0 else []
		t0 = time.monotonic()
		p = subprocess.run([self.tools["install"], "--no-defaults", *user, "--datadir=" + self.datadir,
				    "--auth-root-authentication-method=socket", "--skip-test-db"],
				   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
		if p.returncode != 0:
			raise RuntimeError("mariadb-install-db failed: %s" % p.stdout.decode("utf-8", "replace")[-800:])
		self.log = open(os.path.join(self.dir, "mariadbd.log"), "wb")
		self.proc = subprocess.Popen([self.tools["server"], "--no-defaults", *user, "--datadir=" + self.datadir,
					      "--socket=" + self.socket, "--skip-networking",
					      "--pid-file=" + os.path.join(self.dir, "mariadbd.pid"),
					      "--innodb-buffer-pool-size=16M"],
					     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
		deadline = time.monotonic() + timeout
		while not self._ping():
			if self.proc.poll() is not None or time.monotonic() > deadline:
				self.stop()
				raise RuntimeError("mariadbd did not start: %s" % open(self.log.name, errors="replace").read()[-800:])
			time.sleep(0.1)
		self.stream.line("mariadb", "server up in %.1fs on unix socket %s (no TCP)" % (time.monotonic() - t0,
											   self.socket))
		return self

	def _ping(self):
		if not os.path.exists(self.socket):
			return False
		return subprocess.run([self.tools["client"], "--no-defaults", "--socket=" + self.socket, "-uroot",
				       "-e", "SELECT 1"], capture_output=True).returncode == 0

	def sql(self, text):
		p = subprocess.run([self.tools["client"], "--no-defaults", "--socket=" + self.socket, "-uroot",
				    "--batch", "--skip-column-names"], input=text.encode(), capture_output=True)
		if p.returncode != 0:
			raise RuntimeError("SQL failed: %s" % p.stderr.decode("utf-8", "replace"))
		return p.stdout.decode()

	def stop(self):
		if self.proc and self.proc.poll() is None:
			self.proc.terminate()     # mariadbd shuts down cleanly on SIGTERM
			try:
				self.proc.wait(30)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		if self.proc:
			self.log.close()


def run(lab, agent, stream, work):
	stream.header("a MariaDB server for the job to dump (in production: your database)")
	db = MariaDB(work, stream).start()
	try:
		db.sql(open(os.path.join(HERE, "seed.sql")).read())
		counts = db.sql("SELECT COUNT(*) FROM shop.customers; SELECT COUNT(*) FROM shop.orders;").split()
		stream.line("mariadb", "loaded seed.sql: %s customers, %s orders in database %r" % (
			counts[0], counts[1], DB_NAME))
		dump_dir = os.path.join(work, "dumps")
		os.makedirs(dump_dir)

		stream.header("the state machine (from `sfn-agent template`)")
		sm, how = flow.state_machine(lab, agent, stream)

		stream.header("the nightly run: the operator starts it; ECS runs job.sh under sfn-agent")
		# What a task definition's "environment" would hold; the lab runs no image, so the input names
		# the job (in production it is the image's CMD and the input can be {}).
		env = {"DB_NAME": DB_NAME, "DB_SOCKET": db.socket, "DUMP_DIR": dump_dir, "SFN_AGENT_HEARTBEAT": "5"}
		r = flow.workflow(lab, agent, sm, {"commands": [JOB]}, stream, env_extra=env)
		return {"result": r, "dump_dir": dump_dir, "how": how, "rows": db.sql(
			"SELECT id, name FROM shop.customers ORDER BY id;").splitlines()}
	finally:
		db.stop()
		stream.line("mariadb", "server stopped")


def verify(out):
	"""What the operator would check by hand: the output names a dump that is on disk, whole and intact."""
	r = out["result"]
	problems = []
	if r.returncode != 0 or (r.execution or {}).get("status") != "SUCCEEDED":
		return ["the controller exited %s, the execution is %s" % (r.returncode, (r.execution or {}).get("status"))]
	o = r.output or {}
	path = o.get("dumpFile", "")
	if not path or os.path.dirname(path) != out["dump_dir"] or not os.path.isfile(path):
		return ["the output %r names no dump file in %s" % (o, out["dump_dir"])]
	data = open(path, "rb").read()
	if o.get("bytes") != len(data):
		problems.append("the output says %r bytes, the file has %d" % (o.get("bytes"), len(data)))
	if o.get("sha256") != hashlib.sha256(data).hexdigest():
		problems.append("the output's sha256 %r is not the file's" % o.get("sha256"))
	sql = gzip.decompress(data).decode("utf-8", "replace")
	for row in out["rows"]:
		rid, name = row.split("\t")
		if "(%s,'%s'" % (rid, name) not in sql:
			problems.append("the dump lacks customer row %s %r" % (rid, name))
	return problems


if __name__ == "__main__":
	sys.exit(flow.example_main(sys.argv[1:], __doc__, run, verify))
