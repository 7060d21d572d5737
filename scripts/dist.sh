#!/usr/bin/env bash
# Builds what a user downloads, in dist/:
#
#   sfn-agent-VERSION-linux-amd64.tar.gz    sfn-agent, LICENSE, README.md (static, stripped)
#   sfn-agent-VERSION-linux-arm64.tar.gz    the same for arm64 (Graviton)
#   sfn-agent-VERSION.spdx.json             SPDX 2.3 SBOM: what is linked into both binaries,
#                                           with the exact Debian source versions
#   sfn-agent-VERSION-oci.tar               OCI image archive: one image index for linux/amd64
#                                           and linux/arm64 (podman load / docker load)
#   SHA256SUMS                              of all of the above
#
# Both binaries come from scripts/static.sh (dist/amd64/, dist/arm64/), the images from the
# project's Dockerfile (its last stage, SFN_AGENT_BINARY=prebuilt), so every byte shipped is one
# the tests ran.  Archives are reproducible: fixed order, owner and times (the last commit's).
#
#   scripts/dist.sh [VERSION]        (make dist)
set -euo pipefail
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

cd "$(dirname "$0")/.."
ROOT=$PWD
VERSION=${1:-$(sed -n 's/^VERSION *:= *//p' Makefile)}
ARCHES="amd64 arm64"
OUT=dist
NAME=sfn-agent-$VERSION

say() { printf 'dist: %s\n' "$*" >&2; }
die() { printf 'dist: error: %s\n' "$*" >&2; exit 1; }

for t in tar gzip sha256sum python3 podman buildah; do
	command -v "$t" >/dev/null 2>&1 || die "$t is missing; tests/setup.sh installs what make dist needs (as root)."
done

epoch=$(git -c safe.directory="$ROOT" log -1 --format=%ct 2>/dev/null || echo 1)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$epoch}
export LC_ALL=C TZ=UTC

# --- The binaries ------------------------------------------------------------------------------
for a in $ARCHES; do
	scripts/static.sh --arch "$a"
done
# One set of sources for both: the SBOM names one version of each library.
src_amd64=$(cat build/static-amd64/debian-sources)
src_arm64=$(cat build/static-arm64/debian-sources)
[ "$src_amd64" = "$src_arm64" ] || die "the two binaries were built from different Debian sources
  (amd64: $src_amd64; arm64: $src_arm64); rebuild both with SFN_AGENT_DEPS_REFRESH=1 make dist."

rm -f "$OUT"/sfn-agent-*.tar.gz "$OUT"/sfn-agent-*.spdx.json "$OUT"/sfn-agent-*-oci.tar "$OUT"/SHA256SUMS
stage=$(mktemp -d "${TMPDIR:-/tmp}/sfn-agent-dist.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# --- Archives ------------------------------------------------------------------------------------
for a in $ARCHES; do
	d=$stage/$NAME-linux-$a
	mkdir -p "$d"
	install -m 0755 "$OUT/$a/sfn-agent" "$d/sfn-agent"
	install -m 0644 LICENSE README.md "$d/"
	tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
		--format=gnu -cf - "$NAME-linux-$a" | gzip -9n >"$OUT/$NAME-linux-$a.tar.gz"
	say "$OUT/$NAME-linux-$a.tar.gz"
done

# --- SBOM ----------------------------------------------------------------------------------------
python3 - "$VERSION" "$src_amd64" "$SOURCE_DATE_EPOCH" "$OUT" $ARCHES >"$OUT/$NAME.spdx.json" <<'EOF'
import hashlib, json, sys, time
version, sources, epoch, out, arches = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
# "musl 1.2.3-1, openssl 3.0.20-1~deb12u2, curl 7.88.1-10+deb12u15, cjson 1.7.15-1+deb12u4"
libs = [s.strip().split(" ", 1) for s in sources.split(",")]
names = {"musl": ("musl", "MIT"), "openssl": ("OpenSSL", "Apache-2.0"), "curl": ("curl", "curl"),
	 "cjson": ("cJSON", "MIT")}
created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
pkgs, rels = [], []
for a in arches:
	with open("%s/%s/sfn-agent" % (out, a), "rb") as f:
		sha = hashlib.sha256(f.read()).hexdigest()
	pkgs.append({"SPDXID": "SPDXRef-sfn-agent-%s" % a, "name": "sfn-agent", "versionInfo": version,
		     "primaryPackagePurpose": "APPLICATION", "downloadLocation": "NOASSERTION",
		     "licenseConcluded": "MIT", "licenseDeclared": "MIT", "copyrightText": "NOASSERTION",
		     "filesAnalyzed": False, "checksums": [{"algorithm": "SHA256", "checksumValue": sha}],
		     "comment": "linux/%s, static (musl), stripped" % a})
	rels.append({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
		     "relatedSpdxElement": "SPDXRef-sfn-agent-%s" % a})
for src, ver in libs:
	name, lic = names.get(src, (src, "NOASSERTION"))
	ref = "SPDXRef-debian-%s" % src
	pkgs.append({"SPDXID": ref, "name": name, "versionInfo": ver, "primaryPackagePurpose": "LIBRARY",
		     "supplier": "Organization: Debian", "downloadLocation": "NOASSERTION",
		     "licenseConcluded": "NOASSERTION", "licenseDeclared": lic, "copyrightText": "NOASSERTION",
		     "filesAnalyzed": False,
		     "sourceInfo": "built from the Debian 12 source package %s %s" % (src, ver),
		     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
				       "referenceLocator": "pkg:deb/debian/%s@%s?arch=source&distro=debian-12" % (src, ver)}]})
	for a in arches:
		rels.append({"spdxElementId": "SPDXRef-sfn-agent-%s" % a, "relationshipType": "STATIC_LINK",
			     "relatedSpdxElement": ref})
doc = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
       "name": "sfn-agent-%s" % version,
       "documentNamespace": "https://spdx.org/spdxdocs/sfn-agent-%s-%s" % (version, pkgs[0]["checksums"][0]["checksumValue"][:16]),
       "creationInfo": {"created": created, "creators": ["Tool: sfn-agent scripts/dist.sh"]},
       "packages": pkgs, "relationships": rels}
print(json.dumps(doc, indent=2, sort_keys=True))
EOF
say "$OUT/$NAME.spdx.json"

# --- The OCI image: one index, both platforms --------------------------------------------------
# A private podman store under build/ (nothing of the host's containers.conf that fails here).
pmhome=$ROOT/build/podman-dist
rm -rf "$pmhome" && mkdir -p "$pmhome/graph" "$pmhome/run" "$pmhome/tmp"
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
cat >"$pmhome/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$hard:$hard", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$pmhome/tmp"
EOF
cat >"$pmhome/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$pmhome/graph"
runroot = "$pmhome/run"
EOF
export CONTAINERS_CONF=$pmhome/containers.conf CONTAINERS_STORAGE_CONF=$pmhome/storage.conf TMPDIR=$pmhome/tmp
ctx=$stage/context
for a in $ARCHES; do
	mkdir -p "$ctx/$a" && cp "$OUT/$a/sfn-agent" "$ctx/$a/sfn-agent"
done
list=localhost/sfn-agent:$VERSION
podman manifest create "$list" >/dev/null
for a in $ARCHES; do
	# --no-cache: buildah 1.28 reuses a cached COPY across platforms otherwise (and --layers=false
	# cannot build FROM an earlier stage).
	podman build -q --no-cache --platform "linux/$a" --build-arg SFN_AGENT_BINARY=prebuilt \
		--build-arg VERSION="$VERSION" --timestamp "$SOURCE_DATE_EPOCH" \
		-f Dockerfile -t "localhost/sfn-agent:$VERSION-$a" "$ctx" >/dev/null
	podman manifest add "$list" "containers-storage:localhost/sfn-agent:$VERSION-$a" >/dev/null
done
podman manifest push -q --all "$list" "oci-archive:$ROOT/$OUT/$NAME-oci.tar:sfn-agent:$VERSION" >&2
rm -rf "$pmhome"
say "$OUT/$NAME-oci.tar (linux/amd64, linux/arm64)"

(cd "$OUT" && sha256sum "$NAME"-linux-*.tar.gz "$NAME.spdx.json" "$NAME-oci.tar" >SHA256SUMS)
say "$OUT/SHA256SUMS"
