"""Logs that neither contradict themselves nor flood (docs/options.md, "Logging"):

- a token Step Functions refuses before the start never logs that the command is running before it
  says it will not start the command;
- while a call is retried, info shows the first retry, then at most one "still retrying" line every
  10 s (how many attempts, the last answer), then the outcome; debug shows every attempt."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from agentlib import agent_lines  # noqa: E402
from test_bad_input import FixedServer  # noqa: E402

TIMEOUT = 120
FAKE_TOKEN = "0123456789abcdef0123456789abcdef"


def test_refused_token_never_says_running(lab, agent):
    env = lab.task_env("task")
    env["TASK_TOKEN"] = FAKE_TOKEN
    p = lab.run_agent([agent, "--", "sh", "-c", "echo RAN"], env, timeout=30)
    lines = agent_lines(p)
    assert p.returncode == 125 and b"RAN" not in p.stdout, lines
    assert any("not starting the command" in l for l in lines), lines
    assert not any("running" in l for l in lines), "a line says the command runs, but it never did: %r" % lines


def test_accepted_token_says_running_once(lab, agent):
    """The other side of the test above: when the command does run, the line that says so is there."""
    sm = lab.create_state_machine(heartbeat=30)
    ex = lab.start_execution(sm, {"commands": ["sh", "-c", "echo '{\"ok\":1}'"]})
    task = lab.wait_for_task(ex)
    env = lab.task_env("task")
    env.update(task.env)
    p = lab.run_agent([agent, "--", *task.command], env, timeout=30)
    assert p.returncode == 0, agent_lines(p)
    assert len([l for l in agent_lines(p) if ": running sh" in l]) == 1, agent_lines(p)


def _busy_send(lab, agent, level, seconds):
    srv = FixedServer(503, '{"__type":"ServiceUnavailable","message":"busy"}')
    try:
        env = lab.task_env("task")
        env["AWS_ENDPOINT_URL_SFN"] = srv.url
        t0 = time.monotonic()
        p = lab.run_agent([agent, "send-heartbeat", "--task-token", FAKE_TOKEN, "--report-timeout", str(seconds),
                           "--log-level", level], env, timeout=seconds + 30)
        return p, time.monotonic() - t0, srv.count
    finally:
        srv.stop()


def test_retries_at_info_first_then_a_summary_every_10s(lab, agent):
    p, elapsed, attempts = _busy_send(lab, agent, "info", 25)
    lines = agent_lines(p)
    assert p.returncode == 1 and attempts >= 6, (attempts, lines)
    retry = [l for l in lines if "retrying" in l]
    assert retry and "(attempt 1)" in retry[0], "the first retry is not shown: %r" % lines
    summaries = retry[1:]
    assert all(re.search(r"still retrying: \d+ attempts, last HTTP 503", l) for l in summaries), summaries
    assert 1 <= len(summaries) <= int(elapsed // 10), "%d summary lines in %.1f s: %r" % (len(summaries), elapsed,
                                                                                          lines)
    assert len(lines) <= 2 + int(elapsed // 10) + 1, "too many lines at info for %d attempts: %r" % (attempts, lines)
    final = lines[-1]
    assert "not delivered" in final and "%d attempts" % attempts in final, lines


def test_retries_at_debug_show_every_attempt(lab, agent):
    p, _, attempts = _busy_send(lab, agent, "debug", 4)
    lines = agent_lines(p)
    numbered = {int(m.group(1)) for l in lines for m in [re.search(r"\(attempt (\d+)\)", l)] if m}
    assert attempts >= 3 and numbered == set(range(1, attempts + 1)), (attempts, lines)
