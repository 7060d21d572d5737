"""Shared steps of the integration tests: one waitForTaskToken execution in the lab, run through
the agent as its "container", and the checks every test makes on what the agent printed."""
import json
import os
import re
import subprocess


def execution(lab, command, heartbeat=30, timeout=90, definition=None, input_extra=None):
    """Starts an execution whose ECS task runs `command`; returns (execution ARN, Task)."""
    sm = lab.create_state_machine(definition=definition, heartbeat=heartbeat, timeout=timeout)
    inp = {"commands": command}
    inp.update(input_extra or {})
    ex = lab.start_execution(sm, input=inp)
    return ex, lab.wait_for_task(ex)


def task_env(lab, task, user="task", **extra):
    env = lab.task_env(user)
    env.update(task.env)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def cycle(lab, agent, command, args=(), user="task", heartbeat=30, timeout=90, env=None, agent_timeout=60,
          input_extra=None):
    """The whole story: start, run the task's command under the agent, wait for the execution.
    Returns (CompletedProcess, describe_execution, Task)."""
    ex, task = execution(lab, command, heartbeat=heartbeat, timeout=timeout, input_extra=input_extra)
    e = task_env(lab, task, user)
    e.update(env or {})
    p = lab.run_agent([agent, *args, "--", *task.command], e, timeout=agent_timeout)
    check_stderr(p, task, e)
    d = lab.wait_execution(ex, timeout=30)
    return p, d, task


def check_stderr(p, task, env):
    """No secret ever reaches the logs: not the token, not a secret key, not a session token."""
    err = p.stderr.decode("utf-8", "replace")
    secrets = [task.token] if task else []
    for k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env.get(k):
            secrets.append(env[k])
    for s in secrets:
        assert s not in err, "a secret (%s...) appears in the agent's stderr" % s[:4]
    for line in err.splitlines():
        if line.startswith("sfn-agent") or line.startswith('{"time"'):
            continue
    return err


def sent(lab, op, task):
    """The calls of one operation that reached the lab for this task's token."""
    return lab.calls(op, token=task.token)


def sent_output(lab, task):
    calls = [c for c in sent(lab, "SendTaskSuccess", task) if c.ok]
    assert len(calls) == 1, "expected exactly one accepted SendTaskSuccess, got %d" % len(calls)
    return json.loads(calls[0].body)["output"]


def failure(lab, task):
    """(error, cause dict) of the one accepted SendTaskFailure (moto drops the cause on its way to the
    execution, so it is read from the request itself)."""
    calls = [c for c in sent(lab, "SendTaskFailure", task) if c.ok]
    assert len(calls) == 1, "expected exactly one accepted SendTaskFailure, got %d" % len(calls)
    body = json.loads(calls[0].body)
    return body.get("error"), json.loads(body.get("cause") or "null")


def stderr_text(p):
    return p.stderr.decode("utf-8", "replace")


def agent_lines(p):
    return [l for l in stderr_text(p).splitlines() if l.startswith("sfn-agent:")]


def assert_one_sentence_error(p, *needles):
    """Bad input: one clear line naming the problem; the needles must all appear in it."""
    lines = [l for l in agent_lines(p) if "error" in l]
    assert lines, "no error line in stderr:\n" + stderr_text(p)
    for n in needles:
        assert any(n in l for l in lines), "no error line mentions %r:\n%s" % (n, stderr_text(p))
