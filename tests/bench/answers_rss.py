#!/usr/bin/env python3
"""Peak RSS of the agent under the largest answer each kind of endpoint may send.

Each endpoint kind is played by a loopback server (tests/lab/servers.py FixedAnswerServer) that
answers every request with the worst body the agent accepts for that kind: valid JSON (or XML)
made of the smallest values, which makes the largest parsed tree per byte.  The agent's peak
resident set is printed per kind, measured by tests/bench/rusage.c (built here with cc): forked
from Python, a child would count Python's own pages as its peak.  No moto, no network
beyond 127.0.0.1.  Figures, not assertions:

    python3 tests/bench/answers_rss.py [AGENT ...]      (default ./sfn-agent)
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
from servers import FixedAnswerServer  # noqa: E402

KIB = 1024
MIB = 1024 * KIB


def zeros(n):
    """The densest valid JSON of n bytes: [0,0,...,0] (n odd or even, pads with a space)."""
    k = (n - 1) // 2
    s = b"[" + b"0," * (k - 1) + b"0]"
    return s + b" " * (n - len(s))


def base_env():
    return {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true", "TASK_TOKEN": "AAAA" + "t" * 60,
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "SFN_AGENT_HTTP_TIMEOUT": "5"}


RUSAGE = None


def run(agent, argv, env, tmp):
    out = os.path.join(tmp, "rusage.out")
    t0 = time.monotonic()
    p = subprocess.run([RUSAGE, out, agent, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(out) as f:
        maxrss_kb = int(f.read().split()[3])
    return maxrss_kb / 1024.0, time.monotonic() - t0, p.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]


def cases(tmp):
    jwt = os.path.join(tmp, "jwt")
    with open(jwt, "w") as f:
        f.write("eyJhbGciOiJub25lIn0.e30.")
    keys = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secretsecretsecret"}
    sts_xml = lambda n: (b"<AssumeRoleWithWebIdentityResponse><Result>" + b"<a/>" * ((n - 90) // 4)
                         + b"</Result></AssumeRoleWithWebIdentityResponse>")
    return [
        # name, body size, body maker, argv, env given the server's url
        ("container credentials", 64 * KIB, zeros, ["send-heartbeat", "--report-timeout", "5"],
         lambda u: {"AWS_CONTAINER_CREDENTIALS_FULL_URI": u + "/creds"}),
        ("container credentials at the old 16 MiB cap", 16 * MIB, zeros, ["send-heartbeat", "--report-timeout", "5"],
         lambda u: {"AWS_CONTAINER_CREDENTIALS_FULL_URI": u + "/creds"}),
        ("IMDS (session token answer)", 64 * KIB, zeros, ["send-heartbeat", "--report-timeout", "5"],
         lambda u: {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": u}),
        ("task metadata (region)", 256 * KIB, zeros, ["send-heartbeat", "--report-timeout", "5"],
         lambda u: dict(keys, ECS_CONTAINER_METADATA_URI_V4=u + "/v4", AWS_REGION="")),
        ("STS web identity", 64 * KIB, sts_xml, ["send-heartbeat", "--report-timeout", "5"],
         lambda u: {"AWS_WEB_IDENTITY_TOKEN_FILE": jwt, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
                    "AWS_ENDPOINT_URL_STS": u}),
        ("SendTask* answer", 64 * KIB, zeros, ["send-heartbeat", "--report-timeout", "5"],
         lambda u: dict(keys, AWS_ENDPOINT_URL_SFN=u)),
        ("controller page (16 MiB)", 16 * MIB, zeros,
         ["start", "--state-machine", "arn:aws:states:us-east-1:123456789012:stateMachine:x", "--no-wait"],
         lambda u: dict(keys, AWS_ENDPOINT_URL_SFN=u)),
    ]


def main(argv):
    global RUSAGE
    agents = argv or ["./sfn-agent"]
    with tempfile.TemporaryDirectory() as tmp:
        RUSAGE = os.path.join(tmp, "rusage")
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rusage.c")
        subprocess.run(["cc", "-O2", "-o", RUSAGE, src], check=True)
        print("| endpoint kind | answer | " + " | ".join("peak RSS, %s" % a for a in agents) + " |")
        print("|---|---|" + "---|" * len(agents))
        for name, size, make, args, env_of in cases(tmp):
            body = make(size - 1)
            cells = []
            with FixedAnswerServer(body, status=400 if "SendTask" in name else 200) as srv:
                for a in agents:
                    env = base_env()
                    env.update(env_of(srv.url))
                    env = {k: v for k, v in env.items() if v != ""}
                    rss, took, last = run(a, args, env, tmp)
                    cells.append("%.1f MiB" % rss)
                    print("  %s / %s: %.1f MiB in %.1f s: %s" % (name, a, rss, took, last), file=sys.stderr)
            print("| %s | %s bytes | %s |" % (name, "{:,}".format(len(body)), " | ".join(cells)))


if __name__ == "__main__":
    main(sys.argv[1:])
