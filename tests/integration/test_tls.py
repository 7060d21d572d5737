"""TLS and proxies: a throwaway CA and a certificate for 127.0.0.1 made at test time with the openssl
CLI, a TLS-terminating relay on 127.0.0.1 that passes the bytes to the lab unchanged (so SigV4 still
holds), and a small CONNECT proxy.  The agent must trust exactly the CA it is told about
(AWS_CA_BUNDLE, then SSL_CERT_FILE), refuse anything else with a TLS sentence before the command
starts, never offer a way around verification, and honour HTTPS_PROXY / NO_PROXY."""
import os
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import check_stderr, execution, sent, stderr_text, task_env  # noqa: E402
from tls import TlsFront, _Server, _pipe, make_ca, make_server_cert  # noqa: E402

from lab import Skip  # noqa: E402

TIMEOUT = 120
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class ConnectProxy:
    """An HTTP proxy that only tunnels (CONNECT), counting the tunnels it opened."""

    def __init__(self):
        self.connects = []
        owner = self

        class H(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline(65537).decode("latin-1")
                while True:
                    h = self.rfile.readline(65537)
                    if h in (b"\r\n", b"\n", b""):
                        break
                parts = line.split()
                if len(parts) < 2 or parts[0] != "CONNECT":
                    self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                host, _, port = parts[1].rpartition(":")
                owner.connects.append(parts[1])
                if host not in ("127.0.0.1", "localhost"):      # never anywhere but loopback
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                up = socket.create_connection((host, int(port)), timeout=30)
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                try:
                    _pipe(self.request, up)
                finally:
                    up.close()

        self.server = _Server(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Pki:
    def __enter__(self):
        if not shutil.which("openssl"):
            raise Skip("the openssl CLI is not installed")
        self.dir = tempfile.mkdtemp(prefix="sfn-agent-tls-")
        self.ca = make_ca(self.dir, "ca")
        self.other_ca = make_ca(self.dir, "other-ca")
        self.cert, self.key = make_server_cert(self.dir, os.path.join(self.dir, "ca"))
        return self

    def __exit__(self, *a):
        shutil.rmtree(self.dir, ignore_errors=True)


def _lab_port(lab):
    return int(lab.endpoint.rsplit(":", 1)[1])


def _run(lab, agent, task, env, args=()):
    p = lab.run_agent([agent, *args, "--", *task.command], env, timeout=60)
    check_stderr(p, task, env)
    return p


def _tls_env(lab, task, url, **extra):
    env = task_env(lab, task, AWS_ENDPOINT_URL_SFN=url)
    for k in ("AWS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy",
              "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        env.pop(k, None)
    env.update(extra)
    return env


def _delivered(lab, agent, task, ex, env, what):
    p = _run(lab, agent, task, env)
    assert p.returncode == 0, "%s: exit %s\n%s" % (what, p.returncode, stderr_text(p))
    calls = sent(lab, None, task)
    assert calls and all(c.ok for c in calls), "%s: %s" % (what, [(c.operation, c.error) for c in calls])
    assert len([c for c in calls if c.operation == "SendTaskSuccess"]) == 1, what
    assert lab.wait_execution(ex)["status"] == "SUCCEEDED", what
    return p


def _refused(lab, agent, task, ex, env, what):
    p = _run(lab, agent, task, env)
    err = stderr_text(p)
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    assert p.returncode == 125, "%s: an untrusted certificate must stop the agent (125), got %s\n%s" % (
        what, p.returncode, err)
    assert b"ran" not in p.stdout, "%s: the command ran\n%s" % (what, err)
    assert re.search(r"TLS|certificate|SSL", err), "%s: no TLS sentence\n%s" % (what, err)
    assert not sent(lab, None, task), "%s: a call reached the lab" % what
    return p


def test_tls_trusts_exactly_the_configured_ca(lab, agent):
    with Pki() as pki:
        relay = TlsFront(_lab_port(lab), pki.cert, pki.key)
        try:
            ex, task = execution(lab, ["sh", "-c", "echo '{\"tls\":\"AWS_CA_BUNDLE\"}'"])
            _delivered(lab, agent, task, ex, _tls_env(lab, task, relay.url, AWS_CA_BUNDLE=pki.ca), "AWS_CA_BUNDLE")
            assert relay.handshakes >= 1, "the calls did not go through the TLS relay"

            ex, task = execution(lab, ["sh", "-c", "echo '{\"tls\":\"SSL_CERT_FILE\"}'"])
            _delivered(lab, agent, task, ex, _tls_env(lab, task, relay.url, SSL_CERT_FILE=pki.ca), "SSL_CERT_FILE")

            ex, task = execution(lab, ["sh", "-c", "echo ran"])
            p = _refused(lab, agent, task, ex, _tls_env(lab, task, relay.url), "no CA configured")
            assert len(relay.refused) >= 1

            ex, task = execution(lab, ["sh", "-c", "echo ran"])
            _refused(lab, agent, task, ex, _tls_env(lab, task, relay.url, AWS_CA_BUNDLE=pki.other_ca), "wrong CA")

            # AWS_CA_BUNDLE wins over SSL_CERT_FILE.
            ex, task = execution(lab, ["sh", "-c", "echo ran"])
            _refused(lab, agent, task, ex,
                     _tls_env(lab, task, relay.url, AWS_CA_BUNDLE=pki.other_ca, SSL_CERT_FILE=pki.ca),
                     "wrong CA in AWS_CA_BUNDLE, right one in SSL_CERT_FILE")
        finally:
            relay.stop()
    assert "TLS" in stderr_text(p) or "certificate" in stderr_text(p)


def test_ca_file_that_does_not_exist_is_a_clear_error(lab, agent):
    ex, task = execution(lab, ["sh", "-c", "echo ran"])
    p = _run(lab, agent, task, _tls_env(lab, task, "https://127.0.0.1:9", AWS_CA_BUNDLE="/nonexistent/ca.pem"))
    lab.client("stepfunctions").stop_execution(executionArn=ex)
    assert p.returncode == 125 and b"ran" not in p.stdout, stderr_text(p)
    assert "/nonexistent/ca.pem" in stderr_text(p), stderr_text(p)


def test_no_way_to_turn_verification_off():
    # Any curl verification switch set to something else than on, or OpenSSL told not to verify.
    bad = re.compile(r"SSL_VERIFY_NONE|CURLOPT_(PROXY_)?SSL_VERIFY(PEER|HOST|STATUS)?\s*,\s*0|CURLSSLOPT_NO_REVOKE")
    found, sets = [], 0
    for top in ("src", "agent", "wrapper"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        if "CURLOPT_SSL_VERIFY" in line:
                            sets += 1
                            if not re.search(r"CURLOPT_SSL_VERIFYPEER\s*,\s*1L|CURLOPT_SSL_VERIFYHOST\s*,\s*2L", line):
                                found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), n, line.strip()))
                        elif bad.search(line):
                            found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), n, line.strip()))
    assert sets >= 2, "the sources no longer set CURLOPT_SSL_VERIFYPEER/HOST explicitly (the scan lost its target)"
    assert not found, "verification could be turned off:\n" + "\n".join(found)


def test_https_proxy_tunnels_and_no_proxy_bypasses(lab, agent):
    with Pki() as pki:
        relay = TlsFront(_lab_port(lab), pki.cert, pki.key)
        px = ConnectProxy()
        try:
            ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"proxy\"}'"])
            env = _tls_env(lab, task, relay.url, AWS_CA_BUNDLE=pki.ca, HTTPS_PROXY=px.url)
            _delivered(lab, agent, task, ex, env, "HTTPS_PROXY")
            port = relay.url.rsplit(":", 1)[1]
            assert len(px.connects) >= 1 and all(c == "127.0.0.1:" + port for c in px.connects), \
                "the calls must tunnel through HTTPS_PROXY: %s" % px.connects

            before = len(px.connects)
            ex, task = execution(lab, ["sh", "-c", "echo '{\"via\":\"no proxy\"}'"])
            env = _tls_env(lab, task, relay.url, AWS_CA_BUNDLE=pki.ca, HTTPS_PROXY=px.url, NO_PROXY="127.0.0.1")
            _delivered(lab, agent, task, ex, env, "NO_PROXY")
            assert len(px.connects) == before, "NO_PROXY=127.0.0.1 must bypass the proxy: %s" % px.connects[before:]
        finally:
            px.stop()
            relay.stop()


def test_ca_bundle_is_the_only_trust_not_the_ca_directory(lab, agent):
    """Debian's libcurl has /etc/ssl/certs built in as a CA directory.  When AWS_CA_BUNDLE (or a
    system bundle) is chosen it must be the only trust: a server signed by a CA that is only in the
    directory is refused.  The agent runs in a mount namespace of its own where /etc/ssl/certs
    holds just the lab's CA (hashed as OpenSSL looks it up); the host's directory is untouched."""
    if not shutil.which("unshare"):
        raise Skip("unshare (util-linux) is not installed")
    with Pki() as pki:
        certs = os.path.join(pki.dir, "certs")
        os.mkdir(certs)
        h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", pki.ca], capture_output=True, text=True)
        assert h.returncode == 0, h.stderr
        shutil.copy(pki.ca, os.path.join(certs, h.stdout.strip() + ".0"))
        probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount --bind \"$0\" /etc/ssl/certs", certs],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            raise Skip("cannot bind-mount over /etc/ssl/certs in a user and mount namespace: %s" % probe.stderr)
        relay = TlsFront(_lab_port(lab), pki.cert, pki.key)
        try:
            ex, task = execution(lab, ["sh", "-c", "echo ran"])
            env = _tls_env(lab, task, relay.url, AWS_CA_BUNDLE=pki.other_ca)
            p = lab.run_agent(["unshare", "-rm", "sh", "-c", "mount --bind \"$0\" /etc/ssl/certs && exec \"$@\"",
                               certs, agent, "--", *task.command], env, timeout=60)
            err = stderr_text(p)
            lab.client("stepfunctions").stop_execution(executionArn=ex)
            assert p.returncode == 125, "a CA only in /etc/ssl/certs was trusted beside AWS_CA_BUNDLE: exit %s\n%s" % (
                p.returncode, err)
            assert b"ran" not in p.stdout, err
            assert re.search(r"TLS|certificate|SSL", err), err
            assert not sent(lab, None, task), "a call reached the lab"
            # The same namespace with the right bundle delivers: the refusal above is the CA's.
            ex, task = execution(lab, ["sh", "-c", "echo '{\"tls\":\"capath\"}'"])
            env = _tls_env(lab, task, relay.url, AWS_CA_BUNDLE=pki.ca)
            p = lab.run_agent(["unshare", "-rm", "sh", "-c", "mount --bind \"$0\" /etc/ssl/certs && exec \"$@\"",
                               certs, agent, "--", *task.command], env, timeout=60)
            assert p.returncode == 0, stderr_text(p)
            assert lab.wait_execution(ex)["status"] == "SUCCEEDED"
        finally:
            relay.stop()
