#!/usr/bin/env python3
"""The agent's real default addresses, inside a network namespace the test run makes itself.

    ns = netns()                        the one namespace lab of this test run (Skip with the
                                        reason where unshare cannot make one)
    r = ns.run(scenario, agent, command)    -> dict (below)

`unshare -rn` (a user and a network namespace; no root needed) runs this file as `serve`: it
brings lo up, puts 169.254.170.2/32, 169.254.170.23/32 and 169.254.169.254/32 on it, starts a
lab (moto, auth enforced) on the namespace's own 127.0.0.1, and then runs one scenario per request
(a JSON line on stdin, the answer a JSON line on stdout).  Everything a scenario starts runs in
there: the servers on the real addresses, port 80, and the agent, whose environment never names
those endpoints (no AWS_EC2_METADATA_SERVICE_ENDPOINT, no FULL_URI for the ECS task role).  The
server refuses to start unless its network namespace differs from the one it was started from,
so none of this traffic can leave it.

Scenarios (each with a fresh execution whose task runs `command`, heartbeat 30 s):
    ecs            AWS_CONTAINER_CREDENTIALS_RELATIVE_URI only; 169.254.170.2:80 hands out moto
                   STS keys for the task role
    imds           no keys, no region, IMDS not disabled: 169.254.169.254:80 serves IMDSv2 (token
                   PUT answered with IP TTL 1, the hop limit of an instance), the region and the role
    imds_disabled  AWS_EC2_METADATA_DISABLED=true and nothing else (IMDS still listens, counting)
    pod_identity   AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials with
                   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (the EKS Pod Identity agent's address)
Answer: rc, stdout, stderr, status (the execution's), output, env (names given to the agent),
sent [{operation, ok, error, akid}], server {fetches, token_puts, rejected, issued, auth_seen,
token_ttl}, netns (the namespace's inode).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

ADDRS = ("169.254.170.2", "169.254.170.23", "169.254.169.254")
POD_IDENTITY_URI = "http://169.254.170.23/v1/credentials"
ECS_RELATIVE_URI = "/v2/credentials/lab"


def _netns_inode(pid="self"):
	return os.stat("/proc/%s/ns/net" % pid).st_ino


# ---------------------------------------------------------------- the client side (the tests)

_lock = threading.Lock()
_one = None
_why_not = None


def netns():
	global _one, _why_not
	from lab import Skip
	with _lock:
		if _one is None and _why_not is None:
			try:
				_one = NetnsLab()
			except Skip as e:
				_why_not = str(e)
		if _why_not:
			raise Skip(_why_not)
		return _one


class NetnsLab:
	START_TIMEOUT = 300     # moto's start takes a minute on a loaded 2-core machine

	def __init__(self):
		from lab import Skip
		import shutil
		if not shutil.which("unshare") or not shutil.which("ip"):
			raise Skip("unshare (util-linux) and ip (iproute2) are needed for a network namespace")
		probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
		if probe.returncode != 0:
			raise Skip("this machine refuses a user + network namespace (unshare -rn): %s" % probe.stderr.strip())
		self.log = tempfile.TemporaryFile()
		self.proc = subprocess.Popen(
			["unshare", "-rn", sys.executable, os.path.abspath(__file__), "serve",
			 "--outside-netns", str(_netns_inode())],
			stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
		self.req_lock = threading.Lock()
		ready = self._read(self.START_TIMEOUT)
		if not ready.get("ready"):
			raise AssertionError("the namespace lab did not start: %s" % ready)
		self.netns = ready["netns"]
		self.startup_seconds = ready["startup_seconds"]

	def _stderr(self):
		self.log.seek(0)
		return self.log.read().decode("utf-8", "replace")[-3000:]

	def _read(self, timeout):
		import select
		r, _, _ = select.select([self.proc.stdout], [], [], timeout)
		line = self.proc.stdout.readline() if r else b""
		if not line:
			raise AssertionError("the namespace lab gave no answer (exit %s):\n%s" % (self.proc.poll(), self._stderr()))
		return json.loads(line)

	def run(self, scenario, agent, command, timeout=120):
		req = {"scenario": scenario, "agent": os.path.abspath(agent), "command": command}
		with self.req_lock:
			self.proc.stdin.write((json.dumps(req) + "\n").encode())
			self.proc.stdin.flush()
			r = self._read(timeout)
		if "error" in r:
			raise AssertionError("scenario %s failed in the namespace: %s" % (scenario, r["error"]))
		return r


# ---------------------------------------------------------------- the server side (in the namespace)

def _servers():
	import socket as so
	from servers import EcsCredsServer, ImdsServer

	class EcsTaskRole(EcsCredsServer):
		BIND = ("169.254.170.2", 80)
		PATH = ECS_RELATIVE_URI

	class PodIdentity(EcsCredsServer):
		BIND = ("169.254.170.23", 80)
		PATH = "/v1/credentials"

	class Imds(ImdsServer):
		BIND = ("169.254.169.254", 80)
		token_ttl = None

		def _serve(self, h, method):
			if method == "PUT":
				# An instance's hop limit: the token answer leaves with IP TTL 1.
				h.connection.setsockopt(so.IPPROTO_IP, so.IP_TTL, 1)
				self.token_ttl = h.connection.getsockopt(so.IPPROTO_IP, so.IP_TTL)
			return super()._serve(h, method)

	return EcsTaskRole, PodIdentity, Imds


def _scenario(lab, req):
	EcsTaskRole, PodIdentity, Imds = _servers()
	sm = lab.create_state_machine(heartbeat=30, timeout=120)
	ex = lab.start_execution(sm, {"commands": req["command"]})
	task = lab.wait_for_task(ex)
	env = lab.task_env()
	env.update(task.env)
	for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
		env.pop(k, None)
	tmp = tempfile.mkdtemp(prefix="netns.")
	sc = req["scenario"]
	imds = Imds(lab)    # listening in every scenario: what reached it is part of the answer
	server = imds
	try:
		if sc == "ecs":
			server = EcsTaskRole(lab)
			env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = ECS_RELATIVE_URI
		elif sc == "pod_identity":
			token = "pod-identity-token-%d" % os.getpid()
			path = os.path.join(tmp, "eks-pod-identity-token")
			with open(path, "w") as f:
				f.write(token)
			server = PodIdentity(lab, auth_token=token)
			env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = POD_IDENTITY_URI
			env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = path
		elif sc == "imds":
			env.pop("AWS_EC2_METADATA_DISABLED", None)
			env.pop("AWS_REGION", None)
			env.pop("AWS_DEFAULT_REGION", None)
		elif sc == "imds_disabled":
			env["AWS_EC2_METADATA_DISABLED"] = "true"
		else:
			raise ValueError("unknown scenario %r" % sc)
		for k in ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"):
			assert k not in env, k
		p = subprocess.run([req["agent"], "--", *task.command], env=env, stdin=subprocess.DEVNULL,
				   capture_output=True, timeout=90)
		if sc == "imds_disabled":
			# The agent refused; end the execution rather than leave it waiting.
			lab.client("stepfunctions").stop_execution(executionArn=ex)
		d = lab.wait_execution(ex, timeout=30)
		sent = [{"operation": c.operation, "ok": c.ok, "error": c.error, "akid": c.akid}
			for c in lab.calls(token=task.token)]
		srv = {"fetches": server.fetches, "issued": list(server.issued),
		       "auth_seen": list(getattr(server, "auth_seen", [])),
		       "token_puts": getattr(server, "token_puts", 0), "rejected": getattr(server, "rejected", 0),
		       "token_ttl": getattr(server, "token_ttl", None),
		       "imds_requests": imds.token_puts + imds.fetches + imds.rejected}
		secrets = list(getattr(server, "secrets", []))
		err = p.stderr.decode("utf-8", "replace")
		return {"rc": p.returncode, "stdout": p.stdout.decode("utf-8", "replace"), "stderr": err,
			"leaked": [s[:4] for s in secrets + [task.token] if s and s in err],
			"status": d["status"], "output": d.get("output"), "env": sorted(env), "sent": sent,
			"server": srv, "netns": _netns_inode()}
	finally:
		if server is not imds:
			server.stop()
		imds.stop()
		import shutil
		shutil.rmtree(tmp, ignore_errors=True)


def serve(outside):
	t0 = time.monotonic()
	# Answers go to the real stdout; whatever the lab logs goes to stderr.
	answers = os.fdopen(os.dup(1), "w")
	os.dup2(2, 1)
	sys.stdout = sys.stderr

	def answer(d):
		answers.write(json.dumps(d) + "\n")
		answers.flush()

	inside = _netns_inode()
	if inside == outside:
		answer({"ready": False, "error": "not in a network namespace of its own"})
		return 1
	cmds = [["ip", "link", "set", "lo", "up"]] + [["ip", "addr", "add", a + "/32", "dev", "lo"] for a in ADDRS]
	for c in cmds:
		subprocess.run(c, check=True)
	from lab import Lab
	lab = Lab().start()
	# The servers bind port 80 on these addresses: make sure they are there before the first one.
	for a in ADDRS:
		with socket.socket() as s:
			s.bind((a, 0))
	answer({"ready": True, "netns": inside, "startup_seconds": round(time.monotonic() - t0, 2)})
	for line in sys.stdin:
		try:
			r = _scenario(lab, json.loads(line))
		except Exception as e:
			import traceback
			r = {"error": "%s\n%s" % (e, traceback.format_exc())}
		answer(r)
	lab.stop()
	return 0


if __name__ == "__main__":
	import argparse
	ap = argparse.ArgumentParser(prog="netns.py")
	ap.add_argument("cmd", choices=["serve"])
	ap.add_argument("--outside-netns", type=int, required=True)
	a = ap.parse_args()
	sys.exit(serve(a.outside_netns))
