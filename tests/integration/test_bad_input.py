"""Bad input of every kind, one case per row of the table in docs/bad-input.md: options, environment
values, the token, the output, credentials answers and endpoint answers.  Each case checks the exit
status, that the command did not run when the agent refuses to start, and that one error line
carries the sentence the table quotes (its stable part: ports and paths vary).

    python3 tests/integration/test_bad_input.py BIN    prints the table from a real run (markdown),
                                                       to paste into docs/bad-input.md
"""
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import agent_lines, execution, stderr_text, task_env  # noqa: E402

TIMEOUT = 240
FAKE_TOKEN = "0123456789abcdef0123456789abcdef"


class FixedServer:
    """Answers every request with one status and body; counts the requests."""

    def __init__(self, status, body, ctype="application/json"):
        owner = self
        self.count = 0

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                owner.count += 1
                b = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            do_GET = do_POST = do_PUT = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _base_env(lab):
    """The task user's keys, the lab endpoint, no token."""
    return lab.task_env("task")


def _fake_token_env(lab, **extra):
    env = _base_env(lab)
    env["TASK_TOKEN"] = FAKE_TOKEN
    env["AWS_ENDPOINT_URL_SFN"] = "http://127.0.0.1:9"     # never reached: the agent stops first
    env.update(extra)
    return env


def _no_keys(env):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    return env


RAN = "echo ran"


# Each case: (category, input as the table shows it, setup(lab) -> (args, env, cleanup), exit status, needle).
# args are the agent's arguments; "RUN" stands for `-- sh -c 'echo ran'`.
def _opt(args):
    return lambda lab: (args, _base_env(lab), None)


def _env(**kv):
    def setup(lab):
        env = _base_env(lab)
        env.update(kv)
        return ["RUN"], env, None
    return setup


def _cfg(**kv):
    return lambda lab: (["RUN"], _fake_token_env(lab, **kv), None)


def _cfg_nokeys(**kv):
    def setup(lab):
        env = _no_keys(_fake_token_env(lab))
        env.update(kv)
        return ["RUN"], env, None
    return setup


def _creds_answer(status, body):
    def setup(lab):
        srv = FixedServer(status, body)
        env = _no_keys(_fake_token_env(lab, AWS_CONTAINER_CREDENTIALS_FULL_URI=srv.url + "/creds"))
        return ["RUN"], env, srv.stop
    return setup


def _sfn_answer(status, body, ctype="application/x-amz-json-1.0", args=("RUN",)):
    def setup(lab):
        srv = FixedServer(status, body, ctype)
        env = _fake_token_env(lab, AWS_ENDPOINT_URL_SFN=srv.url, SFN_AGENT_HTTP_TIMEOUT="2")
        return ["--report-timeout", "3", *args], env, srv.stop
    return setup


def _lab_token(command, user="task", args=(), **extra):
    """A real execution's token; the agent runs `command`."""
    def setup(lab):
        ex, task = execution(lab, command)
        env = task_env(lab, task, user, **extra)

        def cleanup():
            try:
                lab.client("stepfunctions").stop_execution(executionArn=ex)
            except Exception:
                pass
        return [*args, "--", *task.command], env, cleanup
    return setup


def _unknown_token(lab):
    env = _base_env(lab)
    env["TASK_TOKEN"] = "f" * 8 + "-0000-4000-8000-" + "0" * 12
    return ["RUN"], env, None


def _send(*args, token=True):
    def setup(lab):
        env = _fake_token_env(lab) if token else _base_env(lab)
        return ["SEND", *args], env, None
    return setup


CASES = [
    # -- options
    ("option", "`--heartbeat soon`", _opt(["--heartbeat", "soon", "RUN"]), 125,
     "--heartbeat 'soon' is not valid: give a number of seconds from 0 to 31536000"),
    ("option", "`--timeout -1`", _opt(["--timeout", "-1", "RUN"]), 125,
     "--timeout '-1' is not valid: give a number of seconds"),
    ("option", "`--report-timeout 0`", _opt(["--report-timeout", "0", "RUN"]), 125,
     "--report-timeout '0' is not valid: the final report needs at least some time"),
    ("option", "`--output yaml`", _opt(["--output", "yaml", "RUN"]), 125,
     "--output 'yaml' is not valid: use auto, file, stdout or none"),
    ("option", "`--exit-code-map three=X`", _opt(["--exit-code-map", "three=X", "RUN"]), 125,
     "is not CODE=ErrorName with CODE from 0 to 255: write e.g. 3=RetryableError"),
    ("option", "`--success-codes 256`", _opt(["--success-codes", "256", "RUN"]), 125,
     "is not an exit status from 0 to 255: write e.g. 0,143"),
    ("option", "`--error` of 257 characters", _opt(["--error", "E" * 257, "RUN"]), 125,
     "more than the 256 Step Functions accepts: give a shorter error name"),
    ("option", "`--signal-target pid`", _opt(["--signal-target", "pid", "RUN"]), 125,
     "--signal-target 'pid' is not valid: use group or child"),
    ("option", "`--on-token-lost ignore`", _opt(["--on-token-lost", "ignore", "RUN"]), 125,
     "--on-token-lost 'ignore' is not valid: use terminate or continue"),
    ("option", "`--log-level loud`", _opt(["--log-level", "loud", "RUN"]), 125,
     "--log-level 'loud' is not valid: use error, warn, info or debug"),
    ("option", "`--log-format xml`", _opt(["--log-format", "xml", "RUN"]), 125,
     "--log-format 'xml' is not valid: use text or json"),
    ("option", "`--bogus`", _opt(["--bogus", "RUN"]), 125,
     "unknown option --bogus: see sfn-agent --help (put the command after --)"),
    ("option", "no command", _opt([]), 125, "no command to run: put it after the options"),
    ("option", "`send-success --task-output 'not json'`", _send("send-success", "--task-output", "not json"), 2,
     "--task-output is not valid JSON"),
    ("option", "`send-failure --cause @/nonexistent`", _send("send-failure", "--cause", "@/nonexistent"), 2,
     "cannot read the cause from /nonexistent"),
    ("option", "`send-heartbeat --bogus`", _send("send-heartbeat", "--bogus"), 2,
     "unknown option --bogus: see sfn-agent send-heartbeat --help"),
    # -- environment values
    ("environment", "`SFN_AGENT_GRACE=-3`", _env(SFN_AGENT_GRACE="-3"), 125,
     "SFN_AGENT_GRACE='-3' is not valid: give a number of seconds"),
    ("environment", "`SFN_AGENT_OUTPUT=yaml`", _env(SFN_AGENT_OUTPUT="yaml"), 125,
     "SFN_AGENT_OUTPUT='yaml' is not valid: use auto, file, stdout or none"),
    ("environment", "`SFN_AGENT_REQUIRE_TOKEN=yes`", _env(SFN_AGENT_REQUIRE_TOKEN="yes"), 125,
     "SFN_AGENT_REQUIRE_TOKEN='yes' is not valid: use 1 (or true)"),
    ("environment", "`AWS_REGION` unset (and no other source)", _cfg(AWS_REGION=""), 125,
     "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in the AWS profile)"),
    ("environment", "`AWS_ENDPOINT_URL_SFN=ftp://...`", _cfg(AWS_ENDPOINT_URL_SFN="ftp://127.0.0.1:9/"), 125,
     "is not an http:// or https:// URL: set it to a URL such as https://states.us-east-1.amazonaws.com"),
    ("environment", "`AWS_CA_BUNDLE` names a missing file", _cfg(AWS_CA_BUNDLE="/nonexistent/ca.pem"), 125,
     "cannot read the CA bundle /nonexistent/ca.pem (No such file or directory): point AWS_CA_BUNDLE or "
     "SSL_CERT_FILE at a readable PEM file"),
    ("environment", "no credentials at all", _cfg_nokeys(), 125,
     "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a task role"),
    ("environment", "`AWS_ACCESS_KEY_ID` without `AWS_SECRET_ACCESS_KEY`", _cfg_nokeys(AWS_ACCESS_KEY_ID="AKIAEXAMPLE"),
     125, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither"),
    ("environment", "`AWS_PROFILE` names no profile",
     _cfg_nokeys(AWS_PROFILE="nope", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_CONFIG_FILE="/dev/null"), 125,
     "AWS_PROFILE is \"nope\" but there is no such profile"),
    ("environment", "`AWS_WEB_IDENTITY_TOKEN_FILE` without `AWS_ROLE_ARN`",
     _cfg_nokeys(AWS_WEB_IDENTITY_TOKEN_FILE="/nonexistent/token"), 125,
     "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: set the role to assume"),
    ("environment", "`AWS_CONTAINER_CREDENTIALS_FULL_URI` on a host not allowed",
     _cfg_nokeys(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://0.0.0.0:9/creds"), 125,
     "refusing to fetch credentials over plain http from 0.0.0.0"),
    # -- the token
    ("token", "unset, with `--require-token`", _opt(["--require-token", "RUN"]), 125,
     "$TASK_TOKEN is unset or empty and --require-token is set"),
    ("token", "a tab inside", _env(TASK_TOKEN="bad\ttoken"), 125,
     "the task token has a byte 0x09 at position 4, but tokens are printable ASCII"),
    ("token", "2,049 characters", _env(TASK_TOKEN="x" * 2049), 125,
     "the task token is 2049 characters long, but tokens are at most 2,048"),
    ("token", "unknown to Step Functions (first heartbeat)", _unknown_token, 125,
     "SendTaskHeartbeat refused: "),
    # -- the output
    ("output", "not JSON in `$SFN_OUTPUT`", _lab_token(["sh", "-c", "echo '{oops' > \"$SFN_OUTPUT\""]), 1,
     "SFN_OUTPUT is not valid JSON (offset 1): write one JSON value to $SFN_OUTPUT"),
    ("output", "over 262,144 bytes",
     _lab_token(["sh", "-c", "printf '[\"'; head -c 262200 /dev/zero | tr '\\0' x; printf '\"]\\n'"]), 1,
     "more than the 262144 bytes Step Functions accepts: return a smaller result"),
    # -- credentials answers
    ("credentials answer", "container endpoint: HTTP 500 every time", _creds_answer(500, '{"message":"down"}'), 125,
     "500"),
    ("credentials answer", "container endpoint: HTTP 200 without AccessKeyId",
     _creds_answer(200, '{"SecretAccessKey":"s","Token":"t"}'), 125, "the credentials answer has no AccessKeyId"),
    ("credentials answer", "container endpoint: HTTP 200, not JSON", _creds_answer(200, "<html>hello</html>"), 125,
     "credentials"),
    ("credentials answer", "container endpoint: HTTP 401", _creds_answer(401, '{"message":"unauthorized"}'), 125,
     "401"),
    # -- endpoint answers
    ("endpoint answer", "wrong secret key (signature refused)",
     _lab_token(["sh", "-c", RAN], AWS_SECRET_ACCESS_KEY="x" * 40), 125,
     "AWS refused the credentials"),
    ("endpoint answer", "task role without states:SendTaskSuccess",
     _lab_token(["sh", "-c", "echo '{}'"], user="noperm", args=("--report-timeout", "10")), 1,
     "the task role needs states:SendTaskSuccess, states:SendTaskFailure and states:SendTaskHeartbeat"),
    ("endpoint answer", "HTTP 400 without an error code (not Step Functions)",
     _sfn_answer(400, "<html>bad request</html>", "text/html"), 1,
     "without an AWS error code, so it is probably not Step Functions: check AWS_ENDPOINT_URL_SFN"),
    ("endpoint answer", "HTTP 404 (an endpoint that is not Step Functions)",
     _sfn_answer(404, "not found", "text/plain"), 1, "the endpoint answered HTTP 404 without an AWS error code"),
    ("endpoint answer", "HTTP 503 until the deadline", _sfn_answer(503, '{"__type":"ServiceUnavailable"}'), 1,
     "SendTaskSuccess not delivered: "),   # then the last failure: ServiceUnavailable, or a short last attempt's timeout
]


def _argv(agent, args):
    out = [agent]
    if args and args[0] == "SEND":
        return out + list(args[1:])
    for a in args:
        out += ["--", "sh", "-c", RAN] if a == "RUN" else [a]
    return out


def run_case(lab, agent, case):
    """-> (exit status, error lines, stdout)"""
    category, what, setup, want, needle = case
    args, env, cleanup = setup(lab)
    try:
        p = lab.run_agent(_argv(agent, args), env, timeout=60)
    finally:
        if cleanup:
            cleanup()
    # Error lines first; a failure report's reason (OutputInvalid's, say) is logged at info.
    lines = agent_lines(p)
    return p, [l for l in lines if l.startswith("sfn-agent: error:")] + [l for l in lines if "error:" not in l]


def _check(lab, agent, categories):
    failures = []
    for case in CASES:
        category, what, setup, want, needle = case
        if category not in categories:
            continue
        p, errors = run_case(lab, agent, case)
        label = "%s: %s" % (category, what)
        if p.returncode != want:
            failures.append("%s: exit %s, want %s\n%s" % (label, p.returncode, want, stderr_text(p)))
            continue
        if want == 125 and b"ran" in p.stdout:
            failures.append("%s: the command ran although the agent refused to start" % label)
        if not any(needle in line for line in errors):
            failures.append("%s: no error line says %r\n%s" % (label, needle, stderr_text(p)))
    assert not failures, "\n".join(failures)


def test_bad_options(lab, agent):
    _check(lab, agent, ("option",))


def test_bad_environment(lab, agent):
    _check(lab, agent, ("environment",))


def test_bad_token_and_output(lab, agent):
    _check(lab, agent, ("token", "output"))


def test_bad_credentials_answers(lab, agent):
    _check(lab, agent, ("credentials answer",))


def test_bad_endpoint_answers(lab, agent):
    _check(lab, agent, ("endpoint answer",))


def test_every_case_has_a_test():
    tested = {"option", "environment", "token", "output", "credentials answer", "endpoint answer"}
    assert {c[0] for c in CASES} == tested, "a category of CASES no test runs"


TABLE = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "bad-input.md")


def test_every_case_is_in_the_table():
    """The table's home is docs/bad-input.md: each case has its row there, under its kind."""
    doc = open(TABLE).read()
    missing = [c[1] for c in CASES if "| %s | %s |" % (c[0], c[1]) not in doc]
    assert not missing, "cases without a row in docs/bad-input.md (regenerate it): %s" % missing


def _table(agent):
    """Markdown rows from a real run: what the user sees, copied from stderr."""
    from lab import Lab
    lab = Lab().start()
    tests = {"option": "test_bad_options", "environment": "test_bad_environment", "token": "test_bad_token_and_output",
             "output": "test_bad_token_and_output", "credentials answer": "test_bad_credentials_answers",
             "endpoint answer": "test_bad_endpoint_answers"}
    print("| kind | bad input | what the agent prints | exit | test |")
    print("|---|---|---|---|---|")
    try:
        for case in CASES:
            p, errors = run_case(lab, agent, case)
            line = next((l for l in errors if case[4] in l), errors[0] if errors else "(no error line)")
            line = line.replace(lab.endpoint, "http://127.0.0.1:PORT").replace("|", "\\|")
            if len(line) > 400:
                line = line[:200] + " … " + line[-150:]
            print("| %s | %s | `%s` | %s | test_bad_input.%s |" % (case[0], case[1], line, p.returncode,
                                                                    tests[case[0]]))
    finally:
        lab.stop()


if __name__ == "__main__":
    _table(os.path.abspath(sys.argv[1]))
