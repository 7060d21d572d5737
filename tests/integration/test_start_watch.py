"""`sfn-agent start` watches the execution's ECS task (DescribeTasks) against the lab, auth on: its
status on the progress line, a task that stopped while the execution still waits on it reported at
once (stop code, reason, each container's exit code and reason), `--fail-fast` stopping the
execution, and a task started by a Retry followed."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from agentlib import stderr_text  # noqa: E402

TIMEOUT = 90

PULL = "CannotPullContainerError: pull image manifest has been retried 5 time(s): \x1b]0;pwned\x07not found"


class Lines:
    """Reads a process's stderr line by line in a thread; wait_for() is event-driven."""

    def __init__(self, stream):
        self.lines, self.cond = [], threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def wait_for(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ln in self.lines:
                    if ln is not None and text in ln:
                        return ln
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] is None):
                    raise AssertionError("no line with %r in:\n%s" % (text, self.text()))
                self.cond.wait(left)

    def text(self):
        return "".join(ln for ln in self.lines if ln is not None)


def _spawn_start(lab, agent, sm, *args):
    p = lab.spawn([agent, "start", "--state-machine", sm, "--poll", "0.2", *args], lab.admin_env(),
                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p, Lines(p.stderr)


def _execution_of(lab, sm, timeout=20):
    deadline = time.monotonic() + timeout
    sfn = lab.client("stepfunctions")
    while time.monotonic() < deadline:
        ex = sfn.list_executions(stateMachineArn=sm)["executions"]
        if ex:
            return ex[0]["executionArn"]
        time.sleep(0.1)
    raise AssertionError("start started no execution")


def _finish(p, timeout=30):
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("start did not exit in %ss" % timeout)
    return p.returncode


def test_start_shows_the_task_status_and_a_stop_at_once(lab, agent):
    sm = lab.create_state_machine(timeout=120)
    p, err = _spawn_start(lab, agent, sm, "--input", '{"commands": ["true"]}')
    ex = _execution_of(lab, sm)
    task = lab.wait_for_task(ex)
    tid = task.arn.rpartition("/")[2]
    err.wait_for("ECS task %s RUNNING" % tid)
    lab.stop_task(task.arn, "Task failed to start", container_reason=PULL)
    line = err.wait_for("STOPPED while the execution still waits on it")
    assert "TaskFailedToStart: Task failed to start" in line, line
    c = err.wait_for("container app:")
    assert "no exit code: CannotPullContainerError: pull image manifest" in c, c
    assert "\x1b" not in err.text() and "\\e]0;pwned\\x07not found" in c, c   # escaped, not sent to the terminal
    err.wait_for("--fail-fast would stop it now")
    # Without --fail-fast it keeps waiting: still running, the execution too.
    assert p.poll() is None, err.text()
    assert lab.describe_execution(ex)["status"] == "RUNNING"
    lab.client("stepfunctions").stop_execution(executionArn=ex, error="Test", cause="done")
    assert _finish(p) == 1, err.text()
    assert err.text().count("STOPPED while the execution still waits") == 1, err.text()


def test_start_fail_fast_stops_the_execution(lab, agent):
    sm = lab.create_state_machine(timeout=120)
    p, err = _spawn_start(lab, agent, sm, "--fail-fast", "--input", '{"commands": ["true"]}')
    ex = _execution_of(lab, sm)
    task = lab.wait_for_task(ex)
    lab.stop_task(task.arn, "Essential container in task exited", stop_code="EssentialContainerExited",
                  container_reason="OutOfMemoryError: Container killed due to memory usage", exit_code=137)
    assert _finish(p) == 1, err.text()
    d = lab.describe_execution(ex)
    assert d["status"] == "ABORTED", d
    assert d.get("error") == "TaskStopped", d
    assert "EssentialContainerExited" in d["cause"] and "Essential container in task exited" in d["cause"], d
    assert "container app: exit code 137: OutOfMemoryError" in d["cause"], d
    text = err.text()
    assert "error: TaskStopped" in text and "exit code 137" in text, text


def test_start_does_not_report_a_task_that_reported(lab, agent):
    """A task stops after its report: that is no failure, and --fail-fast must leave it alone.  A Wait
    state after the task keeps the execution RUNNING while ECS shows the task STOPPED."""
    d = lab.definition(timeout=120)
    d["States"]["RunCommand"].pop("End")
    d["States"]["RunCommand"]["Next"] = "Pause"
    d["States"]["Pause"] = {"Type": "Wait", "Seconds": 3, "End": True}
    sm = lab.create_state_machine(definition=d)
    p, err = _spawn_start(lab, agent, sm, "--fail-fast", "--input", '{"commands": ["true"]}')
    ex = _execution_of(lab, sm)
    task = lab.wait_for_task(ex)
    err.wait_for("RUNNING")
    lab.client("stepfunctions").send_task_success(taskToken=task.token, output='{"ok": 1}')
    lab.stop_task(task.arn, "Essential container in task exited", stop_code="EssentialContainerExited",
                  exit_code=0)
    err.wait_for("ECS task %s STOPPED" % task.arn.rpartition("/")[2])   # seen while the execution waits
    assert _finish(p) == 0, err.text()
    assert "STOPPED while the execution" not in err.text(), err.text()
    assert lab.describe_execution(ex)["status"] == "SUCCEEDED"


def _retrying_machine(lab):
    d = lab.definition(timeout=120)
    d["States"]["RunCommand"]["Retry"] = [{"ErrorEquals": ["ScriptFailed"], "IntervalSeconds": 1,
                                           "MaxAttempts": 1}]
    return lab.create_state_machine(definition=d)


def test_start_follows_the_task_a_retry_starts(lab, agent):
    sm = _retrying_machine(lab)
    p, err = _spawn_start(lab, agent, sm, "--input", '{"commands": ["true"]}')
    ex = _execution_of(lab, sm)
    first = lab.wait_for_task(ex)
    err.wait_for("ECS task %s RUNNING" % first.arn.rpartition("/")[2])
    lab.client("stepfunctions").send_task_failure(taskToken=first.token, error="ScriptFailed", cause="exit 1")
    lab.stop_task(first.arn, "Essential container in task exited", stop_code="EssentialContainerExited",
                  exit_code=1)
    second = lab.wait_for_task(ex, timeout=20)
    assert second.arn != first.arn
    err.wait_for("ECS task %s RUNNING" % second.arn.rpartition("/")[2])
    lab.stop_task(second.arn, "Task failed to start", container_reason=PULL)
    line = err.wait_for("STOPPED while the execution still waits on it")
    assert second.arn.rpartition("/")[2] in line, line
    # The first task ended with a report: never called a stop the execution waits on.
    assert first.arn.rpartition("/")[2] not in "".join(
        ln for ln in err.lines if ln and "STOPPED while" in ln), err.text()
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    assert _finish(p) == 1, err.text()


def test_start_help_describes_fail_fast(lab, agent):
    p = subprocess.run([agent, "start", "--help"], capture_output=True, env=lab.admin_env(), timeout=10)
    assert p.returncode == 0, stderr_text(p)
    out = p.stdout.decode()
    assert "--fail-fast" in out and "by default the reason is shown and start keeps waiting" in out, out


def test_start_without_describe_tasks_says_so_and_goes_on(lab, agent):
    """Credentials that may not DescribeTasks: said once, and the execution is still followed."""
    iam = lab.client("iam")
    name = "ctl-nodescribe-%d" % int(time.time() * 1000)
    iam.create_user(UserName=name)
    pol = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "states:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(pol))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    env = lab.admin_env()
    env.update({"AWS_ACCESS_KEY_ID": k["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": k["SecretAccessKey"]})
    sm = lab.create_state_machine(timeout=120)
    p = lab.spawn([agent, "start", "--state-machine", sm, "--poll", "0.2", "--input", '{"commands": ["true"]}'],
                  env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = Lines(p.stderr)
    ex = _execution_of(lab, sm)
    task = lab.wait_for_task(ex)
    err.wait_for("DescribeTasks is denied")
    lab.client("stepfunctions").send_task_success(taskToken=task.token, output='{"ok": 1}')
    assert _finish(p) == 0, err.text()
    assert err.text().count("DescribeTasks is denied") == 1, err.text()


LOG_SCRIPT = r"""
i=1
while [ $i -le 45 ]; do
	echo "line $i"
	if [ $((i % 15)) = 0 ]; then sleep 0.6; fi
	i=$((i + 1))
done
printf 'esc \033[31m red\n'
echo '{"done": true}'
"""


def test_start_logs_every_line_once_in_order(lab, agent):
    sm = lab.create_state_machine(heartbeat=20, timeout=120)
    player = lab.play_ecs(agent, extra_args=["--heartbeat", "5"], state_machine=sm, awslogs=True)
    try:
        p = lab.run_agent([agent, "start", "--state-machine", sm, "--poll", "0.2", "--logs",
                           "--input", json.dumps({"commands": ["sh", "-c", LOG_SCRIPT]})], lab.admin_env(), timeout=60)
    finally:
        player.stop()
    err = stderr_text(p)
    assert p.returncode == 0, err
    got = [ln[len("app| "):] for ln in err.splitlines() if ln.startswith("app| line ")]
    assert got == ["line %d" % i for i in range(1, 46)], err
    assert "app| esc \\e[31m red" in err and "\x1b" not in err, err
    # What was written is what was shown: the agent's own lines too, each once.
    written = [line for _, line in player.logged]
    shown = [ln[len("app| "):] for ln in err.splitlines() if ln.startswith("app| ")]
    assert len(shown) == len(written), (shown, written)


def test_start_logs_without_awslogs_says_so_once(lab, agent):
    ecs = lab.client("ecs")
    lab_td = ecs.describe_task_definition(taskDefinition=lab.task_definition_arn)["taskDefinition"]
    cd = dict(lab_td["containerDefinitions"][0])
    cd.pop("logConfiguration", None)
    td = ecs.register_task_definition(
        family="nolog-task", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        taskRoleArn=lab_td["taskRoleArn"], executionRoleArn=lab_td["executionRoleArn"],
        containerDefinitions=[{k: cd[k] for k in ("name", "image", "essential", "memory", "cpu", "entryPoint")}],
    )["taskDefinition"]["taskDefinitionArn"]
    d = lab.definition(heartbeat=20, timeout=120)
    for st in ("RunCommand", "RunDefault"):
        d["States"][st]["Parameters"]["TaskDefinition"] = td
    sm = lab.create_state_machine(definition=d)
    player = lab.play_ecs(agent, extra_args=["--heartbeat", "5"], state_machine=sm)
    try:
        p = lab.run_agent([agent, "start", "--state-machine", sm, "--poll", "0.2", "--logs",
                           "--input", json.dumps({"commands": ["sh", "-c", "sleep 1; echo '{}'"]})],
                          lab.admin_env(), timeout=60)
    finally:
        player.stop()
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert err.count("has no awslogs log configuration") == 1, err
    assert "nolog-task" in err, err
