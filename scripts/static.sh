#!/usr/bin/env bash
# Builds dist/sfn-agent: one static, stripped, reproducible binary that runs in any image,
# FROM scratch included (musl libc, OpenSSL, libcurl and cJSON linked in, a CA bundle built in).
#
#   scripts/static.sh                  for this machine's architecture: dist/sfn-agent
#   scripts/static.sh --arch arm64     cross-built for arm64 (Graviton): dist/arm64/sfn-agent
#   scripts/static.sh --arch amd64     the same for amd64: dist/amd64/sfn-agent
#                                      (ARCH= of make static; Debian's names, or uname -m's)
#
# The libraries are built from Debian's source packages with musl-gcc, once, into a cache outside
# the tree, keyed by the versions obtained and the build flags; later runs reuse it and take seconds.
# The Dockerfile runs this same script, so the image holds the same bytes as `make static`.
#
# Environment (all optional):
#   SFN_AGENT_DEPS_CACHE     where the libraries are cached   (default ~/.cache/sfn-agent-deps)
#   SFN_AGENT_DEPS_REFRESH=1 look for newer Debian source versions now (done anyway after 7 days)
#   SFN_AGENT_STATIC_O       object directory     (default build/static, build/static-ARCH)
#   SFN_AGENT_STATIC_OUT     the binary           (default dist/sfn-agent, dist/ARCH/sfn-agent)
#   SFN_AGENT_CA_FILE        PEM bundle to build in (default /etc/ssl/certs/ca-certificates.crt)
#   SFN_AGENT_DEBIAN_MIRROR / SFN_AGENT_DEBIAN_SECURITY / SFN_AGENT_DEBIAN_SUITE
#                            where the sources come from (default Debian 12 "bookworm")
set -euo pipefail
# The outer make's variables (O=, CFLAGS=, CC= on its command line) must not reach the inner one:
# the static build has its own object directory and flags.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf 'static: %s\n' "$*" >&2; }
die() { printf 'static: error: %s\n' "$*" >&2; exit 1; }

# The target: this machine's architecture unless --arch names another (Debian's names, the ones
# `dpkg --print-architecture` and image platforms use; uname -m's are accepted too).
HOST_DEB_ARCH=$(dpkg --print-architecture 2>/dev/null || true)
DEB_ARCH=$HOST_DEB_ARCH
TARGET_DIR=
case "${1:-}" in
--arch)
	[ -n "${2:-}" ] || die "--arch needs a value: amd64 or arm64."
	case $2 in
	amd64 | x86_64) DEB_ARCH=amd64 ;;
	arm64 | aarch64) DEB_ARCH=arm64 ;;
	*) die "unknown architecture '$2'; use ARCH=amd64 or ARCH=arm64." ;;
	esac
	TARGET_DIR=$DEB_ARCH
	;;
"") ;;
*) die "usage: scripts/static.sh [--arch amd64|arm64]" ;;
esac
if [ -z "$DEB_ARCH" ]; then
	case $(uname -m) in
	x86_64) DEB_ARCH=amd64 ;;
	aarch64) DEB_ARCH=arm64 ;;
	esac
fi

BUDGET=3145728 # 3 MiB, CA bundle included
CACHE_ROOT=${SFN_AGENT_DEPS_CACHE:-${HOME:-/root}/.cache/sfn-agent-deps}
O=${SFN_AGENT_STATIC_O:-build/static${TARGET_DIR:+-$TARGET_DIR}}
OUT=${SFN_AGENT_STATIC_OUT:-dist/${TARGET_DIR:+$TARGET_DIR/}sfn-agent}
CA_FILE=${SFN_AGENT_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
SUITE=${SFN_AGENT_DEBIAN_SUITE:-bookworm}
MIRROR=${SFN_AGENT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${SFN_AGENT_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MAX_AGE_DAYS=7
JOBS=$(nproc 2>/dev/null || echo 2)

# Configured into OpenSSL (its default engine and module directories, never used: no-module,
# no-engine); never created.
FIXED_PREFIX=/nonexistent/sfn-agent-deps

# Bump when the way the libraries are built changes in a way the flags below do not show.
RECIPE=2

# --- The target's compiler.  Every flag that shapes the libraries is part of the cache key. ------

case $DEB_ARCH in
amd64) ARCH=x86_64 OSSL_TARGET=linux-x86_64 ;;
arm64) ARCH=aarch64 OSSL_TARGET=linux-aarch64 ;;
*) die "no OpenSSL target known for ${DEB_ARCH:-$(uname -m)}; add one to scripts/static.sh." ;;
esac
# Cross-building: Debian's cross gcc with musl's wrapper for it (musl-dev:ARCH); the musl
# wrapper is named for the triplet, the binutils for the GNU one.
CROSS=
[ "$DEB_ARCH" = "$HOST_DEB_ARCH" ] || CROSS=1
if [ -n "$CROSS" ]; then
	MUSL_CC=$ARCH-linux-musl-gcc
	STRIP=$ARCH-linux-gnu-strip AR=$ARCH-linux-gnu-ar RANLIB=$ARCH-linux-gnu-ranlib
	XPKGS="gcc-$ARCH-linux-gnu musl-dev:$DEB_ARCH linux-libc-dev-$DEB_ARCH-cross"
	# The target's kernel headers (linux-libc-dev-ARCH-cross).
	KHDR=/usr/$ARCH-linux-gnu/include
else
	MUSL_CC=musl-gcc
	STRIP=strip AR=ar RANLIB=ranlib
	XPKGS=
	KHDR=
fi
# curl's configure links its test programs; libgcc's outline atomics (lse-init.o, on aarch64)
# ask for glibc's __getauxval, which only a static link (musl's libc.a) resolves.  Empty for
# amd64, whose libraries are keyed as before.
CURL_LDFLAGS=
[ "$ARCH" = aarch64 ] && CURL_LDFLAGS=-static

# Packages that provide the tools below (Debian/Ubuntu names).
BUILD_PKGS="musl-tools gcc libc6-dev dpkg-dev perl make patch binutils file ca-certificates debian-archive-keyring${XPKGS:+ $XPKGS}"

missing_tools() {
	local t
	for t in "$MUSL_CC" gcc dpkg-source dpkg-parsechangelog apt-get perl make patch "$AR" "$STRIP" readelf file \
		sha256sum; do
		command -v "$t" >/dev/null 2>&1 || printf '%s ' "$t"
	done
	[ -r "$KEYRING" ] || printf '%s ' "$KEYRING"
	[ -z "$KHDR" ] || [ -d "$KHDR/asm" ] || printf '%s ' "$KHDR/asm"
	[ -r "$CA_FILE" ] || printf '%s ' "$CA_FILE"
}

need_tools() {
	local miss
	miss=$(missing_tools)
	[ -z "$miss" ] && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing build tools ($miss missing): apt-get install $BUILD_PKGS"
		[ -z "$CROSS" ] || dpkg --add-architecture "$DEB_ARCH"
		apt-get update -qq >/dev/null || die "apt-get update failed; run it by hand and retry."
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $BUILD_PKGS \
			>/dev/null || die "apt-get install $BUILD_PKGS failed; install them and retry."
		miss=$(missing_tools)
		[ -z "$miss" ] && return 0
	fi
	die "missing: $miss; install them with:${CROSS:+ sudo dpkg --add-architecture $DEB_ARCH;} sudo apt-get install $BUILD_PKGS (then run 'make static' again)."
}

# --- Flags ---------------------------------------------------------------------------------------

# Size first; unwind tables are only for debuggers and C++ exceptions, neither of which a stripped
# C binary uses.
DEPS_CFLAGS="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables"

# TLS 1.2/1.3 client with the algorithms AWS endpoints and ordinary proxies use; nothing loads
# code or configuration at run time.
OSSL_OPTS="no-shared no-module no-engine no-dso no-async no-comp no-legacy no-deprecated
	no-autoload-config no-ssl3 no-tls1 no-tls1_1 no-dtls no-srp no-psk no-srtp no-sctp
	no-idea no-camellia no-seed no-bf no-cast no-rc2 no-rc4 no-rc5 no-md4 no-mdc2 no-rmd160
	no-whirlpool no-des no-aria no-sm2 no-sm3 no-sm4 no-gost no-siphash no-scrypt no-ocsp
	no-cms no-ts no-ct no-rfc3779 no-nextprotoneg no-ui-console no-ocb no-dsa
	no-cmp no-ec2m no-multiblock no-tests no-filenames"

# HTTP and HTTPS only: the agent speaks AWS JSON over HTTPS, through an HTTP(S) proxy at most.
CURL_OPTS="--disable-shared --enable-static --disable-dependency-tracking --disable-silent-rules
	--with-openssl --without-ca-bundle --without-ca-path --without-ca-fallback
	--without-libpsl --without-zlib --without-brotli --without-zstd --without-libidn2
	--without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche --without-msh3
	--without-librtmp --without-libssh2 --without-libssh --without-wolfssh --without-libgsasl
	--without-gssapi --without-hyper
	--disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict
	--disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp
	--disable-gopher --disable-mqtt --disable-manual --disable-ntlm --disable-ntlm-wb
	--disable-kerberos-auth --disable-negotiate-auth --disable-alt-svc --disable-hsts
	--disable-cookies --disable-doh --disable-mime --disable-netrc --disable-progress-meter
	--disable-get-easy-options --disable-unix-sockets --disable-tls-srp
	--disable-openssl-auto-load-config --enable-ipv6 --enable-threaded-resolver"

PKGS="openssl curl cjson"

# The target's musl: with another architecture's musl-dev installed too, a bare `musl-dev`
# prints both versions glued together.
musl_version() { dpkg-query -W -f='${Version}' "musl-dev:$DEB_ARCH" 2>/dev/null || true; }
gcc_id() { "$MUSL_CC" --version 2>/dev/null | head -n1; musl_version; }

flags_hash() {
	printf '%s\n' "$RECIPE" "$ARCH" "$(gcc_id)" "$DEPS_CFLAGS" "$OSSL_OPTS" "$CURL_OPTS" \
		${CURL_LDFLAGS:+"$CURL_LDFLAGS"} | sha256sum | cut -c1-12
}

# --- Debian sources, through a private apt configuration (the system's is left alone). --------

APT_DIR=$CACHE_ROOT/apt
apt_opts() {
	local o=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o "Dir::Etc::SourceParts=$APT_DIR/sources.list.d"
		-o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache"
		-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "Debug::NoLocking=1"
		-o "APT::Get::Only-Source=1")
	# apt downloads as the unprivileged _apt user when it can; a private directory it cannot
	# write to would only produce warnings.
	[ "$(id -u)" = 0 ] && o+=(-o "APT::Sandbox::User=root")
	printf '%s\n' "${o[@]}"
}

apt_update() {
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/sources.list.d"
	cat >"$APT_DIR/sources.list" <<-EOF
		deb-src [signed-by=$KEYRING] $MIRROR $SUITE main
		deb-src [signed-by=$KEYRING] $MIRROR $SUITE-updates main
		deb-src [signed-by=$KEYRING] $SECURITY $SUITE-security main
	EOF
	local opts
	mapfile -t opts < <(apt_opts)
	say "reading Debian's source index ($SUITE)"
	apt-get "${opts[@]}" -qq update >&2
}

# Versions of a source package, newest first.
src_versions() {
	local opts v sorted=() i inserted
	mapfile -t opts < <(apt_opts)
	for v in $(apt-cache "${opts[@]}" showsrc "$1" 2>/dev/null |
		awk -v p="$1" '/^Package:/ {ok = ($2 == p)} ok && /^Version:/ {print $2}' | sort -u); do
		inserted=
		for i in "${!sorted[@]}"; do
			if dpkg --compare-versions "$v" gt "${sorted[$i]}"; then
				sorted=("${sorted[@]:0:$i}" "$v" "${sorted[@]:$i}")
				inserted=1
				break
			fi
		done
		[ -n "$inserted" ] || sorted+=("$v")
	done
	printf '%s\n' "${sorted[@]}"
}

# Fetches and unpacks (patches applied) one source package into $2/<pkg>; prints the version.
# Debian's mirrors drop superseded versions and a security upload can be listed before its files
# are everywhere, so when the newest cannot be fetched the next one down is taken.
fetch_src() {
	local pkg=$1 dest=$2 opts v dir versions
	mapfile -t opts < <(apt_opts)
	# Without a version apt takes the newest listed, so that one is not asked for twice.
	versions=$(src_versions "$pkg" | tail -n +2)
	for v in "" $versions; do
		rm -rf "$dest/dl-$pkg" && mkdir -p "$dest/dl-$pkg"
		if (cd "$dest/dl-$pkg" && apt-get "${opts[@]}" -qq source "$pkg${v:+=$v}") \
			>"$dest/dl-$pkg.log" 2>&1; then
			dir=$(find "$dest/dl-$pkg" -mindepth 1 -maxdepth 1 -type d | head -n1)
			[ -n "$dir" ] || continue
			mv "$dir" "$dest/$pkg"
			sed -n 's/^Version: //p' "$dest/dl-$pkg"/*.dsc | head -n1
			rm -rf "$dest/dl-$pkg"
			return 0
		fi
		say "could not fetch the source of $pkg ${v:-(newest)}; trying an older version:" \
			"$(grep -m1 -E '^(E|Err):' "$dest/dl-$pkg.log" || tail -n1 "$dest/dl-$pkg.log")"
	done
	return 1
}

# --- Building the libraries ---------------------------------------------------------------------

kernel_headers() {
	# musl ships no kernel headers; OpenSSL wants <linux/...> and <asm/...>.  Borrow the build
	# host's, after musl's own (-idirafter), so nothing of glibc comes along.
	local d=$1 triplet
	mkdir -p "$d"
	if [ -n "$KHDR" ]; then
		ln -sfn "$KHDR/linux" "$d/linux"
		ln -sfn "$KHDR/asm-generic" "$d/asm-generic"
		ln -sfn "$KHDR/asm" "$d/asm"
		[ -e "$d/linux/version.h" ] || die "$DEB_ARCH kernel headers not found in $KHDR; install linux-libc-dev-$DEB_ARCH-cross."
		return 0
	fi
	triplet=$(gcc -dumpmachine 2>/dev/null || echo "$ARCH-linux-gnu")
	ln -sfn /usr/include/linux "$d/linux"
	ln -sfn /usr/include/asm-generic "$d/asm-generic"
	if [ -d "/usr/include/$triplet/asm" ]; then
		ln -sfn "/usr/include/$triplet/asm" "$d/asm"
	else
		ln -sfn /usr/include/asm "$d/asm"
	fi
	[ -e "$d/linux/version.h" ] || die "kernel headers not found in /usr/include; install linux-libc-dev."
}

# Same mtime everywhere: Debian's packaging patches touch configure.ac and Makefile.am, and make
# must not try to run autotools (not installed, and not wanted) because of it.
flatten_mtimes() { find "$1" -exec touch -h -d "@$2" {} +; }

build_openssl() {
	local src=$1 prefix=$2
	say "building OpenSSL $(cat "$prefix/versions/openssl")"
	kernel_headers "$src/kernel-headers"
	# Relative paths and a fixed prefix only: OpenSSL keeps its compiler flags and directories in
	# the library (OpenSSL_version), and a cache path in there would make the output depend on
	# where the cache lives.  Nothing is ever installed in $FIXED_PREFIX (DESTDIR below).
	(cd "$src" && export CC=$MUSL_CC AR=$AR RANLIB=$RANLIB && CFLAGS="$DEPS_CFLAGS -idirafter kernel-headers" \
		./Configure "$OSSL_TARGET" $OSSL_OPTS --prefix="$FIXED_PREFIX" --libdir=lib --openssldir=/etc/ssl &&
		make -j"$JOBS" build_libs && make install_dev DESTDIR="$src/destdir") \
		>"$src.log" 2>&1 || { tail -n 40 "$src.log" >&2; die "OpenSSL build failed (log: $src.log)"; }
	cp -a "$src/destdir$FIXED_PREFIX/include" "$src/destdir$FIXED_PREFIX/lib" "$prefix/"
}

build_curl() {
	local src=$1 prefix=$2 p
	say "building curl $(cat "$prefix/versions/curl")"
	# Debian's last two patches rename the library for its GnuTLS and NSS flavours (debian/rules
	# pops them for the OpenSSL build); do the same.
	for p in 99_nss.patch 90_gnutls.patch; do
		if grep -qx "$p" "$src/debian/patches/series"; then
			(cd "$src" && patch -R -p1 -s <"debian/patches/$p") || die "could not revert curl's $p"
		fi
	done
	flatten_mtimes "$src" "$SOURCE_DATE_EPOCH"
	(cd "$src" && export AR=$AR RANLIB=$RANLIB && CC=$MUSL_CC CFLAGS="$DEPS_CFLAGS" CPPFLAGS="-I$prefix/include" \
		LDFLAGS="$CURL_LDFLAGS${CURL_LDFLAGS:+ }-L$prefix/lib" LIBS="-lssl -lcrypto" \
		./configure --prefix="$prefix" ${CROSS:+--host=$ARCH-linux-musl} $CURL_OPTS && make -j"$JOBS" -C lib &&
		make -C lib install && make -C include install) \
		>"$src.log" 2>&1 || { tail -n 40 "$src.log" >&2; die "curl build failed (log: $src.log)"; }
}

build_cjson() {
	local src=$1 prefix=$2
	say "building cJSON $(cat "$prefix/versions/cjson")"
	mkdir -p "$prefix/include/cjson" "$prefix/lib"
	(cd "$src" && "$MUSL_CC" $DEPS_CFLAGS -std=c89 -c -o cJSON.o cJSON.c && "$AR" rcsD libcjson.a cJSON.o) \
		>"$src.log" 2>&1 || { cat "$src.log" >&2; die "cJSON build failed (log: $src.log)"; }
	cp "$src/cJSON.h" "$prefix/include/cjson/cJSON.h"
	cp "$src/libcjson.a" "$prefix/lib/libcjson.a"
}

# Prints the directory holding include/ and lib/ for the current flags, building it if needed.
deps() {
	local fh pins age key dir work v pkg
	fh=$(flags_hash)
	pins=$CACHE_ROOT/versions-$fh
	mkdir -p "$CACHE_ROOT"

	# Reuse the versions resolved last time unless asked, or they are a week old (security
	# updates); a failed refresh falls back to them.
	fresh() {
		[ -f "$pins" ] && [ -z "${SFN_AGENT_DEPS_REFRESH:-}" ] || return 1
		age=$((($(date +%s) - $(stat -c %Y "$pins")) / 86400))
		key=$(cat "$pins")
		[ "$age" -lt "$MAX_AGE_DAYS" ] && [ -f "$CACHE_ROOT/$key/ok" ] || return 1
		printf '%s\n' "$CACHE_ROOT/$key"
	}
	fresh && return 0

	# One build of the libraries at a time per cache (parallel CI jobs, tests); the others wait
	# and then find it done.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$CACHE_ROOT/lock"
		if ! flock -n 9; then
			say "waiting for another build of the libraries ($CACHE_ROOT/lock)"
			flock 9
			fresh && return 0
		fi
		find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -name 'tmp.*' -exec rm -rf {} +
	fi

	need_tools
	if ! apt_update; then
		if [ -f "$pins" ] && [ -f "$CACHE_ROOT/$(cat "$pins")/ok" ]; then
			say "cannot reach Debian's archive; keeping the libraries built before"
			touch "$pins"
			printf '%s\n' "$CACHE_ROOT/$(cat "$pins")"
			return 0
		fi
		if [ "$(id -u)" != 0 ]; then
			die "no cached libraries in $CACHE_ROOT and apt-get could not read Debian's source index;
  run 'make static' once as root (it fetches the Debian sources of openssl, curl and cjson),
  or on Debian/Ubuntu: sudo apt-get install $BUILD_PKGS, then run 'make static' again."
		fi
		die "apt-get could not read Debian's source index ($MIRROR, $SECURITY); check the network."
	fi

	work=$CACHE_ROOT/tmp.$$
	trap 'rm -rf "$work"' EXIT
	rm -rf "$work" && mkdir -p "$work/prefix/versions"
	for pkg in $PKGS; do
		v=$(fetch_src "$pkg" "$work") || die "could not fetch the Debian source of $pkg (see $work/dl-$pkg.log)"
		printf '%s\n' "$v" >"$work/prefix/versions/$pkg"
	done
	key=$(for pkg in $PKGS; do printf '%s-%s_' "$pkg" "$(cat "$work/prefix/versions/$pkg")"; done)$fh
	key=$(printf '%s' "$key" | tr -c 'A-Za-z0-9._+-' '_')
	dir=$CACHE_ROOT/$key
	if [ -f "$dir/ok" ]; then
		say "libraries for these versions are cached already"
	else
		# The build date OpenSSL records comes from its changelog, not from the clock.
		SOURCE_DATE_EPOCH=$(cd "$work/openssl" && dpkg-parsechangelog -STimestamp)
		export SOURCE_DATE_EPOCH
		local prefix=$work/prefix
		build_openssl "$work/openssl" "$prefix"
		build_curl "$work/curl" "$prefix"
		build_cjson "$work/cjson" "$prefix"
		printf '%s\n' "$DEPS_CFLAGS" >"$prefix/cflags"
		rm -rf "$dir" && mkdir -p "$dir"
		cp -a "$prefix/include" "$prefix/lib" "$prefix/versions" "$prefix/cflags" "$dir/"
		touch "$dir/ok"
	fi
	printf '%s\n' "$key" >"$pins"
	# Libraries of superseded versions (same flags) are not used again.
	for v in "$CACHE_ROOT"/*_"$fh"; do
		[ "$v" = "$dir" ] || rm -rf "$v"
	done
	rm -rf "$work"
	trap - EXIT
	printf '%s\n' "$dir"
}

# --- The binary ---------------------------------------------------------------------------------

# The CA bundle built into the binary, as a C array; used when no CA file is found at run time
# (agent/http_curl.c looks for the symbols weakly, so the development build works without it).
gen_ca() {
	local pem=$1 out=$2 n
	n=$(grep -c 'BEGIN CERTIFICATE' "$pem" || true)
	[ "$n" -gt 0 ] || die "$pem holds no certificates; install ca-certificates."
	# PEM is ASCII; anything else means this is not the file we think it is.
	if LC_ALL=C grep -q '[^ -~]' "$pem"; then
		die "$pem is not a plain PEM bundle (non-ASCII bytes); point SFN_AGENT_CA_FILE at one."
	fi
	{
		printf '/* Generated by scripts/static.sh from %s: %s certificates (%s).  Do not edit. */\n' \
			"$pem" "$n" "$(dpkg-query -W -f='ca-certificates ${Version}' ca-certificates 2>/dev/null ||
				echo 'origin unknown')"
		printf '/* Types as declared (weak) in agent/http.h. */\n'
		printf 'const char sfn_builtin_ca_bundle[] =\n'
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$pem"
		printf '\t;\nconst unsigned long sfn_builtin_ca_bundle_len = sizeof sfn_builtin_ca_bundle - 1;\n'
	} >"$out.tmp"
	mv "$out.tmp" "$out"
}

main() {
	local deps_dir epoch std size stamp libs p
	deps_dir=$(deps)
	# The Debian source versions inside the binary, musl's included: scripts/dist.sh names them in
	# the SBOM (build/static*/debian-sources).
	libs="musl $(dpkg-query -W -f='${source:Version}' "musl-dev:$DEB_ARCH" 2>/dev/null || echo unknown)"
	for p in $PKGS; do libs="$libs, $p $(cat "$deps_dir/versions/$p")"; done
	say "$DEB_ARCH, Debian sources: $libs"
	[ -r "$CA_FILE" ] || die "$CA_FILE not found; install ca-certificates (apt-get install ca-certificates)."
	local miss
	miss=$(missing_tools)
	[ -z "$miss" ] || die "missing: $miss; install them with: sudo apt-get install $BUILD_PKGS"

	# The last commit's time, for anything that records a date (__DATE__, archives).
	epoch=$(git -c safe.directory="$ROOT" -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 1)
	export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$epoch}
	export LC_ALL=C TZ=UTC

	mkdir -p "$O" "$(dirname "$OUT")"
	std=$(make -s --no-print-directory print-cflags)
	# make knows when a source changed, not when the libraries or the flags did: start the objects
	# afresh then.  The link always runs (under a second), so the CA bundle is always current.
	stamp="$deps_dir $MUSL_CC $DEPS_CFLAGS $std $libs"
	if [ "$(cat "$O/stamp" 2>/dev/null)" != "$stamp" ]; then
		rm -rf "$O/src" "$O/agent" "$O/wrapper" "$O/base"
		printf '%s\n' "$stamp" >"$O/stamp"
	fi
	rm -f "$O/sfn-agent.debug"
	# Short, stable paths in the command lines below.
	ln -sfn "$deps_dir" "$O/deps"
	printf '%s\n' "$libs" >"$O/debian-sources"
	kernel_headers "$O/kernel-headers"
	gen_ca "$CA_FILE" "$O/ca_builtin.c"
	# shellcheck disable=SC2086
	"$MUSL_CC" $DEPS_CFLAGS $std -c -o "$O/ca_builtin.o" "$O/ca_builtin.c"

	# The Makefile's own rules and source list, with musl and the cached libraries swapped in.
	env -u CFLAGS -u LDFLAGS -u LDLIBS -u CPPFLAGS make --no-print-directory -j"$JOBS" \
		O="$O" BIN="$O/sfn-agent.debug" CC="$MUSL_CC" OPT="$DEPS_CFLAGS" \
		EXTRA_CFLAGS="-isystem $O/deps/include -idirafter $O/kernel-headers -ffile-prefix-map=$ROOT=." \
		LDFLAGS="-static -L$O/deps/lib -Wl,--gc-sections -Wl,--build-id=none -Wl,-O1" \
		LDLIBS="$O/ca_builtin.o -lcurl -lssl -lcrypto -lcjson" \
		"$O/sfn-agent.debug" >&2

	# Checked before it takes the place of the last good binary: a failed check leaves none.
	local tmp=$OUT.tmp ca_size
	rm -f "$OUT"
	trap 'rm -f "$OUT.tmp"' EXIT
	"$STRIP" --strip-all -R .comment -R '.note*' -o "$tmp" "$O/sfn-agent.debug"

	# A dynamic binary would not run in FROM scratch: refuse it.
	if ! file -b "$tmp" | grep -q 'statically linked'; then
		die "the binary is not statically linked: $(file -b "$tmp")"
	fi
	if readelf -lW "$tmp" | grep -q 'INTERP'; then
		die "the binary asks for a program interpreter (PT_INTERP); it would not run in an empty image."
	fi
	if readelf -dW "$tmp" 2>/dev/null | grep -q 'NEEDED'; then
		die "the binary needs shared libraries: $(readelf -dW "$tmp" | grep NEEDED | tr -s ' ')"
	fi
	size=$(stat -c %s "$tmp")
	ca_size=$(stat -c %s "$CA_FILE")
	if [ "$size" -gt "$BUDGET" ]; then
		die "the binary is $size bytes, over the budget of $BUDGET bytes (3 MiB) with the $ca_size-byte
  CA bundle inside; something pulled in more code than before (compare
  'size -A $O/sfn-agent.debug' with that of the last good build)."
	fi
	mv "$tmp" "$OUT"
	trap - EXIT
	say "$OUT: $size bytes ($(awk -v s="$size" 'BEGIN {printf "%.2f MiB", s / 1048576}') of the" \
		"$BUDGET-byte budget, CA bundle $ca_size bytes), static, sha256 $(sha256sum "$OUT" | cut -c1-16)"
}

# On one line, so that editing this file while it runs cannot make bash read past the end.
main "$@"; exit
