"""Tests of the lab itself: they need no agent binary, and every later test leans on them.

If one of these fails, the lab cannot judge the agent: fix the lab first.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError, ConnectionClosedError

from proxy import FaultProxy
from servers import EcsCredsServer, EcsMetadataServer, ImdsServer

TIMEOUT = 60


def _sfn(endpoint, akid, secret, token=None, **cfg):
	cfg.setdefault("retries", {"total_max_attempts": 1})
	return boto3.client("stepfunctions", region_name="us-east-1", endpoint_url=endpoint,
				aws_access_key_id=akid, aws_secret_access_key=secret, aws_session_token=token,
				config=Config(**cfg))


def _code(e):
	return e.response.get("Error", {}).get("Code")


def _denied(e):
	return _code(e) == "AccessDeniedException" and e.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _task(lab, heartbeat=None, input=None):
	sm = lab.create_state_machine(heartbeat=heartbeat, timeout=60)
	ex = lab.start_execution(sm, input if input is not None else {"commands": ["sh", "-c", "exit 0"]})
	return sm, ex, lab.wait_for_task(ex)


def test_auth_is_enforced(lab):
	"""And refusals come back as AWS's JSON protocol answers them: HTTP 400 with a __type."""
	akid, _ = lab.keys("task")
	cases = [
		(_sfn(lab.endpoint, akid, "not-the-secret-0123456789"), "InvalidSignatureException"),
		(_sfn(lab.endpoint, "AKIANOSUCHKEY0000000", "x" * 40), "UnrecognizedClientException"),
		# The task user may only send task results: listing state machines is denied.
		(lab.user_client("stepfunctions", "task"), "AccessDeniedException"),
	]
	for client, want in cases:
		try:
			client.list_state_machines()
		except ClientError as e:
			assert _code(e) == want and e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
			assert e.response["Error"]["Message"], e.response
		else:
			raise AssertionError("accepted; wanted %s" % want)
	# No signature at all (moto itself would answer HTTP 500).
	req = urllib.request.Request(lab.endpoint + "/", data=b"{}", method="POST", headers={
		"X-Amz-Target": "AWSStepFunctions.SendTaskHeartbeat", "Content-Type": "application/x-amz-json-1.0"})
	try:
		urllib.request.urlopen(req, timeout=10)
	except urllib.error.HTTPError as e:
		assert e.code == 400, e.code
		assert json.loads(e.read())["__type"] == "MissingAuthenticationTokenException"
	else:
		raise AssertionError("an unsigned request was accepted")
	assert [c.error for c in lab.calls("SendTaskHeartbeat", token="")][-1:] == ["MissingAuthenticationTokenException"]


def test_noperm_user_is_denied_send_task_success(lab):
	_, ex, task = _task(lab, heartbeat=30)
	c = lab.user_client("stepfunctions", "noperm")
	try:
		c.send_task_success(taskToken=task.token, output="{}")
	except ClientError as e:
		assert _denied(e), e.response
	else:
		raise AssertionError("noperm could send SendTaskSuccess")
	# ... but it may heartbeat, and that call reached moto and was accepted.
	c.send_task_heartbeat(taskToken=task.token)
	calls = lab.calls(token=task.token)
	assert [(x.operation, x.ok) for x in calls] == [("SendTaskSuccess", False), ("SendTaskHeartbeat", True)], calls
	assert calls[0].error == "AccessDeniedException" and calls[0].status == 400, calls[0]
	assert lab.describe_execution(ex)["status"] == "RUNNING"
	lab.user_client("stepfunctions", "task").send_task_failure(taskToken=task.token, error="Done")
	assert lab.wait_execution(ex, 10)["status"] == "FAILED"


def test_task_carries_token_and_success_reaches_execution(lab):
	sm, ex, task = _task(lab, input={"commands": ["/bin/echo", "hello world"]})
	assert task.command == ["/bin/echo", "hello world"], task
	assert task.env.get("TASK_TOKEN") == task.token and len(task.token) >= 20, task
	assert task.execution_arn == ex
	out = '{"answer": 42, "big": 12345678901234567890, "f": 1.50e3}'
	lab.user_client("stepfunctions", "task").send_task_success(taskToken=task.token, output=out)
	d = lab.wait_execution(ex, 10)
	assert d["status"] == "SUCCEEDED", d
	assert json.loads(d["output"])["answer"] == 42, d["output"]
	calls = lab.calls("SendTaskSuccess", token=task.token)
	assert len(calls) == 1 and calls[0].ok, calls
	# The raw request body holds the output exactly as sent (describe_execution re-serialises it).
	assert json.loads(calls[0].body)["output"] == out, calls[0].body
	types = [e["type"] for e in lab.history(ex)]
	assert "TaskSubmitted" in types or "TaskScheduled" in types, types
	assert types[-1] == "ExecutionSucceeded", types


def test_default_state_machine_without_commands(lab):
	_, ex, task = _task(lab, input={"other": 1})
	assert task.command == [], task
	assert task.token
	lab.user_client("stepfunctions", "task").send_task_failure(taskToken=task.token, error="Boom", cause="c")
	d = lab.wait_execution(ex, 10)
	assert d["status"] == "FAILED", d


def test_wait_for_task_returns_each_task_once_and_only_its_own(lab):
	sm = lab.create_state_machine(timeout=60)
	ex1 = lab.start_execution(sm, {"commands": ["one"]})
	ex2 = lab.start_execution(sm, {"commands": ["two"]})
	t2 = lab.wait_for_task(ex2)
	t1 = lab.wait_for_task(ex1)
	assert t1.command == ["one"] and t2.command == ["two"], (t1, t2)
	assert t1.token != t2.token
	t0 = time.monotonic()
	try:
		lab.wait_for_task(ex1, timeout=0.5)
	except TimeoutError:
		pass
	else:
		raise AssertionError("wait_for_task returned the same task twice")
	assert time.monotonic() - t0 < 3
	c = lab.user_client("stepfunctions", "task")
	for t in (t1, t2):
		c.send_task_success(taskToken=t.token, output="{}")
	assert lab.wait_execution(ex1, 10)["status"] == "SUCCEEDED"
	assert lab.wait_execution(ex2, 10)["status"] == "SUCCEEDED"


def test_heartbeat_timeout_fails_execution(lab):
	sm = lab.create_state_machine(heartbeat=1, timeout=30)
	ex = lab.start_execution(sm, {})
	task = lab.wait_for_task(ex)
	lab.user_client("stepfunctions", "task").send_task_heartbeat(taskToken=task.token)
	d = lab.wait_execution(ex, 15)
	assert d["status"] in ("FAILED", "TIMED_OUT"), d
	assert "States.Timeout" in json.dumps(lab.history(ex), default=str)


def test_calls_count_exactly(lab):
	_, ex, task = _task(lab, heartbeat=30)
	c = lab.user_client("stepfunctions", "task")
	assert lab.calls(token=task.token) == []
	for _ in range(3):
		c.send_task_heartbeat(taskToken=task.token)
	c.send_task_success(taskToken=task.token, output='{"n":1}')
	# moto accepts a second result until its interpreter has consumed the first: wait for that.
	assert lab.wait_execution(ex, 10)["status"] == "SUCCEEDED"
	try:
		c.send_task_success(taskToken=task.token, output='{"n":2}')
	except ClientError as e:
		second_error = _code(e)
	else:
		raise AssertionError("a second SendTaskSuccess on a finished token was accepted")
	assert len(lab.calls("SendTaskHeartbeat", token=task.token)) == 3
	succ = lab.calls("SendTaskSuccess", token=task.token)
	assert [x.ok for x in succ] == [True, False], succ
	assert succ[1].error == second_error == "TaskTimedOut", (succ[1], second_error)
	assert succ[0].akid == lab.keys("task")[0]
	assert lab.wait_execution(ex, 10)["status"] == "SUCCEEDED"


def test_fault_proxy_throttles_then_forwards(lab):
	_, ex, task = _task(lab)
	with FaultProxy(upstream=lab.endpoint) as p:
		p.plan("SendTaskSuccess", ["throttle", "http500"])
		c = _sfn(p.url, *lab.keys("task"))
		for want in ("ThrottlingException", "InternalFailure"):
			try:
				c.send_task_success(taskToken=task.token, output='{"via":"proxy"}')
			except ClientError as e:
				assert _code(e) == want, e.response
			else:
				raise AssertionError("planned %s was not applied" % want)
		assert lab.calls(token=task.token) == [], "a faulted call reached moto"
		c.send_task_success(taskToken=task.token, output='{"via":"proxy"}')
		reqs = p.requests("SendTaskSuccess")
		assert [(r.fault, r.status) for r in reqs] == [("throttle", None), ("http500", None), ("pass", 200)], reqs
		# one kept-alive client connection carried all three
		assert len({r.conn for r in reqs}) == 1, reqs
		assert p.pending() == 0
	assert len(lab.calls("SendTaskSuccess", token=task.token)) == 1
	assert lab.wait_execution(ex, 10)["status"] == "SUCCEEDED"


def test_fault_proxy_connection_faults(lab):
	_, ex, task = _task(lab)
	with FaultProxy(upstream=lab.endpoint) as p:
		p.plan("SendTaskSuccess", ["reset", "refuse", "hang", "lost"])
		c = _sfn(p.url, *lab.keys("task"), read_timeout=1, connect_timeout=1)
		seen = []
		for _ in range(4):
			t0 = time.monotonic()
			try:
				c.send_task_success(taskToken=task.token, output="{}")
				seen.append("ok")
			except (ConnectionClosedError, ReadTimeoutError, EndpointConnectionError) as e:
				seen.append(type(e).__name__)
			except Exception as e:  # a reset may surface as another botocore error
				seen.append("other:" + type(e).__name__)
			assert time.monotonic() - t0 < 5
		assert "ok" not in seen, seen
		assert seen[2] == "ReadTimeoutError", seen
		# Only "lost" reached moto, which accepted it: the client never heard.
		calls = lab.calls("SendTaskSuccess", token=task.token)
		assert len(calls) == 1 and calls[0].ok, calls
		assert [r.status for r in p.requests("SendTaskSuccess")] == [None, None, None, 200]
	assert lab.wait_execution(ex, 10)["status"] == "SUCCEEDED"


def test_fault_proxy_slow_and_skew(lab):
	with FaultProxy(upstream=lab.endpoint) as p:
		p.plan("ListStateMachines", ["skew:900", "slow:0.6"])
		c = lab.client("stepfunctions")
		sc = _sfn(p.url, *lab.keys("admin"))
		try:
			sc.list_state_machines()
		except ClientError as e:
			assert _code(e) == "InvalidSignatureException", e.response
			assert "Signature expired" in e.response["Error"]["Message"]
			date = e.response["ResponseMetadata"]["HTTPHeaders"]["date"]
		else:
			raise AssertionError("skew fault not applied")
		import email.utils
		off = email.utils.parsedate_to_datetime(date).timestamp() - time.time()
		assert 880 < off < 920, (date, off)
		t0 = time.monotonic()
		sc.list_state_machines()
		assert time.monotonic() - t0 >= 0.55
		assert p.gaps("ListStateMachines")[0] >= 0
		c.list_state_machines()


def test_ecs_creds_server_hands_out_sts_keys_moto_accepts(lab):
	_, ex, task = _task(lab, heartbeat=30)
	with EcsCredsServer(lab, user="task", auth_token="Bearer lab-secret", fail_first=1) as s:
		assert s.env()["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
		req = urllib.request.Request(s.url, headers={"Authorization": "Bearer lab-secret"})
		try:
			urllib.request.urlopen(req, timeout=5)
		except urllib.error.HTTPError as e:
			assert e.code == 500
		else:
			raise AssertionError("fail_first not applied")
		try:
			urllib.request.urlopen(s.url, timeout=5)
		except urllib.error.HTTPError as e:
			assert e.code == 401
		else:
			raise AssertionError("missing authorization accepted")
		creds = json.load(urllib.request.urlopen(req, timeout=5))
		assert s.fetches == 3 and s.issued == [creds["AccessKeyId"]]
		assert creds["AccessKeyId"].startswith("ASIA") and creds["Token"], creds["AccessKeyId"]
		c = _sfn(lab.endpoint, creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"])
		c.send_task_heartbeat(taskToken=task.token)
		bad = _sfn(lab.endpoint, creds["AccessKeyId"], "wrong" * 8, creds["Token"])
		try:
			bad.send_task_heartbeat(taskToken=task.token)
		except ClientError:
			pass
		else:
			raise AssertionError("temporary key with a wrong secret accepted")
		c.send_task_success(taskToken=task.token, output='{"by":"role"}')
		calls = lab.calls(token=task.token)
		assert [(x.operation, x.ok, x.akid) for x in calls] == [
			("SendTaskHeartbeat", True, creds["AccessKeyId"]),
			("SendTaskHeartbeat", False, creds["AccessKeyId"]),
			("SendTaskSuccess", True, creds["AccessKeyId"])], calls
	assert lab.wait_execution(ex, 10)["status"] == "SUCCEEDED"


def test_ecs_creds_server_noperm_role(lab):
	_, ex, task = _task(lab)
	with EcsCredsServer(lab, user="noperm") as s:
		creds = json.load(urllib.request.urlopen(s.url, timeout=5))
		c = _sfn(lab.endpoint, creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"])
		try:
			c.send_task_success(taskToken=task.token, output="{}")
		except ClientError as e:
			assert _denied(e)
		else:
			raise AssertionError("noperm role could SendTaskSuccess")
		c.send_task_failure(taskToken=task.token, error="NoPerm")
	assert lab.wait_execution(ex, 10)["status"] == "FAILED"


def test_imds_and_task_metadata_servers(lab):
	with ImdsServer(lab, region="eu-west-3") as s:
		base = s.url
		try:
			urllib.request.urlopen(base + "/latest/meta-data/placement/region", timeout=5)
		except urllib.error.HTTPError as e:
			assert e.code == 401
		else:
			raise AssertionError("IMDS answered without a token")
		put = urllib.request.Request(base + "/latest/api/token", method="PUT",
						 headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
		tok = urllib.request.urlopen(put, timeout=5).read().decode()
		h = {"X-aws-ec2-metadata-token": tok}

		def get(path):
			return urllib.request.urlopen(urllib.request.Request(base + path, headers=h), timeout=5).read()
		assert get("/latest/meta-data/placement/region") == b"eu-west-3"
		role = get("/latest/meta-data/iam/security-credentials/").decode()
		creds = json.loads(get("/latest/meta-data/iam/security-credentials/" + role))
		assert creds["Code"] == "Success" and creds["AccessKeyId"].startswith("ASIA")
		assert s.token_puts == 1 and s.rejected == 1
		_sfn(lab.endpoint, creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"])
	with EcsMetadataServer("arn:aws:ecs:eu-west-3:123456789012:task/lab/abc", region="eu-west-3") as m:
		d = json.load(urllib.request.urlopen(m.env()["ECS_CONTAINER_METADATA_URI_V4"] + "/task", timeout=5))
		assert d["TaskARN"].endswith("/abc") and d["AvailabilityZone"] == "eu-west-3a", d


def test_env_is_clean_and_loopback_only(lab):
	allowed = {"PATH", "HOME", "LANG", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
		   "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL_SFN",
		   "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "AWS_EC2_METADATA_DISABLED"}
	for user in ("task", "noperm", "admin"):
		env = lab.task_env(user)
		assert set(env) <= allowed, set(env) - allowed
		assert env["AWS_EC2_METADATA_DISABLED"] == "true"
		assert env["AWS_ENDPOINT_URL_SFN"].startswith("http://127.0.0.1:")
		assert env["AWS_ENDPOINT_URL_STS"] == env["AWS_ENDPOINT_URL_SFN"]
		assert env["AWS_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL_SFN"]   # ECS, Logs, IAM: the lab too
		assert env["AWS_ACCESS_KEY_ID"] == lab.keys(user)[0]
	assert lab.admin_env()["AWS_ACCESS_KEY_ID"] == lab.keys("admin")[0]
	assert len({lab.keys(u)[0] for u in ("task", "noperm", "admin")}) == 3
	# The lab's own process holds no inherited AWS settings either.
	assert not [k for k in os.environ if k.startswith("AWS_") and k != "AWS_EC2_METADATA_DISABLED"]


def test_aws_cli_as_the_agent(lab):
	"""The AWS CLI plays the agent: it must report through the lab with the task user's env."""
	aws = shutil.which("aws")
	if not aws:
		from lab import Skip
		raise Skip("no aws CLI installed")
	_, ex, task = _task(lab, heartbeat=30)
	env = lab.task_env()
	env["AWS_DEFAULT_REGION"] = env["AWS_REGION"]     # the AWS CLI v1 reads only this one
	cp = lab.run_agent([aws, "stepfunctions", "send-task-success", "--task-token", task.token,
				"--task-output", '{"cli":true}'], env, timeout=30)
	assert cp.returncode == 0, cp.stderr
	assert lab.wait_execution(ex, 10)["status"] == "SUCCEEDED"
	assert len(lab.calls("SendTaskSuccess", token=task.token)) == 1


def test_play_ecs_runs_a_stand_in_agent(lab):
	"""play_ecs with a shell script as the 'agent': it sees the command after -- and the token."""
	import tempfile
	aws = shutil.which("aws")
	if not aws:
		from lab import Skip
		raise Skip("no aws CLI installed")
	d = tempfile.mkdtemp(prefix="lab-play-")
	stub = os.path.join(d, "agent.sh")
	with open(stub, "w") as f:
		f.write('#!/bin/sh\n[ "$1" = "--" ] || exit 3\nshift\nout=$("$@")\n'
			'exec "%s" stepfunctions send-task-success --task-token "$TASK_TOKEN" '
			'--task-output "{\\"said\\":\\"$out\\"}"\n' % aws)
	os.chmod(stub, 0o755)
	sm = lab.create_state_machine(timeout=60)
	player = lab.play_ecs(stub, state_machine=sm, env_extra={"AWS_DEFAULT_REGION": "us-east-1"})
	try:
		ex = lab.start_execution(sm, {"commands": ["echo", "hi"]})
		d = lab.wait_execution(ex, 30)
		assert d["status"] == "SUCCEEDED", (d, player.wait(1))
		assert json.loads(d["output"]) == {"said": "hi"}, d["output"]
		res = player.wait(10)
		assert len(res) == 1 and res[0][1] == 0, res
	finally:
		player.stop()


def test_lab_cli_serve_prints_env(lab):
	"""`lab.py serve` in a child process: one JSON line, then a second lab that enforces auth."""
	here = os.path.dirname(os.path.abspath(sys.modules["lab"].__file__))
	p = subprocess.Popen([sys.executable, os.path.join(here, "lab.py"), "serve"], stdout=subprocess.PIPE,
				 stderr=subprocess.PIPE, start_new_session=True)
	try:
		line = p.stdout.readline()
		info = json.loads(line)
		assert info["endpoint"].startswith("http://127.0.0.1:")
		env = info["env"]["task"]
		c = _sfn(info["endpoint"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
		try:
			c.list_state_machines()
		except ClientError as e:
			assert _denied(e)
		else:
			raise AssertionError("served lab does not enforce IAM")
	finally:
		p.terminate()
		try:
			p.wait(5)
		except subprocess.TimeoutExpired:
			p.kill()


def test_output_at_the_data_limit_succeeds(lab):
	"""262,144 bytes is AWS's limit, inclusive; moto's own check would fail the state."""
	_, ex, task = _task(lab)
	out = '{"pad":"' + "x" * (262144 - len('{"pad":""}')) + '"}'
	assert len(out) == 262144
	lab.user_client("stepfunctions", "task").send_task_success(taskToken=task.token, output=out)
	d = lab.wait_execution(ex, 10)
	assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
	assert json.loads(lab.calls("SendTaskSuccess", token=task.token)[0].body)["output"] == out


def test_send_task_while_an_execution_is_starting(lab):
	"""moto reads a starting execution's worker before it exists (HTTP 500); the lab patches that.
	A starting execution is staged deterministically: RUNNING, no worker yet."""
	from moto.stepfunctions.responses import get_backend
	from moto.stepfunctions.parser.api import ExecutionStatus
	import lab as lablib
	sm = lab.create_state_machine()
	backend = get_backend(lablib.ACCOUNT, lablib.REGION)
	machine = backend.describe_state_machine(sm)

	class Starting:
		status = ExecutionStatus.RUNNING
		exec_worker = None
	machine.executions.append(Starting())
	try:
		c = lab.user_client("stepfunctions", "task")
		try:
			c.send_task_heartbeat(taskToken="00000000-0000-0000-0000-000000000000")
		except ClientError as e:
			assert _code(e) == "InvalidToken", e.response
		else:
			raise AssertionError("an unknown token was accepted")
	finally:
		machine.executions.pop()


def test_task_is_announced_only_when_moto_takes_its_heartbeats(lab):
	"""A heartbeat sent the moment wait_for_task returns must be accepted (as on AWS, where the
	task takes seconds to start): moto sets up heartbeats only after runTask has returned."""
	sm = lab.create_state_machine(heartbeat=30, timeout=60)
	c = lab.user_client("stepfunctions", "task")
	for _ in range(6):
		ex = lab.start_execution(sm, {"commands": ["x"]})
		task = lab.wait_for_task(ex)
		c.send_task_heartbeat(taskToken=task.token)
		c.send_task_success(taskToken=task.token, output="{}")
	assert all(x.ok for x in lab.calls("SendTaskHeartbeat") if x.token == task.token)


def test_send_task_failure_cause_reaches_the_execution(lab):
	"""moto drops the cause; the lab passes it on, as AWS does (States.StringToJson($.Cause) works)."""
	_, ex, task = _task(lab)
	cause = '{"exitCode":3,"signal":null,"message":"command exited with status 3"}'
	lab.user_client("stepfunctions", "task").send_task_failure(taskToken=task.token, error="ScriptFailed",
								   cause=cause)
	d = lab.wait_execution(ex, 10)
	assert d["status"] == "FAILED" and d.get("error") == "ScriptFailed", d
	assert d.get("cause") == cause, d.get("cause")


def test_heartbeat_accepted_without_heartbeat_seconds(lab):
	"""AWS takes a heartbeat for any waiting task; moto refused it without HeartbeatSeconds."""
	_, ex, task = _task(lab, heartbeat=None)
	c = lab.user_client("stepfunctions", "task")
	c.send_task_heartbeat(taskToken=task.token)
	c.send_task_success(taskToken=task.token, output="{}")
	assert lab.wait_execution(ex, 10)["status"] == "SUCCEEDED"
	try:
		c.send_task_heartbeat(taskToken=task.token)
	except ClientError as e:
		assert _code(e) in ("InvalidToken", "TaskTimedOut", "TaskDoesNotExist"), e.response
	else:
		raise AssertionError("a heartbeat for a finished task was accepted")
	# A token nobody issued is not "timed out": it is invalid.
	try:
		c.send_task_heartbeat(taskToken=str(__import__("uuid").uuid4()))
	except ClientError as e:
		assert _code(e) == "InvalidToken", e.response
	else:
		raise AssertionError("an unknown token was accepted")


def test_retry_gives_each_attempt_its_own_token(lab):
	"""moto reused the token, so a retried attempt saw the failed attempt's result at once."""
	d = lab.definition(heartbeat=30, timeout=60)
	d["States"]["RunCommand"]["Retry"] = [{"ErrorEquals": ["ContainerStopped"], "IntervalSeconds": 1,
						"MaxAttempts": 2}]
	sm = lab.create_state_machine(definition=d)
	ex = lab.start_execution(sm, {"commands": ["job"]})
	c = lab.user_client("stepfunctions", "task")
	t1 = lab.wait_for_task(ex)
	c.send_task_failure(taskToken=t1.token, error="ContainerStopped")
	t2 = lab.wait_for_task(ex, 15)
	assert t2.token != t1.token and t2.command == ["job"], (t1, t2)
	c.send_task_heartbeat(taskToken=t2.token)
	assert lab.describe_execution(ex)["status"] == "RUNNING", "the retry did not wait for its own result"
	c.send_task_success(taskToken=t2.token, output='{"attempt":2}')
	done = lab.wait_execution(ex, 10)
	assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"attempt": 2}, done
	assert [e["type"] for e in lab.history(ex)].count("TaskFailed") == 1


def test_stop_execution_aborts_a_waiting_execution(lab):
	"""AWS: ABORTED at once and the token is dead.  moto left it RUNNING, then ended it FAILED."""
	for heartbeat in (30, None):
		_, ex, task = _task(lab, heartbeat=heartbeat)
		lab.client("stepfunctions").stop_execution(executionArn=ex, error="Operator", cause="test")
		d = lab.describe_execution(ex)
		assert (d["status"], d.get("error"), d.get("cause")) == ("ABORTED", "Operator", "test"), d
		c = lab.user_client("stepfunctions", "task")
		for call in (lambda: c.send_task_heartbeat(taskToken=task.token),
			     lambda: c.send_task_success(taskToken=task.token, output="{}")):
			try:
				call()
			except ClientError as e:
				assert _code(e) == "TaskTimedOut", e.response
			else:
				raise AssertionError("a call with the token of an aborted execution was accepted")
		deadline = time.monotonic() + 5
		while lab.history(ex)[-1]["type"] != "ExecutionAborted":
			assert time.monotonic() < deadline, [e["type"] for e in lab.history(ex)]
			time.sleep(0.1)
		d = lab.describe_execution(ex)
		assert (d["status"], d.get("error"), d.get("cause")) == ("ABORTED", "Operator", "test"), d


def test_ecs_tasks_hold_until_stopped_and_logs_page(lab):
	"""moto moved a task towards STOPPED on every DescribeTasks; the lab holds it until StopTask, and
	lab.stop_task reports the stop as ECS does.  GetLogEvents pages at lab.log_page_size."""
	sm = lab.create_state_machine(timeout=60)
	ex = lab.start_execution(sm, {"commands": ["true"]})
	task = lab.wait_for_task(ex)
	ecs = lab.client("ecs")
	cluster = task.arn.split("/")[1]
	for _ in range(6):
		assert ecs.describe_tasks(cluster=cluster, tasks=[task.arn])["tasks"][0]["lastStatus"] == "RUNNING"
	lab.stop_task(task.arn, "Task failed to start", container_reason="CannotPullContainerError: x")
	d = ecs.describe_tasks(cluster=cluster, tasks=[task.arn])["tasks"][0]
	assert d["lastStatus"] == "STOPPED" and d["stopCode"] == "TaskFailedToStart", d
	assert d["stoppedReason"] == "Task failed to start", d
	assert d["containers"][0]["reason"] == "CannotPullContainerError: x" and "exitCode" not in d["containers"][0], d
	lab.client("stepfunctions").stop_execution(executionArn=ex)
	logs = lab.client("logs")
	stream = "lab/app/test-%s" % task.arn.rpartition("/")[2]
	now = int(time.time() * 1000)
	logs.create_log_stream(logGroupName="/ecs/lab-task", logStreamName=stream)
	logs.put_log_events(logGroupName="/ecs/lab-task", logStreamName=stream,
			    logEvents=[{"timestamp": now + i, "message": "m%d" % i} for i in range(25)])
	r = logs.get_log_events(logGroupName="/ecs/lab-task", logStreamName=stream, startFromHead=True)
	assert [e["message"] for e in r["events"]] == ["m%d" % i for i in range(10)], r["events"]
