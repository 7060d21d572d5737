"""Help that answers (docs/commands.md, "Help"): `sfn-agent --help` shows the run mode's usage and
its common options, as tini and dumb-init do, with the subcommands below; `-V` and `--version`
print the version, the architecture and the libraries' versions; `sfn-agent help [CMD]` is the same as `--help` / `CMD --help`; and every
subcommand's `--help` describes every flag its parser accepts, in one format: the flag's lines end
with its default in brackets (`[60]`, `[none]`, `[off]`, `[required]`).

The flags are read from the parsers themselves (the getopt long-option tables in src/), so a flag
added without a help line fails here."""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBCOMMANDS = ["run", "send-success", "send-failure", "send-heartbeat", "start", "check", "template"]
# Flags the send-* parser reads for all three but refuses, with a sentence, for some of them.
REFUSED = {"send-success": {"error", "cause"}, "send-failure": {"task-output"},
           "send-heartbeat": {"task-output", "error", "cause"}}


def _run(agent, *args):
    p = subprocess.run([agent, *args], capture_output=True, timeout=20, env={"PATH": os.environ["PATH"]})
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def _parser_flags():
    """{subcommand: set of long flags} from the getopt tables: `{ "name", ...}` rows of each
    `struct option` array in src/cmd_*.c, and the run mode's settings table in src/opts.c."""
    flags = {}
    for name in sorted(os.listdir(os.path.join(ROOT, "src"))):
        if not (name.startswith("cmd_") or name == "opts.c") or not name.endswith(".c"):
            continue
        text = open(os.path.join(ROOT, "src", name)).read()
        found = set()
        for table in re.findall(r"struct option\s+\w+\[[^\]]*\]\s*=\s*\{(.*?)\n\s*\};", text, re.S):
            found |= set(re.findall(r'\{\s*"([a-z][a-z0-9-]*)"\s*,', table))
        if name == "opts.c":
            # { O_ID, "flag", "ENV", ... }: the settings getopt's table is built from, and the
            # options the parser adds to it by hand.
            table = re.search(r"settings\[\]\s*=\s*\{(.*?)\n\};", text, re.S).group(1)
            found |= set(re.findall(r'\{\s*O_\w+\s*,\s*"([a-z][a-z0-9-]*)"', table))
            found |= set(re.findall(r'\(struct option\)\s*\{\s*"([a-z][a-z0-9-]*)"', text))
        if not found:
            continue
        if name == "cmd_send.c":
            for cmd in ("send-success", "send-failure", "send-heartbeat"):
                flags[cmd] = found - REFUSED[cmd]
        else:
            flags.setdefault("run" if name in ("opts.c", "cmd_run.c") else name[4:-2], set()).update(found)
    return flags


def _flag_blocks(text):
    """{flag: its help text} for each option line of a --help ("  --flag ARG  what [default]",
    or "  -h, --help ..."), with the lines that continue it (indented, not starting with -)."""
    blocks, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^ {2,4}(?:-\w, )?--([a-z][a-z0-9-]*)\b", line)
        if m:
            cur = m.group(1)
            blocks[cur] = line
        elif cur and line.startswith("      ") and not line.strip().startswith("-"):
            blocks[cur] += "\n" + line
        else:
            cur = None
    return blocks


def test_every_parser_flag_has_a_help_line(lab, agent):
    flags = _parser_flags()
    assert set(flags) == set(SUBCOMMANDS), "parsers found for %s" % sorted(flags)
    missing = []
    for cmd, names in sorted(flags.items()):
        rc, out, err = _run(agent, cmd, "--help")
        assert rc == 0, "%s --help exited %s: %s" % (cmd, rc, err)
        blocks = _flag_blocks(out)
        missing += ["%s --%s" % (cmd, n) for n in sorted(names - set(blocks))]
    assert not missing, "flags the parser accepts but --help does not describe: " + ", ".join(missing)


def test_every_flag_line_ends_with_its_default(lab, agent):
    bad = []
    for cmd in SUBCOMMANDS:
        rc, out, _ = _run(agent, cmd, "--help")
        for flag, block in _flag_blocks(out).items():
            if flag in ("help", "version"):
                continue
            if not re.search(r"\[[^\[\]]+\]$", block.rstrip()):
                bad.append("%s --%s: %r" % (cmd, flag, block))
    assert not bad, "help lines without [default] at their end:\n" + "\n".join(bad)


def test_run_variables_are_named_after_their_flags(lab, agent):
    """`sfn-agent run --help` states the rule (SFN_AGENT_ and the name in capitals) instead of a column."""
    text = open(os.path.join(ROOT, "src", "opts.c")).read()
    rows = re.findall(r'\{\s*O_\w+\s*,\s*"([a-z-]+)"\s*,\s*"(\w+)"', text)
    assert len(rows) >= 14, rows
    for flag, env in rows:
        assert env == "SFN_AGENT_" + flag.upper().replace("-", "_"), (flag, env)


def test_refused_send_flags_are_refused(lab, agent):
    """The flags the generated check leaves out for a send-* subcommand are really refused there."""
    token = "0123456789abcdef0123456789abcdef"
    for cmd, names in REFUSED.items():
        for n in names:
            rc, _, err = _run(agent, cmd, "--task-token", token, "--" + n, "x")
            assert rc == 2 and "does not take --%s" % n in err, "%s --%s: %s %s" % (cmd, n, rc, err)


def test_top_help_shows_run_usage_common_options_and_subcommands(lab, agent):
    for args in (["--help"], ["-h"], ["help"]):
        rc, out, err = _run(agent, *args)
        assert rc == 0, "%s: exit %s: %s" % (args, rc, err)
        assert out.startswith("usage: sfn-agent [run] [OPTIONS] [--] COMMAND [ARG...]"), out
        blocks = _flag_blocks(out)
        for common in ("token-env", "heartbeat", "timeout", "grace", "output", "log-level"):
            assert common in blocks, "%s: no line for --%s:\n%s" % (args, common, out)
        sub = out[out.index("subcommands:"):]
        for cmd in SUBCOMMANDS:
            assert re.search(r"^  %s\s" % re.escape(cmd), sub, re.M), "%s: %s not listed:\n%s" % (args, cmd, out)
        assert "sfn-agent help COMMAND" in out, out


def test_version_flags(lab, agent):
    """One line: the version, the architecture, and the libraries it runs with (SPEC section 4)."""
    want = (r"sfn-agent \d+\.\d+\.\d+ \((x86_64|aarch64|[a-z0-9_]+); OpenSSL \d+\.\d+\.\d+\S*, "
            r"libcurl \d+\.\d+\.\d+\S*, cJSON \d+\.\d+\.\d+\)\n")
    for args in (["-V"], ["--version"], ["run", "-V"], ["run", "--version"]):
        rc, out, err = _run(agent, *args)
        assert rc == 0 and re.fullmatch(want, out), "%s: %s %r %r" % (args, rc, out, err)


def test_help_command_is_the_subcommands_help(lab, agent):
    for cmd in SUBCOMMANDS:
        a = _run(agent, "help", cmd)
        b = _run(agent, cmd, "--help")
        assert a[0] == 0 and a[1] == b[1] and a[1], "help %s differs from %s --help" % (cmd, cmd)


def test_help_of_an_unknown_command_says_which_exist(lab, agent):
    rc, out, err = _run(agent, "help", "nope")
    assert rc == 2 and not out, (rc, out)
    lines = [l for l in err.splitlines() if l]
    assert len(lines) == 1 and "no command \"nope\"" in lines[0] and "send-heartbeat" in lines[0], err
