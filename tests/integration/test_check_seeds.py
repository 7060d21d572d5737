"""`sfn-agent check` on the seeds' mistakes (issue 13), against real state machines in the lab, auth on.

The seed definitions are reconstructed from what the issue says of them (they are not in the tree):
  001  a task with TimeoutSeconds 120 and no HeartbeatSeconds, the agent heartbeating every 30 s:
       the old advice ("HeartbeatSeconds": 300) was refused by CreateStateMachine;
  002  Retry on "Ecs.AmazonECSException" (the error is "ECS.") and Catch on "scriptfailed";
  004  ecs:runTask.sync on Fargate without NetworkConfiguration ("ok" was printed);
  and the overrides case: literal container overrides that, with a 2,048-character token, leave too
  little of RunTask's 8,192 characters.
"""
import copy
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from agentlib import stderr_text  # noqa: E402

TIMEOUT = 60


def _task(lab, **extra):
    t = copy.deepcopy(lab.definition(heartbeat=300, timeout=3600)["States"]["RunCommand"])
    t["Retry"] = [{"ErrorEquals": ["ContainerStopped"], "MaxAttempts": 2}]
    t["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}]
    t.update(extra)
    return t


def _machine(task):
    return {"StartAt": "Run", "States": {"Run": task, "Failed": {"Type": "Fail"}}}


def _check(lab, agent, definition, *args):
    sm = lab.create_state_machine(definition=definition)
    p = lab.run_agent([agent, "check", "--state-machine", sm, *args], lab.admin_env(), timeout=30)
    return sm, p, p.stdout.decode()


def test_check_seed_001_heartbeat_advice_is_accepted(lab, agent):
    task = _task(lab, TimeoutSeconds=120)
    del task["HeartbeatSeconds"]
    sm, p, out = _check(lab, agent, _machine(task), "--heartbeat", "30")
    assert p.returncode == 1, out + stderr_text(p)
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Run: no HeartbeatSeconds"), out
    m = re.search(r'add "HeartbeatSeconds": (\d+)', lines[0])
    assert m, out
    hb = int(m.group(1))
    assert 30 < hb < 120, out
    # Step Functions takes the advice as given...
    fixed = copy.deepcopy(task)
    fixed["HeartbeatSeconds"] = hb
    lab.create_state_machine(definition=_machine(fixed))
    # ...where the advice of before (300) was refused: the lab enforces what AWS enforces.
    old = copy.deepcopy(task)
    old["HeartbeatSeconds"] = 300
    try:
        lab.create_state_machine(definition=_machine(old))
    except Exception as e:
        assert "HeartbeatSeconds" in str(e) or "Timeout" in str(e) or "Invalid" in str(e), e
    else:
        raise AssertionError("the lab accepted HeartbeatSeconds 300 with TimeoutSeconds 120")


def test_check_seed_001_no_room_says_raise_timeout(lab, agent):
    task = _task(lab, TimeoutSeconds=100)
    del task["HeartbeatSeconds"]
    sm, p, out = _check(lab, agent, _machine(task))       # the agent's default heartbeat: 60 s
    assert p.returncode == 1, out + stderr_text(p)
    assert 'raise "TimeoutSeconds" above 300, then add "HeartbeatSeconds": 300' in out, out
    fixed = copy.deepcopy(task)
    fixed["TimeoutSeconds"], fixed["HeartbeatSeconds"] = 301, 300
    lab.create_state_machine(definition=_machine(fixed))   # the advice, followed, is accepted
    sm, p, out = _check(lab, agent, _machine(fixed))
    assert p.returncode == 0 and out.startswith("ok: "), out


def test_check_seed_002_error_names_that_cannot_match(lab, agent):
    task = _task(lab)
    task["Retry"] = [{"ErrorEquals": ["ContainerStopped"], "MaxAttempts": 2},
                     {"ErrorEquals": ["Ecs.AmazonECSException"], "MaxAttempts": 3}]
    task["Catch"] = [{"ErrorEquals": ["scriptfailed"], "Next": "Failed"},
                     {"ErrorEquals": ["States.ALL"], "Next": "Failed"}]
    sm, p, out = _check(lab, agent, _machine(task))
    assert p.returncode == 1, out + stderr_text(p)
    assert ('Run: Retry\'s ErrorEquals "Ecs.AmazonECSException" never matches' in out
            and 'add "ECS.AmazonECSException" in its place' in out), out
    assert 'Run: Catch\'s ErrorEquals "scriptfailed" never matches' in out and 'add "ScriptFailed"' in out, out
    assert len(out.splitlines()) == 2, out


def test_check_seed_004_sync_is_not_ok(lab, agent):
    task = _task(lab, Resource="arn:aws:states:::ecs:runTask.sync")
    del task["Parameters"]["NetworkConfiguration"]
    del task["HeartbeatSeconds"]
    task["Parameters"]["Overrides"]["ContainerOverrides"][0].pop("Environment")
    sm, p, out = _check(lab, agent, _machine(task))
    assert p.returncode == 1, out + stderr_text(p)
    assert "ok:" not in out, out
    assert "Run: runs with ecs:runTask.sync" in out and "PID 1" in out and "reports nothing" in out, out
    assert "arn:aws:states:::ecs:runTask.waitForTaskToken" in out, out
    assert "Run: Fargate tasks use awsvpc networking" in out, out


def test_check_overrides_that_leave_too_little_room(lab, agent):
    task = _task(lab)
    task["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"].append(
        {"Name": "CONFIG", "Value": "x" * 5500})
    sm, p, out = _check(lab, agent, _machine(task))
    assert p.returncode == 1, out + stderr_text(p)
    assert "Run: the overrides are" in out and "2,048-character task token, leaving" in out, out


def test_check_format_json(lab, agent):
    task = _task(lab)
    task["Catch"] = [{"ErrorEquals": ["scriptfailed"], "Next": "Failed"}]
    sm, p, out = _check(lab, agent, _machine(task), "--format", "json")
    assert p.returncode == 1, out + stderr_text(p)
    d = json.loads(out)
    assert d["stateMachineArn"] == sm and d["tasks"] == 1 and d["syncTasks"] == 0, d
    problems = sorted(f["problem"] for f in d["findings"])
    assert problems == ["error-name", "no-catch"], d
    assert all(f["state"] == "Run" and f["text"].startswith("Run: ") for f in d["findings"]), d
    clean = _task(lab)
    sm, p, out = _check(lab, agent, _machine(clean), "--format", "json")
    assert p.returncode == 0 and json.loads(out)["findings"] == [], out
    q = lab.run_agent([agent, "check", "--state-machine", sm, "--format", "yaml"], lab.admin_env(), timeout=10)
    assert q.returncode == 2 and "--format yaml is not a format" in stderr_text(q), stderr_text(q)


# ---- IAM: the state machine's role and the task role, read and evaluated ----

_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}


def _uniq(prefix):
    import uuid
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def _role(lab, statements, attached=None):
    iam = lab.client("iam")
    name = _uniq("ctl-role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST))["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    if attached:
        pol = iam.create_policy(PolicyName=_uniq("ctl-pol"), PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": attached}))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=pol)
    return arn


def _machine_with_role(lab, definition, role_arn):
    return lab.client("stepfunctions").create_state_machine(
        name=_uniq("ctl-iam"), definition=json.dumps(definition), roleArn=role_arn)["stateMachineArn"]


def _iam_check(lab, agent, sm, *args, env=None):
    p = lab.run_agent([agent, "check", "--state-machine", sm, *args], env or lab.admin_env(), timeout=60)
    return p, p.stdout.decode(), stderr_text(p)


def test_check_seed_003_role_without_pass_role(lab, agent):
    role = _role(lab, [{"Effect": "Allow", "Action": ["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks"],
                        "Resource": "*"}])
    sm = _machine_with_role(lab, _machine(_task(lab)), role)
    p, out, err = _iam_check(lab, agent, sm)
    assert p.returncode == 1, out + err
    task_role = lab.task_role_arns["task"]
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("Run: the state machine's role %s does not allow iam:PassRole" % role.rpartition("/")[2])
    assert '"Action": "iam:PassRole", "Resource": ["%s"]' % task_role in lines[0], out
    # --no-iam skips it: the definition itself is clean.
    p, out, err = _iam_check(lab, agent, sm, "--no-iam")
    assert p.returncode == 0 and out.startswith("ok: "), out + err


def test_check_role_without_run_task_and_task_role_without_heartbeat(lab, agent):
    role = _role(lab, [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}])
    task_role = _role(lab, [{"Effect": "Allow", "Action": ["states:SendTaskSuccess", "states:SendTaskFailure"],
                             "Resource": "*"}])
    ecs = lab.client("ecs")
    lab_td = ecs.describe_task_definition(taskDefinition=lab.task_definition_arn)["taskDefinition"]
    cd = lab_td["containerDefinitions"][0]
    td = ecs.register_task_definition(
        family=_uniq("ctl-nohb"), requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
        memory="512", taskRoleArn=task_role, executionRoleArn=lab_td["executionRoleArn"],
        containerDefinitions=[{k: cd[k] for k in ("name", "image", "essential", "memory", "cpu")}],
    )["taskDefinition"]["taskDefinitionArn"]
    task = _task(lab)
    task["Parameters"]["TaskDefinition"] = td
    sm = _machine_with_role(lab, _machine(task), role)
    p, out, err = _iam_check(lab, agent, sm, "--format", "json")
    assert p.returncode == 1, out + err
    found = {f["problem"]: f["text"] for f in json.loads(out)["findings"]}
    assert sorted(found) == ["iam-run-task", "iam-task-role"], found
    assert "does not allow ecs:RunTask on %s" % td in found["iam-run-task"], found
    assert "does not allow states:SendTaskHeartbeat," in found["iam-task-role"], found
    assert "SendTaskSuccess," not in found["iam-task-role"].split("; add")[0], found


def test_check_iam_wildcards_attached_policies_and_cannot_tell(lab, agent):
    # Wildcards in an attached managed policy cover both calls: nothing to report.
    role = _role(lab, None, attached=[{"Effect": "Allow", "Action": ["ecs:Run*", "iam:Pass*"], "Resource": "*"}])
    sm = _machine_with_role(lab, _machine(_task(lab)), role)
    p, out, err = _iam_check(lab, agent, sm)
    assert p.returncode == 0 and out.startswith("ok: "), out + err
    assert "cannot" not in err, err          # it did read and evaluate the policies
    # A Deny, or an Allow with a Condition: "cannot tell", said and not counted.
    role = _role(lab, [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                       {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*",
                        "Condition": {"StringNotEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}])
    sm = _machine_with_role(lab, _machine(_task(lab)), role)
    p, out, err = _iam_check(lab, agent, sm)
    assert p.returncode == 0 and out.startswith("ok: "), out + err
    assert "cannot tell whether the state machine's role allows iam:PassRole" in err, err
    assert "a Deny statement" in err, err


def test_check_iam_read_denied_says_what_would_let_it_look(lab, agent):
    iam = lab.client("iam")
    user = _uniq("ctl-noiam")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["states:*", "ecs:DescribeTaskDefinition"], "Resource": "*"}]}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    env = lab.admin_env()
    env.update({"AWS_ACCESS_KEY_ID": k["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": k["SecretAccessKey"]})
    sm = lab.create_state_machine(definition=_machine(_task(lab)))
    p, out, err = _iam_check(lab, agent, sm, env=env)
    assert p.returncode == 0 and out.startswith("ok: "), out + err   # goes on: the definition is clean
    assert "iam:ListRolePolicies is denied to these credentials" in err, err
    assert "iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicy and iam:GetPolicyVersion" in err, err


def _resolve_cfn(v, values):
    """The few intrinsic functions the template's role policy uses, resolved as CloudFormation would."""
    if isinstance(v, dict):
        if "Fn::Sub" in v:
            s = v["Fn::Sub"]
            for k, val in values.items():
                s = s.replace("${%s}" % k, val)
            return s
        if "Ref" in v:
            return values[v["Ref"]]
        if "Fn::If" in v:
            return _resolve_cfn(v["Fn::If"][1], values)   # HasExecutionRole: the test passes one
        return {k: _resolve_cfn(x, values) for k, x in v.items()}
    if isinstance(v, list):
        return [_resolve_cfn(x, values) for x in v]
    return v


def test_check_template_with_its_own_role_has_no_finding(lab, agent):
    """The state machine `template` prints, run by a role made from its --format cloudformation policy:
    check reads that role and the task role and finds nothing."""
    import test_controller as tc
    cfn = json.loads(tc._template(lab, agent, fmt="cloudformation"))
    role_props = cfn["Resources"]["StateMachineRole"]["Properties"]
    values = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
              "TaskRoleArn": lab.task_role_arns["task"], "ExecutionRoleArn": lab.task_role_arns["task"]}
    statements = _resolve_cfn(role_props["Policies"][0]["PolicyDocument"]["Statement"], values)
    role = _role(lab, statements)
    sm = _machine_with_role(lab, json.loads(tc._template(lab, agent)), role)
    p, out, err = _iam_check(lab, agent, sm)
    assert p.returncode == 0 and out.startswith("ok: "), out + err
    assert "cannot" not in err, err


def test_check_escapes_names_from_the_definition(lab, agent):
    """State and error names are the definition's text: printed escaped, never as terminal controls."""
    task = _task(lab)
    del task["HeartbeatSeconds"]
    d = {"StartAt": "Run\u001b]0;x\u0007", "States": {"Run\u001b]0;x\u0007": task, "Failed": {"Type": "Fail"}}}
    sm, p, out = _check(lab, agent, d, "--no-iam")
    assert p.returncode == 1, out + stderr_text(p)
    assert "\x1b" not in out and "\x07" not in out, repr(out)
    assert "Run\\e]0;x\\x07: no HeartbeatSeconds" in out, out
