"""Secrets stay secret: representative runs at every log level and in both log formats, with the
task token, the secret keys and the session tokens (and the container endpoint's authorization
token) looked for in everything the agent wrote to stderr, whole or in part; and the command's
environment carries no credentials the agent fetched for itself."""
import json
import os
import secrets as pysecrets
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import execution, sent, stderr_text, task_env  # noqa: E402
from proxy import FaultProxy  # noqa: E402
from servers import EcsCredsServer  # noqa: E402

TIMEOUT = 240
LEVELS = ("error", "warn", "info", "debug")
FORMATS = ("text", "json")
WINDOW = 16      # a printed piece this long of a secret counts as a leak


def _leaks(text, secret_values):
    """(name, piece) of every secret of which some WINDOW-long piece appears in text."""
    found = []
    for name, value in secret_values:
        if not value:
            continue
        if len(value) <= WINDOW:
            if value in text:
                found.append((name, value[:4] + "..."))
            continue
        for i in range(0, len(value) - WINDOW + 1):
            if value[i:i + WINDOW] in text:
                found.append((name, value[:4] + "... at %d" % i))
                break
    return found


def _aws_like_token():
    # AWS's tokens are ~600-700 characters of base64; moto's are UUIDs.  Test the long kind too.
    return pysecrets.token_urlsafe(480).replace("-", "+").replace("_", "/") + "=="


def _scenarios(lab, agent, creds):
    """(name, argv, env, secrets, expected exit status) for one log level and format."""
    out = []

    ex, task = execution(lab, ["sh", "-c", "echo '{\"result\":\"fine\"}'"])
    env = task_env(lab, task)
    out.append(("success", ex, task, env, 0))

    ex, task = execution(lab, ["sh", "-c", "echo some error >&2; exit 3"])
    env = task_env(lab, task)
    out.append(("failure", ex, task, env, 3))

    ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"container\"}'"])
    env = task_env(lab, task)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.update(creds.env())
    out.append(("container credentials", ex, task, env, 0))

    ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"retries\"}'"])
    env = task_env(lab, task)
    out.append(("retries", ex, task, env, 0))
    return out


def test_no_secret_in_the_logs_at_any_level(lab, agent):
    runs = 0
    with EcsCredsServer(lab, auth_token="lab-auth-" + pysecrets.token_hex(16)) as creds, \
            FaultProxy(upstream=lab.endpoint) as px:
        for level in LEVELS:
            for fmt in FORMATS:
                for name, ex, task, env, want in _scenarios(lab, agent, creds):
                    if name == "retries":
                        env["AWS_ENDPOINT_URL_SFN"] = px.url
                        px.plan("SendTaskSuccess", ["throttle", "http500"])
                    args = ["--log-level", level, "--log-format", fmt]
                    p = lab.run_agent([agent, *args, "--", *task.command], env, timeout=60)
                    err = stderr_text(p)
                    what = "%s at %s/%s" % (name, level, fmt)
                    assert p.returncode == want, "%s: exit %s\n%s" % (what, p.returncode, err)
                    if level == "debug":
                        assert err.strip(), "%s: nothing logged at debug" % what
                    values = [("task token", task.token), ("secret key", env.get("AWS_SECRET_ACCESS_KEY")),
                              ("authorization token", env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"))]
                    values += [("temporary secret or session token", s) for s in creds.secrets]
                    leaks = _leaks(err, values)
                    assert not leaks, "%s: secrets in the log: %s" % (what, leaks)
                    assert lab.wait_execution(ex)["status"] in ("SUCCEEDED", "FAILED"), what
                    runs += 1

                # The first heartbeat refused (a token Step Functions never issued, AWS-sized).
                ex, task = execution(lab, ["sh", "-c", "echo ran"])
                env = task_env(lab, task)
                fake = _aws_like_token()
                env["TASK_TOKEN"] = fake
                p = lab.run_agent([agent, "--log-level", level, "--log-format", fmt, "--", *task.command], env,
                                  timeout=60)
                err = stderr_text(p)
                what = "first heartbeat refused at %s/%s" % (level, fmt)
                assert p.returncode == 125 and b"ran" not in p.stdout, "%s: exit %s\n%s" % (what, p.returncode, err)
                assert not _leaks(err, [("task token", fake), ("secret key", env["AWS_SECRET_ACCESS_KEY"])]), what
                lab.client("stepfunctions").stop_execution(executionArn=ex)

                # send-success from a script, same rules.
                ex, task = execution(lab, ["true"])
                env = task_env(lab, task, SFN_AGENT_LOG_LEVEL=level, SFN_AGENT_LOG_FORMAT=fmt)
                p = lab.run_agent([agent, "send-success", "--task-output", '{"from":"script"}'], env, timeout=60)
                err = stderr_text(p)
                what = "send-success at %s/%s" % (level, fmt)
                assert p.returncode == 0, "%s: exit %s\n%s" % (what, p.returncode, err)
                assert not _leaks(err, [("task token", task.token), ("secret key", env["AWS_SECRET_ACCESS_KEY"])]), what
                runs += 2
        assert creds.secrets, "the container scenario never fetched credentials: the check above saw nothing"
    assert runs == len(LEVELS) * len(FORMATS) * 6


def test_leak_detector_detects():
    """The scan above must be able to fail: a piece of a secret in a line is found."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert _leaks("sfn-agent: key " + secret[10:30] + " used", [("secret key", secret)])
    assert not _leaks("sfn-agent: key " + secret[:8] + " used", [("secret key", secret)])


def test_command_gets_no_credentials_the_agent_fetched(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "env; echo '{\"env\":\"printed\"}'"])
    env = task_env(lab, task)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    with EcsCredsServer(lab, auth_token="lab-auth-" + pysecrets.token_hex(8)) as creds:
        env.update(creds.env())
        p = lab.run_agent([agent, "--log-level", "debug", "--", *task.command], env, timeout=60)
        issued, fetched = list(creds.issued), list(creds.secrets)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, stderr_text(p)
    assert issued and fetched, "the agent did not use the container credentials"
    child = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    # The command sees what its own environment had (the endpoint, for its own SDK) ...
    assert child.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") == creds.url, sorted(child)
    assert "SFN_OUTPUT" in child
    # ... and nothing the agent fetched.
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        assert k not in child, "the command inherited %s, which the agent fetched" % k
    for akid in issued:
        assert akid not in out, "a fetched access key id reached the command's environment"
    assert not _leaks(out, [("fetched secret", s) for s in fetched]), "fetched secrets reached the command"
    reached = sent(lab, "SendTaskSuccess", task)
    assert len(reached) == 1 and reached[0].ok and reached[0].akid in issued
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_command_is_executed_without_a_shell(lab, agent):
    """execvp, no shell added: metacharacters in the arguments reach the command as they are."""
    args = ["$HOME", "a;b", "`id`", "$(echo x)", "*", "'q'"]
    p = lab.run_agent([agent, "--", "printf", "%s|", *args], lab.task_env("task"), timeout=20)
    assert p.returncode == 0, stderr_text(p)
    assert p.stdout.decode() == "".join(a + "|" for a in args), p.stdout


_PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")


def _via_proxy(env, url):
    for k in _PROXY_VARS:
        env[k] = url
    for k in ("NO_PROXY", "no_proxy"):
        env.pop(k, None)
    return env


def test_credentials_and_metadata_requests_never_go_through_a_proxy(lab, agent):
    """The container credentials endpoint, IMDS and the task metadata go direct, as in the AWS SDKs
    (a proxy would get the authorization token and relay the keys); Step Functions calls keep
    honouring the proxy variables."""
    from proxy import ForwardProxy
    from servers import EcsMetadataServer, ImdsServer
    auth = "lab-auth-" + pysecrets.token_hex(16)
    with ForwardProxy() as fp, EcsCredsServer(lab, auth_token=auth) as creds, \
            EcsMetadataServer("arn:aws:ecs:us-east-1:123456789012:task/lab/abc") as meta:
        ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"container\"}'"])
        env = _via_proxy(task_env(lab, task), fp.url)
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"]
        env.update(creds.env())
        env.update(meta.env())
        p = lab.run_agent([agent, "--log-level", "debug", "--", *task.command], env, timeout=60)
        assert p.returncode == 0, stderr_text(p)
        assert creds.fetches >= 1 and meta.fetches >= 1, "the endpoints were not asked directly"
        urls = [u for _, u, _ in fp.seen]
        assert not [u for u in urls if u.startswith(creds.base) or u.startswith(meta.base)], \
            "the proxy was asked for %s" % urls
        assert not [h for _, _, h in fp.seen if auth in str(h)], "the proxy saw the authorization token"
        assert [u for u in urls if u.startswith(lab.endpoint)], \
            "the Step Functions calls did not honour http_proxy: %s" % urls
        assert lab.wait_execution(ex)["status"] == "SUCCEEDED"

    with ForwardProxy() as fp, ImdsServer(lab) as imds:
        ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"imds\"}'"])
        env = _via_proxy(task_env(lab, task), fp.url)
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        env.update(imds.env())
        p = lab.run_agent([agent, "--", *task.command], env, timeout=60)
        assert p.returncode == 0, stderr_text(p)
        assert imds.token_puts >= 1 and imds.fetches >= 1
        urls = [u for _, u, _ in fp.seen]
        assert not [u for u in urls if u.startswith(imds.base)], "the proxy was asked for %s" % urls
        assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_oversized_credentials_answer_is_refused(lab, agent):
    """A credentials endpoint may answer a few kilobytes; 16 MiB of valid JSON (which cJSON would
    turn into hundreds of MB) is cut at the limit with one sentence, before it is parsed."""
    from servers import FixedAnswerServer
    body = b"[" + b"0," * ((8 << 20) - 2) + b"0]"     # 16 MiB - 1: under the old cap, valid JSON
    with FixedAnswerServer(body) as big:
        env = lab.task_env("task")
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = big.url + "/creds"
        env["TASK_TOKEN"] = "AAAA" + "b" * 60
        p = lab.run_agent([agent, "send-heartbeat", "--report-timeout", "5"], env, timeout=60)
    err = stderr_text(p)
    assert p.returncode != 0, err
    assert "larger than 65536 bytes" in err, err


_ESC_CAUSE = "evil \x1b]52;c;aGVsbG8=\x07 \x1b[2J \x1b]0;title\x07 \u009b31m \u2028 \x7f end"


def test_server_text_is_escaped_on_the_terminal(lab, agent):
    """Anyone who can set a cause (the container, a Lambda, CausePath from input) must not get
    escape sequences run by the operator's terminal or CI log: `start` prints an execution's error
    and cause with control characters (C0, DEL, C1, U+2028/2029) made visible, and `check` quotes
    state names the same way."""
    sm = lab.create_state_machine({"StartAt": "F", "States": {"F": {
        "Type": "Fail", "Error": "Boom\x1b[31m", "Cause": _ESC_CAUSE}}})
    p = lab.run_agent([agent, "start", "--state-machine", sm, "--poll", "0.2"], lab.admin_env(), timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode != 0, err
    assert "cause: " in err, err
    for bad in ("\x1b", "\x07", "\x7f", "\u009b", "\u2028"):
        assert bad not in err, "%r reached the terminal:\n%r" % (bad, err)
    assert "\\e]52;c;aGVsbG8=" in err and "\\u009b31m" in err, err

    d = lab.definition(heartbeat=None)
    name = "Run\x1b]0;pwned\x07"
    d["States"][name] = d["States"].pop("RunCommand")
    d["States"]["HasCommands"]["Choices"][0]["Next"] = name
    sm = lab.create_state_machine(d)
    p = lab.run_agent([agent, "check", "--state-machine", sm], lab.admin_env(), timeout=60)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    assert "\\e]0;pwned" in out, "the finding about the state did not quote its name:\n%r" % out
    assert "\x1b" not in out and "\x07" not in out, "a state name's escape reached the terminal:\n%r" % out


def test_task_token_argument_warns_about_the_command_line(lab, agent):
    """`--task-token T` puts the token in /proc/PID/cmdline for every user of the host: each send-*
    --help says so and recommends the variable."""
    import subprocess
    for cmd in ("send-success", "send-failure", "send-heartbeat"):
        p = subprocess.run([agent, cmd, "--help"], capture_output=True, text=True, timeout=10)
        text = p.stdout + p.stderr
        assert p.returncode == 0, text
        assert "/proc/PID/cmdline" in text and "prefer $TASK_TOKEN" in text, "%s --help:\n%s" % (cmd, text)


def _pieces_leak(text, name, value):
    """_leaks, ignoring case: a lower-cased copy of a token still carries most of it."""
    return _leaks(text.lower(), [(name, value.lower())])


def test_server_echo_of_the_request_secrets_is_redacted(lab, agent):
    """SECURITY.md: secret keys and session tokens are never printed, and the task token never
    whole.  A Step Functions endpoint (or a front end) that quotes the request's headers in its
    error message (the X-Amz-Security-Token, the Authorization header with its signature, the task
    token, in any case) does not get them into the log, at any level, in either format."""
    from servers import _Base

    class EchoingEndpoint(_Base):
        def __init__(self):
            super().__init__()
            self.seen = []
            self.url = self.base
            self.start()

        def _serve(self, h, method):
            session = h.headers.get("X-Amz-Security-Token", "")
            auth = h.headers.get("Authorization", "")
            with self.lock:
                self.seen.append((session, auth))
            msg = "1 validation error: securityToken %s with %s refused; token %s; lower %s" % (
                session, auth, task_token, task_token.lower())
            h._reply(400, json.dumps({"__type": "ValidationException", "message": msg}))

    task_token = _aws_like_token()[:64]
    session = "SESSIONTOKENsessiontokenSESSIONTOKEN0001" + pysecrets.token_hex(40)
    secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + pysecrets.token_hex(5)
    with EchoingEndpoint() as srv:
        for level in LEVELS:
            for fmt in FORMATS:
                env = lab.task_env("task")
                env.update({"AWS_ENDPOINT_URL_SFN": srv.url, "TASK_TOKEN": task_token,
                            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": secret_key,
                            "AWS_SESSION_TOKEN": session})
                before = len(srv.seen)
                p = lab.run_agent([agent, "--log-level", level, "--log-format", fmt, "--", "true"], env,
                                  timeout=60)
                err = stderr_text(p)
                what = "%s/%s" % (level, fmt)
                assert p.returncode != 0, "%s: exit %s\n%s" % (what, p.returncode, err)
                assert len(srv.seen) > before, "%s: the endpoint was never asked" % what
                sent_session, auth = srv.seen[-1]
                assert sent_session == session, what
                signature = auth.rsplit("Signature=", 1)[1]
                assert "validation error" in err, "%s: the refusal was not reported\n%s" % (what, err)
                leaks = _leaks(err, [("session token", session), ("secret key", secret_key),
                                     ("signature", signature), ("task token", task_token)])
                leaks += _pieces_leak(err, "task token, lower-cased", task_token)
                assert not leaks, "%s: secrets in the log: %s\n%s" % (what, leaks, err)


def test_debug_lines_do_not_repeat_secrets_the_command_printed(lab, agent):
    """SECURITY.md: at --log-level debug the agent quotes the output and the cause it sends (or,
    without a task token, would send); a command that prints $TASK_TOKEN, $AWS_SECRET_ACCESS_KEY or
    $AWS_SESSION_TOKEN does not get them printed by the agent.  (What the command writes to its own
    stderr is relayed as it is: only the agent's lines are looked at.)"""
    script_out = 'printf \'{"t":"%s","k":"%s","s":"%s"}\\n\' "$TASK_TOKEN" "$AWS_SECRET_ACCESS_KEY" ' \
                 '"$AWS_SESSION_TOKEN"'
    script_err = script_out + ' >&2; exit 3'
    for fmt in FORMATS:
        # With a task token: the output sent, then the cause sent.
        for script, want in ((script_out, 0), (script_err, 3)):
            ex, task = execution(lab, ["sh", "-c", script])
            env = task_env(lab, task)
            p = lab.run_agent([agent, "--log-level", "debug", "--log-format", fmt, "--", *task.command], env,
                              timeout=60)
            err = stderr_text(p)
            mine = "\n".join(l for l in err.splitlines() if l.startswith("sfn-agent:") or l.startswith("{"))
            if want == 3:
                # The relayed stderr line is the command's own: drop the one it wrote.
                mine = "\n".join(l for l in mine.splitlines() if not l.startswith('{"t":'))
            what = "%s, exit %d" % (fmt, want)
            assert p.returncode == want, "%s: exit %s\n%s" % (what, p.returncode, err)
            assert ("output" if want == 0 else "cause") in mine, "%s: nothing quoted at debug\n%s" % (what, err)
            leaks = _leaks(mine, [("task token", task.token), ("secret key", env["AWS_SECRET_ACCESS_KEY"])])
            assert not leaks, "%s: secrets in the agent's lines: %s\n%s" % (what, leaks, mine)
            assert lab.wait_execution(ex)["status"] in ("SUCCEEDED", "FAILED"), what

        # Without a task token: the "would send" report, with a session token in the environment.
        env = lab.task_env("task")
        env["AWS_SESSION_TOKEN"] = "SESSIONTOKENsessiontokenSESSIONTOKEN0001" + pysecrets.token_hex(40)
        p = lab.run_agent([agent, "--log-level", "debug", "--log-format", fmt, "--", "sh", "-c", script_out], env,
                          timeout=60)
        err = stderr_text(p)
        assert p.returncode == 0, err
        assert "would be" in err, err
        leaks = _leaks(err, [("secret key", env["AWS_SECRET_ACCESS_KEY"]), ("session token", env["AWS_SESSION_TOKEN"])])
        assert not leaks, "no token, %s: secrets in the log: %s\n%s" % (fmt, leaks, err)
