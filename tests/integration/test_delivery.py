"""Delivery of the report through real peers: credentials from an ECS-style container endpoint
handing out moto STS keys, and a fault-injecting proxy in front of the lab."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import check_stderr, execution, sent, stderr_text, task_env  # noqa: E402
from proxy import FaultProxy  # noqa: E402
from servers import EcsCredsServer  # noqa: E402

TIMEOUT = 90


def _run(lab, agent, task, env, args=()):
    p = lab.run_agent([agent, *args, "--", *task.command], env, timeout=60)
    check_stderr(p, task, env)
    return p


def test_credentials_from_container_endpoint(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"container credentials\"}'"])
    env = task_env(lab, task)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    with EcsCredsServer(lab, auth_token="lab-auth-token-123") as creds:
        env.update(creds.env())
        p = _run(lab, agent, task, env)
        assert p.returncode == 0, stderr_text(p)
        assert creds.fetches >= 1
        assert all(a == "lab-auth-token-123" for a in creds.auth_seen), creds.auth_seen
        calls = sent(lab, "SendTaskSuccess", task)
        assert len(calls) == 1 and calls[0].ok
        assert calls[0].akid in creds.issued, "signed with the temporary keys the endpoint handed out"
        assert "lab-auth-token-123" not in stderr_text(p)
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_container_endpoint_on_a_host_not_allowed_is_refused(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo ran"])
    env = task_env(lab, task)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://0.0.0.0:9/creds"
    p = _run(lab, agent, task, env)
    assert p.returncode == 125, stderr_text(p)
    assert b"ran" not in p.stdout
    # The refusal itself, not just the host's name somewhere in a connection error.
    assert "refusing to fetch credentials over plain http from 0.0.0.0" in stderr_text(p), stderr_text(p)
    lab.client("stepfunctions").stop_execution(executionArn=ex)


def test_throttled_then_delivered_exactly_once(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"n\":1}'"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskSuccess", ["throttle", "throttle"])
        env = task_env(lab, task, AWS_ENDPOINT_URL_SFN=px.url)
        p = _run(lab, agent, task, env)
        assert p.returncode == 0, stderr_text(p)
        seen = px.requests("SendTaskSuccess")
        assert [r.fault for r in seen] == ["throttle", "throttle", "pass"], [r.fault for r in seen]
    reached = sent(lab, "SendTaskSuccess", task)
    assert len(reached) == 1 and reached[0].ok, "exactly one success reaches Step Functions"
    assert "retrying" in stderr_text(p)
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_5xx_then_delivered(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "exit 2"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskFailure", ["http503", "http500"])
        env = task_env(lab, task, AWS_ENDPOINT_URL_SFN=px.url)
        p = _run(lab, agent, task, env)
        assert p.returncode == 2
        assert len(px.requests("SendTaskFailure")) == 3
    reached = sent(lab, "SendTaskFailure", task)
    assert len(reached) == 1 and reached[0].ok
    assert lab.wait_execution(ex)["status"] == "FAILED"

