"""The agent under valgrind: zero memory errors and zero leaks (definite, indirect, possible) in the
run mode without a lab (tests/valgrind.sh), in whole runs against the lab that report success and
failure, and in the report subcommands.  The command the agent starts is not traced."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from agentlib import execution, stderr_text, task_env  # noqa: E402
from emulation import skip_if_emulated  # noqa: E402
from lab import Skip  # noqa: E402

TIMEOUT = 180
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible", "--errors-for-leak-kinds=definite,indirect,possible",
            "--track-fds=no", "--trace-children=no", "--child-silent-after-fork=yes"]


def _need_valgrind(agent):
    if not shutil.which("valgrind"):
        raise Skip("valgrind is not installed")
    # Under qemu-user valgrind would only see the shell that starts qemu: a pass would be hollow.
    skip_if_emulated(agent, "valgrind cannot run inside qemu-user, and would only check the shell that starts it")
    with open(agent, "rb") as f:
        if b"__asan_init" in f.read():
            raise Skip("the agent is built with AddressSanitizer, which does not run under valgrind")


def _under_valgrind(lab, agent, args, env, timeout=90):
    """Runs the agent under valgrind; returns (CompletedProcess, valgrind's report, "" when clean)."""
    with tempfile.TemporaryDirectory(prefix="sfn-vg-") as d:
        log = os.path.join(d, "vg.log")
        p = lab.run_agent([*VALGRIND, "--log-file=" + log, agent, *args], env, timeout=timeout)
        with open(log, encoding="utf-8", errors="replace") as f:
            report = f.read()
    assert p.returncode != 99 and not report.strip(), \
        "valgrind found errors or leaks (exit %s):\n%s" % (p.returncode, report[-6000:])
    assert not p.timed_out, "the agent under valgrind did not finish"
    return p


def test_valgrind_without_lab(lab, agent):
    _need_valgrind(agent)
    p = subprocess.run([os.path.join(ROOT, "tests", "valgrind.sh"), agent], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=150)
    out = p.stdout.decode("utf-8", "replace")
    print(out, p.stderr.decode("utf-8", "replace"))
    assert p.returncode == 0 and "FAIL" not in out, out
    assert out.count("PASS valgrind.") >= 10, out


def test_valgrind_run_success(lab, agent):
    _need_valgrind(agent)
    ex, task = execution(lab, ["sh", "-c", "echo working; echo '{\"rows\": 3, \"s\": \"caf\\u00e9\"}'"])
    p = _under_valgrind(lab, agent, ["--heartbeat", "1", "--", *task.command], task_env(lab, task))
    assert p.returncode == 0, stderr_text(p)
    d = lab.wait_execution(ex, timeout=30)
    assert d["status"] == "SUCCEEDED", d


def test_valgrind_run_failure(lab, agent):
    _need_valgrind(agent)
    ex, task = execution(lab, ["sh", "-c", "echo 'Traceback: \xff bad' >&2; sleep 1.5; exit 3"])
    p = _under_valgrind(lab, agent, ["--heartbeat", "1", "--exit-code-map", "3=RetryableError", "--",
                                     *task.command], task_env(lab, task))
    assert p.returncode == 3, stderr_text(p)
    d = lab.wait_execution(ex, timeout=30)
    assert d["status"] == "FAILED" and d.get("error") == "RetryableError", d


def test_valgrind_run_command_not_found(lab, agent):
    _need_valgrind(agent)
    ex, task = execution(lab, ["/no/such/command"])
    p = _under_valgrind(lab, agent, ["--", *task.command], task_env(lab, task))
    assert p.returncode == 127, stderr_text(p)
    d = lab.wait_execution(ex, timeout=30)
    assert d["status"] == "FAILED" and d.get("error") == "ExecFailed", d


def test_valgrind_send_subcommands(lab, agent):
    _need_valgrind(agent)
    ex, task = execution(lab, ["true"])
    env = task_env(lab, task)
    p = _under_valgrind(lab, agent, ["send-heartbeat"], env)
    assert p.returncode == 0, stderr_text(p)
    p = _under_valgrind(lab, agent, ["send-success", "--task-output", '{"from": "script"}'], env)
    assert p.returncode == 0, stderr_text(p)
    assert lab.wait_execution(ex, timeout=30)["status"] == "SUCCEEDED"
    ex, task = execution(lab, ["true"])
    p = _under_valgrind(lab, agent, ["send-failure", "--error", "Bad", "--cause", "why"], task_env(lab, task))
    assert p.returncode == 0, stderr_text(p)
    d = lab.wait_execution(ex, timeout=30)
    assert d["status"] == "FAILED" and d.get("error") == "Bad", d
    # A token Step Functions refuses: the error path of the client.
    env = task_env(lab, task)
    p = _under_valgrind(lab, agent, ["send-success", "--task-output", "{}"], env)
    assert p.returncode != 0, "a second report for a finished task must be refused"
