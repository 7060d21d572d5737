"""What a user downloads (make dist, scripts/dist.sh): the arm64 binary next to the amd64 one,
both static, stripped, within the 3 MiB budget, reproducible and built from the same Debian
source packages; `sfn-agent --version` naming the platform and the libraries; the two archives,
SHA256SUMS, the SPDX SBOM; and the OCI archive, one image index for linux/amd64 and linux/arm64,
that podman loads into an empty store and runs.  make test builds all of it first (make dist)."""
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from emulation import wrap  # noqa: E402
from lab import Skip, log  # noqa: E402
from podman import Podman, elf_machine  # noqa: E402

TIMEOUT = 600
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIST = os.path.join(ROOT, "dist")
BUDGET = 3 * 1024 * 1024
ARCHES = ("amd64", "arm64")


def _version():
	with open(os.path.join(ROOT, "Makefile")) as f:
		return re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)


def _need(path):
	assert os.path.exists(path), "%s is missing: run make dist first (make test does)" % path
	return path


def _bin(arch):
	return _need(os.path.join(DIST, arch, "sfn-agent"))


def _sources(arch):
	with open(_need(os.path.join(ROOT, "build", "static-" + arch, "debian-sources"))) as f:
		return f.read().strip()


def _version_text(arch):
	argv0, _ = wrap(_bin(arch))
	p = subprocess.run([argv0, "--version"], capture_output=True, text=True, timeout=60)
	assert p.returncode == 0, p.stderr
	return p.stdout


def _sha(path):
	with open(path, "rb") as f:
		return hashlib.sha256(f.read()).hexdigest()


def test_container_dist_binaries_static_stripped_within_budget():
	for arch in ARCHES:
		b = _bin(arch)
		machine, static = elf_machine(b)
		assert machine == arch and static, (b, machine, static)
		out = subprocess.run(["file", "-b", b], capture_output=True, text=True, check=True).stdout
		assert "statically linked" in out and ", stripped" in out, out
		size = os.path.getsize(b)
		log("%s: %d bytes (%.2f MiB)" % (b, size, size / 1048576))
		assert size <= BUDGET, "%s is %d bytes, over the 3 MiB budget" % (b, size)


def test_container_dist_same_debian_sources_for_both():
	a, b = _sources("amd64"), _sources("arm64")
	assert a == b, "amd64 from %s, arm64 from %s" % (a, b)
	for lib in ("musl ", "openssl ", "curl ", "cjson "):
		assert lib in a, a


def test_container_dist_version_names_platform_and_libraries():
	for arch in ARCHES:
		text = _version_text(arch)
		first = text.splitlines()[0]
		machine = {"amd64": "x86_64", "arm64": "aarch64"}[arch]
		assert re.match(r"sfn-agent %s \(%s; OpenSSL 3\.[0-9.]+, libcurl [0-9.]+, cJSON [0-9.]+\)$"
				% (re.escape(_version()), machine), first), text
		# The versions it reports are the upstream ones of the Debian sources the SBOM names.
		src = dict(x.strip().split(" ", 1) for x in _sources(arch).split(","))
		for shown, deb in (("OpenSSL", "openssl"), ("libcurl", "curl"), ("cJSON", "cjson")):
			upstream = src[deb].split("-")[0]
			assert "%s %s" % (shown, upstream) in first, (shown, upstream, first)


@functools.lru_cache(maxsize=None)
def _rebuild(arch):
	"""The same tree built again, elsewhere: (bytes of the first build, of the second)."""
	d = tempfile.mkdtemp(prefix="sfn-agent-repro.")
	try:
		env = dict(os.environ, SFN_AGENT_STATIC_O=os.path.join(d, "o"), SFN_AGENT_STATIC_OUT=os.path.join(d, "sfn-agent"))
		p = subprocess.run([os.path.join(ROOT, "scripts", "static.sh"), "--arch", arch], cwd=ROOT, env=env,
				   capture_output=True, text=True, timeout=540)
		assert p.returncode == 0, p.stderr[-3000:]
		with open(_bin(arch), "rb") as f1, open(os.path.join(d, "sfn-agent"), "rb") as f2:
			return f1.read(), f2.read()
	finally:
		shutil.rmtree(d, ignore_errors=True)


def test_container_dist_arm64_build_is_reproducible():
	first, again = _rebuild("arm64")
	assert first == again, "two builds of the same tree differ (%d vs %d bytes)" % (len(first), len(again))


def test_container_dist_amd64_is_the_binary_make_static_built():
	# Built twice from the same tree, in two object directories (build/static, build/static-amd64).
	host = _need(os.path.join(DIST, "sfn-agent"))
	if elf_machine(host)[0] != "amd64":
		raise Skip("make static built for %s here, not amd64" % elf_machine(host)[0])
	assert _sha(host) == _sha(_bin("amd64")), "dist/sfn-agent and dist/amd64/sfn-agent differ"


def test_container_dist_archives_and_checksums():
	name = "sfn-agent-%s" % _version()
	for arch in ARCHES:
		path = _need(os.path.join(DIST, "%s-linux-%s.tar.gz" % (name, arch)))
		with tarfile.open(path) as t:
			members = {m.name: m for m in t.getmembers()}
			want = {"%s-linux-%s/%s" % (name, arch, f) for f in ("sfn-agent", "LICENSE", "README.md")}
			assert set(members) - {"%s-linux-%s" % (name, arch)} == want, sorted(members)
			m = members["%s-linux-%s/sfn-agent" % (name, arch)]
			assert m.mode & 0o111 and m.uid == 0 and m.gid == 0, (oct(m.mode), m.uid)
			assert t.extractfile(m).read() == open(_bin(arch), "rb").read(), "archive binary differs from dist/%s" % arch
	p = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=DIST, capture_output=True, text=True)
	assert p.returncode == 0, p.stdout + p.stderr
	listed = sorted(l.split()[1] for l in open(os.path.join(DIST, "SHA256SUMS")))
	assert listed == sorted(["%s-linux-amd64.tar.gz" % name, "%s-linux-arm64.tar.gz" % name,
				 "%s.spdx.json" % name, "%s-oci.tar" % name]), listed


def test_container_dist_sbom_names_the_debian_sources():
	with open(_need(os.path.join(DIST, "sfn-agent-%s.spdx.json" % _version()))) as f:
		doc = json.load(f)
	assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
	pkgs = {p["SPDXID"]: p for p in doc["packages"]}
	want = dict(s.strip().split(" ", 1) for s in _sources("amd64").split(","))
	for src, shown in (("openssl", "OpenSSL"), ("curl", "curl"), ("cjson", "cJSON"), ("musl", "musl")):
		p = pkgs["SPDXRef-debian-" + src]
		assert p["name"] == shown and p["versionInfo"] == want[src], p
		purl = p["externalRefs"][0]["referenceLocator"]
		assert purl == "pkg:deb/debian/%s@%s?arch=source&distro=debian-12" % (src, want[src]), purl
		for arch in ARCHES:
			assert {"spdxElementId": "SPDXRef-sfn-agent-" + arch, "relationshipType": "STATIC_LINK",
				"relatedSpdxElement": p["SPDXID"]} in doc["relationships"]
	for arch in ARCHES:
		p = pkgs["SPDXRef-sfn-agent-" + arch]
		assert p["checksums"] == [{"algorithm": "SHA256", "checksumValue": _sha(_bin(arch))}], p


def test_container_dist_oci_archive_is_one_index_that_podman_loads():
	archive = _need(os.path.join(DIST, "sfn-agent-%s-oci.tar" % _version()))
	with tarfile.open(archive) as t:
		index = json.load(t.extractfile("index.json"))
		assert len(index["manifests"]) == 1, index
		ref = index["manifests"][0]
		assert ref["mediaType"] == "application/vnd.oci.image.index.v1+json", ref
		inner = json.load(t.extractfile("blobs/sha256/" + ref["digest"].split(":")[1]))
	platforms = sorted("%s/%s" % (m["platform"]["os"], m["platform"]["architecture"]) for m in inner["manifests"])
	assert platforms == ["linux/amd64", "linux/arm64"], platforms
	home = tempfile.mkdtemp(prefix="sfn-agent-load.", dir=os.path.join(ROOT, "build"))
	try:
		try:
			pm = Podman(home)
		except Skip:
			raise
		p = pm.cmd("load", "-i", archive, timeout=120, check=True)
		log(p.stdout + p.stderr)
		loaded = re.findall(r"Loaded image(?:\(s\))?: (\S+)", p.stdout)
		assert loaded, p.stdout
		run = pm.cmd("run", "--rm", "--network", "none", loaded[0], "--version", timeout=60, check=True)
		assert run.stdout.startswith("sfn-agent %s (x86_64; " % _version()), run.stdout
		size = pm.cmd("image", "inspect", "--format", "{{.Size}}", loaded[0], check=True).stdout.strip()
		log("image size: %s bytes" % size)
	finally:
		shutil.rmtree(home, ignore_errors=True)
