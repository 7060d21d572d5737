"""The log options, the same for every subcommand (docs/options.md, "Logging"): --log-level and
--log-format, or SFN_AGENT_LOG_LEVEL and SFN_AGENT_LOG_FORMAT; a bad value, wherever it comes from,
is refused with one sentence naming where it came from and the values allowed, before anything
else happens (the command does not run, nothing is sent)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from agentlib import agent_lines  # noqa: E402

TIMEOUT = 90
FAKE_TOKEN = "0123456789abcdef0123456789abcdef"
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:nope"

# Each subcommand with arguments that would otherwise go on to do its work, and its usage status.
SUBCOMMANDS = [
    ("run", ["run"], ["--", "sh", "-c", "echo RAN"], 125),
    ("send-success", ["send-success"], ["--task-token", FAKE_TOKEN], 2),
    ("send-failure", ["send-failure"], ["--task-token", FAKE_TOKEN], 2),
    ("send-heartbeat", ["send-heartbeat"], ["--task-token", FAKE_TOKEN], 2),
    ("start", ["start"], ["--state-machine", ARN], 2),
    ("check", ["check"], ["--state-machine", ARN], 2),
    ("template", ["template"], ["--cluster", "c", "--task-definition", "td", "--container", "app"], 2),
]

LEVEL_FIX = "is not valid: use error, warn, info or debug"
FORMAT_FIX = "is not valid: use text or json"


def _refused(lab, agent, name, argv, status, env_extra, want):
    env = lab.task_env("task")
    env.update(env_extra)
    p = lab.run_agent([agent, *argv], env, timeout=30)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == status, "%s: exit %s, not %s: %s" % (name, p.returncode, status, err)
    errors = [l for l in agent_lines(p) if "error" in l]
    assert len(errors) == 1, "%s: want one error line, got %r" % (name, err)
    assert want in errors[0], "%s: %r does not say %r" % (name, errors[0], want)
    assert b"RAN" not in p.stdout, "%s: the command ran" % name


def test_bad_log_level_variable_is_refused_by_every_subcommand(lab, agent):
    for name, head, rest, status in SUBCOMMANDS:
        _refused(lab, agent, name, head + rest, status, {"SFN_AGENT_LOG_LEVEL": "verbose"},
                 "SFN_AGENT_LOG_LEVEL='verbose' " + LEVEL_FIX)


def test_bad_log_format_variable_is_refused_by_every_subcommand(lab, agent):
    for name, head, rest, status in SUBCOMMANDS:
        _refused(lab, agent, name, head + rest, status, {"SFN_AGENT_LOG_FORMAT": "xml"},
                 "SFN_AGENT_LOG_FORMAT='xml' " + FORMAT_FIX)


def test_bad_log_flags_are_refused_by_every_subcommand(lab, agent):
    for name, head, rest, status in SUBCOMMANDS:
        _refused(lab, agent, name, head + ["--log-level", "loud"] + rest, status, {},
                 "--log-level 'loud' " + LEVEL_FIX)
        _refused(lab, agent, name, head + ["--log-format", "xml"] + rest, status, {},
                 "--log-format 'xml' " + FORMAT_FIX)



def test_log_format_json_applies_to_usage_errors_of_every_subcommand(lab, agent):
    """SFN_AGENT_LOG_FORMAT=json holds from the first line: a usage error found while the flags are
    read comes out as JSON too, so a log pipeline that parses JSON never meets a text line."""
    for name, head, rest, status in SUBCOMMANDS:
        env = lab.task_env("task")
        env["SFN_AGENT_LOG_FORMAT"] = "json"
        p = lab.run_agent([agent, *head, "--no-such-flag", *rest], env, timeout=30)
        err = p.stderr.decode("utf-8", "replace").strip()
        assert p.returncode == status, "%s: exit %s: %s" % (name, p.returncode, err)
        # Every line is JSON (under qemu-user a warning that the emulator refuses the subreaper
        # comes first; it must be JSON as well), and the usage error is among them.
        lines = err.split("\n")
        assert all(l.startswith('{"time"') for l in lines) and "no-such-flag" in lines[-1], "%s: %r" % (name, err)
