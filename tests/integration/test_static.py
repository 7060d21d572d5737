"""The static build (dist/sfn-agent, from `make static`) in an empty image.

A "FROM scratch" container is imitated with namespaces: a directory holding only the agent, a
static busybox for the command's shell, /dev/null and /proc, entered with
`unshare --pid --fork --mount-proc` and `chroot`, so the agent runs as PID 1 with no libc, no CA
files and no /tmp around it, and reports to the lab over loopback (plain HTTP, then HTTPS through
a TLS proxy with a throwaway CA)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import check_stderr, execution, sent, sent_output, stderr_text, task_env  # noqa: E402
from tls import TlsFront, make_ca, make_server_cert  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STATIC = os.path.join(ROOT, "dist", "sfn-agent")
BUDGET = 3 * 1024 * 1024  # bytes, CA bundle included (scripts/static.sh enforces the same)
BUSYBOX = "/bin/busybox"
TIMEOUT = 150  # seconds per test (run.py); the refused-CA test waits for the agent to give up
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


def static_bin():
	assert os.path.isfile(STATIC), "%s is missing: run make static first" % STATIC
	return STATIC


# -- the binary itself

def test_static_binary_is_static():
	b = static_bin()
	out = subprocess.run(["file", "-b", b], capture_output=True, text=True, check=True).stdout
	assert "statically linked" in out, out
	assert "dynamically linked" not in out, out
	prog = subprocess.run(["readelf", "-lW", b], capture_output=True, text=True, check=True).stdout
	assert "Program Headers" in prog, prog[:500]
	assert "INTERP" not in prog, "PT_INTERP present: the binary needs a dynamic loader"
	dyn = subprocess.run(["readelf", "-dW", b], capture_output=True, text=True, check=True).stdout
	assert "NEEDED" not in dyn, dyn


def test_static_binary_size_within_budget():
	size = os.path.getsize(static_bin())
	assert size <= BUDGET, "dist/sfn-agent is %d bytes, over the %d-byte budget" % (size, BUDGET)


def test_static_binary_carries_a_ca_bundle():
	"""The built-in bundle is the build host's Debian bundle: its first and last certificates are
	inside the binary, byte for byte."""
	with open(static_bin(), "rb") as f:
		data = f.read()
	with open(SYSTEM_CA, "rb") as f:
		pems = [b"-----BEGIN CERTIFICATE-----" + c for c in f.read().split(b"-----BEGIN CERTIFICATE-----")[1:]]
	assert len(pems) > 50, "the build host's CA bundle looks empty"
	for pem in (pems[0], pems[-1]):
		body = pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----"
		assert body in data, "a certificate of %s is not in the binary" % SYSTEM_CA


def test_static_binary_runs_version():
	p = subprocess.run([static_bin(), "--version"], capture_output=True, text=True, timeout=10)
	assert p.returncode == 0, p.stderr
	assert p.stdout.startswith("sfn-agent "), p.stdout


# -- an empty image

class EmptyImage:
	"""A root directory with /sfn-agent, /bin/busybox (+ the applets the tests use), /dev/null
	and an empty /proc; nothing else (no /etc, no /tmp, no libc)."""

	APPLETS = ("sh", "echo", "cat", "tr", "head", "sleep", "printf", "ls")

	def __init__(self, binary=None):
		binary = binary or static_bin()
		self.dir = tempfile.mkdtemp(prefix="sfn-agent-scratch-")
		for d in ("bin", "dev", "proc"):
			os.mkdir(os.path.join(self.dir, d))
		shutil.copy2(binary, os.path.join(self.dir, "sfn-agent"))
		assert os.path.isfile(BUSYBOX), "%s is missing: apt-get install busybox-static" % BUSYBOX
		shutil.copy2(BUSYBOX, os.path.join(self.dir, "bin", "busybox"))
		for a in self.APPLETS:
			os.symlink("busybox", os.path.join(self.dir, "bin", a))
		open(os.path.join(self.dir, "dev", "null"), "w").close()  # a mount point

	def add_file(self, path, data):
		full = os.path.join(self.dir, path.lstrip("/"))
		os.makedirs(os.path.dirname(full), exist_ok=True)
		with open(full, "wb") as f:
			f.write(data)

	def argv(self, agent_args):
		"""unshare: new PID and mount namespaces, proc mounted inside the root; a host shell binds
		/dev/null, then exec chroot exec the agent, which stays PID 1 of the namespace."""
		pre = ["unshare", "--pid", "--fork", "--mount-proc=%s/proc" % self.dir]
		if os.geteuid() != 0:
			pre[1:1] = ["--user", "--map-root-user"]
		tools = {t: shutil.which(t, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
			 for t in ("unshare", "mount", "chroot")}
		missing = [t for t, p in tools.items() if not p]
		assert not missing, "%s not found: apt-get install util-linux coreutils" % ", ".join(missing)
		pre[0] = tools["unshare"]
		# The agent's environment has PATH=/bin (the image's); the host tools are named in full.
		script = '"$2" --bind /dev/null "$1/dev/null" && root=$1 && chroot=$3 && shift 3 && exec "$chroot" "$root" "$@"'
		return pre + ["/bin/sh", "-c", script, "sh", self.dir, tools["mount"], tools["chroot"], "/sfn-agent",
			      *agent_args]

	def remove(self):
		shutil.rmtree(self.dir, ignore_errors=True)


# The command the "container" runs: reports who PID 1 is and what the root holds (no /tmp, no /etc).
REPORT_PID1 = ('echo "job in an empty image"; '
	       'printf \'{"pid1":"%s","root":"%s"}\\n\' "$(tr "\\0" "\\n" </proc/1/cmdline | head -n 1)" '
	       '"$(ls / | tr "\\n" " ")"')


def run_in_empty_image(lab, img, env_extra=None, timeout=60):
	ex, task = execution(lab, ["sh", "-c", REPORT_PID1])
	env = task_env(lab, task)
	env["PATH"] = "/bin"
	env.pop("HOME", None)
	env.update(env_extra or {})
	p = lab.run_agent(img.argv(["--", *task.command]), env, timeout=timeout)
	check_stderr(p, task, env)
	return ex, task, p


def test_empty_image_reports_over_http(lab):
	img = EmptyImage()
	try:
		ex, task, p = run_in_empty_image(lab, img)
	finally:
		img.remove()
	assert p.returncode == 0, stderr_text(p)
	d = lab.wait_execution(ex, timeout=30)
	assert d["status"] == "SUCCEEDED", d
	out = json.loads(sent_output(lab, task))
	assert out["pid1"] == "/sfn-agent", out   # the agent was PID 1
	assert out["root"].split() == ["bin", "dev", "proc", "sfn-agent"], out
	assert b"job in an empty image" in p.stdout


# -- HTTPS through a TLS proxy with a throwaway CA

def make_ca_and_cert(d):
	"""A CA and a certificate for 127.0.0.1 signed by it, made now; returns (ca.pem, cert, key)."""
	ca = make_ca(d, "ca")
	cert, key = make_server_cert(d, os.path.join(d, "ca"))
	return ca, cert, key


def _https_setup(lab):
	d = tempfile.mkdtemp(prefix="sfn-agent-ca-")
	ca, cert, key = make_ca_and_cert(d)
	proxy = TlsFront(lab.port, cert, key)
	with open(ca, "rb") as f:
		ca_pem = f.read()
	shutil.rmtree(d, ignore_errors=True)
	return proxy, ca_pem


def test_empty_image_https_with_aws_ca_bundle(lab):
	proxy, ca_pem = _https_setup(lab)
	img = EmptyImage()
	try:
		img.add_file("/ca/test-ca.pem", ca_pem)
		ex, task, p = run_in_empty_image(lab, img, {
			"AWS_ENDPOINT_URL_SFN": "https://127.0.0.1:%d" % proxy.port,
			"AWS_CA_BUNDLE": "/ca/test-ca.pem",
		})
	finally:
		img.remove()
		proxy.stop()
	assert p.returncode == 0, stderr_text(p)
	assert proxy.handshakes >= 1, "the agent never reached the TLS proxy"
	assert proxy.refused == [], proxy.refused
	d = lab.wait_execution(ex, timeout=30)
	assert d["status"] == "SUCCEEDED", d
	assert json.loads(sent_output(lab, task))["pid1"] == "/sfn-agent"


def test_empty_image_https_with_system_bundle_location(lab):
	"""No variable: the distribution's usual file is found (a Debian-style path in the image)."""
	proxy, ca_pem = _https_setup(lab)
	img = EmptyImage()
	try:
		img.add_file("/etc/ssl/certs/ca-certificates.crt", ca_pem)
		ex, task, p = run_in_empty_image(lab, img, {
			"AWS_ENDPOINT_URL_SFN": "https://127.0.0.1:%d" % proxy.port,
		})
	finally:
		img.remove()
		proxy.stop()
	assert p.returncode == 0, stderr_text(p)
	assert proxy.refused == [], proxy.refused
	d = lab.wait_execution(ex, timeout=30)
	assert d["status"] == "SUCCEEDED", d


def test_empty_image_https_builtin_bundle_rejects_unknown_ca(lab):
	"""No CA file anywhere in the image: the built-in bundle (public roots only) is used, and it
	must refuse the throwaway CA; nothing may reach Step Functions as a success."""
	proxy, _ = _https_setup(lab)
	img = EmptyImage()
	try:
		ex, task, p = run_in_empty_image(lab, img, {
			"AWS_ENDPOINT_URL_SFN": "https://127.0.0.1:%d" % proxy.port,
		}, timeout=120)
	finally:
		img.remove()
		proxy.stop()
	err = stderr_text(p)
	assert not p.timed_out, "the agent hung on a certificate it cannot verify:\n" + err
	assert p.returncode != 0, "the agent claimed success without a trusted certificate:\n" + err
	assert proxy.handshakes == 0, "a TLS handshake with the throwaway CA succeeded"
	assert proxy.refused, "the agent never tried the TLS proxy"
	assert any(w in err.lower() for w in ("certificate", "tls", "ssl")), err
	assert sent(lab, "SendTaskSuccess", task) == []
	assert sent(lab, "SendTaskHeartbeat", task) == []
	assert lab.describe_execution(ex)["status"] == "RUNNING"


def test_empty_image_https_builtin_bundle_is_used(lab):
	"""The other side of the test above: a build whose built-in bundle is the throwaway CA
	(scripts/static.sh with SFN_AGENT_CA_FILE; the objects of the last `make static` are reused
	when there) reports over HTTPS from an image without any CA file."""
	proxy, ca_pem = _https_setup(lab)
	work = tempfile.mkdtemp(prefix="sfn-agent-ca-build-")
	img = None
	try:
		with open(os.path.join(work, "ca.pem"), "wb") as f:
			f.write(ca_pem)
		objs = os.path.join(ROOT, "build", "static")
		if os.path.isdir(objs):
			shutil.copytree(objs, os.path.join(work, "o"), symlinks=True)
		env = dict(os.environ, SFN_AGENT_CA_FILE=os.path.join(work, "ca.pem"),
			   SFN_AGENT_STATIC_O=os.path.join(work, "o"), SFN_AGENT_STATIC_OUT=os.path.join(work, "sfn-agent"))
		# nice: the other tests run in parallel and time their reports.
		b = subprocess.run(["nice", "-n", "10", os.path.join(ROOT, "scripts", "static.sh")], env=env, cwd=ROOT,
				   capture_output=True, timeout=110)
		assert b.returncode == 0, "the build with a test CA failed:\n" + b.stderr.decode()[-3000:]
		img = EmptyImage(binary=os.path.join(work, "sfn-agent"))
		ex, task, p = run_in_empty_image(lab, img, {
			"AWS_ENDPOINT_URL_SFN": "https://127.0.0.1:%d" % proxy.port,
		})
	finally:
		if img:
			img.remove()
		shutil.rmtree(work, ignore_errors=True)
		proxy.stop()
	assert p.returncode == 0, stderr_text(p)
	assert proxy.handshakes >= 1 and proxy.refused == [], proxy.refused
	d = lab.wait_execution(ex, timeout=30)
	assert d["status"] == "SUCCEEDED", d
