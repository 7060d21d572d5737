"""The supervisor against the lab: signals forwarded (group and child), stops within the grace,
PID 1 reaping, background holders of the pipes, heartbeats that keep a task alive, a workflow
that gives up, timeouts, and exactly one report when the command reports itself."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from emulation import skip_if_emulated  # noqa: E402
from agentlib import (check_stderr, cycle, execution, failure, sent, sent_output, stderr_text,  # noqa: E402
                      task_env)

TIMEOUT = 90
HERE = os.path.dirname(os.path.abspath(__file__))
SIGECHO = [sys.executable, os.path.join(HERE, "sigecho.py")]
FORWARDED = ["SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"]


class Running:
    """The agent started in the background, its stdout read line by line."""

    def __init__(self, argv, env):
        self.p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True)
        self.lines = []
        self.cond = threading.Condition()
        self.err = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()

    def _read_err(self):
        self.err = self.p.stderr.read()

    def wait_line(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(text in l for l in self.lines):
                left = deadline - time.monotonic()
                assert left > 0, "no line %r within %ss; got %r\nstderr: %s" % (text, timeout, self.lines,
                                                                                 self.err.decode(errors="replace"))
                self.cond.wait(left)

    def signal(self, sig):
        os.kill(self.p.pid, sig)

    def wait(self, timeout=30):
        try:
            return self.p.wait(timeout)
        finally:
            if self.p.poll() is None:
                os.killpg(self.p.pid, signal.SIGKILL)

    def stderr(self):
        time.sleep(0.1)
        return self.err.decode(errors="replace")


def start_agent(lab, command, args=(), heartbeat=30, timeout=90, user="task", env_extra=None):
    ex, task = execution(lab, command, heartbeat=heartbeat, timeout=timeout)
    env = task_env(lab, task, user)
    env.update(env_extra or {})
    return ex, task, Running([agent_path(lab), *args, "--", *task.command], env)


def agent_path(lab):
    return lab._agent_under_test


def _forwarding(lab, agent, target):
    lab._agent_under_test = agent
    ex, task, r = start_agent(lab, [*SIGECHO, "child", "--spawn"], args=["--signal-target", target])
    r.wait_line("child ready")
    r.wait_line("grandchild ready")
    for name in FORWARDED:
        r.signal(getattr(signal, name))
        r.wait_line("child got " + name)
    time.sleep(0.3)
    grand = [l for l in r.lines if l.startswith("grandchild got")]
    r.signal(signal.SIGTERM)
    rc = r.wait(30)
    assert rc == 0, (rc, r.stderr())
    assert "child got SIGTERM" in r.lines
    d = lab.wait_execution(ex, timeout=20)
    assert d["status"] == "SUCCEEDED", "exit 0 after SIGTERM is a success"
    return grand


def test_signals_forwarded_to_the_group(lab, agent):
    grand = _forwarding(lab, agent, "group")
    assert grand == ["grandchild got " + n for n in FORWARDED], grand


def test_signals_forwarded_to_the_child_only(lab, agent):
    grand = _forwarding(lab, agent, "child")
    assert grand == [], "with --signal-target child the grandchild gets nothing: %r" % grand


def test_sigint_stops_like_sigterm(lab, agent):
    lab._agent_under_test = agent
    ex, task, r = start_agent(lab, [*SIGECHO, "child"])
    r.wait_line("child ready")
    r.signal(signal.SIGINT)
    assert r.wait(30) == 0
    assert "child got SIGINT" in r.lines


def test_sigterm_reaches_a_sleeping_subprocess_of_bash(lab, agent):
    lab._agent_under_test = agent
    marker = "%d.%d" % (300 + os.getpid() % 100, time.time_ns() % 1000)
    script = 'sleep %s & echo started; wait' % marker
    ex, task, r = start_agent(lab, ["bash", "-c", script], args=["--grace", "10"])
    r.wait_line("started")
    time.sleep(0.2)
    assert _pids_of("sleep " + marker), "the sleep should be running"
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    rc = r.wait(30)
    # bash dies of SIGTERM at once (it does not wait for the grace): the whole group got it.
    assert time.monotonic() - t0 < 5, "the group should have stopped at SIGTERM, not after the grace"
    assert rc == 128 + signal.SIGTERM, (rc, r.stderr())
    assert not _pids_of("sleep " + marker), "the sleep in the group must be gone"
    d = lab.wait_execution(ex, timeout=20)
    assert d["status"] == "FAILED" and d.get("error") == "ContainerStopped", d


def test_sigterm_ignored_is_killed_after_grace(lab, agent):
    lab._agent_under_test = agent
    ex, task, r = start_agent(lab, [*SIGECHO, "child", "--ignore-term"], args=["--grace", "2"])
    r.wait_line("child ready")
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    rc = r.wait(30)
    elapsed = time.monotonic() - t0
    assert rc == 128 + signal.SIGKILL, (rc, r.stderr())
    assert 2 <= elapsed <= 2 + 5, "killed after the grace, reported within grace + 5 s (%.1fs)" % elapsed
    d = lab.wait_execution(ex, timeout=20)
    assert d["status"] == "FAILED" and d.get("error") == "ContainerStopped", d
    error, cause = failure(lab, task)
    assert cause["signal"] == "SIGKILL"
    assert "SIGTERM" in cause["message"], cause


def test_sigterm_trapped_and_exit_zero_succeeds(lab, agent):
    lab._agent_under_test = agent
    script = "trap 'echo cleaning up; echo \"{\\\"stopped\\\":true}\"; exit 0' TERM; echo started; " \
             "while :; do sleep 0.1; done"
    ex, task, r = start_agent(lab, ["bash", "-c", script])
    r.wait_line("started")
    r.signal(signal.SIGTERM)
    assert r.wait(30) == 0, r.stderr()
    d = lab.wait_execution(ex, timeout=20)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"stopped": True}


def test_as_pid1_orphans_reaped_and_killed(lab, agent):
    marker = "%d.%d" % (400 + os.getpid() % 100, time.time_ns() % 1000)
    # Orphans that exit quickly must be reaped (no zombie while the command runs); orphans still
    # alive when the command ends must be gone after the agent exits.
    script = ("for i in 1 2 3; do (sleep 0.1 &) ; done; (sleep %s &); setsid sleep %s & sleep 1; "
              "grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l; exit 4") % (marker, marker)
    ex, task = execution(lab, ["sh", "-c", script])
    env = task_env(lab, task)
    p = lab.run_agent(["unshare", "--pid", "--fork", "--mount-proc", agent, "--", *task.command], env, timeout=30)
    check_stderr(p, task, env)
    assert p.returncode == 4, stderr_text(p)
    zombies = int(p.stdout.split()[-1])
    assert zombies == 0, "zombies left unreaped while the command ran: %d" % zombies
    assert not _pids_of("sleep " + marker), "an orphan outlived the agent"
    d = lab.wait_execution(ex, timeout=20)
    assert d["status"] == "FAILED" and d.get("error") == "ScriptFailed"


def test_background_holder_of_stdout_does_not_delay_report(lab, agent):
    marker = "%d.%d" % (500 + os.getpid() % 100, time.time_ns() % 1000)
    script = "sleep %s & echo '{\"a\":1}'; date +%%s.%%N >&2" % marker
    ex, task = execution(lab, ["sh", "-c", script])
    env = task_env(lab, task)
    p = lab.run_agent([agent, "--", *task.command], env, timeout=30)
    check_stderr(p, task, env)
    assert p.returncode == 0, stderr_text(p)
    ended = float([l for l in stderr_text(p).splitlines() if l[:1].isdigit()][0])
    calls = [c for c in sent(lab, "SendTaskSuccess", task) if c.ok]
    assert len(calls) == 1
    assert calls[0].time - ended < 2.0, "report arrived %.2fs after the command exited" % (calls[0].time - ended)
    assert json.loads(calls[0].body)["output"] == '{"a":1}'
    assert not _pids_of("sleep " + marker), "the background sleep must be gone"
    assert lab.wait_execution(ex, timeout=20)["status"] == "SUCCEEDED"


def test_heartbeats_keep_the_task_alive(lab, agent):
    # HeartbeatSeconds 3 (not 2) leaves room for a loaded machine; the command outlives it 3 times.
    p, d, task = cycle(lab, agent, ["sh", "-c", "sleep 9; echo '{\"done\":1}'"], args=["--heartbeat", "1"],
                       heartbeat=3, timeout=60)
    assert p.returncode == 0, stderr_text(p)
    assert d["status"] == "SUCCEEDED", d
    beats = [c for c in sent(lab, "SendTaskHeartbeat", task) if c.ok]
    assert len(beats) >= 7, "one before the start and about one a second: %d" % len(beats)


def test_without_heartbeats_the_state_times_out(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "sleep 9; echo '{\"done\":1}'"], heartbeat=3, timeout=60)
    env = task_env(lab, task)
    p = lab.run_agent([agent, "--heartbeat", "0", "--report-timeout", "5", "--", *task.command], env, timeout=30)
    d = lab.wait_execution(ex, timeout=20)
    assert d["status"] == "FAILED", d
    assert d.get("error") == "States.Timeout", d  # moto names the heartbeat timeout so
    assert not [c for c in sent(lab, "SendTaskHeartbeat", task)], "--heartbeat 0 sends none"
    # The late success is refused as a dead token and the agent says so.
    assert p.returncode == 1
    assert "TaskTimedOut" in stderr_text(p) or "InvalidToken" in stderr_text(p)


def test_stop_execution_terminates_the_command(lab, agent):
    lab._agent_under_test = agent
    ex, task, r = start_agent(lab, ["sh", "-c", "echo started; sleep 60; echo '{\"late\":1}'"],
                              args=["--heartbeat", "1", "--grace", "2"], heartbeat=5)
    r.wait_line("started")
    lab.client("stepfunctions").stop_execution(executionArn=ex, error="Operator", cause="test")
    t0 = time.monotonic()
    rc = r.wait(30)
    assert time.monotonic() - t0 < 6, "stopped at the next heartbeat"
    assert rc == 128 + signal.SIGTERM, (rc, r.stderr())
    assert not [c for c in sent(lab, "SendTaskSuccess", task) + sent(lab, "SendTaskFailure", task)], \
        "no result after the workflow gave up"
    assert "late" not in " ".join(r.lines)


def test_token_lost_continue_lets_the_command_finish(lab, agent):
    lab._agent_under_test = agent
    ex, task, r = start_agent(lab, ["sh", "-c", "echo started; sleep 3; echo '{\"late\":1}'"],
                              args=["--heartbeat", "1", "--on-token-lost", "continue"], heartbeat=5)
    r.wait_line("started")
    lab.client("stepfunctions").stop_execution(executionArn=ex, error="Operator", cause="test")
    rc = r.wait(30)
    assert '{"late":1}' in r.lines, "the command ran to its end"
    assert rc == 1, "success that could not be reported (the token is dead) exits 1: %s" % r.stderr()
    assert [c for c in sent(lab, "SendTaskSuccess", task)], "it still tried to report"


def test_timeout_reports_script_timed_out(lab, agent):
    t0 = time.monotonic()
    p, d, task = cycle(lab, agent, ["sleep", "30"], args=["--timeout", "1", "--grace", "2"])
    elapsed = time.monotonic() - t0
    assert d["status"] == "FAILED" and d.get("error") == "ScriptTimedOut", d
    assert p.returncode == 128 + signal.SIGTERM, stderr_text(p)
    assert p.seconds <= 1 + 2 + 2, "ScriptTimedOut within timeout + grace + 2 s (%.1fs)" % p.seconds
    error, cause = failure(lab, task)
    assert "timed out" in cause["message"]


def test_unknown_token_does_not_start_the_command(lab, agent):
    env = lab.task_env("task")
    env["TASK_TOKEN"] = str(uuid.uuid4())
    p = lab.run_agent([agent, "--", "sh", "-c", "echo ran"], env, timeout=20)
    assert p.returncode == 125, stderr_text(p)
    assert b"ran" not in p.stdout
    assert "not starting the command" in stderr_text(p)


def test_command_reporting_itself_is_not_reported_twice(lab, agent):
    script = '"$AGENT" send-failure --error SelfReported --cause "did it myself"; exit 0'
    ex, task = execution(lab, ["sh", "-c", script])
    env = task_env(lab, task, AGENT=agent)
    p = lab.run_agent([agent, "--", *task.command], env, timeout=30)
    check_stderr(p, task, env)
    assert p.returncode == 0, stderr_text(p)
    finals = sent(lab, "SendTaskSuccess", task) + sent(lab, "SendTaskFailure", task)
    assert len(finals) == 1, "exactly one final report: %r" % [(c.operation, c.ok) for c in finals]
    assert finals[0].operation == "SendTaskFailure" and finals[0].ok
    d = lab.wait_execution(ex, timeout=20)
    assert d["status"] == "FAILED" and d.get("error") == "SelfReported"


def test_child_gets_clean_signal_mask(lab, agent):
    """Like tini's test: the command must not inherit the agent's blocked or ignored signals, nor
    signals the agent's own parent ignored (SIGUSR1 here, and glibc's reserved SIGRTMIN-2 through
    the raw system call, which the C library's sigaction refuses to touch)."""
    import ctypes
    skip_if_emulated(agent, "qemu-user keeps a real-time signal (SIGRTMIN-2 here) for itself, so the agent "
                     "cannot hand it back to the command")
    ex, task = execution(lab, ["sh", "-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status"])
    env = task_env(lab, task)

    def ignore_some():
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        ksa = (ctypes.c_ulong * 4)(1, 0, 0, 0)  # {SIG_IGN, flags, restorer, mask}
        ctypes.CDLL(None, use_errno=True).syscall(13, 32, ctypes.byref(ksa), None, 8)  # rt_sigaction

    p = subprocess.run([agent, "--", *task.command], env=env, capture_output=True, timeout=30,
                       preexec_fn=ignore_some)
    check_stderr(p, task, env)
    fields = dict(l.split(":\t") for l in p.stdout.decode().splitlines())
    assert int(fields["SigBlk"], 16) == 0, fields
    assert int(fields["SigIgn"], 16) == 0, fields
    assert lab.wait_execution(ex, timeout=20)["status"] == "SUCCEEDED"


def _pids_of(cmdline_text):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cmd == cmdline_text:
            out.append(int(pid))
    return out
