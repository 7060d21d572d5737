"""The credentials chain through real peers, for long runs and the links past plain keys: temporary
credentials that expire during the run, an ExpiredToken answer, a credentials endpoint that fails
for a moment, web identity through moto's STS, IMDSv2, and the region and task ARN from the ECS
task metadata."""
import os
import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import check_stderr, execution, failure, sent, stderr_text, task_env  # noqa: E402
from proxy import FaultProxy  # noqa: E402
from servers import EcsCredsServer, EcsMetadataServer, ImdsServer  # noqa: E402

TIMEOUT = 90
KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _no_keys(env):
    for k in KEYS:
        env.pop(k, None)
    return env


def _run(lab, agent, task, env, args=(), timeout=60):
    p = lab.run_agent([agent, *args, "--", *task.command], env, timeout=timeout)
    check_stderr(p, task, env)
    return p


def test_credentials_expiring_during_the_run_are_fetched_again(lab, agent):
    # 302 s of validity: inside the 5-minute refresh window two seconds later, so a 5-second run
    # with a heartbeat a second must fetch again, and never sign with keys it did not just get.
    ex, task = execution(lab, ["sh", "-c", "sleep 5; echo '{\"long\":1}'"], heartbeat=30)
    env = _no_keys(task_env(lab, task))
    with EcsCredsServer(lab, expires_in=302) as creds:
        env.update(creds.env())
        p = _run(lab, agent, task, env, args=["--heartbeat", "1"])
        issued = list(creds.issued)
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert len(issued) >= 2, "credentials expiring in 302 s fetched only %d time(s) in 5 s" % len(issued)
    calls = sent(lab, None, task)
    assert len(calls) >= 4, [c.operation for c in calls]
    assert all(c.ok for c in calls), [(c.operation, c.error) for c in calls]
    assert all(c.akid in issued for c in calls), "a call signed with keys the endpoint never issued"
    # Each call is signed with the newest keys issued before it (a refresh is used at once).
    used = [issued.index(c.akid) for c in calls]
    assert used == sorted(used) and used[-1] >= 1, "keys used out of order or never refreshed: %s" % used
    assert "refreshed the AWS credentials" in err, err
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_expired_token_answer_fetches_again_and_delivers(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"expired\":1}'"])
    env = _no_keys(task_env(lab, task))
    with EcsCredsServer(lab) as creds, FaultProxy(upstream=lab.endpoint) as px:
        env.update(creds.env())
        env["AWS_ENDPOINT_URL_SFN"] = px.url
        px.plan("SendTaskSuccess", ["expired"])
        p = _run(lab, agent, task, env, args=["--heartbeat", "0"])
        seen = [r.fault for r in px.requests("SendTaskSuccess")]
        issued = list(creds.issued)
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert seen == ["expired", "pass"], seen
    assert len(issued) == 2, "ExpiredTokenException must make the agent fetch again: %d fetches" % len(issued)
    reached = sent(lab, "SendTaskSuccess", task)
    assert len(reached) == 1 and reached[0].ok, [(c.ok, c.error) for c in reached]
    assert reached[0].akid == issued[1], "the retry is signed with the new keys"
    assert "expired" in err, err
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_expired_token_twice_is_not_retried_forever(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"expired\":2}'"])
    env = _no_keys(task_env(lab, task))
    with EcsCredsServer(lab) as creds, FaultProxy(upstream=lab.endpoint) as px:
        env.update(creds.env())
        env["AWS_ENDPOINT_URL_SFN"] = px.url
        px.plan("SendTaskSuccess", ["expired"] * 10)
        p = _run(lab, agent, task, env, args=["--heartbeat", "0", "--report-timeout", "20"])
        seen = px.requests("SendTaskSuccess")
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    assert p.returncode == 1, stderr_text(p)
    assert len(seen) == 2, "one refetch and retry, then a clear failure: %d attempts" % len(seen)
    assert p.seconds < 10


def test_credentials_endpoint_failing_for_a_moment_is_retried(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"flaky\":1}'"])
    env = _no_keys(task_env(lab, task))
    with EcsCredsServer(lab, fail_first=2) as creds:
        env.update(creds.env())
        p = _run(lab, agent, task, env, args=["--heartbeat", "0"])
        fetches, issued = creds.fetches, list(creds.issued)
    assert p.returncode == 0, stderr_text(p)
    assert fetches == 3 and len(issued) == 1, "two HTTP 500s, then the keys: %d fetches" % fetches
    reached = sent(lab, "SendTaskSuccess", task)
    assert len(reached) == 1 and reached[0].ok and reached[0].akid == issued[0]
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_credentials_endpoint_down_for_good_fails_clearly(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo ran"])
    env = _no_keys(task_env(lab, task))
    with EcsCredsServer(lab, fail_first=1000) as creds:
        env.update(creds.env())
        p = _run(lab, agent, task, env)
        fetches = creds.fetches
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    err = stderr_text(p)
    assert p.returncode == 125, "no credentials at the first heartbeat: exit 125, got %s\n%s" % (p.returncode, err)
    assert b"ran" not in p.stdout
    assert 2 <= fetches <= 10, "retried a few times, not forever: %d fetches" % fetches
    assert "credentials" in err and "500" in err, err
    assert not sent(lab, None, task)


class WebIdentitySts:
    """AssumeRoleWithWebIdentity on 127.0.0.1, beside the lab's own STS (test_web_identity_against_
    the_labs_sts): moto accepts any web identity token, so this stand-in is what checks the form the
    agent posts and refuses a wrong token.  It hands out real temporary keys of the role (moto's
    AssumeRole, which moto then verifies on every Step Functions call)."""

    def __init__(self, lab, token):
        owner = self
        self.lab, self.token, self.requests, self.issued = lab, token, [], []

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()}
                owner.requests.append((self.headers.get("Authorization"), form))
                ok = (form.get("Action") == "AssumeRoleWithWebIdentity" and form.get("WebIdentityToken") == owner.token
                      and form.get("RoleArn") == owner.lab.task_role_arns["task"])
                if ok:
                    c = owner.lab.client("sts").assume_role(RoleArn=form["RoleArn"], DurationSeconds=3600,
                                                            RoleSessionName=form.get("RoleSessionName", "x"))
                    c = c["Credentials"]
                    owner.issued.append(c["AccessKeyId"])
                    body = ("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
                            "<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
                            "<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>"
                            "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>" % (
                                c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"],
                                c["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")))
                    status = 200
                else:
                    body = ("<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                            "<Message>not the lab's token</Message></Error></ErrorResponse>")
                    status = 400
                b = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImxhYiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bGFiIn0.c2lnbmF0dXJl"


def test_web_identity(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"web identity\"}'"])
    env = _no_keys(task_env(lab, task))
    sts = WebIdentitySts(lab, JWT)
    try:
        with tempfile.TemporaryDirectory() as d:
            tok = os.path.join(d, "token")
            with open(tok, "w") as f:
                f.write(JWT + "\n")
            env.update({"AWS_WEB_IDENTITY_TOKEN_FILE": tok, "AWS_ROLE_ARN": lab.task_role_arns["task"],
                        "AWS_ROLE_SESSION_NAME": "lab-web-identity", "AWS_ENDPOINT_URL_STS": sts.url})
            p = _run(lab, agent, task, env)
    finally:
        sts.stop()
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert JWT not in err, "the web identity token appears in the log"
    assert len(sts.requests) == 1, "one AssumeRoleWithWebIdentity for a short run: %d" % len(sts.requests)
    auth, form = sts.requests[0]
    assert auth is None, "AssumeRoleWithWebIdentity is unsigned"
    assert form["RoleSessionName"] == "lab-web-identity", form
    calls = sent(lab, None, task)
    assert calls and all(c.ok for c in calls), [(c.operation, c.error) for c in calls]
    user_akid = lab.keys("task")[0]
    for c in calls:
        assert c.akid.startswith("ASIA") and c.akid != user_akid and c.akid in sts.issued, \
            "%s signed with %s, not the keys AssumeRoleWithWebIdentity gave" % (c.operation, c.akid)
    assert len([c for c in calls if c.operation == "SendTaskSuccess"]) == 1
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"

    # A token STS refuses: its Code reaches the user, the command does not start.
    ex, task = execution(lab, ["sh", "-c", "echo ran"])
    env = _no_keys(task_env(lab, task))
    sts = WebIdentitySts(lab, "another-token")
    try:
        with tempfile.TemporaryDirectory() as d:
            tok = os.path.join(d, "token")
            with open(tok, "w") as f:
                f.write(JWT)
            env.update({"AWS_WEB_IDENTITY_TOKEN_FILE": tok, "AWS_ROLE_ARN": lab.task_role_arns["task"],
                        "AWS_ENDPOINT_URL_STS": sts.url})
            p = _run(lab, agent, task, env)
    finally:
        sts.stop()
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    err = stderr_text(p)
    assert p.returncode == 125 and b"ran" not in p.stdout, err
    assert "InvalidIdentityToken" in err, err
    assert JWT not in err


def test_web_identity_token_file_missing_fails_clearly(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo ran"])
    env = _no_keys(task_env(lab, task))
    env.update({"AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/token", "AWS_ROLE_ARN": lab.task_role_arns["task"]})
    p = _run(lab, agent, task, env)
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    err = stderr_text(p)
    assert p.returncode == 125, err
    assert b"ran" not in p.stdout
    assert "/nonexistent/token" in err, err


def test_imds_v2(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"imds\"}'"])
    env = _no_keys(task_env(lab, task))
    env.pop("AWS_EC2_METADATA_DISABLED", None)
    with ImdsServer(lab) as imds:
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.url + "/"
        p = _run(lab, agent, task, env)
        puts, fetches, rejected, issued = imds.token_puts, imds.fetches, imds.rejected, list(imds.issued)
    err = stderr_text(p)
    assert p.returncode == 0, err
    # A GET without a token from a PUT is rejected and counted: none means PUT came first.
    assert puts >= 1 and fetches >= 2 and rejected == 0, (puts, fetches, rejected)
    reached = sent(lab, "SendTaskSuccess", task)
    assert len(reached) == 1 and reached[0].ok and reached[0].akid in issued
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_region_and_task_arn_from_ecs_metadata(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo oops >&2; exit 3"])
    env = task_env(lab, task)
    env.pop("AWS_REGION", None)
    env.pop("AWS_DEFAULT_REGION", None)
    with EcsMetadataServer(task.arn, region="us-east-1") as md:
        env.update(md.env())
        p = _run(lab, agent, task, env)
        fetches = md.fetches
    err = stderr_text(p)
    assert p.returncode == 3, err
    assert fetches >= 1
    error, cause = failure(lab, task)
    assert error == "ScriptFailed"
    assert cause.get("taskArn") == task.arn, cause
    assert lab.wait_execution(ex)["status"] == "FAILED"

    # Without the metadata and without AWS_REGION there is no region: a clear sentence, exit 125.
    ex, task = execution(lab, ["sh", "-c", "echo ran"])
    env = task_env(lab, task)
    env.pop("AWS_REGION", None)
    p = _run(lab, agent, task, env)
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    assert p.returncode == 125 and b"ran" not in p.stdout
    assert re.search(r"no AWS region: set AWS_REGION", stderr_text(p)), stderr_text(p)


def test_web_identity_against_the_labs_sts(lab, agent):
    """The same through moto's own STS (AssumeRoleWithWebIdentity, unsigned as on AWS): the keys it
    hands out are temporary keys of the task role, and moto checks them on every Step Functions call."""
    ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"moto sts\"}'"])
    env = _no_keys(task_env(lab, task))
    with tempfile.TemporaryDirectory() as d:
        tok = os.path.join(d, "token")
        with open(tok, "w") as f:
            f.write(JWT + "\n")
        env.update({"AWS_WEB_IDENTITY_TOKEN_FILE": tok, "AWS_ROLE_ARN": lab.task_role_arns["task"],
                    "AWS_ROLE_SESSION_NAME": "lab-moto-sts", "AWS_ENDPOINT_URL_STS": lab.endpoint})
        p = _run(lab, agent, task, env)
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert JWT not in err
    calls = sent(lab, None, task)
    assert calls and all(c.ok for c in calls), [(c.operation, c.error) for c in calls]
    user_akid = lab.keys("task")[0]
    assert all(c.akid.startswith("ASIA") and c.akid != user_akid for c in calls), [c.akid for c in calls]
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_credentials_fetch_ends_by_the_report_deadline(lab, agent):
    """A heartbeat or a report has a deadline, and fetching credentials is part of it: with an STS
    (web identity) or a container endpoint that accepts the connection and never answers,
    `send-heartbeat --report-timeout 1` returns about when the budget ends.  (The bound below is a
    hang check, not a performance claim.)"""
    import socket
    import time
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)          # the kernel completes handshakes; nobody ever reads or answers
    url = "http://127.0.0.1:%d" % silent.getsockname()[1]
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".jwt") as jwt:
            jwt.write("eyJhbGciOiJub25lIn0.eyJzdWIiOiJsYWIifQ.")
            jwt.flush()
            cases = {
                "web identity": {"AWS_WEB_IDENTITY_TOKEN_FILE": jwt.name, "AWS_ROLE_ARN": lab.task_role_arns["task"],
                                 "AWS_ENDPOINT_URL_STS": url},
                "container": {"AWS_CONTAINER_CREDENTIALS_FULL_URI": url + "/creds"},
                # The metadata look-ups for the region are part of the budget too.
                "instance metadata (credentials)": {"AWS_EC2_METADATA_DISABLED": "false",
                                                    "AWS_EC2_METADATA_SERVICE_ENDPOINT": url},
                "instance metadata (region)": {"AWS_EC2_METADATA_DISABLED": "false",
                                               "AWS_EC2_METADATA_SERVICE_ENDPOINT": url, "AWS_REGION": None},
            }
            for name, extra in cases.items():
                env = _no_keys(lab.task_env("task"))
                if name == "instance metadata (region)":
                    env = lab.task_env("task")
                env.update(extra)
                env = {k: v for k, v in env.items() if v is not None}
                env["TASK_TOKEN"] = "AAAA" + "c" * 60
                t0 = time.monotonic()
                p = lab.run_agent([agent, "send-heartbeat", "--report-timeout", "1"], env, timeout=30)
                took = time.monotonic() - t0
                err = stderr_text(p)
                assert p.returncode != 0 and not p.timed_out, "%s: exit %s\n%s" % (name, p.returncode, err)
                assert took < 3.0, "%s: a 1 s report budget took %.1f s\n%s" % (name, took, err)
                assert ("region" if "region" in name else "credentials") in err, "%s: %s" % (name, err)
    finally:
        silent.close()
