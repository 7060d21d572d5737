"""One whole waitForTaskToken workflow in the lab, the way an operator runs it: the demo, the examples'
runners and tests/integration/test_examples.py share it.

    stream = Stream(echo=True)                    prints (or only keeps) every line with a short tag
    sm, how = state_machine(lab, agent, stream)   from `sfn-agent template` (how == "template"), or the
                                                  lab's default definition when that fails (how == "lab")
    r = workflow(lab, agent, sm, {"commands": [...]}, stream, env_extra={...}, agent_args=["--heartbeat", "1"])
        r.returncode, r.stdout (the controller's), r.output (parsed JSON or None), r.execution (describe
        dict of the execution this run started), r.tasks [(Task, agent exit status)], r.seconds

The controller is `sfn-agent start` run as a child with the admin's environment; the ECS task is the
agent run by lab.play_ecs with the task user's environment.  Nothing reaches beyond 127.0.0.1: both
environments come from lab.task_env(), which scrubs every inherited AWS_* variable.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import lab as lablib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Stream:
	"""Lines from several sources, each with a short tag, printed whole (never interleaved mid-line)
	and kept, so a test can show them when it fails."""

	def __init__(self, echo=True, out=None):
		self.echo = echo
		self.out = out or sys.stdout
		self.lines = []
		self._lock = threading.Lock()
		self.t0 = time.monotonic()

	def line(self, tag, text):
		text = text.rstrip("\n")
		s = "%5.1fs %-10s %s" % (time.monotonic() - self.t0, tag, text) if tag else text
		with self._lock:
			self.lines.append(s)
			if self.echo:
				print(s, file=self.out, flush=True)

	def header(self, text):
		with self._lock:
			self.lines.append("== " + text)
			if self.echo:
				print("\n== %s" % text, file=self.out, flush=True)

	def follow(self, tag, f, keep=None):
		"""A thread that copies f's lines here (and into keep, a list of bytes lines) until EOF."""
		def run():
			for raw in iter(f.readline, b""):
				if keep is not None:
					keep.append(raw)
				self.line(tag, raw.decode("utf-8", "replace"))
			f.close()
		t = threading.Thread(target=run, daemon=True, name="follow-" + tag)
		t.start()
		return t

	def text(self):
		with self._lock:
			return "\n".join(self.lines)


def resolve_bin(path):
	"""The agent binary as an absolute path.  `make demo BIN=/abs/path` hands us "./" + "/abs/path"."""
	cands = [path]
	if path.startswith("./") and path[2:].startswith("/"):
		cands.append(path[2:])
	for c in cands:
		if os.path.isfile(c) and os.access(c, os.X_OK):
			return os.path.abspath(c)
	raise SystemExit("%s: no executable agent there: build it first (make) or pass --bin PATH" % path)


def fingerprint(token):
	"""A token as the agent's logs name it ("tok:" + the first 8 hex digits of its SHA-256): enough to
	tell two apart and to match the agent's lines, never the token itself."""
	import hashlib
	return "tok:" + hashlib.sha256(token.encode()).hexdigest()[:8] if token else "(none)"


def network(lab):
	"""(task definition ARN, subnet, security group) for the template: the lab's own when moto 5.2.1's
	RunTask accepts them, else ones made here.  RunTask adds the containers' memory up (and fails on a
	container without), looks the subnet and the security group up in moto's EC2, and gives the task's
	network interface a DNS name, which fails in a VPC without DNS host names.  Decided once per lab."""
	with _network_lock:
		got = getattr(lab, "_flow_network", None)
		if not got:
			got = lab._flow_network = _lab_network(lab) or _make_network(lab)
		return got


_network_lock = threading.Lock()


def _lab_network(lab):
	"""The lab's task definition, subnet and security group if RunTask can use them (read only: the
	lab's resources are shared by every test, so nothing here changes them)."""
	td, subnet, sg = lab.task_definition_arn, getattr(lab, "subnet", None), getattr(lab, "security_group", None)
	if not (td and subnet and sg):
		return None
	try:
		d = lab.client("ecs").describe_task_definition(taskDefinition=td)["taskDefinition"]
		if any(c.get("memory") is None and c.get("memoryReservation") is None for c in d["containerDefinitions"]):
			return None
		ec2 = lab.client("ec2")
		vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
		a = ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")
		if not a["EnableDnsHostnames"]["Value"]:
			return None
	except Exception:
		return None
	return td, subnet, sg


def _make_network(lab):
	td = lab.client("ecs").register_task_definition(
		family="sfn-agent-example", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
		cpu="256", memory="512", taskRoleArn=lab.task_role_arns["task"],
		executionRoleArn=lab.task_role_arns["task"],
		containerDefinitions=[{"name": lablib.CONTAINER, "image": "sfn-agent-example:latest", "essential": True,
				       "memory": 512, "entryPoint": ["/usr/local/bin/sfn-agent", "--"]}])
	ec2 = lab.client("ec2")
	vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
	# moto gives the task's network interface a DNS name only in a VPC with DNS host names, and
	# fails the RunTask without one.
	ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
	subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.78.1.0/24")["Subnet"]["SubnetId"]
	sg = ec2.create_security_group(GroupName="sfn-agent-example", Description="examples", VpcId=vpc)["GroupId"]
	return td["taskDefinition"]["taskDefinitionArn"], subnet, sg


def state_machine(lab, agent, stream, heartbeat=90, timeout=300, name=None):
	"""Creates the state machine `sfn-agent template` prints for the lab's cluster and a task definition,
	subnet and security group of the lab's.  HeartbeatSeconds stays above 60 s, the agent's default
	period, which is what `sfn-agent start` checks it against (the lab's agents beat more often).  Falls back to the lab's default definition (same shape) if the
	template cannot be had, and says so: the second value is "template" or "lab"."""
	td, subnet, sg = network(lab)
	argv = [agent, "template", "--cluster", lablib.CLUSTER, "--task-definition", td,
		"--container", lablib.CONTAINER, "--subnets", subnet, "--security-groups", sg,
		"--heartbeat", str(heartbeat), "--timeout", str(timeout)]
	how, definition = "template", None
	try:
		p = subprocess.run(argv, env=lab.admin_env(), capture_output=True, timeout=20)
		if p.returncode == 0:
			definition = json.loads(p.stdout)
		else:
			why = "exit %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace").strip()[-300:])
	except (ValueError, OSError, subprocess.TimeoutExpired) as e:
		why = str(e)
	if definition is None:
		how = "lab"
		stream.line("lab", "`sfn-agent template` did not give a definition (%s); using the lab's default "
			    "definition, which has the same shape" % why)
		definition = lab.definition(heartbeat=heartbeat, timeout=timeout)
		for st in definition["States"].values():
			p = st.get("Parameters")
			if p and "NetworkConfiguration" in p:
				p["TaskDefinition"] = td
				p["NetworkConfiguration"]["AwsvpcConfiguration"].update(Subnets=[subnet], SecurityGroups=[sg])
	else:
		stream.line("operator", "$ sfn-agent template --cluster %s --task-definition %s --container %s "
			    "--subnets %s --security-groups %s --heartbeat %d --timeout %d" % (
				    lablib.CLUSTER, td.rpartition("/")[2], lablib.CONTAINER, subnet, sg, heartbeat, timeout))
		task = [s for s in definition.get("States", {}).values() if s.get("Type") == "Task"]
		stream.line("operator", "  -> states %s; Task HeartbeatSeconds=%s TimeoutSeconds=%s" % (
			", ".join(definition.get("States", {})), task[0].get("HeartbeatSeconds") if task else "?",
			task[0].get("TimeoutSeconds") if task else "?"))
	arn = lab.create_state_machine(definition=definition, name=name)
	stream.line("lab", "state machine %s" % arn)
	return arn, how


class Result:
	returncode = None
	stdout = b""
	stderr = b""
	output = None
	execution = None
	tasks = ()
	seconds = 0.0
	timed_out = False


class _CallWatcher:
	"""Shows each SendTask* call as the lab (moto, auth enforced) received it: what reached "AWS"."""

	def __init__(self, lab, stream, tokens):
		self.lab, self.stream, self.tokens = lab, stream, tokens
		self.seen = len(lab.calls())     # calls before this workflow are not its own
		self.shown = set()
		self._stop = threading.Event()
		self.t = threading.Thread(target=self._loop, daemon=True, name="call-watcher")
		self.t.start()

	def _loop(self):
		while True:
			stop = self._stop.wait(0.05)
			# Re-read from the start: a call can arrive before its task's token is known here.
			for i, c in enumerate(self.lab.calls()[self.seen:]):
				if i not in self.shown and c.token in self.tokens:
					self.shown.add(i)
					self.stream.line("aws", "%s for %s: %s" % (
						c.operation, fingerprint(c.token),
						"accepted" if c.ok else "refused, %s (HTTP %d)" % (c.error, c.status)))
			if stop:
				return

	def stop(self):
		self._stop.set()
		self.t.join(5)


def workflow(lab, agent, sm, input, stream, env_extra=None, agent_args=(), timeout=90, name=None):
	"""Plays ECS for sm, runs `sfn-agent start --state-machine sm --input JSON` and streams it all."""
	r = Result()
	tokens = set()
	player = lab.play_ecs(agent, extra_args=list(agent_args), env_extra=env_extra or {}, state_machine=sm)
	followed = {}
	followers = []
	stop_follow = threading.Event()

	def attach():
		while True:
			for task, p in list(player.procs):
				if id(p) in followed:
					continue
				followed[id(p)] = (task, p)
				tokens.add(task.token)
				stream.line("ecs", "task %s started: %s -- %s" % (
					task.arn.rpartition("/")[2][:8],
					" ".join([os.path.basename(agent), *agent_args]), show_command(task.command)))
				stream.line("ecs", "  its environment has TASK_TOKEN (%s) from $$.Task.Token%s" % (
					fingerprint(task.token),
					"".join(", %s" % k for k in sorted(env_extra or {}))))
				followers.append(stream.follow("task out", p.stdout))
				followers.append(stream.follow("task err", p.stderr))
			if stop_follow.wait(0.05):
				return
	attacher = threading.Thread(target=attach, daemon=True, name="attach")
	attacher.start()
	watcher = _CallWatcher(lab, stream, tokens)

	sfn = lab.client("stepfunctions")
	before = {e["executionArn"] for e in _executions(sfn, sm)}
	argv = [agent, "start", "--state-machine", sm, "--input", json.dumps(input)]
	if name:
		argv += ["--name", name]
	# The whole command, as it can be copied and run again (a shortened ARN or input is refused).
	import shlex
	stream.line("operator", "$ sfn-agent start --state-machine %s --input %s" % (sm, shlex.quote(json.dumps(input))))
	t0 = time.monotonic()
	p = subprocess.Popen(argv, env=lab.admin_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
			     stderr=subprocess.PIPE, start_new_session=True)
	out = []
	fo = stream.follow("operator", p.stdout, keep=out)
	err = []
	fe = stream.follow("start", p.stderr, keep=err)
	try:
		p.wait(timeout=timeout)
	except subprocess.TimeoutExpired:
		r.timed_out = True
		stream.line("operator", "sfn-agent start still waiting after %ss: killing it" % timeout)
		_killpg(p)
		p.wait()
	fo.join(5)
	fe.join(5)
	r.seconds = time.monotonic() - t0
	r.returncode = p.returncode
	r.stdout, r.stderr = b"".join(out), b"".join(err)
	try:
		r.output = json.loads(r.stdout) if r.stdout.strip() else None
	except ValueError:
		r.output = None

	# The agent exits right after its report is accepted, which can be a moment after the controller
	# saw the execution end: give it that moment, then stop whatever is left.
	deadline = time.monotonic() + 10
	tasks = []
	stop_follow.set()
	attacher.join(5)
	for task, proc in followed.values():
		try:
			proc.wait(timeout=max(0.1, deadline - time.monotonic()))
		except subprocess.TimeoutExpired:
			stream.line("ecs", "task %s: agent still running, stopping it" % task.arn.rpartition("/")[2][:8])
			_killpg(proc)
			proc.wait()
		tasks.append((task, proc.returncode))
		stream.line("ecs", "task %s: agent exited %d" % (task.arn.rpartition("/")[2][:8], proc.returncode))
	player.stop()
	for t in followers:
		t.join(5)
	watcher.stop()
	r.tasks = tasks
	new = [e["executionArn"] for e in _executions(sfn, sm) if e["executionArn"] not in before]
	if len(new) == 1:
		r.execution = lab.describe_execution(new[0])
	else:
		stream.line("lab", "this run started %d executions of %s, not one" % (len(new), sm))
	return r


def _executions(sfn, sm):
	out, kw = [], {}
	while True:
		page = sfn.list_executions(stateMachineArn=sm, maxResults=100, **kw)
		out += page["executions"]
		if not page.get("nextToken"):
			return out
		kw = {"nextToken": page["nextToken"]}


def _killpg(p):
	try:
		os.killpg(p.pid, signal.SIGKILL)
	except (ProcessLookupError, PermissionError):
		pass


def show_command(argv):
	"""argv as a shell would read it, with a multi-line script shown by its size."""
	import shlex
	return " ".join("'<%d-line script>'" % len(a.strip().splitlines()) if "\n" in a else shlex.quote(a)
			for a in argv)


def quiet_moto():
	"""moto's interpreter logs every failed state with its whole parse tree: a person running a demo or
	an example reads the controller's one-line account of it instead."""
	import logging
	logging.getLogger("moto").addHandler(logging.NullHandler())
	logging.getLogger("moto").propagate = False


def require_moto():
	"""The one dependency a user may lack: say exactly how to get it."""
	try:
		import moto.server  # noqa: F401
		import boto3  # noqa: F401
	except ImportError as e:
		raise SystemExit("the local lab needs moto's server and boto3 (%s): pip install \"moto[server]\" boto3" % e)


def example_main(argv, doc, run, verify):
	"""The command line of an example's runner: start the lab, run(lab, agent, stream, workdir) -> outcome,
	verify(outcome) -> [problems], stop the lab.  Exit 0 only when there are no problems."""
	import argparse
	import shutil
	import tempfile
	ap = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
	ap.add_argument("--bin", default=os.path.join(REPO, "sfn-agent"),
			help="the sfn-agent binary (default: the one `make` builds at the top of the repository)")
	ap.add_argument("--keep", action="store_true", help="keep the work directory (its path is printed)")
	a = ap.parse_args(argv)
	require_moto()
	quiet_moto()
	agent = resolve_bin(a.bin)
	import lab as lablib
	work = tempfile.mkdtemp(prefix="sfn-example-")
	stream = Stream()
	stream.header("the lab: moto's Step Functions + ECS + IAM on 127.0.0.1, auth enforced")
	lab = lablib.Lab().start()
	problems = ["the example did not finish"]
	try:
		stream.line("lab", "listening on %s; work directory %s" % (lab.endpoint, work))
		outcome = run(lab, agent, stream, work)
		problems = verify(outcome)
	finally:
		lab.stop()
		if not a.keep:
			shutil.rmtree(work, ignore_errors=True)
	stream.header("result")
	for p in problems:
		stream.line("", "FAILED: " + p)
	if not problems:
		stream.line("", "OK%s" % (" (work directory kept: %s)" % work if a.keep else ""))
	return 1 if problems else 0
