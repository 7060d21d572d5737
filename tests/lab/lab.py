#!/usr/bin/env python3
"""The local lab: moto's Step Functions + ECS + IAM + STS, in this process, with auth enforced.

Every request the agent (or a test) sends is checked by moto's SigV4 verifier and IAM policy
engine.  Nothing here reaches beyond 127.0.0.1.  One Lab per process (moto's backends are global).

    lab = Lab().start()
    lab.endpoint                    http://127.0.0.1:PORT
    lab.task_env(user="task"), lab.admin_env()
        a clean environment for a child process: that user's keys, AWS_REGION,
        AWS_ENDPOINT_URL_SFN/_STS = the lab, IMDS disabled, PATH, HOME; nothing inherited
        (no AWS_*, SFN_AGENT_*, TASK_TOKEN).  Users: "admin" (everything), "task"
        (states:SendTask*), "noperm" (SendTaskHeartbeat and SendTaskFailure, not SendTaskSuccess).
    lab.keys(user) -> (access key id, secret);  lab.task_role_arns[user] (roles for STS)
    lab.client("stepfunctions")     boto3 client with the admin keys
    lab.user_client(service, user="task", retries=1)
    lab.create_state_machine(definition=None, heartbeat=None, timeout=60, name=None) -> ARN
        default: one ecs:runTask.waitForTaskToken Task (FARGATE, container "app",
        TASK_TOKEN = $$.Task.Token, Command = $.commands when the input has "commands");
        definition may be a dict or a JSON string.  lab.definition(heartbeat, timeout) -> dict.
    lab.start_execution(sm_arn, input={}, name=None) -> execution ARN (always named: unique)
    lab.wait_for_task(exec_arn, timeout=10) -> Task(arn, command, env, token, execution_arn)
        the next ECS task this execution started, read from ECS describe_tasks overrides; each
        task is returned once, and only once moto also accepts heartbeats for its token
    lab.wait_execution(exec_arn, timeout=30) -> describe_execution dict once status != RUNNING
    lab.describe_execution(exec_arn), lab.history(exec_arn) -> [event]
    lab.run_agent(argv, env, timeout=30, stdin=None, input=None) -> CompletedProcess
        bytes stdout/stderr, .seconds; stdin is /dev/null unless given; on timeout the process
        group is killed, .timed_out is True and returncode negative.  Logs argv, status and
        stderr tail to the test's captured output.
    lab.spawn(argv, env, **popen_kw) -> Popen in its own session, killed at lab.stop()
    lab.play_ecs(agent_bin, extra_args=[], env_extra={}, state_machine=None) -> EcsPlayer
        a background thread that "is ECS": each new task (of that state machine, if given) runs
        [agent_bin, *extra_args, "--", *command] with the task's environment over task_env();
        .procs [(Task, Popen)] with stdout/stderr pipes the caller reads, .wait(), .stop()
    lab.calls(operation=None, token=None) -> [Call]
        every SendTaskSuccess/Failure/Heartbeat that reached moto, auth failures included:
        .operation .token .ok .error .status .body (raw request bytes) .akid .time
    lab.stop()
    Skip, lab.Skip                  raise it in a test ("why"): counted as skipped, never as passed

Run as a program: `python3 tests/lab/lab.py serve [--port N]` prints one JSON line (endpoint,
a state machine, each user's environment) and serves until killed.

moto 5.2.1 bugs patched here (LAB.md; tests/README.md lists them, test_lab.py tests each):
the ECS integration's PascalCase parameters; the interpreter's boto client (port and keys); the
deepcopy in start_execution; a result of exactly 262,144 bytes refused; SendTask* and ECS
DescribeTasks answering HTTP 500 while another execution or task starts; heartbeats refused
between runTask and the wait, and for a state without HeartbeatSeconds; SendTaskFailure's cause
dropped; InvalidToken (AWS: TaskTimedOut) for the token of an ended execution; one token reused
by every attempt of a Retry; StopExecution leaving a waiting execution RUNNING, then FAILED,
without its error and cause (AWS: ABORTED at once); AssumeRoleWithWebIdentity refused for want
of a signature it does not need (AWS: unsigned).  Step Functions auth failures are answered
as AWS does (HTTP 400, JSON __type), not as moto's XML 403 (or HTTP 500 when unsigned);
Lab.aws_errors = False turns that off.  StartExecution without a name names every execution
"None" and the second one collides: start_execution() here always passes a name.
"""
import copy
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "lab"
CONTAINER = "app"
TASK_FAMILY = "lab-task"
LOG_GROUP = "/ecs/lab-task"     # the lab task definition's awslogs group; streams "lab/app/<task id>"
LOG_PREFIX = "lab"

ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
SEND_ALL = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
SEND_NOSUCCESS = ["states:SendTaskHeartbeat", "states:SendTaskFailure"]
SEND_TASK_OPS = ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")


def _policy(actions):
	return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def _free_port():
	import socket
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def log(msg):
	"""Detail for the current test: the runner captures stdout per test thread."""
	print(msg, flush=True)


class Skip(Exception):
	"""Raise from a test when its precondition is missing; tests/run.py counts it apart."""


@dataclass
class Task:
	arn: str
	command: list
	env: dict
	token: str
	execution_arn: str = ""


@dataclass
class Call:
	operation: str
	token: str
	ok: bool
	error: str
	status: int
	body: bytes
	akid: str
	time: float


# ---------------------------------------------------------------- moto patches

_ACTIVE = None          # the started Lab; the patches read its endpoint, keys and recorders
_PENDING = {}           # task token -> (execution ARN, ECS task ARN) started but not yet waited on
_PENDING_LOCK = threading.Lock()
_PATCHED = False


def _lower_keys(v):
	if isinstance(v, dict):
		return {(k[:1].lower() + k[1:]): _lower_keys(x) for k, x in v.items()}
	if isinstance(v, list):
		return [_lower_keys(x) for x in v]
	return v


def _upper_keys(v):
	if isinstance(v, dict):
		return {(k[:1].upper() + k[1:]): _upper_keys(x) for k, x in v.items()}
	if isinstance(v, list):
		return [_upper_keys(x) for x in v]
	return v


def _interp_client(region, service, state_credentials=None):
	"""The interpreter's own boto client: this lab's port and the admin keys (auth is enforced)."""
	import boto3
	from botocore.config import Config
	lab = _ACTIVE
	return boto3.client(service, region_name=region, endpoint_url=lab.endpoint,
				aws_access_key_id=lab._keys["admin"][0], aws_secret_access_key=lab._keys["admin"][1],
				config=Config(parameter_validation=False, retries={"total_max_attempts": 1},
					  connect_timeout=10, read_timeout=30))


def _apply_patches():
	global _PATCHED
	if _PATCHED:
		return
	_PATCHED = True
	import moto.stepfunctions.models as sfn_models
	import moto.stepfunctions.parser.asl.utils.boto_client as bc
	import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs as ecsmod
	import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback \
		as cbmod
	from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
		ResourceCondition)
	from moto.stepfunctions.responses import StepFunctionResponse
	from moto.core.config import default_user_config

	default_user_config["stepfunctions"] = {"execute_state_machine": True}

	# (b) every module that imported boto_client_for by name gets ours.
	bc.boto_client_for = _interp_client
	for name, mod in list(sys.modules.items()):
		if name.startswith("moto.stepfunctions.parser") and getattr(mod, "boto_client_for", None):
			mod.boto_client_for = _interp_client

	# (a) ECS runTask: PascalCase parameters in, PascalCase description out.
	def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
		api_action = self._get_boto_service_action()
		client = _interp_client(resource_runtime_part.region, self._get_boto_service_name())
		response = getattr(client, api_action)(**_lower_keys(normalised_parameters))
		response.pop("ResponseMetadata", None)
		if api_action == "run_task":
			task_arn = response["tasks"][0]["taskArn"]
			cluster_arn = response["tasks"][0]["clusterArn"]
			try:
				exec_arn = env.states.context_object.context_object_data["Execution"]["Id"]
			except Exception:
				exec_arn = ""
			token = None
			if self.resource.condition == ResourceCondition.WaitForTaskToken:
				token = (env.states.context_object.context_object_data.get("Task") or {}).get("Token")
			if token:
				# Announced once moto also takes heartbeats for it (below): a real task takes
				# seconds to start, but here the agent could heartbeat before moto is ready.
				with _PENDING_LOCK:
					_PENDING[token] = (exec_arn, task_arn)
			elif _ACTIVE is not None:
				_ACTIVE._task_started(exec_arn, task_arn)
			out = client.describe_tasks(cluster=cluster_arn, tasks=[task_arn])
			out.pop("ResponseMetadata", None)
			env.stack.append(_upper_keys(out))
			return
		env.stack.append(_upper_keys(response))
	ecsmod.StateTaskServiceEcs._eval_service_task = _eval_service_task

	# The heartbeat endpoint of a waitForTaskToken task is set up after runTask returned; until
	# then SendTaskHeartbeat answers InvalidToken.  Announce the task when the wait begins.
	orig_wait = cbmod.StateTaskServiceCallback._eval_wait_for_task_token

	def _eval_wait_for_task_token(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint):
		with _PENDING_LOCK:
			started = _PENDING.pop(getattr(callback_endpoint, "callback_id", None), None)
		if started and _ACTIVE is not None:
			_ACTIVE._task_started(*started, token=callback_endpoint.callback_id)
		return orig_wait(self, env=env, timeout_seconds=timeout_seconds, callback_endpoint=callback_endpoint,
				 heartbeat_endpoint=heartbeat_endpoint)
	cbmod.StateTaskServiceCallback._eval_wait_for_task_token = _eval_wait_for_task_token

	# (c) start_execution deep-copies the state machine, which holds executions (with locks)
	# and the backend: share those instead of copying them.
	shared = ("backend", "executions", "versions", "aliases", "latest_version", "source")

	def __deepcopy__(self, memo):
		new = self.__class__.__new__(self.__class__)
		memo[id(self)] = new
		for k, v in self.__dict__.items():
			setattr(new, k, v if k in shared else copy.deepcopy(v, memo))
		return new
	sfn_models.StateMachineInstance.__deepcopy__ = __deepcopy__

	# (e) The data limit: AWS takes up to 262,144 bytes (SendTaskSuccess "output" max 262144) of
	# the string as sent; moto checks "< 262144" on the result re-serialised with ", " and ": ",
	# so an output at the limit fails the state.  Measure it compact, up to and including.
	import moto.stepfunctions.parser.quotas as quotas
	from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

	def is_within_size_quota(value):
		s = value if isinstance(value, str) else to_json_str(value, separators=(",", ":"))
		return len(s.encode("utf-8")) <= quotas.MAX_STATE_SIZE_UTF8_BYTES
	quotas.is_within_size_quota = is_within_size_quota
	import moto.stepfunctions.parser.asl.component.state.state  # noqa: F401 (so it is in sys.modules)
	import moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda  # noqa: F401
	import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service  # noqa
	for name, mod in list(sys.modules.items()):
		if name.startswith("moto.stepfunctions.parser") and getattr(mod, "is_within_size_quota", None):
			mod.is_within_size_quota = is_within_size_quota

	# (f) SendTask* walk every RUNNING execution and read exec_worker.env, which another thread's
	# StartExecution has not set yet for a moment: with tests in parallel, a heartbeat then gets
	# HTTP 500 (AttributeError).  An execution that has not started has no task token to match.
	from moto.stepfunctions.parser.models import StepFunctionsParserBackend
	orig_get_executions = StepFunctionsParserBackend._get_executions

	def _get_executions(self, execution_status=None):
		return [e for e in orig_get_executions(self, execution_status)
			if getattr(e, "exec_worker", None) is not None and getattr(e.exec_worker, "env", None) is not None]
	StepFunctionsParserBackend._get_executions = _get_executions

	# (h) AWS takes SendTaskHeartbeat for any waiting task; moto refuses it (InvalidToken) when the
	# state has no HeartbeatSeconds, and the agent, told its token is dead, would not run.
	from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint
	orig_notify_heartbeat = CallbackEndpoint.notify_heartbeat

	def notify_heartbeat(self):
		if orig_notify_heartbeat(self):
			return True
		return not self._notify_event.is_set()     # still waiting: accepted, nothing to reset
	CallbackEndpoint.notify_heartbeat = notify_heartbeat

	# (i) A task that has its result is closed: AWS answers a later SendTaskSuccess/Failure/Heartbeat
	# TaskTimedOut; moto answers InvalidToken once the execution has ended (rewritten in _dispatch
	# for tokens the interpreter issued).  Not patched: moto still takes a second result in the
	# moment before its interpreter thread moves on, and a Retry of a waitForTaskToken task
	# reuses the token (its second attempt sees the first attempt's result).

	# (j) A Retry of a waitForTaskToken task: moto makes the token once per state and each retry
	# reuses it, so the new attempt sees the old attempt's result at once.  AWS issues a new
	# token per attempt: so does the lab.
	from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
	orig_evaluate = ExecutionState._evaluate_with_timeout

	def _evaluate_with_timeout(self, env):
		state = env.states.context_object.context_object_data.get("State") or {}
		if (state.get("RetryCount", 0) > 0 and self._is_integration_pattern()
				and ResourceCondition.WaitForTaskToken in self._supported_integration_patterns):
			env.callback_pool_manager.add(env.states.context_object.update_task_token())
		return orig_evaluate(self, env)
	cbmod.StateTaskServiceCallback._evaluate_with_timeout = _evaluate_with_timeout

	# (k) StopExecution: moto stops the program, then the interrupted wait fails the task and that
	# error overrides the stop: the execution ends FAILED (TaskTimedOut).  AWS: ABORTED.
	from moto.stepfunctions.parser.asl.eval.environment import Environment
	from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
	for name in ("set_error", "set_timed_out"):
		def keep_stop(self, *a, _orig=getattr(Environment, name), **kw):
			if isinstance(self._program_state, ProgramStopped):
				return None
			return _orig(self, *a, **kw)
		setattr(Environment, name, keep_stop)

	# ... and AWS shows ABORTED at once, and wakes a task waiting without heartbeats too.
	from moto.stepfunctions.parser.backend.execution import Execution as ParserExecution
	from moto.stepfunctions.parser.api import ExecutionStatus
	orig_exec_stop = ParserExecution.stop

	def exec_stop(self, stop_date, error, cause):
		orig_exec_stop(self, stop_date=stop_date, error=error, cause=cause)
		if self.exec_status == ExecutionStatus.RUNNING:
			self.exec_status = ExecutionStatus.ABORTED
			self.stop_date = stop_date
		env = getattr(self.exec_worker, "env", None)
		pool = getattr(env, "callback_pool_manager", None)
		for ep in list(getattr(pool, "_pool", {}).values()):
			if ep.get_outcome() is None:
				# outcome None: the wait ends and finds the program stopped
				ep._notify_event.set()
				hb = getattr(ep, "_heartbeat_endpoint", None)
				if hb is not None:
					hb.notify()
	ParserExecution.stop = exec_stop

	def stop_execution(self):
		from moto.core.responses import ActionResult
		execution = self.stepfunction_backend.stop_execution(self._get_param("executionArn"))
		# AWS keeps the error and cause StopExecution was given; moto drops them.
		if self._get_param("error") is not None:
			execution.error = self._get_param("error")
		if self._get_param("cause") is not None:
			execution.cause = self._get_param("cause")
		return ActionResult({"stopDate": execution.stop_date})
	StepFunctionResponse.stop_execution = stop_execution

	# (l) moto's ECS is not thread-safe: describe_tasks iterates a cluster's tasks while another
	# thread's run_task adds one (RuntimeError, HTTP 500).  Tests run in parallel: serialise them.
	from moto.ecs.models import EC2ContainerServiceBackend
	ecs_lock = threading.RLock()
	for name in ("run_task", "start_task", "describe_tasks", "list_tasks", "stop_task"):
		def locked(self, *a, _orig=getattr(EC2ContainerServiceBackend, name), **kw):
			with ecs_lock:
				return _orig(self, *a, **kw)
		setattr(EC2ContainerServiceBackend, name, locked)

	# (m) DescribeTasks moves a task one step towards STOPPED on every call, so a controller that
	# polls it sees a stop that never happened: hold tasks where they are until StopTask.
	from moto.ecs.models import Task as EcsTask
	EcsTask.advance = lambda self: None

	# Not a moto bug: CloudWatch Logs pages GetLogEvents at 10,000 events or 1 MB, which no test
	# reaches; the lab pages at Lab.log_page_size events so that following a stream crosses pages.
	from moto.logs.models import LogStream
	orig_get_log_events = LogStream.get_log_events

	def get_log_events(self, start_time, end_time, limit, next_token, start_from_head):
		lab = _ACTIVE
		if limit is None and lab is not None:
			limit = lab.log_page_size
		return orig_get_log_events(self, start_time, end_time, limit, next_token, start_from_head)
	LogStream.get_log_events = get_log_events

	# (g) SendTaskFailure's cause: moto's handler drops it before the backend, which takes it.
	def send_task_failure(self):
		self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
							    cause=self._get_param("cause"))
		from moto.core.responses import EmptyResult
		return EmptyResult()
	StepFunctionResponse.send_task_failure = send_task_failure

	# Step Functions speaks AWS JSON 1.0: AWS answers auth failures with HTTP 400 and a JSON
	# "__type"; moto answers XML with HTTP 403, and HTTP 500 when there is no signature at all.
	# Answer as AWS does, so the agent's handling of the real answers is what gets tested.
	# And record every SendTask* that reaches moto, auth failures included, with the raw body.
	orig_dispatch = StepFunctionResponse._dispatch

	def _dispatch(self, request, full_url, headers):
		lab = _ACTIVE
		if lab is None:
			return orig_dispatch(self, request, full_url, headers)
		target = headers.get("X-Amz-Target") or ""
		op = target.rpartition(".")[2]
		body = request.get_data() if hasattr(request, "get_data") else (getattr(request, "body", b"") or b"")
		try:
			status, rh, rbody = orig_dispatch(self, request, full_url, headers)
			if lab.aws_errors and int(status) in (401, 403):
				status, rh, rbody = _aws_auth_error(rbody, rh)
			elif op in SEND_TASK_OPS and int(status) == 400:
				code = _error_code(rbody)
				if code == "InvalidToken" and lab._issued(body):
					status, rh, rbody = _json_error(400, "TaskTimedOut",
									"Task Timed Out: 'Provided task does not exist anymore'", rh)
		except Exception as e:
			if op in SEND_TASK_OPS:
				lab._record(op, body, headers, 500, "Exception:" + type(e).__name__)
			raise
		if op in SEND_TASK_OPS:
			err = _error_code(rbody) if int(status) != 200 else ""
			lab._record(op, body, headers, int(status), err)
		return status, rh, rbody
	StepFunctionResponse._dispatch = _dispatch

	# Without an Authorization header moto cannot tell the service and answers HTTP 500; AWS
	# answers 400 MissingAuthenticationTokenException.  (Recorded as a call too.)
	from moto.moto_server.werkzeug_app import DomainDispatcherApplication
	orig_call = DomainDispatcherApplication.__call__

	def __call__(self, environ, start_response):
		lab = _ACTIVE
		target = environ.get("HTTP_X_AMZ_TARGET", "")
		if (lab is not None and lab._auth_on and lab.aws_errors and target.startswith("AWSStepFunctions.")
				and "HTTP_AUTHORIZATION" not in environ and "X-Amz-Signature=" not in environ.get("QUERY_STRING", "")):
			op = target.rpartition(".")[2]
			try:
				n = int(environ.get("CONTENT_LENGTH") or 0)
			except ValueError:
				n = 0
			body = environ["wsgi.input"].read(n) if n > 0 else b""
			status, h, rbody = _json_error(400, "MissingAuthenticationTokenException", "Missing Authentication Token", {})
			if op in SEND_TASK_OPS:
				lab._record(op, body, {}, status, "MissingAuthenticationTokenException")
			rbody = rbody.encode()
			start_response("400 Bad Request", [("Content-Type", h["Content-Type"]),
							   ("Content-Length", str(len(rbody)))])
			return [rbody]
		return orig_call(self, environ, start_response)
	DomainDispatcherApplication.__call__ = __call__

	# AssumeRoleWithWebIdentity is unsigned on AWS (the web identity token is the credential);
	# with auth enforced moto checks a signature there is none of, and answers HTTP 500.
	from moto.sts.responses import TokenResponse
	orig_sts_auth = TokenResponse._authenticate_and_authorize_normal_action

	def _sts_auth(self, resource="*"):
		if self._get_action() == "AssumeRoleWithWebIdentity":
			return
		return orig_sts_auth(self, resource)
	TokenResponse._authenticate_and_authorize_normal_action = _sts_auth


_AUTH_ERRORS = {        # moto's code -> AWS JSON protocol's __type (and message, when moto's differs)
	"AccessDenied": ("AccessDeniedException", None),
	"SignatureDoesNotMatch": ("InvalidSignatureException", None),
	"InvalidClientTokenId": ("UnrecognizedClientException",
				 "The security token included in the request is invalid."),
	"AuthFailure": ("UnrecognizedClientException", None),
}


def _json_error(status, typ, message, headers):
	h = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length", "status")}
	h["Content-Type"] = "application/x-amz-json-1.0"
	h["status"] = str(status)
	return status, h, json.dumps({"__type": typ, "message": message})


def _aws_auth_error(body, headers):
	import re
	if isinstance(body, bytes):
		body = body.decode("utf-8", "replace")
	code = _error_code(body)
	m = re.search(r"<Message>([^<]*)</Message>", body or "")
	import html
	msg = html.unescape(m.group(1)) if m else ""
	typ, fixed = _AUTH_ERRORS.get(code, (code if code.endswith("Exception") else code + "Exception", None))
	return _json_error(400, typ, fixed or msg, headers)


def _error_code(body):
	if isinstance(body, bytes):
		body = body.decode("utf-8", "replace")
	body = body or ""
	try:
		t = json.loads(body).get("__type", "")
		return t.rpartition("#")[2] or "Unknown"
	except Exception:
		pass
	import re
	m = re.search(r"<Code>([^<]*)</Code>", body)
	return m.group(1) if m else "Unknown"


# ---------------------------------------------------------------- the lab

class Lab:
	Skip = Skip             # so a test can raise lab.Skip("why") with the instance it was given
	aws_errors = True       # Step Functions auth failures as AWS answers them (JSON, HTTP 400)
	log_page_size = 10      # GetLogEvents without a limit answers this many events a page

	def __init__(self, port=0):
		self.port = port
		self.endpoint = None
		self._keys = {}
		self._lock = threading.Lock()
		self._clients_lock = threading.Lock()
		self._calls = []
		self._exec_tasks = {}       # execution ARN -> [task ARN] in start order
		self._exec_cursor = {}      # execution ARN -> how many wait_for_task already returned
		self._tokens = set()        # task tokens the interpreter handed out
		self._task_cond = threading.Condition(self._lock)
		self._procs = []
		self._server = None
		self._clients = {}
		self._names = itertools.count(1)
		self.sm_role_arn = None
		self.task_role_arns = {}
		self.cluster_arn = None
		self.task_definition_arn = None
		self.subnet = self.security_group = None
		self._auth_on = False

	# -- start / stop
	def start(self):
		global _ACTIVE
		if _ACTIVE is not None and _ACTIVE is not self:
			raise RuntimeError("one Lab per process: moto's backends are global")
		t0 = time.monotonic()
		# This process talks only to the lab, with explicit keys: an inherited profile, endpoint
		# or credentials variable must not steer it (or the children it starts) anywhere else.
		for k in [k for k in os.environ if k.startswith(("AWS_", "SFN_AGENT_")) or k == "TASK_TOKEN"]:
			del os.environ[k]
		os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
		logging.getLogger("werkzeug").setLevel(logging.ERROR)
		# The interpreter logs every caught error (a Choice testing an absent path, a task
		# failure) at ERROR with a dump of the state: noise in test output.
		logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
		from moto.server import ThreadedMotoServer
		_apply_patches()
		port = self.port or _free_port()
		os.environ["MOTO_PORT"] = str(port)
		self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
		self._server.start()
		self.port = self._server.get_host_and_port()[1]
		os.environ["MOTO_PORT"] = str(self.port)
		self.endpoint = "http://127.0.0.1:%d" % self.port
		_ACTIVE = self
		self._moto_api("/moto-api/reset-auth", b"inf")
		self._setup()
		self._moto_api("/moto-api/reset-auth", b"0")
		self._auth_on = True
		self._clients.clear()
		self._verify_auth()
		self.startup_seconds = time.monotonic() - t0
		return self

	def stop(self):
		global _ACTIVE
		for p in list(self._procs):
			_kill_group(p)
		if self._server:
			try:
				self._server.stop()
			except Exception:
				pass
			self._server = None
		if _ACTIVE is self:
			_ACTIVE = None

	def __enter__(self):
		return self.start()

	def __exit__(self, *a):
		self.stop()

	def _moto_api(self, path, data):
		req = urllib.request.Request(self.endpoint + path, data=data, method="POST",
						 headers={"Content-Type": "text/plain"})
		with urllib.request.urlopen(req, timeout=10) as r:
			return r.read()

	def _setup(self):
		iam = self._raw_client("iam", "setup", "setup")
		users = {"admin": ADMIN_POLICY, "task": _policy(SEND_ALL), "noperm": _policy(SEND_NOSUCCESS)}
		for user, pol in users.items():
			iam.create_user(UserName="lab-" + user)
			iam.put_user_policy(UserName="lab-" + user, PolicyName="p", PolicyDocument=json.dumps(pol))
			k = iam.create_access_key(UserName="lab-" + user)["AccessKey"]
			self._keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])
		trust = {"Version": "2012-10-17", "Statement": [
			# moto matches the principal literally: name the admin user, not only the account.
			{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::%s:root" % ACCOUNT,
								  "arn:aws:iam::%s:user/lab-admin" % ACCOUNT]},
			 "Action": "sts:AssumeRole"}]}
		# (A second statement with a Service principal makes moto's trust check crash: HTTP 500.)
		for user, actions in (("task", SEND_ALL), ("noperm", SEND_NOSUCCESS)):
			r = iam.create_role(RoleName="lab-%s-role" % user, AssumeRolePolicyDocument=json.dumps(trust))
			iam.put_role_policy(RoleName="lab-%s-role" % user, PolicyName="p",
						PolicyDocument=json.dumps(_policy(actions)))
			self.task_role_arns[user] = r["Role"]["Arn"]
		r = iam.create_role(RoleName="lab-sfn-role", AssumeRolePolicyDocument=json.dumps(trust))
		iam.put_role_policy(RoleName="lab-sfn-role", PolicyName="p", PolicyDocument=json.dumps(ADMIN_POLICY))
		self.sm_role_arn = r["Role"]["Arn"]
		ec2 = self._raw_client("ec2", *self._keys["admin"])
		vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
		# moto's ECS reads the ENI's private DNS name, which exists only with DNS hostnames on.
		ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
		self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
		self.security_group = ec2.create_security_group(GroupName="lab", Description="lab",
								   VpcId=vpc)["GroupId"]
		ecs = self._raw_client("ecs", *self._keys["admin"])
		self.cluster_arn = ecs.create_cluster(clusterName=CLUSTER)["cluster"]["clusterArn"]
		td = ecs.register_task_definition(
			family=TASK_FAMILY, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
			cpu="256", memory="512", taskRoleArn=self.task_role_arns["task"],
			executionRoleArn=self.task_role_arns["task"],
			containerDefinitions=[{"name": CONTAINER, "image": "sfn-agent-lab:latest", "essential": True, "memory": 512, "cpu": 256,
						   "entryPoint": ["/usr/local/bin/sfn-agent", "--"],
						   "logConfiguration": {"logDriver": "awslogs", "options": {
							   "awslogs-group": LOG_GROUP, "awslogs-region": REGION,
							   "awslogs-stream-prefix": LOG_PREFIX}}}])
		self.task_definition_arn = td["taskDefinition"]["taskDefinitionArn"]
		self._raw_client("logs", *self._keys["admin"]).create_log_group(logGroupName=LOG_GROUP)

	def _verify_auth(self):
		from botocore.exceptions import ClientError
		bad = self._raw_client("stepfunctions", self._keys["admin"][0], "wrong-secret-" + "x" * 20)
		try:
			bad.list_state_machines()
		except ClientError:
			pass
		else:
			raise RuntimeError("lab: moto accepted a request with a wrong secret: auth is not enforced")
		self.client("stepfunctions").list_state_machines()   # and the admin still gets in

	def _raw_client(self, service, akid, secret, token=None, retries=1):
		import boto3
		from botocore.config import Config
		return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint,
					aws_access_key_id=akid, aws_secret_access_key=secret, aws_session_token=token,
					config=Config(retries={"total_max_attempts": retries, "mode": "standard"},
						  connect_timeout=5, read_timeout=30))

	# -- clients and environments
	def client(self, service):
		"""A boto3 client with the admin keys (shared per service; boto3 clients are thread-safe)."""
		with self._clients_lock:
			c = self._clients.get(service)
			if c is None:
				c = self._clients[service] = self._raw_client(service, *self._keys["admin"])
			return c

	def user_client(self, service, user="task", retries=1):
		return self._raw_client(service, *self._keys[user], retries=retries)

	def keys(self, user="task"):
		return self._keys[user]

	def admin_env(self):
		return self.task_env("admin")

	def task_env(self, user="task"):
		akid, secret = self._keys[user]
		env = clean_env()
		env.update({
			"AWS_ACCESS_KEY_ID": akid,
			"AWS_SECRET_ACCESS_KEY": secret,
			"AWS_REGION": REGION,
			"AWS_ENDPOINT_URL_SFN": self.endpoint,
			"AWS_ENDPOINT_URL_STS": self.endpoint,
			# Every other service too (ECS, Logs, IAM for the controller): nothing reaches AWS.
			"AWS_ENDPOINT_URL": self.endpoint,
			"AWS_EC2_METADATA_DISABLED": "true",
		})
		return env

	# -- state machines and executions
	def definition(self, heartbeat=None, timeout=60):
		"""The default waitForTaskToken state machine (a dict)."""
		def task(with_command):
			co = {"Name": CONTAINER, "Environment": [{"Name": "TASK_TOKEN", "Value.$": "$$.Task.Token"}]}
			if with_command:
				co["Command.$"] = "$.commands"
			st = {
				"Type": "Task",
				"Resource": "arn:aws:states:::ecs:runTask.waitForTaskToken",
				"Parameters": {
					"LaunchType": "FARGATE",
					"Cluster": self.cluster_arn,
					"TaskDefinition": self.task_definition_arn,
					"NetworkConfiguration": {"AwsvpcConfiguration": {
						"Subnets": [self.subnet], "SecurityGroups": [self.security_group],
						"AssignPublicIp": "DISABLED"}},
					"Overrides": {"ContainerOverrides": [co]},
				},
				"End": True,
			}
			if heartbeat is not None:
				st["HeartbeatSeconds"] = heartbeat
			if timeout is not None:
				st["TimeoutSeconds"] = timeout
			return st
		return {
			"Comment": "sfn-agent lab: one ECS task that reports through its task token",
			"StartAt": "HasCommands",
			"States": {
				"HasCommands": {"Type": "Choice", "Choices": [
					{"Variable": "$.commands", "IsPresent": True, "Next": "RunCommand"}],
					"Default": "RunDefault"},
				"RunCommand": task(True),
				"RunDefault": task(False),
			},
		}

	def create_state_machine(self, definition=None, heartbeat=None, timeout=60, name=None):
		if definition is None:
			definition = self.definition(heartbeat=heartbeat, timeout=timeout)
		if not isinstance(definition, str):
			definition = json.dumps(definition)
		name = name or "lab-sm-%d-%s" % (next(self._names), uuid.uuid4().hex[:8])
		r = self.client("stepfunctions").create_state_machine(name=name, definition=definition,
									  roleArn=self.sm_role_arn)
		return r["stateMachineArn"]

	def start_execution(self, sm_arn, input=None, name=None):
		name = name or "lab-ex-%d-%s" % (next(self._names), uuid.uuid4().hex[:8])
		if input is None:
			input = {}
		if not isinstance(input, str):
			input = json.dumps(input)
		r = self.client("stepfunctions").start_execution(stateMachineArn=sm_arn, name=name, input=input)
		return r["executionArn"]

	def _issued(self, body):
		"""Was the token in this request body one the interpreter handed to a task?"""
		try:
			token = json.loads(body).get("taskToken")
		except Exception:
			return False
		with self._lock:
			return token in self._tokens

	def _task_started(self, exec_arn, task_arn, token=None):
		with self._task_cond:
			if token:
				self._tokens.add(token)
			self._exec_tasks.setdefault(exec_arn, []).append(task_arn)
			self._task_cond.notify_all()

	def tasks_of(self, exec_arn):
		"""ECS task ARNs this execution started, in order."""
		with self._lock:
			return list(self._exec_tasks.get(exec_arn, []))

	def stop_task(self, task_arn, reason, stop_code="TaskFailedToStart", container_reason=None, exit_code=None):
		"""Stop an ECS task as ECS would report it: moto's StopTask sets only lastStatus and
		stoppedReason; the stop code, stoppedAt and the container's reason and exit code are
		filled here (None leaves the exit code out, as for a container that never started)."""
		from moto.ecs.models import ecs_backends
		backend = ecs_backends[ACCOUNT][REGION]
		with self._lock:
			found = [(c, t) for c, tasks in backend.tasks.items() for a, t in tasks.items() if a == task_arn]
		if not found:
			raise KeyError("no ECS task %s" % task_arn)
		cluster, task = found[0]
		self.client("ecs").stop_task(cluster=cluster, task=task_arn, reason=reason)
		task.stop_code = stop_code
		task.stopped_at = time.time()
		for c in task.containers:
			c.last_status = "STOPPED"
			if container_reason is not None:
				c.reason = container_reason
			if exit_code is None:
				if hasattr(c, "exitCode"):
					del c.exitCode
			else:
				c.exitCode = exit_code
		return task

	def describe_task(self, task_arn, exec_arn=""):
		d = self.client("ecs").describe_tasks(cluster=self.cluster_arn, tasks=[task_arn])["tasks"][0]
		co = (d.get("overrides", {}).get("containerOverrides") or [{}])[0]
		env = {e["name"]: e.get("value", "") for e in co.get("environment", [])}
		return Task(arn=task_arn, command=list(co.get("command") or []), env=env,
				token=env.get("TASK_TOKEN", ""), execution_arn=exec_arn)

	def wait_for_task(self, exec_arn, timeout=10):
		"""The next ECS task started by this execution that wait_for_task has not returned yet."""
		deadline = time.monotonic() + timeout
		with self._task_cond:
			while True:
				n = self._exec_cursor.get(exec_arn, 0)
				arns = self._exec_tasks.get(exec_arn, [])
				if len(arns) > n:
					self._exec_cursor[exec_arn] = n + 1
					arn = arns[n]
					break
				left = deadline - time.monotonic()
				if left <= 0:
					arn = None
					break
				self._task_cond.wait(min(left, 0.5))
		if arn is None:
			raise TimeoutError("no new ECS task for %s within %ss; history: %s" % (
				exec_arn, timeout, self._history_summary(exec_arn)))
		return self.describe_task(arn, exec_arn)

	def describe_execution(self, exec_arn):
		return self.client("stepfunctions").describe_execution(executionArn=exec_arn)

	def wait_execution(self, exec_arn, timeout=30):
		deadline = time.monotonic() + timeout
		while True:
			d = self.describe_execution(exec_arn)
			if d["status"] != "RUNNING":
				return d
			if time.monotonic() >= deadline:
				raise TimeoutError("execution still RUNNING after %ss; history: %s" % (
					timeout, self._history_summary(exec_arn)))
			time.sleep(0.1)

	def history(self, exec_arn):
		sfn = self.client("stepfunctions")
		events, kw = [], {}
		while True:
			r = sfn.get_execution_history(executionArn=exec_arn, maxResults=1000, **kw)
			events += r["events"]
			if not r.get("nextToken"):
				return events
			kw = {"nextToken": r["nextToken"]}

	def _history_summary(self, exec_arn):
		try:
			return ", ".join(e["type"] for e in self.history(exec_arn))
		except Exception as e:
			return "(history unavailable: %s)" % e

	# -- SendTask* that reached moto
	def _record(self, op, body, headers, status, err):
		token = ""
		try:
			token = json.loads(body).get("taskToken", "")
		except Exception:
			pass
		akid = ""
		auth = headers.get("Authorization") or ""
		if "Credential=" in auth:
			akid = auth.split("Credential=", 1)[1].split("/", 1)[0]
		with self._lock:
			self._calls.append(Call(op, token, status == 200, err, status, bytes(body), akid, time.time()))

	def calls(self, operation=None, token=None):
		with self._lock:
			return [c for c in self._calls
				if (operation is None or c.operation == operation) and (token is None or c.token == token)]

	# -- processes
	def run_agent(self, argv, env, timeout=30, stdin=None, input=None):
		"""Run argv (the agent) with exactly env; kill its process group on timeout."""
		argv = [str(a) for a in argv]
		t0 = time.monotonic()
		if input is not None:
			stdin = subprocess.PIPE
		elif stdin is None:
			stdin = subprocess.DEVNULL     # never the runner's own stdin
		p = subprocess.Popen(argv, env=env, stdin=stdin,
					 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
		self._procs.append(p)
		timed_out = False
		try:
			out, err = p.communicate(input=input, timeout=timeout)
		except subprocess.TimeoutExpired:
			timed_out = True
			_kill_group(p)
			try:
				out, err = p.communicate(timeout=5)
			except subprocess.TimeoutExpired:
				out, err = b"", b""
		finally:
			if p in self._procs:
				self._procs.remove(p)
		cp = subprocess.CompletedProcess(argv, p.returncode, out, err)
		cp.timed_out = timed_out
		cp.seconds = time.monotonic() - t0
		log("$ %s\n  -> exit %s%s in %.2fs\n  stderr: %s" % (
			" ".join(argv), p.returncode, " (TIMED OUT, killed)" if timed_out else "", cp.seconds,
			_tail(err)))
		return cp

	def spawn(self, argv, env, **kw):
		"""Popen in its own session; killed at lab.stop()."""
		p = subprocess.Popen([str(a) for a in argv], env=env, start_new_session=True, **kw)
		self._procs.append(p)
		return p

	def play_ecs(self, agent_bin, extra_args=(), env_extra=None, state_machine=None, user="task", awslogs=False):
		return EcsPlayer(self, agent_bin, list(extra_args), dict(env_extra or {}), state_machine, user,
				 awslogs).start()


class EcsPlayer:
	"""Plays ECS: each new task runs the agent with the command and environment of its overrides."""

	SHIP_DELAY = 3.0        # awslogs: seconds between a line written and the line in the stream (longer
	                        # than start's poll interval then, so a start that stops reading at the end
	                        # of the execution misses lines)

	def __init__(self, lab, agent_bin, extra_args, env_extra, state_machine, user, awslogs=False):
		self.lab, self.agent_bin, self.extra_args, self.env_extra = lab, agent_bin, extra_args, env_extra
		self.user = user
		# awslogs: be the awslogs driver too: every line the container writes (stdout and stderr)
		# goes to the task definition's log group, stream PREFIX/CONTAINER/TASK-ID, as it comes.
		# The pipes are then read here: .procs' stdout/stderr are not for the caller.
		self.awslogs = awslogs
		self.logged = []        # (stream, line) in the order written
		self.prefix = None
		if state_machine:
			# arn:aws:states:R:A:stateMachine:NAME -> arn:aws:states:R:A:execution:NAME:
			parts = state_machine.split(":")
			self.prefix = ":".join(parts[:5] + ["execution", parts[6]]) + ":"
		self.procs = []         # (Task, Popen)
		self._stop = threading.Event()
		self._seen = set()

	def start(self):
		with self.lab._lock:
			# only tasks started from now on
			for ex, arns in self.lab._exec_tasks.items():
				self._seen.update(arns)
		threading.Thread(target=self._loop, daemon=True, name="play-ecs").start()
		return self

	def _loop(self):
		while not self._stop.is_set():
			with self.lab._lock:
				new = [(ex, a) for ex, arns in self.lab._exec_tasks.items() for a in arns
					   if a not in self._seen and (self.prefix is None or ex.startswith(self.prefix))]
				self._seen.update(a for _, a in new)
			for ex, arn in new:
				try:
					task = self.lab.describe_task(arn, ex)
					env = self.lab.task_env(self.user)
					env.update(task.env)
					env.update(self.env_extra)
					argv = [str(self.agent_bin), *self.extra_args, "--", *task.command]
					p = self.lab.spawn(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
					self.procs.append((task, p))
					if self.awslogs:
						self._ship_logs(arn, p)
				except Exception as e:
					log("play_ecs: could not start task %s: %s" % (arn, e))
			self._stop.wait(0.1)

	def _ship_logs(self, task_arn, p):
		ecs = self.lab.client("ecs")
		d = ecs.describe_tasks(cluster=task_arn.split("/")[1], tasks=[task_arn])["tasks"][0]
		td = ecs.describe_task_definition(taskDefinition=d["taskDefinitionArn"])["taskDefinition"]
		cd = td["containerDefinitions"][0]
		opts = (cd.get("logConfiguration") or {}).get("options") or {}
		if (cd.get("logConfiguration") or {}).get("logDriver") != "awslogs":
			return
		group = opts["awslogs-group"]
		stream = "%s/%s/%s" % (opts["awslogs-stream-prefix"], cd["name"], task_arn.rpartition("/")[2])
		logs = self.lab.client("logs")
		logs.create_log_stream(logGroupName=group, logStreamName=stream)
		lock = threading.Lock()
		last = [0]
		pending = []            # (time read, line): the driver's buffer

		def pump(pipe):
			for raw in iter(pipe.readline, b""):
				with lock:
					pending.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))

		def ship(older_than):
			with lock:
				batch = [ln for t, ln in pending if t <= older_than]
				del pending[:len(batch)]
				for line in batch:
					# Distinct, increasing timestamps: the order written is the order read.
					ts = max(last[0] + 1, int(time.time() * 1000))
					last[0] = ts
					logs.put_log_events(logGroupName=group, logStreamName=stream,
							    logEvents=[{"timestamp": ts, "message": line}])
					self.logged.append((stream, line))
		pumps = [threading.Thread(target=pump, args=(pipe,), daemon=True, name="awslogs") for pipe in (p.stdout, p.stderr)]
		for t in pumps:
			t.start()

		def container_exits():
			# As the awslogs driver: lines reach the stream SHIP_DELAY after they are written (it
			# buffers), all of them before the task stops; then, as ECS, the task stops.
			while any(t.is_alive() for t in pumps):
				ship(time.monotonic() - self.SHIP_DELAY)
				time.sleep(0.05)
			time.sleep(self.SHIP_DELAY)
			ship(time.monotonic())
			rc = p.wait()
			try:
				self.lab.stop_task(task_arn, "Essential container in task exited",
						   stop_code="EssentialContainerExited", exit_code=rc)
			except Exception as e:
				log("play_ecs: could not stop task %s: %s" % (task_arn, e))
		threading.Thread(target=container_exits, daemon=True, name="awslogs-exit").start()

	def stop(self, kill=True):
		self._stop.set()
		if kill:
			for _, p in self.procs:
				if p.poll() is None:
					_kill_group(p)

	def wait(self, timeout=30):
		"""Wait for every started agent to exit; returns [(Task, returncode, stdout, stderr)]."""
		deadline = time.monotonic() + timeout
		res = []
		for task, p in list(self.procs):
			try:
				out, err = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
			except subprocess.TimeoutExpired:
				_kill_group(p)
				out, err = p.communicate()
			res.append((task, p.returncode, out, err))
		return res


def _kill_group(p):
	try:
		os.killpg(p.pid, signal.SIGKILL)
	except (ProcessLookupError, PermissionError):
		pass
	try:
		p.kill()
	except Exception:
		pass


def _tail(b, n=1500):
	s = (b or b"").decode("utf-8", "replace")
	return s if len(s) <= n else "..." + s[-n:]


def clean_env():
	"""PATH and HOME only: nothing inherited may point a child at a real AWS account or address."""
	env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
	for k in ("TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
		if k in os.environ:
			env[k] = os.environ[k]
	return env


def main(argv):
	import argparse
	ap = argparse.ArgumentParser(prog="lab.py", description="the sfn-agent local lab (moto, auth enforced)")
	sub = ap.add_subparsers(dest="cmd", required=True)
	s = sub.add_parser("serve", help="start the lab, print one JSON line, serve until killed")
	s.add_argument("--port", type=int, default=0)
	s.add_argument("--heartbeat", type=int, default=None, help="HeartbeatSeconds of the printed state machine")
	s.add_argument("--timeout", type=int, default=120, help="TimeoutSeconds of the printed state machine")
	a = ap.parse_args(argv)
	lab = Lab(port=a.port).start()
	sm = lab.create_state_machine(heartbeat=a.heartbeat, timeout=a.timeout)
	print(json.dumps({"endpoint": lab.endpoint, "region": REGION, "state_machine": sm,
			  "cluster": lab.cluster_arn, "task_definition": lab.task_definition_arn,
			  "env": {u: lab.task_env(u) for u in ("admin", "task", "noperm")},
			  "startup_seconds": round(lab.startup_seconds, 2)}), flush=True)
	stop = threading.Event()
	signal.signal(signal.SIGTERM, lambda *a: stop.set())
	try:
		while not stop.wait(3600):
			pass
	except KeyboardInterrupt:
		pass
	lab.stop()
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
