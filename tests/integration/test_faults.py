"""The fault matrix: every kind of network trouble, through FaultProxy, at each of the three moments
a call is made (the first heartbeat before the command starts, a periodic heartbeat while it runs,
the final report), and the deadlines the agent keeps when the trouble does not end.

Each fault is asserted on its own (its name is in every assertion message); the loops only save
a state machine per case.  SFN_AGENT_HTTP_TIMEOUT keeps one attempt against a server that never
answers to 2 s."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import check_stderr, execution, sent, stderr_text, task_env  # noqa: E402
from proxy import FaultProxy  # noqa: E402

TIMEOUT = 300

ATTEMPT_S = 2               # SFN_AGENT_HTTP_TIMEOUT in these tests
BACKOFF_CAP_S = 5.0         # the client's backoff cap
BACKOFF_BASE_S = 0.2        # and its first ceiling
# Faults that never let the request reach Step Functions: the retry is the one delivery.
NOT_FORWARDED = ("http500", "http503", "throttle", "refuse", "reset", "hang")
# Faults after which Step Functions has the request but the agent does not know it.
ANSWER_LOST = ("lost", "slow:4")
MATRIX = NOT_FORWARDED + ("slow:1",) + ANSWER_LOST


def _run(lab, agent, task, env, args=(), timeout=60):
    p = lab.run_agent([agent, *args, "--", *task.command], env, timeout=timeout)
    check_stderr(p, task, env)
    return p


def _env(lab, task, url, **extra):
    return task_env(lab, task, AWS_ENDPOINT_URL_SFN=url, SFN_AGENT_HTTP_TIMEOUT=ATTEMPT_S, **extra)


def _stop(lab, ex):
    try:
        lab.client("stepfunctions").stop_execution(executionArn=ex)
    except Exception:
        pass


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()       # nothing listens there now: connections are refused
    return port


def _final_report(lab, agent, op):
    command = ["sh", "-c", "echo '{\"ok\":1}'"] if op == "SendTaskSuccess" else ["sh", "-c", "exit 2"]
    want_rc, want_status = (0, "SUCCEEDED") if op == "SendTaskSuccess" else (2, "FAILED")
    for fault in MATRIX:
        ex, task = execution(lab, command)
        # After a lost answer the retry meets a spent token.  AWS answers TaskTimedOut; moto accepts a
        # second SendTaskFailure, and a second SendTaskSuccess too when it comes before moto's
        # interpreter thread has moved on.  The proxy plays AWS's answer for the retry.
        spent = fault in ANSWER_LOST
        with FaultProxy(upstream=lab.endpoint) as px:
            px.plan(op, [fault, "timedout"] if spent else [fault])
            p = _run(lab, agent, task, _env(lab, task, px.url), args=["--heartbeat", "0"])
            seen = [r.fault for r in px.requests(op)]
        err = stderr_text(p)
        assert p.returncode == want_rc, "%s on %s: exit %s\n%s" % (fault, op, p.returncode, err)
        accepted = [c for c in sent(lab, op, task) if c.ok]
        assert len(accepted) == 1, "%s on %s: %d accepted reports" % (fault, op, len(accepted))
        reached = sent(lab, op, task)
        other = "SendTaskFailure" if op == "SendTaskSuccess" else "SendTaskSuccess"
        assert not sent(lab, other, task), "%s on %s: a second kind of report was sent" % (fault, op)
        if fault == "slow:1":
            assert seen == ["slow:1"], "%s on %s: an answer within the attempt limit needs no retry: %s" % (
                fault, op, seen)
            assert len(reached) == 1, "%s on %s: %d calls reached the lab" % (fault, op, len(reached))
        else:
            assert seen[0] == fault and len(seen) >= 2, "%s on %s: proxy saw %s" % (fault, op, seen)
        if fault in NOT_FORWARDED:
            assert len(reached) == 1, "%s on %s: %d calls reached the lab" % (fault, op, len(reached))
            assert "retrying" in err, "%s on %s: no retry logged\n%s" % (fault, op, err)
        if fault in ANSWER_LOST:
            # The first attempt was processed; the retry finds the token spent.
            assert seen == [fault, "timedout"] and len(reached) == 1 and reached[0].ok, \
                "%s on %s: proxy saw %s, lab %s" % (fault, op, seen, [(c.ok, c.error) for c in reached])
            assert reached[0].body == px.requests(op)[-1].body, "%s on %s: the retry changed the report" % (
                fault, op)
            assert "probably delivered" in err, "%s on %s: not logged as probably delivered\n%s" % (
                fault, op, err)
        d = lab.wait_execution(ex)
        assert d["status"] == want_status, "%s on %s: execution %s" % (fault, op, d["status"])


def test_final_success_survives_each_fault(lab, agent):
    _final_report(lab, agent, "SendTaskSuccess")


def test_final_failure_survives_each_fault(lab, agent):
    _final_report(lab, agent, "SendTaskFailure")


def test_final_report_gives_up_at_its_deadline_with_jittered_backoff(lab, agent):
    for fault in NOT_FORWARDED:
        report_timeout = 9 if fault == "hang" else 4    # a hung attempt takes ATTEMPT_S
        ex, task = execution(lab, ["sh", "-c", "echo '{\"ok\":1}'"])
        with FaultProxy(upstream=lab.endpoint) as px:
            px.plan("SendTaskSuccess", [fault] * 100)
            p = _run(lab, agent, task, _env(lab, task, px.url),
                     args=["--heartbeat", "0", "--report-timeout", str(report_timeout)])
            times = [r.time for r in px.requests("SendTaskSuccess")]
            gaps = px.gaps("SendTaskSuccess")
        err = stderr_text(p)
        _stop(lab, ex)
        assert p.returncode == 1, "%s forever: success not delivered must exit 1, got %s\n%s" % (
            fault, p.returncode, err)
        # The command itself is instant: the whole run is the report's deadline plus start-up.
        assert p.seconds < report_timeout + 2, "%s forever: ran %.1f s with --report-timeout %d" % (
            fault, p.seconds, report_timeout)
        assert p.seconds > report_timeout - 1.5, "%s forever: gave up after %.1f s, before the deadline" % (
            fault, p.seconds)
        assert not sent(lab, "SendTaskSuccess", task), "%s forever: a call reached the lab" % fault
        assert len(times) >= 3, "%s forever: only %d attempts in %d s" % (fault, len(times), report_timeout)
        # Backoff: never back to back, never the same pause twice (jitter), never above the cap.
        # (Full jitter draws each pause from [0, min(cap, base*2^n)], and the last one is cut short to
        # leave a last attempt before the deadline, so a single pause may be near 0; hammering is not:
        # without backoff an instant fault is answered hundreds of times in 4 s.)
        attempt = ATTEMPT_S if fault == "hang" else 0
        pauses = [g - attempt for g in gaps]
        assert all(g > 0 for g in gaps), "%s: two attempts at the same instant: %s" % (fault, gaps)
        assert len(times) <= 4 * report_timeout, "%s: %d attempts in %d s: no backoff" % (fault, len(times), report_timeout)
        assert len(set(round(g, 3) for g in pauses)) > 1, "%s: all pauses equal, no jitter: %s" % (fault, gaps)
        if fault != "hang":     # (a hung attempt leaves too few pauses to judge)
            # Full jitter: pause n is drawn from [0, min(cap, 0.2 s * 2^n)]; without jitter every pause
            # sits at its ceiling.  The last one may be cut short by the deadline, so it is left out.
            ceilings = [min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** i) for i in range(len(pauses))]
            assert len(pauses) >= 4 and any(p < 0.9 * c for p, c in zip(pauses[:-1], ceilings)), \
                "%s: every pause at its exponential ceiling, no jitter: %s" % (fault, gaps)
        assert all(g <= BACKOFF_CAP_S + 0.5 for g in pauses), "%s: a pause above the cap: %s" % (fault, gaps)
        assert "giving up" in err or "not delivered" in err or "could not" in err, \
            "%s forever: the give-up is not logged\n%s" % (fault, err)


def test_first_heartbeat_survives_each_fault(lab, agent):
    for fault in MATRIX:
        ex, task = execution(lab, ["sh", "-c", "echo '{\"ok\":1}'"])
        with FaultProxy(upstream=lab.endpoint) as px:
            if fault == "refuse":
                px.refuse_connections(1)        # closed before a byte is read
            else:
                px.plan("SendTaskHeartbeat", [fault])
            p = _run(lab, agent, task, _env(lab, task, px.url), args=["--heartbeat", "60"])
            seen = [r.fault for r in px.requests()]
        err = stderr_text(p)
        assert p.returncode == 0, "%s on the first heartbeat: exit %s\n%s" % (fault, p.returncode, err)
        assert b'{"ok":1}' in p.stdout, "%s on the first heartbeat: the command did not run" % fault
        want = "refuse-connection" if fault == "refuse" else fault
        if fault == "slow:1":
            assert seen[0] == want and len([s for s in seen if s == "pass"]) == 1, \
                "%s on the first heartbeat: proxy saw %s" % (fault, seen)
        else:
            assert seen[0] == want and len(seen) >= 3, "%s on the first heartbeat: proxy saw %s" % (fault, seen)
            assert "SendTaskHeartbeat" in err and "retrying" in err, \
                "%s on the first heartbeat: no retry logged\n%s" % (fault, err)
        hb = [c for c in sent(lab, "SendTaskHeartbeat", task) if c.ok]
        assert hb, "%s on the first heartbeat: no heartbeat accepted" % fault
        assert "starting the command anyway" not in err, "%s: one fault is not unreachable\n%s" % (fault, err)
        accepted = [c for c in sent(lab, "SendTaskSuccess", task) if c.ok]
        assert len(accepted) == 1, "%s on the first heartbeat: %d reports" % (fault, len(accepted))
        assert lab.wait_execution(ex)["status"] == "SUCCEEDED", "%s on the first heartbeat" % fault


def test_first_heartbeat_unreachable_starts_the_command_anyway(lab, agent):
    # Every heartbeat fails for longer than the first heartbeat's budget (5 s); the report passes.
    ex, task = execution(lab, ["sh", "-c", "date +%s.%N; echo '{\"ok\":1}'"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskHeartbeat", ["http503"] * 200)
        t0 = time.time()
        p = _run(lab, agent, task, _env(lab, task, px.url), args=["--heartbeat", "60"])
    err = stderr_text(p)
    assert p.returncode == 0, err
    started = float(p.stdout.split(b"\n")[0]) - t0
    assert 4.0 < started < 7.5, "the command started %.1f s after the agent, not after ~5 s" % started
    assert "starting the command anyway" in err, err
    assert len([c for c in sent(lab, "SendTaskSuccess", task) if c.ok]) == 1
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"

    # Nothing listening at all (connection refused): same start after ~5 s, and the report gives up at
    # its deadline.
    ex, task = execution(lab, ["sh", "-c", "date +%s.%N; echo '{\"ok\":1}'"])
    env = _env(lab, task, "http://127.0.0.1:%d" % _closed_port())
    t0 = time.time()
    p = _run(lab, agent, task, env, args=["--heartbeat", "60", "--report-timeout", "3"])
    err = stderr_text(p)
    _stop(lab, ex)
    assert b"{\"ok\":1}" in p.stdout, "closed port: the command did not run\n" + err
    started = float(p.stdout.split(b"\n")[0]) - t0
    assert 4.0 < started < 7.5, "closed port: the command started after %.1f s" % started
    assert "starting the command anyway" in err, err
    assert p.returncode == 1, "closed port: an undelivered success exits 1, got %s" % p.returncode
    assert p.seconds < 5 + 3 + 2.5, "closed port: ran %.1f s" % p.seconds
    assert not sent(lab, "SendTaskSuccess", task) and not sent(lab, "SendTaskHeartbeat", task)


def test_periodic_heartbeat_survives_each_fault(lab, agent):
    for fault in MATRIX:
        ex, task = execution(lab, ["sh", "-c", "sleep 4; echo '{\"ok\":1}'"], heartbeat=30)
        with FaultProxy(upstream=lab.endpoint) as px:
            px.plan("SendTaskHeartbeat", ["pass", fault])
            p = _run(lab, agent, task, _env(lab, task, px.url), args=["--heartbeat", "1"])
            seen = [r.fault for r in px.requests("SendTaskHeartbeat")]
        err = stderr_text(p)
        assert p.returncode == 0, "%s on a periodic heartbeat: exit %s\n%s" % (fault, p.returncode, err)
        assert seen[:2] == ["pass", fault] and len(seen) >= 3, \
            "%s on a periodic heartbeat: proxy saw %s" % (fault, seen)
        hb = [c for c in sent(lab, "SendTaskHeartbeat", task) if c.ok]
        assert len(hb) >= 2, "%s on a periodic heartbeat: %d heartbeats accepted after it" % (fault, len(hb))
        assert hb[-1].time > [r for r in px.requests("SendTaskHeartbeat")][1].time, \
            "%s: no heartbeat got through after the fault" % fault
        # (A reused connection closed or reset without an answer is resent by curl itself, silently:
        # the proxy's count above is the proof for "refuse" and "reset" there.)
        if fault in NOT_FORWARDED and fault not in ("refuse", "reset"):
            assert "SendTaskHeartbeat" in err and ("retrying" in err or "not delivered" in err), \
                "%s on a periodic heartbeat: not logged\n%s" % (fault, err)
        assert "no longer waits" not in err, "%s: a heartbeat fault taken for a lost token\n%s" % (fault, err)
        accepted = [c for c in sent(lab, "SendTaskSuccess", task) if c.ok]
        assert len(accepted) == 1, "%s on a periodic heartbeat: %d reports" % (fault, len(accepted))
        assert lab.wait_execution(ex)["status"] == "SUCCEEDED", "%s on a periodic heartbeat" % fault


def test_clock_skew_is_corrected_once(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"skew\":1}'"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskSuccess", ["skew:3600"])
        p = _run(lab, agent, task, _env(lab, task, px.url), args=["--heartbeat", "0"])
        seen = [r.fault for r in px.requests("SendTaskSuccess")]
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert seen == ["skew:3600", "pass"], "one refusal, one retry at the server's time: %s" % seen
    reached = sent(lab, "SendTaskSuccess", task)
    assert len(reached) == 1 and reached[0].ok, [(c.ok, c.error) for c in reached]
    assert "clock skew" in err and re.search(r"\b(3599|3600|3601) s behind", err), err
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_clock_skew_twice_is_not_retried_forever(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"skew\":2}'"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskSuccess", ["skew:3600"] * 10)
        p = _run(lab, agent, task, _env(lab, task, px.url), args=["--heartbeat", "0", "--report-timeout", "20"])
        seen = [r.fault for r in px.requests("SendTaskSuccess")]
    _stop(lab, ex)
    assert p.returncode == 1, stderr_text(p)
    assert len(seen) == 2, "a skew refusal is retried once, not until the deadline: %s" % seen
    assert p.seconds < 10, "ran %.1f s" % p.seconds


def test_failure_report_gives_up_at_its_deadline(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "exit 4"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskFailure", ["http503"] * 100)
        p = _run(lab, agent, task, _env(lab, task, px.url), args=["--heartbeat", "0", "--report-timeout", "4"])
        attempts = len(px.requests("SendTaskFailure"))
    _stop(lab, ex)
    assert p.returncode == 4, "an undelivered failure still exits with the command's status: %s" % p.returncode
    assert 2.5 < p.seconds < 6, "http503 forever on SendTaskFailure: ran %.1f s with --report-timeout 4" % p.seconds
    assert attempts >= 3 and not sent(lab, "SendTaskFailure", task)
    # (Names the last failure: a 503, or a last short attempt that ran out of time under load.)
    assert "SendTaskFailure not delivered: " in stderr_text(p), stderr_text(p)


def test_report_after_sigterm_keeps_the_short_deadline(lab, agent):
    # ECS gives 30 s between SIGTERM and SIGKILL: after a stop the report may take 8 s, not 300.
    ex, task = execution(lab, ["sh", "-c", "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskSuccess", ["http503"] * 200)
        px.plan("SendTaskFailure", ["http503"] * 200)
        env = _env(lab, task, px.url)
        p = subprocess.Popen([agent, "--heartbeat", "0", "--grace", "2", "--", *task.command], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            assert p.stdout.readline() == b"started\n"
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            try:
                _, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                raise AssertionError("the agent still ran 30 s after SIGTERM")
            took = time.monotonic() - t0
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        attempts = len(px.requests())
    _stop(lab, ex)
    err = err.decode("utf-8", "replace")
    # The command exited 0 on SIGTERM: a success, which cannot be delivered.
    assert p.returncode == 1, "undelivered success after SIGTERM: exit %s\n%s" % (p.returncode, err)
    assert 6 < took < 8 + 2.5, "the report after SIGTERM took %.1f s, not about 8 s\n%s" % (took, err)
    assert attempts >= 3, "the report was not retried within its 8 s: %d attempts" % attempts
    assert not [c for c in sent(lab, None, task) if c.operation != "SendTaskHeartbeat"]
