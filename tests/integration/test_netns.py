"""The credential providers at their real default addresses, which no other test may reach: in a
network namespace this run makes (unshare -rn), 169.254.170.2, 169.254.170.23 and
169.254.169.254 are on its own loopback, served on port 80 by small servers that hand out moto's
STS keys, and the lab, the servers and the agent all run in there (tests/lab/netns.py).  The
agent's environment names none of those endpoints: it finds them by itself, as on ECS, EC2 and
EKS.  The namespace is checked to be another one than the runner's."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from netns import netns, _netns_inode  # noqa: E402

TIMEOUT = 400   # the first test also waits for the namespace's own lab to start


def _check(r):
	assert r["netns"] != _netns_inode(), "the scenario ran in the runner's own network namespace"
	assert not r["leaked"], "a secret (%s...) appears in the agent's stderr" % r["leaked"]
	assert "AWS_EC2_METADATA_SERVICE_ENDPOINT" not in r["env"], "the agent was pointed at an IMDS endpoint"
	return r


def _succeeded(r, want):
	assert r["rc"] == 0, "agent exit %s:\n%s" % (r["rc"], r["stderr"])
	assert r["status"] == "SUCCEEDED", r["status"]
	assert json.loads(r["output"]) == want, r["output"]
	ok = [c for c in r["sent"] if c["ok"]]
	assert [c["operation"] for c in ok if c["operation"] != "SendTaskHeartbeat"] == ["SendTaskSuccess"], r["sent"]
	# Every call was signed with keys that this address handed out, nothing else.
	assert r["server"]["issued"] and all(c["akid"] in r["server"]["issued"] for c in r["sent"]), (
		r["sent"], r["server"]["issued"])


def test_netns_ecs_task_role_from_the_relative_uri(lab, agent):
	r = _check(netns().run("ecs", agent, ["sh", "-c", "echo '{\"via\":\"169.254.170.2\"}'"]))
	assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in r["env"] and "AWS_ACCESS_KEY_ID" not in r["env"], r["env"]
	_succeeded(r, {"via": "169.254.170.2"})
	assert r["server"]["fetches"] >= 1
	assert r["server"]["imds_requests"] == 0, "IMDS was asked although the ECS credentials answered"


def test_netns_imds_v2_gives_keys_and_region(lab, agent):
	r = _check(netns().run("imds", agent, ["sh", "-c", "echo '{\"via\":\"169.254.169.254\"}'"]))
	assert "AWS_REGION" not in r["env"] and "AWS_DEFAULT_REGION" not in r["env"], r["env"]
	_succeeded(r, {"via": "169.254.169.254"})
	s = r["server"]
	# Token first (every GET without one is counted as rejected), sent back with the hop limit of an
	# instance; then the role, its keys and the region.
	assert s["token_puts"] >= 1 and s["rejected"] == 0 and s["fetches"] >= 3, s
	assert s["token_ttl"] == 1, s


def test_netns_imds_disabled_says_no_credentials(lab, agent):
	r = _check(netns().run("imds_disabled", agent, ["sh", "-c", "echo ran"]))
	assert r["rc"] == 125, "agent exit %s:\n%s" % (r["rc"], r["stderr"])
	assert "ran" not in r["stdout"]
	lines = [l for l in r["stderr"].splitlines() if "error" in l]
	assert any("no AWS credentials found" in l for l in lines), r["stderr"]
	assert r["server"]["imds_requests"] == 0, "IMDS was asked although AWS_EC2_METADATA_DISABLED=true"
	assert not [c for c in r["sent"] if c["ok"]], r["sent"]


def test_netns_eks_pod_identity_with_the_token_file(lab, agent):
	r = _check(netns().run("pod_identity", agent, ["sh", "-c", "echo '{\"via\":\"169.254.170.23\"}'"]))
	_succeeded(r, {"via": "169.254.170.23"})
	s = r["server"]
	assert s["auth_seen"] and all(a and a.startswith("pod-identity-token-") for a in s["auth_seen"]), s["auth_seen"]
	assert s["imds_requests"] == 0
