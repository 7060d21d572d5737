"""The credentials people have on a laptop or in CI, through real peers: profiles with role_arn
(STS AssumeRole against the lab's STS with auth on, then Step Functions calls signed with the
assumed keys), credential_process scripts (one that works, one that fails, one that hangs), SSO
profiles against a loopback stand-in for the portal, and --profile on the controller."""
import calendar
import json
import os
import re
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import check_stderr, execution, sent, stderr_text, task_env  # noqa: E402
from sso_portal import SsoPortal  # noqa: E402

TIMEOUT = 90
KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _home(d, config, credentials=None):
    """HOME with ~/.aws/config (and credentials) holding these texts."""
    os.makedirs(os.path.join(d, ".aws"), exist_ok=True)
    with open(os.path.join(d, ".aws", "config"), "w") as f:
        f.write(config)
    if credentials is not None:
        with open(os.path.join(d, ".aws", "credentials"), "w") as f:
            f.write(credentials)
    return d


def _env(lab, task, home, profile=None, **extra):
    env = task_env(lab, task)
    for k in KEYS:
        env.pop(k, None)
    env["HOME"] = home
    if profile:
        env["AWS_PROFILE"] = profile
    env.update(extra)
    return env


def _run(lab, agent, task, env, args=(), timeout=60):
    p = lab.run_agent([agent, *args, "--", *task.command], env, timeout=timeout)
    check_stderr(p, task, env)
    return p


def _admin_keys_section(lab, name):
    akid, secret = lab.keys("admin")
    return "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (name, akid, secret)


def _assert_signed_with_temporary_keys(lab, task, not_akid):
    calls = sent(lab, None, task)
    assert calls and all(c.ok for c in calls), [(c.operation, c.error) for c in calls]
    assert all(c.akid.startswith("ASIA") and c.akid != not_akid for c in calls), [c.akid for c in calls]


def _script(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, stat.S_IRWXU)
    return path


# ---- role_arn ----

def test_role_arn_with_source_profile_assumes_the_role(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"role\":\"assumed\"}'"])
    with tempfile.TemporaryDirectory() as d:
        home = _home(d, "[profile lab]\nrole_arn = %s\nsource_profile = base\nrole_session_name = lab-session\n"
                     "external_id = lab-external\nduration_seconds = 900\n" % lab.task_role_arns["task"],
                     credentials=_admin_keys_section(lab, "base"))
        p = _run(lab, agent, task, _env(lab, task, home, "lab"))
    err = stderr_text(p)
    assert p.returncode == 0, err
    _assert_signed_with_temporary_keys(lab, task, lab.keys("admin")[0])
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def _chain_roles(lab):
    """Two roles for a chain: the middle one may assume the top one, which may send task results.
    (moto matches trust principals literally: the top role trusts the middle role's session.)"""
    iam = lab.client("iam")
    mid, top = "lab-chain-mid-%d" % os.getpid(), "lab-chain-top-%d" % os.getpid()

    def role(name, principal, actions):
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except Exception:
            pass
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal},
                                                         "Action": "sts:AssumeRole"}]}
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        return arn

    mid_arn = role(mid, "arn:aws:iam::123456789012:user/lab-admin", ["sts:AssumeRole"])
    top_arn = role(top, "arn:aws:sts::123456789012:assumed-role/%s/chain-mid" % mid,
                   ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"])
    return mid_arn, top_arn


def test_chained_profiles_assume_each_role_in_turn(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"chain\":2}'"])
    middle, top = _chain_roles(lab)
    with tempfile.TemporaryDirectory() as d:
        home = _home(d, "[profile top]\nrole_arn = %s\nsource_profile = middle\n"
                     "[profile middle]\nrole_arn = %s\nsource_profile = base\nrole_session_name = chain-mid\n"
                     % (top, middle),
                     credentials=_admin_keys_section(lab, "base"))
        p = _run(lab, agent, task, _env(lab, task, home, "top", SFN_AGENT_LOG_LEVEL="debug"))
    err = stderr_text(p)
    assert p.returncode == 0, err
    # Both links were assumed, the outer one with the inner one's keys (moto checks the signature).
    assert 'profile "middle" assumed %s' % middle in err, err
    assert 'profile "top" assumed %s' % top in err, err
    _assert_signed_with_temporary_keys(lab, task, lab.keys("admin")[0])
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def _refused(lab, agent, config, profile, credentials=None, **extra):
    """Runs the agent with a profile that must be refused before the command starts; returns stderr."""
    ex, task = execution(lab, ["sh", "-c", "echo ran"])
    with tempfile.TemporaryDirectory() as d:
        home = _home(d, config, credentials)
        p = _run(lab, agent, task, _env(lab, task, home, profile, **extra))
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    err = stderr_text(p)
    assert p.returncode == 125, "credentials refused at the first heartbeat: exit 125, got %s\n%s" % (
        p.returncode, err)
    assert b"ran" not in p.stdout
    assert not sent(lab, None, task)
    return err


def test_profile_loop_is_refused_with_the_loop_named(lab, agent):
    err = _refused(lab, agent, "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = b\n"
                   "[profile b]\nrole_arn = arn:aws:iam::123456789012:role/y\nsource_profile = a\n", "a")
    assert "form a loop (a -> b -> a)" in err, err


def test_mfa_serial_is_refused_with_a_sentence(lab, agent):
    err = _refused(lab, agent, "[profile mfa]\nrole_arn = %s\nsource_profile = base\n"
                   "mfa_serial = arn:aws:iam::123456789012:mfa/me\n" % lab.task_role_arns["task"], "mfa",
                   credentials=_admin_keys_section(lab, "base"))
    assert re.search(r'profile "mfa" has mfa_serial, which needs a code typed at a prompt', err), err


def test_assume_role_refused_by_sts_names_the_role(lab, agent):
    # The task user may call only Step Functions: STS refuses its AssumeRole, and that is said.
    akid, secret = lab.keys("task")
    err = _refused(lab, agent, "[profile weak]\nrole_arn = %s\nsource_profile = weak\n"
                   % lab.task_role_arns["task"], "weak",
                   credentials="[weak]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (akid, secret))
    assert "STS AssumeRole of %s (profile \"weak\") failed: AccessDenied" % lab.task_role_arns["task"] in err, err


# ---- credential_process ----

def test_credential_process_keys_sign_the_calls(lab, agent):
    akid, secret = lab.keys("task")
    ex, task = execution(lab, ["sh", "-c", "echo '{\"process\":1}'"])
    with tempfile.TemporaryDirectory() as d:
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        script = _script(d, "creds helper.sh", "#!/bin/sh\necho \"helper says $1 on stderr\" >&2\n"
                         "printf '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", "
                         "\"Expiration\": \"%s\"}'\n" % (akid, secret, exp))
        home = _home(d, "[profile proc]\ncredential_process = \"%s\" 'two words'\n" % script)
        p = _run(lab, agent, task, _env(lab, task, home, "proc"))
    err = stderr_text(p)
    assert p.returncode == 0, err
    # Split as a shell would (quoted path with a blank, one quoted argument), run without a shell,
    # and its stderr passed through.
    assert "helper says two words on stderr" in err, err
    assert secret not in err
    calls = sent(lab, None, task)
    assert calls and all(c.ok and c.akid == akid for c in calls), [(c.akid, c.error) for c in calls]
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_credential_process_failing_is_refused_with_its_status(lab, agent):
    with tempfile.TemporaryDirectory() as d:
        script = _script(d, "fail.sh", "#!/bin/sh\necho 'helper: no session, log in first' >&2\nexit 3\n")
        err = _refused(lab, agent, "[profile proc]\ncredential_process = %s\n" % script, "proc")
    assert "helper: no session, log in first" in err, err
    assert re.search(r'credential_process of the AWS profile "proc" \(\S+fail\.sh\) exited with status 3', err), err


def test_credential_process_hanging_is_killed_in_time(lab, agent):
    with tempfile.TemporaryDirectory() as d:
        marker = os.path.join(d, "child.pid")
        # It hangs, and so does a child holding its stdout: both must go when the time is up.
        script = _script(d, "hang.sh", "#!/bin/sh\nsleep 300 &\necho $! > %s\nwait\n" % marker)
        t0 = time.monotonic()
        err = _refused(lab, agent, "[profile proc]\ncredential_process = %s\n" % script, "proc",
                       SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT="1")
        took = time.monotonic() - t0
        with open(marker) as f:
            child = int(f.read())
    assert 'credential_process of the AWS profile "proc"' in err and "did not finish within 1 s" in err, err
    assert took < 30, "a 1-second limit took %.1f s" % took
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open("/proc/%d/stat" % child) as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                break
        time.sleep(0.1)
    else:
        raise AssertionError("the credential_process's child %d outlived the timeout" % child)


def test_credential_process_bad_output_is_named(lab, agent):
    with tempfile.TemporaryDirectory() as d:
        script = _script(d, "v2.sh", "#!/bin/sh\necho '{\"Version\": 2, \"AccessKeyId\": \"A\", "
                         "\"SecretAccessKey\": \"B\"}'\n")
        err = _refused(lab, agent, "[profile proc]\ncredential_process = %s\n" % script, "proc")
        assert "its output has an unsupported Version: it must be 1" in err, err
        err = _refused(lab, agent, "[profile proc]\ncredential_process = %s/missing-helper --x\n" % d, "proc")
        assert re.search(r"credential_process of the AWS profile \"proc\": \S+missing-helper was not found", err), err


# ---- SSO ----

SSO_ACCOUNT, SSO_ROLE = "123456789012", "LabRole"


def _sso_config(kind, start_url="https://lab.awsapps.com/start"):
    if kind == "session":
        return ("[profile dev]\nsso_session = lab-sso\nsso_account_id = %s\nsso_role_name = %s\n"
                "[sso-session lab-sso]\nsso_start_url = %s\nsso_region = us-east-1\n"
                % (SSO_ACCOUNT, SSO_ROLE, start_url))
    return ("[profile dev]\nsso_start_url = %s\nsso_region = us-east-1\nsso_account_id = %s\n"
            "sso_role_name = %s\n" % (start_url, SSO_ACCOUNT, SSO_ROLE))


def _sso_run(lab, agent, kind):
    ex, task = execution(lab, ["sh", "-c", "echo '{\"sso\":\"%s\"}'" % kind])
    with tempfile.TemporaryDirectory() as d, SsoPortal(lab, account_id=SSO_ACCOUNT, role_name=SSO_ROLE) as portal:
        home = _home(d, _sso_config(kind))
        token = portal.login(d, "lab-sso" if kind == "session" else "https://lab.awsapps.com/start")
        p = _run(lab, agent, task, _env(lab, task, home, "dev", AWS_ENDPOINT_URL_SSO=portal.url))
        issued, requests = list(portal.issued), list(portal.requests)
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert token not in err
    assert requests and all(b == token for _, b in requests), requests
    assert "account_id=%s" % SSO_ACCOUNT in requests[0][0] and "role_name=%s" % SSO_ROLE in requests[0][0]
    calls = sent(lab, None, task)
    assert calls and all(c.ok and c.akid in issued for c in calls), [(c.akid, c.error) for c in calls]
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_sso_session_profile_gets_keys_from_the_portal(lab, agent):
    _sso_run(lab, agent, "session")


def test_legacy_sso_profile_gets_keys_from_the_portal(lab, agent):
    _sso_run(lab, agent, "legacy")


def test_sso_expired_login_says_aws_sso_login(lab, agent):
    with tempfile.TemporaryDirectory() as d, SsoPortal(lab) as portal:
        portal.login(d, "lab-sso", expires_in=-60)
        ex, task = execution(lab, ["sh", "-c", "echo ran"])
        home = _home(d, _sso_config("session"))
        p = _run(lab, agent, task, _env(lab, task, home, "dev", AWS_ENDPOINT_URL_SSO=portal.url))
        lab.client("stepfunctions").stop_execution(executionArn=ex)
        requests = list(portal.requests)
    err = stderr_text(p)
    assert p.returncode == 125 and b"ran" not in p.stdout, err
    assert "run aws sso login --profile dev" in err, err
    assert not requests, "an expired login must not be sent to the portal: %s" % requests


def test_sso_login_about_to_expire_is_refreshed_and_cached(lab, agent):
    """An sso_session login with 2 minutes left (under the SDKs' 15-minute window) and a refresh
    token: SSO OIDC CreateToken gives a new one, which GetRoleCredentials gets and the cache keeps."""
    ex, task = execution(lab, ["sh", "-c", "echo '{\"sso\":\"refreshed\"}'"])
    with tempfile.TemporaryDirectory() as d, SsoPortal(lab, account_id=SSO_ACCOUNT, role_name=SSO_ROLE) as portal:
        home = _home(d, _sso_config("session"))
        old = portal.login(d, "lab-sso", expires_in=120, refresh=True)
        p = _run(lab, agent, task, _env(lab, task, home, "dev", AWS_ENDPOINT_URL_SSO=portal.url,
                                        AWS_ENDPOINT_URL_SSO_OIDC=portal.url))
        refreshes, requests = portal.refreshes, list(portal.requests)
        with open(SsoPortal.cache_file(d, "lab-sso")) as f:
            cache = json.load(f)
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert refreshes == 1, "one CreateToken, got %d" % refreshes
    bearers = [b for path, b in requests if path.startswith("/federation/")]
    assert bearers and old not in bearers and all(b == cache["accessToken"] for b in bearers), (old, bearers)
    left = calendar.timegm(time.strptime(cache["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.time()
    assert left > 50 * 60, "the cache keeps the new expiry: %s" % cache["expiresAt"]
    assert cache["clientId"] == portal.client[0] and cache["startUrl"], cache.keys()
    assert cache["accessToken"] not in err and cache["refreshToken"] not in err
    assert "refreshed the SSO login" in err, err
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_sso_expired_login_whose_refresh_is_refused_says_aws_sso_login(lab, agent):
    with tempfile.TemporaryDirectory() as d, SsoPortal(lab) as portal:
        portal.login(d, "lab-sso", expires_in=-60, refresh=True)
        portal.refresh_tokens.clear()      # revoked
        ex, task = execution(lab, ["sh", "-c", "echo ran"])
        home = _home(d, _sso_config("session"))
        p = _run(lab, agent, task, _env(lab, task, home, "dev", AWS_ENDPOINT_URL_SSO=portal.url,
                                        AWS_ENDPOINT_URL_SSO_OIDC=portal.url))
        lab.client("stepfunctions").stop_execution(executionArn=ex)
        fed = [r for r in portal.requests if r[0].startswith("/federation/")]
    err = stderr_text(p)
    assert p.returncode == 125 and b"ran" not in p.stdout, err
    assert re.search(r'the SSO login of the AWS profile "dev" expired at \S+ and could not be refreshed '
                     r'\(SSO OIDC CreateToken answered HTTP 400: invalid_grant\): run aws sso login --profile dev',
                     err), err
    assert not fed, "an expired login must not be sent to the portal: %s" % fed


def test_sso_login_refused_by_the_portal_says_aws_sso_login(lab, agent):
    with tempfile.TemporaryDirectory() as d, SsoPortal(lab) as portal:
        portal.login(d, "lab-sso")
        portal.tokens.clear()      # the portal no longer knows it (signed out elsewhere)
        ex, task = execution(lab, ["sh", "-c", "echo ran"])
        home = _home(d, _sso_config("session"))
        p = _run(lab, agent, task, _env(lab, task, home, "dev", AWS_ENDPOINT_URL_SSO=portal.url))
        lab.client("stepfunctions").stop_execution(executionArn=ex)
    err = stderr_text(p)
    assert p.returncode == 125, err
    assert "refused the cached login" in err and "run aws sso login --profile dev" in err, err


# ---- --profile on the controller ----

def test_profile_flag_wins_over_keys_in_the_environment(lab, agent):
    """`send-success --profile deploy`: the profile assumes the task role with the environment's keys
    as its credential_source, so the call is signed with the role's keys, not the keys in
    AWS_ACCESS_KEY_ID (which AWS_PROFILE alone would have used)."""
    ex, task = execution(lab, ["sleep", "60"])
    admin_akid, admin_secret = lab.keys("admin")
    with tempfile.TemporaryDirectory() as d:
        home = _home(d, "[profile deploy]\nrole_arn = %s\ncredential_source = Environment\n"
                     % lab.task_role_arns["task"])
        env = _env(lab, task, home, None, AWS_ACCESS_KEY_ID=admin_akid, AWS_SECRET_ACCESS_KEY=admin_secret,
                   TASK_TOKEN=task.token)
        p = lab.run_agent([agent, "send-success", "--profile", "deploy", "--task-output", '{"via":"profile"}'],
                          env, timeout=60)
    err = stderr_text(p)
    assert p.returncode == 0, err
    calls = sent(lab, "SendTaskSuccess", task)
    assert len(calls) == 1 and calls[0].ok, [(c.akid, c.error) for c in calls]
    assert calls[0].akid.startswith("ASIA") and calls[0].akid != admin_akid, calls[0].akid
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_profile_flag_naming_no_profile_is_a_usage_error(lab, agent):
    sm = lab.create_state_machine(heartbeat=30)
    with tempfile.TemporaryDirectory() as d:
        home = _home(d, "[profile real]\nregion = us-east-1\n")
        env = lab.task_env()
        env["HOME"] = home
        p = lab.run_agent([agent, "check", "--state-machine", sm, "--profile", "typo"], env, timeout=60)
    err = stderr_text(p)
    assert p.returncode == 2, err
    assert '--profile is "typo" but there is no such profile in' in err, err


def test_credential_source_ecs_container_assumes_the_role(lab, agent):
    """role_arn + credential_source = EcsContainer: the container endpoint's keys (here the admin
    user's, which may call STS) sign AssumeRole, and the role's keys sign the Step Functions calls."""
    from servers import _Base

    class AdminCreds(_Base):
        def __init__(self):
            super().__init__()
            self.fetches = 0
            self.start()

        def _serve(self, h, method):
            self.fetches += 1
            akid, secret = lab.keys("admin")
            h._reply(200, json.dumps({"AccessKeyId": akid, "SecretAccessKey": secret}))

    ex, task = execution(lab, ["sh", "-c", "echo '{\"source\":\"ecs\"}'"])
    with tempfile.TemporaryDirectory() as d, AdminCreds() as creds:
        home = _home(d, "[profile app]\nrole_arn = %s\ncredential_source = EcsContainer\n"
                     % lab.task_role_arns["task"])
        p = _run(lab, agent, task, _env(lab, task, home, "app",
                                        AWS_CONTAINER_CREDENTIALS_FULL_URI=creds.base + "/creds"))
        fetches = creds.fetches
    err = stderr_text(p)
    assert p.returncode == 0, err
    assert fetches >= 1
    _assert_signed_with_temporary_keys(lab, task, lab.keys("admin")[0])
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


# ---- a named profile never falls through; each refusal is one sentence ----

def _container_creds(lab):
    """A container credentials endpoint serving the admin user's keys: the more powerful credentials a
    typo must never fall through to."""
    from servers import _Base

    class AdminCreds(_Base):
        def __init__(self):
            super().__init__()
            self.fetches = 0
            self.start()

        def _serve(self, h, method):
            self.fetches += 1
            akid, secret = lab.keys("admin")
            h._reply(200, json.dumps({"AccessKeyId": akid, "SecretAccessKey": secret}))

    return AdminCreds()


def test_named_profile_without_credentials_never_falls_through(lab, agent):
    """docs/credentials.md: "a typo never falls through to other, perhaps more powerful, credentials":
    a profile named in AWS_PROFILE that yields nothing is refused, naming it and what it lacks, and the
    container's credentials are not even asked for."""
    cases = [
        ("[profile typo]\nrolearn = %s\nsource_profile = base\n" % lab.task_role_arns["task"], "typo",
         'the AWS profile "typo" has no credentials'),
        ("[profile typo]\ncredental_process = /bin/true\n", "typo", 'the AWS profile "typo" has no credentials'),
        ("[profile typo]\ncredential_process =\n", "typo", 'the AWS profile "typo" has an empty credential_process'),
        ('[profile typo]\ncredential_process = ""\n', "typo", "credential_process names an empty program"),
        ("[profile typo]\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = r\n", "typo",
         'the AWS profile "typo" uses SSO but has no sso_start_url'),
    ]
    for config, profile, says in cases:
        with _container_creds(lab) as creds:
            err = _refused(lab, agent, config, profile, credentials=_admin_keys_section(lab, "base"),
                           AWS_CONTAINER_CREDENTIALS_FULL_URI=creds.base + "/creds")
            fetches = creds.fetches
        assert says in err, (config, err)
        assert fetches == 0, "the container's credentials were fetched for %r" % config


def test_credential_process_timeout_setting_is_checked(lab, agent):
    """SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT is whole seconds from 1 to 600; anything else is refused
    with one sentence and exit 125, like every SFN_AGENT_ setting."""
    with tempfile.TemporaryDirectory() as d:
        script = _script(d, "ok.sh", "#!/bin/sh\necho '{}'\n")
        for bad in ("0", "abc", "1000", "-1", "2.5"):
            err = _refused(lab, agent, "[profile proc]\ncredential_process = %s\n" % script, "proc",
                           SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT=bad)
            assert "SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT='%s' is not valid: give whole seconds from 1 to 600" % bad \
                in err, err


def test_send_without_credentials_says_not_sent_once(lab, agent):
    """send-* without credentials prints one sentence, as the run mode does ("SendTaskHeartbeat not
    sent: no AWS credentials: ..."), not "refused" (which is Step Functions' answer), and exits with
    the status documented for "not delivered"."""
    ex, task = execution(lab, ["sleep", "60"])
    with tempfile.TemporaryDirectory() as d:
        home = _home(d, "[profile typo]\nrolearn = x\n")
        env = _env(lab, task, home, "typo", TASK_TOKEN=task.token)
        p = lab.run_agent([agent, "send-heartbeat"], env, timeout=60)
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    err = stderr_text(p)
    assert p.returncode == 1, err
    assert "refused" not in err, err
    assert re.search(r"SendTaskHeartbeat for \S+ not sent: no AWS credentials: the AWS profile \"typo\" has no "
                     r"credentials", err), err
    assert err.count('the AWS profile "typo" has no credentials') == 1, err
    assert not sent(lab, None, task)


def test_interrupted_send_kills_the_credential_process(lab, agent):
    """SIGTERM to send-* while its credential_process runs: the agent exits promptly and the process
    (in its own process group) goes too, so it does not hold the agent's stderr and hang a pipeline."""
    import signal
    import subprocess
    ex, task = execution(lab, ["sleep", "60"])
    with tempfile.TemporaryDirectory() as d:
        marker = os.path.join(d, "proc.pid")
        script = _script(d, "slow.sh", "#!/bin/sh\necho $$ > %s\nexec sleep 300\n" % marker)
        home = _home(d, "[profile proc]\ncredential_process = %s\n" % script)
        env = _env(lab, task, home, "proc", TASK_TOKEN=task.token)
        p = subprocess.Popen([agent, "send-heartbeat"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for _ in range(300):
                if os.path.exists(marker) and os.path.getsize(marker):
                    break
                time.sleep(0.05)
            with open(marker) as f:
                child = int(f.read())
            p.send_signal(signal.SIGTERM)
            try:
                out, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                raise AssertionError("send-heartbeat (or the credential_process holding its stderr) was still "
                                     "running 30 s after SIGTERM")
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    assert p.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), (p.returncode, err)
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open("/proc/%d/stat" % child) as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the credential_process %d outlived the agent" % child)


def test_run_mode_stop_during_credential_process_is_prompt(lab, agent):
    """The run mode stopped (SIGTERM, as ECS does, with 30 s before SIGKILL) while the
    credential_process runs: it is not waited on for its time limit; the agent exits well within
    ECS's stop timeout and the process goes too."""
    import signal
    import subprocess
    ex, task = execution(lab, ["sh", "-c", "echo ran"])
    with tempfile.TemporaryDirectory() as d:
        marker = os.path.join(d, "proc.pid")
        script = _script(d, "slow.sh", "#!/bin/sh\necho $$ > %s\nexec sleep 300\n" % marker)
        home = _home(d, "[profile proc]\ncredential_process = %s\n" % script)
        env = _env(lab, task, home, "proc")
        p = subprocess.Popen([agent, "--", *task.command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for _ in range(300):
                if os.path.exists(marker) and os.path.getsize(marker):
                    break
                time.sleep(0.05)
            with open(marker) as f:
                child = int(f.read())
            p.send_signal(signal.SIGTERM)
            try:
                out, err = p.communicate(timeout=25)
            except subprocess.TimeoutExpired:
                raise AssertionError("the run mode was still running 25 s after SIGTERM (ECS kills at 30 s)")
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    assert b"ran" not in out
    try:
        os.kill(child, 0)
        alive = open("/proc/%d/stat" % child).read().split(")")[-1].split()[0] != "Z"
    except ProcessLookupError:
        alive = False
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the credential_process %d outlived the agent" % child
