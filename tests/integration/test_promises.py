"""The run mode when things go wrong, one test per promise README makes there (tests/README.md maps
each promise to its test): descriptors that must not reach the command, a stop during the final
report, large and broken output on stdout, failures after the first heartbeat, signals nobody
listed, the log after a success, scripts with Windows line endings, an agent inside an agent, a
command that drops privileges, and the SIGTERM forwarding, SIGPIPE and heartbeat promises whose
older tests could not fail."""
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import check_stderr, cycle, execution, failure, sent, sent_output, stderr_text, task_env  # noqa: E402
from proxy import FaultProxy  # noqa: E402
from emulation import skip_if_emulated  # noqa: E402

TIMEOUT = 120
HERE = os.path.dirname(os.path.abspath(__file__))
SIGECHO = [sys.executable, os.path.join(HERE, "sigecho.py")]

# Lists a process's descriptors without opening any itself: "N -> target" lines.
FDS = ("import os, sys\n"
       "pid = sys.argv[1]\n"
       "for fd in range(0, 1024):\n"
       "    try: print('%s %d -> %s' % (sys.argv[2], fd, os.readlink('/proc/%s/fd/%d' % (pid, fd))))\n"
       "    except OSError: pass\n")


class Agent:
    """The agent in the background; its stdout and stderr read line by line."""

    def __init__(self, argv, env, **kw):
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True, **kw)
        self.out, self.err = [], []
        self.cond = threading.Condition()
        for stream, lines in ((self.p.stdout, self.out), (self.p.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    def _read(self, stream, lines):
        for line in stream:
            with self.cond:
                lines.append(line.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, lines, text, timeout=20):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(text in l for l in lines):
                left = deadline - time.monotonic()
                assert left > 0, "no line %r within %ss\nstdout: %s\nstderr: %s" % (
                    text, timeout, "\n".join(self.out), "\n".join(self.err))
                self.cond.wait(left)

    def state(self):
        with open("/proc/%d/stat" % self.p.pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def finish(self, timeout=30):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
            raise AssertionError("the agent still ran after %s s\nstderr: %s" % (timeout, self.stderr()))
        time.sleep(0.1)
        return rc

    def stderr(self):
        with self.cond:
            return "\n".join(self.err)

    def kill(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()


# --- 1. descriptors -------------------------------------------------------------------------------

def _fd_lines(out, who):
    return [l.split(" ", 1)[1] for l in out.decode().splitlines() if l.startswith(who + " ")]


def _extra_fds(lines):
    return [l for l in lines if int(l.split(" ")[0]) > 2]


def test_command_sees_no_descriptor_of_the_agent(lab, agent):
    """The command sees 0, 1, 2 and the two files the agent hands it (SFN_OUTPUT and the report
    mark), nothing else: not libcurl's wake-up pair, not the connection to Step Functions."""
    script = 'python3 -c "$0" $$ cmd && python3 -c "$0" $PPID agent'
    p, d, task = cycle(lab, agent, ["sh", "-c", script, FDS], args=["--heartbeat", "1"])
    assert p.returncode == 0, stderr_text(p)
    assert any("socket:" in l for l in _fd_lines(p.stdout, "agent")), \
        "the agent holds no socket while the command runs: this test proves nothing\n%s" % p.stdout.decode()
    extra = _extra_fds(_fd_lines(p.stdout, "cmd"))
    assert len(extra) == 2 and all("memfd:sfn-" in l for l in extra), \
        "the command inherited descriptors beyond SFN_OUTPUT and the report mark: %s" % extra


def test_daemon_left_behind_holds_no_connection_of_the_agent(lab, agent):
    """A daemon the command starts and leaves behind holds none of the agent's descriptors."""
    script = ('setsid sleep 30 </dev/null >/dev/null 2>&1 & pid=$!; sleep 0.2; '
              'python3 -c "$0" $pid daemon; python3 -c "$0" $PPID agent')
    p, d, task = cycle(lab, agent, ["sh", "-c", script, FDS], args=["--heartbeat", "1"])
    assert p.returncode == 0, stderr_text(p)
    assert any("socket:" in l for l in _fd_lines(p.stdout, "agent")), p.stdout.decode()
    held = [l for l in _fd_lines(p.stdout, "daemon") if "socket:" in l or "anon_inode" in l]
    assert not held, "the daemon holds the agent's descriptors: %s" % held


# --- 2. a stop during the final report -------------------------------------------------------------

def test_sigterm_during_the_final_report_cuts_it_to_8_seconds(lab, agent):
    """A SIGTERM that arrives after the command exited, while the report is retried, leaves the
    report 8 s from the signal; the agent logs the outcome and exits."""
    ex, task = execution(lab, ["sh", "-c", "echo '{\"late\":1}'"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskSuccess", ["http503"] * 500)
        env = task_env(lab, task, AWS_ENDPOINT_URL_SFN=px.url, SFN_AGENT_HTTP_TIMEOUT=2)
        a = Agent([agent, "--heartbeat", "0", "--report-timeout", "120", "--", *task.command], env)
        try:
            a.wait_for(a.err, "retrying")
            t0 = time.monotonic()
            a.p.send_signal(signal.SIGTERM)
            rc = a.finish(40)
            took = time.monotonic() - t0
        finally:
            a.kill()
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    err = a.stderr()
    assert rc == 1, "an undelivered success exits 1, got %s\n%s" % (rc, err)
    assert took < 8 + 2.5, "the report went on %.1f s after SIGTERM (8 s promised)\n%s" % (took, err)
    assert "SIGTERM" in err and "SendTaskSuccess not delivered" in err, err


def test_sigterm_during_a_hung_report_attempt_cuts_it_to_8_seconds(lab, agent):
    """The same while one attempt hangs with 20 s to go: the attempt is cut, not waited for."""
    ex, task = execution(lab, ["sh", "-c", "echo '{\"late\":2}'"])
    with FaultProxy(upstream=lab.endpoint) as px:
        px.plan("SendTaskSuccess", ["hang"] * 20)
        env = task_env(lab, task, AWS_ENDPOINT_URL_SFN=px.url, SFN_AGENT_HTTP_TIMEOUT=20)
        a = Agent([agent, "--heartbeat", "0", "--report-timeout", "120", "--", *task.command], env)
        try:
            a.wait_for(a.err, "reporting success")
            time.sleep(0.5)
            t0 = time.monotonic()
            a.p.send_signal(signal.SIGTERM)
            rc = a.finish(40)
            took = time.monotonic() - t0
        finally:
            a.kill()
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    assert rc == 1 and took < 8 + 2.5, "exit %s %.1f s after SIGTERM\n%s" % (rc, took, a.stderr())


# --- 3, 4. output on stdout -----------------------------------------------------------------------

BIG = ("import json, sys\n"
       "rows = [{'id': i, 'name': 'n%d' % i, 'tags': ['a', 'b'], 'attrs': {'x': i, 'y': [1, 2]}} "
       "for i in range(int(sys.argv[1]))]\n"
       "print(json.dumps({'rows': rows}, indent=4))\n")


def _big(n):
    rows = [{'id': i, 'name': 'n%d' % i, 'tags': ['a', 'b'], 'attrs': {'x': i, 'y': [1, 2]}} for i in range(n)]
    return json.dumps({'rows': rows}, indent=4), json.dumps({'rows': rows}, separators=(",", ":"))


def test_large_pretty_printed_result_on_stdout_is_sent(lab, agent):
    """A result printed with indent=4, over 1 MiB on stdout and under 262,144 bytes compacted, is
    the output."""
    pretty, compact = _big(3550)
    assert len(pretty) > 1 << 20 and len(compact) <= 262144
    p, d, task = cycle(lab, agent, ["python3", "-c", BIG, "3550"], args=["--heartbeat", "0"])
    assert p.returncode == 0, stderr_text(p)[-2000:]
    assert sent_output(lab, task) == compact


def test_result_longer_than_what_is_kept_says_so(lab, agent):
    """A pretty-printed result longer than what the agent keeps of stdout is OutputInvalid with a
    message that says exactly that and points to $SFN_OUTPUT (not "not valid JSON")."""
    pretty, compact = _big(20000)
    assert len(pretty) > 4 << 20
    p, d, task = cycle(lab, agent, ["python3", "-c", BIG, "20000"], args=["--heartbeat", "0"])
    assert p.returncode == 1, stderr_text(p)[-2000:]
    error, cause = failure(lab, task)
    assert error == "OutputInvalid", error
    assert "keeps" in cause["message"] and "$SFN_OUTPUT" in cause["message"], cause["message"]
    assert "not valid JSON" not in cause["message"], cause["message"]


def test_unclosed_json_on_stdout_is_output_invalid(lab, agent):
    """README: a last line that starts with '{' and does not parse is OutputInvalid, never {}."""
    p, d, task = cycle(lab, agent, ["printf", '{"a":1\\n'], args=["--heartbeat", "0"])
    assert p.returncode == 1, stderr_text(p)
    assert not sent(lab, "SendTaskSuccess", task), "unclosed JSON was sent as a success"
    error, cause = failure(lab, task)
    assert error == "OutputInvalid" and "not valid JSON" in cause["message"], (error, cause)


# --- 5. failures after the first heartbeat ---------------------------------------------------------

def _limited(limit_cmd, agent, task):
    return ["sh", "-c", limit_cmd + ' && exec "$@"', "sh", agent, "--", *task.command]


def test_no_descriptors_left_after_the_first_heartbeat_is_reported(lab, agent):
    """When a pipe, memfd or signalfd cannot be made after Step Functions accepted the token, the
    agent still reports: ExecFailed with the reason."""
    skip_if_emulated(agent, 'qemu-user needs descriptors of its own, so `ulimit -n 8` starves the emulator, not the agent')
    ex, task = execution(lab, ["sh", "-c", "echo never"])
    env = task_env(lab, task)
    p = lab.run_agent(_limited("ulimit -n 8", agent, task), env, timeout=30)
    check_stderr(p, task, env)
    assert p.returncode == 125, stderr_text(p)
    assert b"never" not in p.stdout
    error, cause = failure(lab, task)
    assert error == "ExecFailed", error
    assert "open files" in cause["message"] or "descriptor" in cause["message"], cause
    d = lab.wait_execution(ex, 20)
    assert d["status"] == "FAILED" and d["error"] == "ExecFailed", d


# --- 6. signals nobody listed ----------------------------------------------------------------------

UNLISTED = ["SIGALRM", "SIGXCPU", "SIGPROF", "SIGVTALRM", "SIGTSTP"]


def test_unlisted_signals_are_forwarded_and_never_kill_or_stop_the_agent(lab, agent):
    """Not PID 1: SIGALRM, SIGXCPU, SIGPROF, SIGVTALRM, a real-time signal and SIGTSTP reach the
    command; SIGTTIN and SIGTTOU do not stop the agent; it reports once as usual."""
    ex, task = execution(lab, [*SIGECHO, "child", "--more"])
    env = task_env(lab, task)
    a = Agent([agent, "--heartbeat", "1", "--", *task.command], env)
    try:
        a.wait_for(a.out, "child ready")
        rt = signal.SIGRTMIN + 3
        for sig in [getattr(signal, n) for n in UNLISTED] + [rt]:
            a.p.send_signal(sig)
            a.wait_for(a.out, "child got %s" % signal.Signals(sig).name if sig != rt else "child got SIGRT")
            assert a.p.poll() is None, "the agent died from %s: %s" % (sig, a.p.returncode)
        for sig in (signal.SIGTTIN, signal.SIGTTOU):
            a.p.send_signal(sig)
            time.sleep(0.3)
            assert a.p.poll() is None and a.state() != "T", "%s stopped or killed the agent" % sig
        hb = len(sent(lab, "SendTaskHeartbeat", task))
        time.sleep(2.5)
        assert len(sent(lab, "SendTaskHeartbeat", task)) > hb, "heartbeats stopped after the signals"
        a.p.send_signal(signal.SIGTERM)
        rc = a.finish(30)
    finally:
        a.kill()
    assert rc == 0, (rc, a.stderr())
    d = lab.wait_execution(ex, 20)
    assert d["status"] == "SUCCEEDED", d
    assert len(sent(lab, "SendTaskSuccess", task)) == 1


# --- 8. the log after a success --------------------------------------------------------------------

def test_success_logs_no_empty_line(lab, agent):
    for fmt in ("text", "json"):
        p, d, task = cycle(lab, agent, ["sh", "-c", "echo '{}'"], args=["--log-format", fmt])
        assert p.returncode == 0, stderr_text(p)
        for line in stderr_text(p).splitlines():
            assert line.strip() != "sfn-agent:", "an empty log line after a success"
            if line.startswith("{"):
                assert json.loads(line).get("msg") != "", "an empty msg after a success: %s" % line


# --- 9. a script with Windows line endings ---------------------------------------------------------

def test_crlf_shebang_names_the_missing_interpreter(lab, agent):
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "job.sh")
        with open(script, "wb") as f:
            f.write(b"#!/bin/sh\r\necho hi\r\n")
        os.chmod(script, 0o755)
        p, d, task = cycle(lab, agent, [script], args=["--heartbeat", "0"])
    assert p.returncode == 126, stderr_text(p)
    error, cause = failure(lab, task)
    assert error == "ExecFailed", error
    msg = cause["message"]
    assert "interpreter" in msg and "/bin/sh\\r" in msg and "not found" not in msg.split("interpreter")[0], msg


# --- 10. an agent inside an agent ------------------------------------------------------------------

def test_agent_inside_an_agent_reports_once(lab, agent):
    """ENTRYPOINT sfn-agent -- and a CMD that itself runs sfn-agent -- job: one report, exit 0."""
    p, d, task = cycle(lab, agent, [agent, "--", "sh", "-c", "echo '{\"inner\":1}'"])
    assert p.returncode == 0, stderr_text(p)
    assert d["status"] == "SUCCEEDED", d
    assert len(sent(lab, "SendTaskSuccess", task)) == 1, [c.error for c in sent(lab, "SendTaskSuccess", task)]
    assert "not reporting again" in stderr_text(p)


def test_agent_inside_an_agent_failure_reports_once(lab, agent):
    p, d, task = cycle(lab, agent, [agent, "--", "sh", "-c", "exit 3"])
    assert p.returncode == 3, stderr_text(p)
    assert len(sent(lab, "SendTaskFailure", task)) == 1
    assert not sent(lab, "SendTaskSuccess", task)


# --- 11. a command that drops privileges -----------------------------------------------------------

def test_command_that_drops_privileges_writes_sfn_output(lab, agent):
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    p, d, task = cycle(lab, agent, [*drop, "sh", "-c", "echo '{\"user\":\"nobody\"}' > \"$SFN_OUTPUT\""],
                       args=["--heartbeat", "0"])
    assert p.returncode == 0, stderr_text(p)
    assert sent_output(lab, task) == '{"user":"nobody"}'


def test_helper_of_a_command_that_dropped_privileges_writes_sfn_output(lab, agent):
    """After the drop, a helper started by a program that closes inherited descriptors still
    reaches $SFN_OUTPUT."""
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    code = ("import subprocess; subprocess.run(['sh', '-c', 'cat > \"$SFN_OUTPUT\"'], "
            "input=b'{\"via\": \"helper\"}', check=True, close_fds=True)")
    p, d, task = cycle(lab, agent, [*drop, "python3", "-c", code], args=["--heartbeat", "0"])
    assert p.returncode == 0, stderr_text(p)
    assert sent_output(lab, task) == '{"via":"helper"}'


# --- issue 11: core dumps and the agent's memory ---------------------------------------------------

PEEK = ("import os, resource\n"
        "ppid = os.getppid()\n"
        "print('cmd core', resource.getrlimit(resource.RLIMIT_CORE)[0])\n"
        "for l in open('/proc/%d/limits' % ppid):\n"
        "    if l.startswith('Max core file size'): print('agent core', l.split()[4])\n"
        "for f in ('mem', 'environ'):\n"
        "    try:\n"
        "        open('/proc/%d/%s' % (ppid, f), 'rb').read(1); print('agent', f, 'readable')\n"
        "    except OSError as e: print('agent', f, 'closed', e.errno)\n")


def test_agent_memory_and_core_dumps_are_closed_to_the_command(lab, agent):
    """Agent and command as the same unprivileged uid, started with `ulimit -c unlimited`: the
    agent's core limit is 0 and its /proc/<pid>/mem and environ are closed to the command; the
    command keeps the core limit it was started with."""
    skip_if_emulated(agent, 'under qemu-user the process the other uid would read is the emulator, and it runs from a wrapper that uid cannot open')
    ex, task = execution(lab, ["python3", "-c", PEEK])
    env = task_env(lab, task)
    # A sanitized build's runtime sets the core limit to 0 before main by itself; ask it not to, so
    # that the agent, not the sanitizer, is what this test sees (other builds ignore the variable).
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "disable_coredump=0"]))
    argv = ["sh", "-c", 'ulimit -c unlimited && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"',
            "sh", agent, "--heartbeat", "0", "--", *task.command]
    p = lab.run_agent(argv, env, timeout=30)
    check_stderr(p, task, env)
    out = p.stdout.decode()
    assert p.returncode == 0, stderr_text(p)
    assert "agent core 0" in out, out
    assert "cmd core %d" % resource.RLIM_INFINITY in out, "the command lost its core limit: " + out
    assert "agent mem closed" in out and "agent environ closed" in out, out


# --- 12. promises whose older tests could not fail -------------------------------------------------

def test_stop_reaches_a_grandchild_when_the_child_ignores_sigterm(lab, agent):
    """SIGTERM at a stop goes to the whole group at once: a grandchild that traps it gets it within
    the grace period even though the command ignores it (the leftover sweep comes only after the
    command's exit, at the end of the grace)."""
    ex, task = execution(lab, [*SIGECHO, "child", "--spawn", "--ignore-term"])
    a = Agent([agent, "--heartbeat", "0", "--grace", "6", "--", *task.command], task_env(lab, task))
    try:
        a.wait_for(a.out, "grandchild ready")
        t0 = time.monotonic()
        a.p.send_signal(signal.SIGTERM)
        a.wait_for(a.out, "grandchild got SIGTERM", timeout=10)
        took = time.monotonic() - t0
        rc = a.finish(30)
    finally:
        a.kill()
    assert took < 3, "the grandchild got SIGTERM %.1f s after the stop, not at once (grace 6 s)" % took
    assert rc == 128 + signal.SIGKILL, (rc, a.stderr())
    d = lab.wait_execution(ex, 20)
    assert d["status"] == "FAILED" and d["error"] == "ContainerStopped", d


def test_stdout_closed_by_a_reader_still_gives_one_report(lab, agent):
    """The agent's stdout piped into `head -c 20` with a chatty command: SIGPIPE does not kill the
    agent, the command is drained, and exactly one report goes out."""
    ex, task = execution(lab, ["sh", "-c", "seq 1 300000; echo '{\"chatty\":1}'"])
    env = task_env(lab, task)
    argv = ["bash", "-c", '"$@" | head -c 20 >/dev/null; exit ${PIPESTATUS[0]}', "bash", agent,
            "--heartbeat", "0", "--", *task.command]
    p = lab.run_agent(argv, env, timeout=60)
    check_stderr(p, task, env)
    assert p.returncode == 0, stderr_text(p)
    assert len(sent(lab, "SendTaskSuccess", task)) == 1 and not sent(lab, "SendTaskFailure", task)
    assert sent_output(lab, task) == '{"chatty":1}'


def test_heartbeats_are_never_late_and_jittered(lab, agent):
    """One heartbeat every --heartbeat seconds, up to 10 % early, never later: with --heartbeat 2
    every gap is at most 2 s (plus the network's noise) and they are not all the same."""
    ex, task = execution(lab, ["sleep", "17"], heartbeat=30)
    with FaultProxy(upstream=lab.endpoint) as px:
        env = task_env(lab, task, AWS_ENDPOINT_URL_SFN=px.url)
        p = lab.run_agent([agent, "--heartbeat", "2", "--", *task.command], env, timeout=40)
        times = [r.time for r in px.requests("SendTaskHeartbeat")]
    check_stderr(p, task, env)
    assert p.returncode == 0, stderr_text(p)
    gaps = [b - a for a, b in zip(times[1:], times[2:])]   # the first one goes out before the command
    assert len(gaps) >= 5, "only %d periodic heartbeats in 17 s: %s" % (len(gaps), gaps)
    # Against the schedule, not gap by gap: one request delayed on its way makes one gap long and the
    # next short, but the delays do not add up; a heartbeat scheduled late does.
    for k in range(1, len(gaps) + 1):
        since = sum(gaps[:k])
        assert since <= k * 2.0 + 0.25, "heartbeat %d came later than %d periods: %s" % (k, k, gaps)
        assert since >= k * 1.8 - 0.25, "heartbeat %d came more than 10 %% early: %s" % (k, gaps)
    # The network's noise cancels out in the mean (each arrival's delay counts once with each sign):
    # without jitter the mean gap is the period or a little more; with it, about 1.9 s.
    assert sum(gaps) / len(gaps) < 1.98, "no jitter: the gaps average the full period: %s" % gaps


def test_debug_heartbeat_line_shows_no_token(lab, agent):
    """At debug, the periodic "heartbeat sent" line names the token by its fingerprint only."""
    ex, task = execution(lab, ["sleep", "2.5"])
    env = task_env(lab, task)
    p = lab.run_agent([agent, "--log-level", "debug", "--heartbeat", "1", "--", *task.command], env, timeout=30)
    check_stderr(p, task, env)      # the token, whole, appears nowhere
    err = stderr_text(p)
    lines = [l for l in err.splitlines() if "heartbeat sent" in l]
    assert lines, "no periodic heartbeat was logged: this test proves nothing\n" + err
    assert all("tok:" in l and task.token[:16] not in l for l in lines), lines


def test_a_server_message_that_echoes_the_token_is_scrubbed(lab, agent):
    """An error answer whose message quotes the task token: the log shows the fingerprint, never the
    token."""
    import http.server
    import socketserver

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            msg = json.dumps({"__type": "ValidationException",
                              "message": "bad request for token %s, please check" % body.get("taskToken")})
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg.encode())

        def log_message(self, *a):
            pass

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        ex, task = execution(lab, ["sh", "-c", "exit 2"])
        env = task_env(lab, task, AWS_ENDPOINT_URL_SFN="http://127.0.0.1:%d" % srv.server_address[1])
        p = lab.run_agent([agent, "--", *task.command], env, timeout=30)
    finally:
        srv.shutdown()
        srv.server_close()
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    err = stderr_text(p)
    assert "ValidationException" in err and "bad request for token" in err, \
        "the server's message was not logged: this test proves nothing\n" + err
    check_stderr(p, task, env)
    assert task.token[:16] not in err, err
