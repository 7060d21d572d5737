#!/bin/sh
# Checks what building and testing sfn-agent needs; installs the C build dependencies with
# apt-get when run as root on Debian/Ubuntu.  Quiet ("setup: ok") when everything is present.
#   tests/setup.sh            check; install the C dependencies when root with apt-get
#   tests/setup.sh --install  the same (what CI calls)
#   tests/setup.sh --check    check only, never install
#   tests/setup.sh --demo     only what `make demo` uses: a C compiler, make, the libcurl, OpenSSL
#                             and cJSON headers, and a Python with moto (with --check: never install)
#   tests/setup.sh --python   print the Python that has the emulator (what make runs the lab with)
set -u

install=1 mode=all
for arg in "$@"; do
	case "$arg" in
	--install) ;;
	--check) install=0 ;;
	--demo) mode=demo ;;
	--python) mode=python ;;
	*) echo "usage: tests/setup.sh [--install | --check] [--demo] | --python" >&2; exit 2 ;;
	esac
done

# The Python for the lab: $PYTHON when set, else the tree's virtual environment .venv (the
# recipe below, for systems where PEP 668 refuses `pip install`), else python3.
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-}
if [ -z "$python" ]; then
	if [ -x "$root/.venv/bin/python3" ]; then python=$root/.venv/bin/python3; else python=python3; fi
fi
if [ "$mode" = python ]; then
	echo "$python"
	exit 0
fi

missing=""
have_hdr() {
	printf '#include <%s>\n' "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1
}

command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || missing="$missing build-essential"
have_hdr curl/curl.h || missing="$missing libcurl4-openssl-dev"
have_hdr openssl/evp.h || missing="$missing libssl-dev"
have_hdr cjson/cJSON.h || missing="$missing libcjson-dev"
# Only make test needs the rest: the libFuzzer targets (tests/fuzz: clang and its fuzzer runtime),
# valgrind, a static shell for the bare root, the openssl CLI for a CA, and unshare.
if [ "$mode" = all ]; then
	command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
	have_fuzzer() {
		printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
			clang -fsanitize=fuzzer,address,undefined -x c -o /dev/null - >/dev/null 2>&1
	}
	command -v clang >/dev/null 2>&1 || missing="$missing clang"
	have_fuzzer || missing="$missing libclang-rt-dev"
	command -v valgrind >/dev/null 2>&1 || missing="$missing valgrind"
	[ -x /bin/busybox ] || missing="$missing busybox-static"
	command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
	command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
fi

if [ -n "$missing" ]; then
	if [ "$install" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "setup: installing$missing"
		apt-get update -qq >/dev/null &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null ||
			{ echo "setup: apt-get install$missing failed" >&2; exit 1; }
	else
		echo "setup: missing C build dependencies:$missing (Debian/Ubuntu: apt-get install$missing)" >&2
		exit 1
	fi
fi

# ---- Real containers, the default addresses in a namespace, arm64 ---------------------------
# make test runs the agent in real OCI containers (podman with runc, rootless pieces included),
# in network namespaces of its own (unshare, ip), and builds and runs the arm64 binary
# (a cross musl-gcc, qemu-user).  All from Debian's own packages; the arm64 libraries need
# the arm64 architecture added to dpkg first.  Not for make demo.
real_missing=""
if [ "$mode" = all ]; then
	for t in podman:podman buildah:buildah runc:runc umoci:umoci skopeo:skopeo newuidmap:uidmap \
		fuse-overlayfs:fuse-overlayfs slirp4netns:slirp4netns ip:iproute2 \
		aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu qemu-aarch64-static:qemu-user-static \
		update-binfmts:binfmt-support; do
		command -v "${t%%:*}" >/dev/null 2>&1 || real_missing="$real_missing ${t#*:}"
	done
	# musl-dev:arm64 gives aarch64-linux-musl-gcc (the musl-gcc wrapper for the cross compiler).
	command -v aarch64-linux-musl-gcc >/dev/null 2>&1 || real_missing="$real_missing musl-dev:arm64"
	# podman run --init's PID 1 (only recommended by podman).
	[ -x /usr/libexec/podman/catatonit ] || real_missing="$real_missing catatonit"
	# The arm64 kernel headers OpenSSL includes (a dependency the cross compiler only recommends).
	[ -d /usr/aarch64-linux-gnu/include/asm ] || real_missing="$real_missing linux-libc-dev-arm64-cross"
fi
if [ -n "$real_missing" ]; then
	if [ "$install" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "setup: installing$real_missing (real containers, namespaces, arm64)"
		case " $real_missing " in
		*:arm64*) dpkg --add-architecture arm64 ;;
		esac
		apt-get update -qq >/dev/null &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				$real_missing >/dev/null ||
			{ echo "setup: apt-get install$real_missing failed" >&2; exit 1; }
	else
		echo "setup: missing for the real-container, namespace and arm64 tests:$real_missing" >&2
		echo "  (Debian/Ubuntu, as root: dpkg --add-architecture arm64; apt-get update;" \
			"apt-get install --no-install-recommends$real_missing)" >&2
		exit 1
	fi
fi
# ---- end of real containers, namespaces, arm64 --------------------------------------------

if ! command -v "$python" >/dev/null 2>&1; then
	echo "setup: $python is needed for the local AWS emulator (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
	exit 1
fi
if ! "$python" - <<'PY' 2>/dev/null
import sys
import boto3, flask, moto
major = int(moto.__version__.split(".")[0])
sys.exit(0 if major >= 5 else 1)
PY
then
	# A virtual environment works everywhere, also where PEP 668 refuses a plain pip install
	# (Debian 12, Ubuntu 24.04); make and this script find .venv by themselves.
	echo "setup: $python lacks moto, the local AWS emulator; install the version the lab is written for:" >&2
	echo "    python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt" >&2
	exit 1
fi
echo "setup: ok"
