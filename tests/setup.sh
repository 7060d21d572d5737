#!/bin/sh
# Checks what building and testing sfn-agent needs; installs the C build dependencies with
# apt-get when run as root on Debian/Ubuntu.  Quiet ("setup: ok") when everything is present.
#   tests/setup.sh            check; install the C dependencies when root with apt-get
#   tests/setup.sh --install  the same (what CI calls)
#   tests/setup.sh --check    check only, never install
set -u

install=1
case "${1:-}" in
--install | "") ;;
--check) install=0 ;;
*) echo "usage: tests/setup.sh [--install | --check]" >&2; exit 2 ;;
esac

missing=""
have_hdr() {
	printf '#include <%s>\n' "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1
}

command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || missing="$missing build-essential"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
have_hdr curl/curl.h || missing="$missing libcurl4-openssl-dev"
have_hdr openssl/evp.h || missing="$missing libssl-dev"
have_hdr cjson/cJSON.h || missing="$missing libcjson-dev"
# make test also runs the libFuzzer targets (tests/fuzz: clang and its fuzzer runtime) and valgrind.
have_fuzzer() {
	printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
		clang -fsanitize=fuzzer,address,undefined -x c -o /dev/null - >/dev/null 2>&1
}
command -v clang >/dev/null 2>&1 || missing="$missing clang"
have_fuzzer || missing="$missing libclang-rt-dev"
command -v valgrind >/dev/null 2>&1 || missing="$missing valgrind"
# The empty-image and TLS tests: a static shell for the bare root, and the openssl CLI for a CA.
[ -x /bin/busybox ] || missing="$missing busybox-static"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"

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

if ! command -v python3 >/dev/null 2>&1; then
	echo "setup: python3 is needed for the tests" >&2
	exit 1
fi
if ! python3 - <<'EOF' 2>/dev/null
import sys
import boto3, flask, moto
major = int(moto.__version__.split(".")[0])
sys.exit(0 if major >= 5 else 1)
EOF
then
	echo 'python3 lacks moto: pip install "moto[server]" boto3'
	exit 1
fi
echo "setup: ok"
