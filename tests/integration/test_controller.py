"""The controller against the lab (moto, auth enforced): `start` waits for real executions whose ECS
task is played by the agent, `check` reads real state machines, and the state machine `template`
prints is created in the lab and run end to end."""
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from agentlib import stderr_text  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import lab as lablib  # noqa: E402

TIMEOUT = 120  # cfn-lint alone takes seconds per template
_SETUP_LOCK = threading.Lock()  # tests may run in parallel threads against one lab
EXEC_ARN = re.compile(r"^arn:aws:states:us-east-1:123456789012:execution:[^:\s]+:[^:\s]+$")


def _setup(lab):
    """A Fargate task definition whose container states its memory (moto's RunTask adds the
    containers' memory up and fails on one without), and a subnet and security group that exist
    (moto's RunTask looks them up; its Fargate tasks need securityGroups and a VPC with DNS
    hostnames).  Returns (task definition ARN, subnet, security group)."""
    with _SETUP_LOCK:
        return _setup_locked(lab)


def _setup_locked(lab):
    got = getattr(lab, "_ctl_setup", None)
    if not got:
        td = lab.client("ecs").register_task_definition(
            family="ctl-task", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
            memory="512", taskRoleArn=lab.task_role_arns["task"], executionRoleArn=lab.task_role_arns["task"],
            containerDefinitions=[{"name": lablib.CONTAINER, "image": "sfn-agent-lab:latest", "essential": True,
                                   "memory": 512, "entryPoint": ["/usr/local/bin/sfn-agent", "--"]}])
        ec2 = lab.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's ENI wants a DNS name
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="ctl-task", Description="ctl", VpcId=vpc)["GroupId"]
        got = lab._ctl_setup = (td["taskDefinition"]["taskDefinitionArn"], subnet, sg)
    return got


def _task_definition(lab):
    return _setup(lab)[0]


def _template(lab, agent, *extra, fmt="asl"):
    td, subnet, sg = _setup(lab)
    p = subprocess.run([agent, "template", "--cluster", lab.cluster_arn, "--task-definition", td,
                        "--container", lablib.CONTAINER, "--subnets", subnet, "--security-groups", sg,
                        "--heartbeat", "100", "--timeout", "120", "--format", fmt, *extra],
                       capture_output=True, env=lablib.clean_env(), timeout=10)
    assert p.returncode == 0, stderr_text(p)
    return p.stdout.decode()


def _machine(lab, agent):
    """The template's state machine, created in the lab."""
    return lab.create_state_machine(definition=_template(lab, agent))


def _start(lab, agent, sm, *args, timeout=60, env=None):
    e = lab.admin_env()
    e.update(env or {})
    return lab.run_agent([agent, "start", "--state-machine", sm, "--poll", "0.2", *args], e, timeout=timeout)


def _play(lab, agent, sm):
    return lab.play_ecs(agent, extra_args=["--heartbeat", "5"], state_machine=sm)


def test_start_succeeded_prints_output(lab, agent):
    sm = _machine(lab, agent)
    player = _play(lab, agent, sm)
    try:
        inp = {"commands": ["sh", "-c", "echo working; echo '{\"rows\": 3, \"name\": \"x\"}'"]}
        p = _start(lab, agent, sm, "--input", json.dumps(inp), "--timeout", "60")
    finally:
        player.stop()
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert json.loads(p.stdout) == {"rows": 3, "name": "x"}
    assert p.stdout.endswith(b"\n") and p.stdout.count(b"\n") == 1, "only the output on stdout"
    assert "SUCCEEDED" in err
    # The ECS task the execution started is shown (moto's RunTask output carries its ARN).
    ex = re.search(r"started execution (\S+)", err).group(1)
    tasks = lab.tasks_of(ex)
    assert len(tasks) == 1 and ("ECS task " + tasks[0]) in err, (tasks, err)
    # The template passes check: start printed no findings.
    assert "check:" not in err, err


def test_start_input_from_file_and_stdin(lab, agent):
    sm = _machine(lab, agent)
    player = _play(lab, agent, sm)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"commands": ["sh", "-c", "echo '[1, 2]'"]}, f, indent=2)
        p = _start(lab, agent, sm, "--input", "@" + f.name)
        os.unlink(f.name)
        assert p.returncode == 0, stderr_text(p)
        assert json.loads(p.stdout) == [1, 2]
        e = lab.admin_env()
        q = lab.run_agent([agent, "start", "--state-machine", sm, "--poll", "0.2", "--input", "-"], e,
                          input=b'{"commands": ["sh", "-c", "echo \'{\\"from\\": \\"stdin\\"}\'"]}', timeout=60)
        assert q.returncode == 0, stderr_text(q)
        assert json.loads(q.stdout) == {"from": "stdin"}
    finally:
        player.stop()


def test_start_live_line_on_a_terminal(lab, agent):
    sm = _machine(lab, agent)
    player = _play(lab, agent, sm)
    master, slave = pty.openpty()
    try:
        inp = json.dumps({"commands": ["sh", "-c", "sleep 2; echo '{\"tty\": 1}'"]})
        p = lab.spawn([agent, "start", "--state-machine", sm, "--poll", "0.2", "--input", inp], lab.admin_env(),
                      stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        out, _ = p.communicate(timeout=60)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        player.stop()
    assert p.returncode == 0, seen
    assert json.loads(out) == {"tty": 1}
    # The live line: rewritten in place, with the status, the state and the task.
    live = [l for l in seen.split(b"\r\x1b[K") if l.startswith(b"sfn-agent: RUNNING ")]
    assert len(live) >= 3, seen
    assert any(b"state RunTaskWithCommands" in l and b"task " in l for l in live), seen
    # The live line is wiped before a log line is written, and nothing is left of it at the end.
    assert b"\r\x1b[Ksfn-agent: SUCCEEDED after " in seen, seen
    assert seen.rstrip().rsplit(b"\r\x1b[K", 1)[-1].startswith(b"sfn-agent: SUCCEEDED after "), seen


def test_start_failed_prints_error_and_cause(lab, agent):
    # The template without its Retry and Catch: the agent's error is the execution's.
    d = json.loads(_template(lab, agent))
    for name in ("RunTaskWithCommands", "RunTask"):
        del d["States"][name]["Retry"], d["States"][name]["Catch"]
    sm = lab.create_state_machine(definition=d)
    player = _play(lab, agent, sm)
    try:
        p = _start(lab, agent, sm, "--input", json.dumps({"commands": ["sh", "-c", "echo oops >&2; exit 3"]}))
    finally:
        player.stop()
    err = stderr_text(p)
    assert p.returncode == 1, err
    assert p.stdout == b""
    assert "FAILED" in err
    assert "error: ScriptFailed" in err, err
    assert "\ncause: " in err, err
    # start ran check first: this machine lacks Retry and Catch, and says so as warnings.
    assert "warn: check: RunTaskWithCommands: nothing retries ContainerStopped" in err, err
    assert "warn: check: RunTask: no Catch" in err, err


def test_start_timed_out_execution(lab, agent):
    d = json.loads(_template(lab, agent))
    d["TimeoutSeconds"] = 2  # the whole execution; nobody plays ECS
    sm = lab.create_state_machine(definition=d)
    p = _start(lab, agent, sm, "--timeout", "30")
    err = stderr_text(p)
    assert p.returncode == 1, err
    assert "execution TIMED_OUT after" in err, err
    assert re.search(r"^cause: .*TimeoutSeconds", err, re.M), err


def test_template_catch_keeps_the_agents_error(lab, agent):
    sm = _machine(lab, agent)
    player = _play(lab, agent, sm)
    try:
        p = _start(lab, agent, sm, "--input", json.dumps({"commands": ["/nonexistent/command"]}))
    finally:
        player.stop()
    err = stderr_text(p)
    assert p.returncode == 1, err
    # Catch -> Fail state with ErrorPath/CausePath: the execution fails with the agent's error.
    assert "error: ExecFailed" in err, err
    ex = re.search(r"execution FAILED after \S+: (\S+)", err).group(1)
    assert lab.describe_execution(ex)["error"] == "ExecFailed"
    assert "Failed" in [e.get("stateEnteredEventDetails", {}).get("name") for e in lab.history(ex)]


def test_start_timeout_leaves_execution_running(lab, agent):
    sm = _machine(lab, agent)  # nobody plays ECS: the task never reports
    p = _start(lab, agent, sm, "--timeout", "1.5", timeout=30)
    err = stderr_text(p)
    assert p.returncode == 124, err
    assert 1.4 < p.seconds < 10, p.seconds
    m = re.search(r"aws stepfunctions stop-execution --execution-arn (\S+)", err)
    assert m, err
    assert lab.describe_execution(m.group(1))["status"] == "RUNNING"


def test_start_checks_against_the_agents_heartbeat(lab, agent):
    """HeartbeatSeconds 10 is too short for the agent's default 60 s heartbeat, and fine for an agent
    told --heartbeat 2: start's warnings follow what it is told the task's agent does."""
    sm = lab.create_state_machine(heartbeat=10, timeout=60)
    p = _start(lab, agent, sm, "--timeout", "0.5", timeout=30)
    assert p.returncode == 124, stderr_text(p)
    assert "HeartbeatSeconds" in stderr_text(p), stderr_text(p)
    p = _start(lab, agent, sm, "--timeout", "0.5", "--heartbeat", "2", timeout=30)
    assert p.returncode == 124, stderr_text(p)
    assert "HeartbeatSeconds" not in stderr_text(p), stderr_text(p)


def test_start_no_wait_prints_arn_and_names_are_unique(lab, agent):
    sm = _machine(lab, agent)
    arns = []
    for _ in range(2):
        p = _start(lab, agent, sm, "--no-wait", timeout=30)
        assert p.returncode == 0, stderr_text(p)
        arn = p.stdout.decode().strip()
        assert EXEC_ARN.match(arn), arn
        assert lab.describe_execution(arn)["status"] == "RUNNING"
        arns.append(arn)
    assert arns[0] != arns[1], "two starts without --name must not collide"
    assert arns[0].rsplit(":", 1)[1].startswith("sfn-agent-")
    p = _start(lab, agent, sm, "--no-wait", "--name", "my-run_1", timeout=30)
    assert p.returncode == 0 and p.stdout.decode().strip().endswith(":my-run_1"), stderr_text(p)
    # Same name and input is the same request (Step Functions answers with the same execution);
    # another input under that name is a collision.
    q = _start(lab, agent, sm, "--no-wait", "--name", "my-run_1", "--input", '{"other": 1}', timeout=30)
    assert q.returncode == 2, stderr_text(q)
    assert "--name" in stderr_text(q)


def _interrupt(lab, agent, sm, *args, sig=signal.SIGINT):
    e = lab.admin_env()
    p = lab.spawn([agent, "start", "--state-machine", sm, "--poll", "0.2", *args], e,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = p.stderr.readline().decode()
        lines.append(line)
        if "started execution" in line or not line:
            break
    time.sleep(0.5)
    os.kill(p.pid, sig)
    out, err = p.communicate(timeout=30)
    return p.returncode, out, "".join(lines) + err.decode()


def test_start_interrupt_leaves_execution_running(lab, agent):
    sm = _machine(lab, agent)
    rc, out, err = _interrupt(lab, agent, sm)
    assert rc == 130, err
    m = re.search(r"aws stepfunctions stop-execution --execution-arn (\S+) --region us-east-1", err)
    assert m, err
    assert lab.describe_execution(m.group(1))["status"] == "RUNNING"


def test_start_sigterm_leaves_execution_running(lab, agent):
    sm = _machine(lab, agent)
    rc, out, err = _interrupt(lab, agent, sm, sig=signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, err
    assert "interrupted by SIGTERM" in err, err
    m = re.search(r"stop-execution --execution-arn (\S+)", err)
    assert m and lab.describe_execution(m.group(1))["status"] == "RUNNING", err


def test_start_stop_on_interrupt(lab, agent):
    sm = _machine(lab, agent)
    rc, out, err = _interrupt(lab, agent, sm, "--stop-on-interrupt")
    assert rc == 130, err
    assert "stopped execution arn:aws:states:" in err, err
    assert "stop-execution --execution-arn" not in err, err


def test_start_usage_and_api_errors(lab, agent):
    sm = _machine(lab, agent)
    cases = [
        ([], "--state-machine"),
        (["--state-machine", "nope"], 'no state machine is named "nope" in us-east-1'),
        (["--state-machine", "has space"], "neither a state machine ARN"),
        (["--state-machine", "arn:aws:states:us-east-1:123456789012:execution:x:y"], "is an execution ARN"),
        (["--state-machine", sm, "--input", "{not json"], "not valid JSON"),
        (["--state-machine", sm, "--input", "x" * 10], "not valid JSON"),
        (["--state-machine", sm, "--name", "has space"], "--name"),
        (["--state-machine", sm, "--name", "a" * 81], "80"),
        (["--state-machine", sm, "--poll", "0.01"], "--poll"),
        (["--state-machine", sm, "--frobnicate"], "--frobnicate"),
        (["--state-machine", sm + "-missing"], "StartExecution"),
    ]
    for args, needle in cases:
        p = lab.run_agent([agent, "start", *args], lab.admin_env(), timeout=30)
        err = stderr_text(p)
        assert p.returncode == 2, (args, err)
        assert needle in err, (args, needle, err)
        assert p.stdout == b""
        assert len([l for l in err.splitlines() if "error" in l]) == 1, err
    # Too large for argv: on standard input.
    p = lab.run_agent([agent, "start", "--state-machine", sm, "--input", "-"], lab.admin_env(), timeout=30,
                      input=json.dumps({"pad": "x" * 262144}).encode())
    assert p.returncode == 2 and "262,144" in stderr_text(p), stderr_text(p)
    p = lab.run_agent([agent, "start", "--help"], lab.admin_env(), timeout=10)
    assert p.returncode == 0 and b"--stop-on-interrupt" in p.stdout and p.stderr == b""


def test_check_reports_each_mistake(lab, agent):
    task = {
        "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.waitForTaskToken",
        "Parameters": {"LaunchType": "FARGATE", "Cluster": lab.cluster_arn, "TaskDefinition": _task_definition(lab),
                       "Overrides": {"ContainerOverrides": [{"Name": "app", "Environment": [
                           {"Name": "OTHER", "Value": "x"}]}]}},
        "HeartbeatSeconds": 30, "End": True}
    named = json.loads(json.dumps(task))
    named["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"] = [
        {"Name": "MY_TOKEN", "Value.$": "$$.Task.Token"}]
    del named["HeartbeatSeconds"]
    definition = {"StartAt": "Fan", "States": {"Fan": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Broken", "States": {"Broken": task}},
        {"StartAt": "Named", "States": {"Named": named}}]}}}
    sm = lab.create_state_machine(definition=definition)
    p = lab.run_agent([agent, "check", "--state-machine", sm], lab.admin_env(), timeout=30)
    out = p.stdout.decode()
    assert p.returncode == 1, stderr_text(p)
    want = [
        ("Broken", "no TimeoutSeconds"), ("Broken", "HeartbeatSeconds 30 is not longer"),
        ("Broken", "no container override passes $$.Task.Token"), ("Broken", "NetworkConfiguration"),
        ("Broken", "nothing retries ContainerStopped"), ("Broken", "no Catch"),
        ("Named", "no HeartbeatSeconds"), ("Named", "--token-env MY_TOKEN"),
    ]
    lines = out.splitlines()
    for state, needle in want:
        assert any(l.startswith(state + ": ") and needle in l and "; add " in l for l in lines), (state, needle, out)
    assert len(lines) == 12, out  # 6 for Broken, 6 for Named (no timeout/heartbeat/token name/network/retry/catch)
    # With the agent's real settings, the named token and a 20 s heartbeat are fine.
    q = lab.run_agent([agent, "check", "--state-machine", sm, "--token-env", "MY_TOKEN", "--heartbeat", "10"],
                      lab.admin_env(), timeout=30)
    assert q.returncode == 1
    assert "--token-env" not in q.stdout.decode() and "HeartbeatSeconds 30" not in q.stdout.decode()


def test_check_template_is_clean(lab, agent):
    sm = _machine(lab, agent)
    p = lab.run_agent([agent, "check", "--state-machine", sm], lab.admin_env(), timeout=30)
    assert p.returncode == 0, p.stdout.decode() + stderr_text(p)
    assert p.stdout.decode() == "ok: 2 waitForTaskToken task(s), no findings\n"


def test_check_errors(lab, agent):
    sm = _machine(lab, agent)
    # The task user may send task results but not read state machines.
    p = lab.run_agent([agent, "check", "--state-machine", sm], lab.task_env("task"), timeout=30)
    assert p.returncode == 2, stderr_text(p)
    assert "DescribeStateMachine" in stderr_text(p) and "denied" in stderr_text(p)
    p = lab.run_agent([agent, "check", "--state-machine", sm + "-missing"], lab.admin_env(), timeout=30)
    assert p.returncode == 2 and "DescribeStateMachine" in stderr_text(p)
    p = lab.run_agent([agent, "check"], lab.admin_env(), timeout=10)
    assert p.returncode == 2 and "--state-machine" in stderr_text(p)
    p = lab.run_agent([agent, "check", "--help"], lab.admin_env(), timeout=10)
    assert p.returncode == 0 and p.stdout.startswith(b"usage: sfn-agent check")


def test_template_cloudformation_passes_cfn_lint(lab, agent):
    lint = shutil.which("cfn-lint")
    assert lint, "cfn-lint is not installed: pip install cfn-lint"
    variants = [(), ("--launch-type", "EC2"), ("--assign-public-ip", "--security-groups", "sg-1,sg-2")]
    for extra in variants:
        text = _template(lab, agent, *extra, fmt="cloudformation")
        t = json.loads(text)
        kinds = sorted(r["Type"] for r in t["Resources"].values())
        assert kinds == ["AWS::IAM::ManagedPolicy", "AWS::IAM::Role", "AWS::StepFunctions::StateMachine"], kinds
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(text)
        p = subprocess.run([lint, f.name], capture_output=True, timeout=120)
        os.unlink(f.name)
        assert p.returncode == 0, (extra, p.stdout.decode() + p.stderr.decode())


def test_template_usage_errors(lab, agent):
    base = ["template", "--cluster", "c", "--task-definition", "td", "--container", "app"]
    for args, needle in [(base, "--subnets"), (base[:3], "--task-definition"),
                         (base + ["--subnets", "s", "--format", "yaml"], "--format"),
                         (base + ["--subnets", "s", "--heartbeat", "600", "--timeout", "600"], "--heartbeat"),
                         (base + ["--launch-type", "EXTERNAL"], "EXTERNAL")]:
        p = subprocess.run([agent, *args], capture_output=True, env=lablib.clean_env(), timeout=10)
        assert p.returncode == 2, (args, p.stderr)
        assert needle in p.stderr.decode() and p.stdout == b"", (args, needle, p.stderr)


def test_state_machine_by_name(lab, agent):
    """--state-machine takes a name as well as an ARN, resolved in the credentials' account and region."""
    name = "ctl-named-%d" % int(time.time() * 1000)
    sm = lab.client("stepfunctions").create_state_machine(
        name=name, definition=_template(lab, agent), roleArn=lab.sm_role_arn)["stateMachineArn"]
    by_arn = lab.run_agent([agent, "check", "--state-machine", sm], lab.admin_env(), timeout=30)
    by_name = lab.run_agent([agent, "check", "--state-machine", name], lab.admin_env(), timeout=30)
    assert by_name.returncode == 0 and by_name.stdout == by_arn.stdout, stderr_text(by_name)
    p = lab.run_agent([agent, "start", "--state-machine", name, "--no-wait"], lab.admin_env(), timeout=30)
    assert p.returncode == 0, stderr_text(p)
    ex = p.stdout.decode().strip()
    assert ex.startswith(sm.replace(":stateMachine:", ":execution:") + ":"), (ex, sm)
    assert lab.describe_execution(ex)["stateMachineArn"] == sm
    for cmd in ("check", "start"):
        q = lab.run_agent([agent, cmd, "--state-machine", name + "-nothing"], lab.admin_env(), timeout=30)
        assert q.returncode == 2, stderr_text(q)
        assert 'no state machine is named "%s-nothing" in us-east-1' % name in stderr_text(q), stderr_text(q)


def test_template_schedule_passes_cfn_lint(lab, agent):
    """--schedule: an EventBridge Scheduler schedule starting this state machine with {"commands": ...},
    its role allowed states:StartExecution on this state machine only; cfn-lint clean."""
    lint = shutil.which("cfn-lint")
    assert lint, "cfn-lint is not installed: pip install cfn-lint"
    cmds = ["sh", "-c", "./nightly.sh --all"]
    for extra, want_input in ((("--commands", json.dumps(cmds)), {"commands": cmds}), ((), {})):
        text = _template(lab, agent, "--schedule", "cron(0 3 * * ? *)", *extra, fmt="cloudformation")
        t = json.loads(text)
        res = t["Resources"]
        sched = res["Schedule"]
        assert sched["Type"] == "AWS::Scheduler::Schedule", sched
        props = sched["Properties"]
        assert props["ScheduleExpression"] == "cron(0 3 * * ? *)"
        assert props["Target"]["Arn"] == {"Ref": "StateMachine"}
        assert props["Target"]["RoleArn"] == {"Fn::GetAtt": ["ScheduleRole", "Arn"]}
        assert json.loads(props["Target"]["Input"]) == want_input
        role = res["ScheduleRole"]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
        stmts = [st for p in role["Policies"] for st in p["PolicyDocument"]["Statement"]]
        assert stmts == [{"Sid": "StartTheStateMachine", "Effect": "Allow", "Action": ["states:StartExecution"],
                          "Resource": {"Ref": "StateMachine"}}], stmts
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(text)
        p = subprocess.run([lint, f.name], capture_output=True, timeout=120)
        os.unlink(f.name)
        assert p.returncode == 0, (extra, p.stdout.decode() + p.stderr.decode())
    # The ASL form is unchanged, so a schedule there is refused, as are bad expressions and commands.
    td, subnet, sg = _setup(lab)
    base = [agent, "template", "--cluster", lab.cluster_arn, "--task-definition", td, "--container",
            lablib.CONTAINER, "--subnets", subnet]
    for extra, needle in ((["--schedule", "rate(1 day)"], "pass --format cloudformation"),
                          (["--format", "cloudformation", "--schedule", "daily"], "not a schedule expression"),
                          (["--format", "cloudformation", "--schedule", "rate(1 day)", "--commands", '"ls"'],
                           "not a JSON array of strings"),
                          (["--format", "cloudformation", "--commands", '["ls"]'], "pass --schedule")):
        p = subprocess.run(base + extra, capture_output=True, env=lablib.clean_env(), timeout=10)
        assert p.returncode == 2 and needle in stderr_text(p), (extra, stderr_text(p))
    p = subprocess.run(base + ["--help"], capture_output=True, env=lablib.clean_env(), timeout=10)
    assert b"--schedule EXPR" in p.stdout and b"on it only) [none]" in p.stdout
