"""The core loop against the lab (moto, auth enforced): each test starts a waitForTaskToken execution,
runs its task's command under the agent, and checks what Step Functions received and how the
execution ended."""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from agentlib import (assert_one_sentence_error, check_stderr, cycle, execution, failure, sent,  # noqa: E402
                      sent_output, stderr_text, task_env)

TIMEOUT = 90


def test_success_single_line_json(lab, agent):
    big = '{"rows":3,"big":12345678901234567890123,"ratio":1.50e3,"s":"caf\\u00e9 \\"q\\""}'
    p, d, task = cycle(lab, agent, ["sh", "-c", "echo working; echo '%s'" % big])
    assert p.returncode == 0, stderr_text(p)
    assert d["status"] == "SUCCEEDED", d
    # Sent as written: the big integer, the exponent and the escapes are not rewritten.
    assert sent_output(lab, task) == big
    assert p.stdout == b"working\n" + big.encode() + b"\n"


def test_success_pretty_printed_json(lab, agent):
    script = 'echo "log line {not json"; printf \'{\\n  "a": [\\n    1,\\n    2\\n  ],\\n  "b": {"c": null}\\n}\\n\''
    p, d, task = cycle(lab, agent, ["sh", "-c", script])
    assert p.returncode == 0, stderr_text(p)
    assert d["status"] == "SUCCEEDED"
    assert sent_output(lab, task) == '{"a":[1,2],"b":{"c":null}}'


def test_success_from_sfn_output_file(lab, agent):
    script = 'echo \'{"from":"stdout"}\'; echo \'{"from": "file", "n": 1}\' > "$SFN_OUTPUT"'
    p, d, task = cycle(lab, agent, ["sh", "-c", script])
    assert p.returncode == 0, stderr_text(p)
    assert d["status"] == "SUCCEEDED"
    assert sent_output(lab, task) == '{"from":"file","n":1}'
    assert json.loads(d["output"]) == {"from": "file", "n": 1}


def test_success_without_json_sends_empty_object(lab, agent):
    p, d, task = cycle(lab, agent, ["sh", "-c", "echo just logs; echo '[INFO] done'"])
    assert p.returncode == 0
    assert d["status"] == "SUCCEEDED"
    assert sent_output(lab, task) == "{}"


def test_output_at_the_limit_is_accepted(lab, agent):
    # ["xxx..."] of exactly 262,144 bytes.  (An object would do for the agent, but moto re-serialises
    # the state's result with ", " and ": " and then finds it one byte over its data limit.)
    n = 262144 - len('[""]')
    script = "printf '[\"'; head -c %d /dev/zero | tr '\\0' x; printf '\"]\\n'" % n
    p, d, task = cycle(lab, agent, ["sh", "-c", script])
    assert p.returncode == 0, stderr_text(p)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    out = sent_output(lab, task)
    assert len(out.encode()) == 262144


def test_output_over_the_limit_is_output_invalid(lab, agent):
    n = 262145 - len('{"pad":""}')
    script = "printf '{\"pad\":\"' > $SFN_OUTPUT; head -c %d /dev/zero | tr '\\0' x >> $SFN_OUTPUT; " \
             "printf '\"}' >> $SFN_OUTPUT" % n
    p, d, task = cycle(lab, agent, ["sh", "-c", script])
    assert p.returncode == 1, "a command that exited 0 but whose output is refused exits 1"
    assert d["status"] == "FAILED"
    assert d.get("error") == "OutputInvalid", d
    assert not [c for c in sent(lab, "SendTaskSuccess", task)], "a too-large output must never be sent"
    error, cause = failure(lab, task)
    assert error == "OutputInvalid"
    assert "262145" in cause["message"] and "262144" in cause["message"], cause


def test_invalid_json_in_sfn_output_is_output_invalid(lab, agent):
    p, d, task = cycle(lab, agent, ["sh", "-c", "echo '{\"a\": 1,}' > $SFN_OUTPUT"])
    assert p.returncode == 1
    assert d["status"] == "FAILED" and d.get("error") == "OutputInvalid"
    error, cause = failure(lab, task)
    assert "SFN_OUTPUT" in cause["message"] and "JSON" in cause["message"], cause


def test_exit_code_map_names_the_error(lab, agent):
    script = "echo 'the input was bad' >&2; exit 3"
    p, d, task = cycle(lab, agent, ["sh", "-c", script], args=["--exit-code-map", "3=RetryableError,4=BadInput"])
    assert p.returncode == 3
    assert d["status"] == "FAILED" and d.get("error") == "RetryableError", d
    error, cause = failure(lab, task)
    assert cause["exitCode"] == 3 and cause["signal"] is None
    assert cause["message"] == "command exited with status 3"
    assert "the input was bad" in cause["stderrTail"]
    assert isinstance(cause["durationSeconds"], (int, float))


def test_failure_default_error_and_custom_error(lab, agent):
    p, d, task = cycle(lab, agent, ["sh", "-c", "exit 7"])
    assert p.returncode == 7 and d.get("error") == "ScriptFailed"
    p, d, task = cycle(lab, agent, ["sh", "-c", "exit 7"], env={"SFN_AGENT_ERROR": "NightlyJobFailed"})
    assert p.returncode == 7 and d.get("error") == "NightlyJobFailed"


def test_killed_by_signal_reports_the_signal(lab, agent):
    p, d, task = cycle(lab, agent, ["sh", "-c", "kill -9 $$"])
    assert p.returncode == 128 + 9
    error, cause = failure(lab, task)
    assert error == "ScriptFailed" and cause["signal"] == "SIGKILL" and cause["exitCode"] is None


def test_command_not_found_is_exec_failed(lab, agent):
    p, d, task = cycle(lab, agent, ["/no/such/command"])
    assert p.returncode == 127
    assert d["status"] == "FAILED" and d.get("error") == "ExecFailed"
    error, cause = failure(lab, task)
    assert "/no/such/command" in cause["message"]


def test_command_not_executable_is_126(lab, agent):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "job.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho should-not-run\n")
        os.chmod(path, 0o644)
        p, desc, task = cycle(lab, agent, [path])
    assert p.returncode == 126, stderr_text(p)
    assert b"should-not-run" not in p.stdout
    assert desc.get("error") == "ExecFailed"
    error, cause = failure(lab, task)
    assert path in cause["message"], cause


def test_task_role_without_send_task_success(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"ok\":true}'"])
    env = task_env(lab, task, user="noperm")
    p = lab.run_agent([agent, "--report-timeout", "10", "--", *task.command], env, timeout=30)
    check_stderr(p, task, env)
    assert p.returncode == 1, "success that could not be reported exits 1"
    err = stderr_text(p)
    assert "states:SendTaskSuccess" in err, err
    attempts = sent(lab, "SendTaskSuccess", task)
    assert len(attempts) == 1, "access denied must not be retried (%d attempts)" % len(attempts)
    assert not attempts[0].ok
    sfn = lab.client("stepfunctions")
    assert sfn.describe_execution(executionArn=ex)["status"] == "RUNNING"
    sfn.stop_execution(executionArn=ex)


def test_wrong_secret_key_is_refused_and_not_retried(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo should-not-run"])
    env = task_env(lab, task)
    env["AWS_SECRET_ACCESS_KEY"] = "x" * 40
    t0 = time.monotonic()
    p = lab.run_agent([agent, "--", *task.command], env, timeout=30)
    elapsed = time.monotonic() - t0
    check_stderr(p, task, env)
    assert p.returncode == 125, stderr_text(p)
    assert b"should-not-run" not in p.stdout, "the command must not start when no result could be reported"
    assert "signature" in stderr_text(p).lower() or "secret" in stderr_text(p).lower(), stderr_text(p)
    assert elapsed < 10, "a refused signature must not be retried for long (%.1fs)" % elapsed


def test_no_token_runs_and_prints_the_report(lab, agent):
    env = lab.task_env("task")
    p = lab.run_agent([agent, "--", "sh", "-c", "echo '{\"x\":1}'; exit 0"], env, timeout=20)
    assert p.returncode == 0
    err = stderr_text(p)
    assert "no result will be sent" in err
    lines = [l for l in err.splitlines() if "SendTaskSuccess" in l]
    assert lines, err
    assert '"x":1' not in err, "the output appears only at debug level"
    p = lab.run_agent([agent, "--log-level", "debug", "--", "sh", "-c", "echo '{\"x\":1}'"], env, timeout=20)
    assert '{"x":1}' in stderr_text(p)


def test_require_token_without_token_exits_125(lab, agent):
    env = lab.task_env("task")
    p = lab.run_agent([agent, "--require-token", "--", "sh", "-c", "echo ran"], env, timeout=20)
    assert p.returncode == 125
    assert b"ran" not in p.stdout
    assert_one_sentence_error(p, "TASK_TOKEN", "--require-token")
    env["SFN_AGENT_REQUIRE_TOKEN"] = "1"
    p = lab.run_agent([agent, "--", "true"], env, timeout=20)
    assert p.returncode == 125


def test_bad_options_exit_125_with_one_sentence(lab, agent):
    env = lab.task_env("task")
    cases = [
        (["--heartbeat", "soon", "--", "true"], "--heartbeat"),
        (["--output", "yaml", "--", "true"], "--output"),
        (["--exit-code-map", "three=X", "--", "true"], "--exit-code-map"),
        (["--error", "E" * 257, "--", "true"], "--error"),
        (["--bogus", "--", "true"], "--bogus"),
        ([], "no command"),
    ]
    for args, needle in cases:
        p = lab.run_agent([agent, *args], env, timeout=10)
        assert p.returncode == 125, (args, p.returncode, stderr_text(p))
        assert_one_sentence_error(p, needle)
    env["SFN_AGENT_GRACE"] = "-3"
    p = lab.run_agent([agent, "--", "true"], env, timeout=10)
    assert p.returncode == 125
    assert_one_sentence_error(p, "SFN_AGENT_GRACE")


def test_malformed_token_exits_125(lab, agent):
    env = lab.task_env("task")
    env["TASK_TOKEN"] = "bad\ttoken"
    p = lab.run_agent([agent, "--", "sh", "-c", "echo ran"], env, timeout=10)
    assert p.returncode == 125 and b"ran" not in p.stdout
    env["TASK_TOKEN"] = "x" * 2049
    p = lab.run_agent([agent, "--", "true"], env, timeout=10)
    assert p.returncode == 125
    assert "2048" in stderr_text(p) or "2,048" in stderr_text(p)


def test_long_aws_style_token(lab, agent):
    """AWS's tokens are ~700 characters of base64; moto's are UUIDs.  A long token set by hand must be
    carried intact: moto answers it as unknown, which the agent reports as a dead token (exit 125)."""
    import base64
    token = base64.b64encode(os.urandom(520)).decode()
    assert len(token) > 690
    env = lab.task_env("task")
    env["TASK_TOKEN"] = token
    p = lab.run_agent([agent, "--", "sh", "-c", "echo ran"], env, timeout=20)
    assert p.returncode == 125, stderr_text(p)
    assert token not in stderr_text(p)
    calls = lab.calls("SendTaskHeartbeat", token=token)
    assert len(calls) == 1 and calls[0].token == token, "the token must reach Step Functions byte for byte"


def test_logs_relayed_unchanged(lab, agent):
    script = "printf 'out1\\n'; printf 'err1\\n' >&2; printf '\\001\\377bin'; printf 'err2' >&2"
    p, d, task = cycle(lab, agent, ["sh", "-c", script])
    assert p.stdout == b"out1\n\x01\xffbin"
    assert b"err1\nerr2" in p.stderr


def test_sfn_output_written_by_a_helper_that_lost_inherited_fds(lab, agent):
    """Python's subprocess closes inherited descriptors: a helper it starts must still be able to
    write $SFN_OUTPUT."""
    code = ("import subprocess; subprocess.run(['sh', '-c', 'cat > \"$SFN_OUTPUT\"'], "
            "input=b'{\"via\": \"helper\"}', check=True, close_fds=True)")
    p, d, task = cycle(lab, agent, ["python3", "-c", code])
    assert p.returncode == 0, stderr_text(p)
    assert sent_output(lab, task) == '{"via":"helper"}'


def test_sfn_output_on_a_read_only_root_without_tmp(lab, agent):
    """A memfd needs no writable filesystem: the command gets a path it can write even when no
    temporary directory is writable."""
    script = 'case "$SFN_OUTPUT" in /proc/*|/dev/fd/*) ;; *) exit 9;; esac; echo \'{"ro": true}\' > "$SFN_OUTPUT"'
    p, d, task = cycle(lab, agent, ["sh", "-c", script], env={"TMPDIR": "/nonexistent"})
    assert p.returncode == 0, stderr_text(p)
    assert sent_output(lab, task) == '{"ro":true}'
