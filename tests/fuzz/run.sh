#!/bin/sh
# Runs libFuzzer targets for a bounded time each and prints one line per target:
#   PASS fuzz_NAME (N execs)   or   FAIL fuzz_NAME: why
# usage: tests/fuzz/run.sh [-d BUILD_DIR] [NAME...]   (default: build/fuzz, every target built there)
# FUZZ_SECONDS (default 20) bounds each run.  Each target starts from a copy of
# tests/fuzz/corpus/NAME in BUILD_DIR/work/NAME, so new inputs never land in
# the tree; a crashing input is kept there (and named on the FAIL line).
# Exit status 1 when any target failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
dir=build/fuzz
if [ "${1-}" = "-d" ]; then
	dir=$2
	shift 2
fi
secs=${FUZZ_SECONDS:-20}
if [ $# -eq 0 ]; then
	for b in "$dir"/fuzz_*; do
		[ -x "$b" ] && set -- "$@" "${b##*/fuzz_}"
	done
fi
if [ $# -eq 0 ]; then
	echo "FAIL fuzz: no targets in $dir (build them with make fuzz-build)"
	exit 1
fi

failed=0
for name in "$@"; do
	bin=$dir/fuzz_$name
	work=$dir/work/$name
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/crash"
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz_$name: $bin is not built"
		failed=1
		continue
	fi
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp tests/fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null
	fi
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
		"$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="$work/crash/" "$work/corpus" >"$work/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	crash=$(ls "$work/crash" 2>/dev/null | head -n 1)
	if [ $rc -eq 0 ] && [ -z "$crash" ] && [ -n "$execs" ] && [ "$execs" -gt 0 ]; then
		echo "PASS fuzz_$name ($execs execs)"
		continue
	fi
	failed=1
	why=$(grep -m 1 -E '^==[0-9]+==ERROR|runtime error|property violated|^==[0-9]+== ERROR|ERROR: libFuzzer' \
		"$work/log" | sed 's/^==[0-9]*== *//')
	[ -n "$why" ] || why="exit status $rc"
	[ -n "$crash" ] && why="$why; input kept in $work/crash/$crash"
	echo "FAIL fuzz_$name: $why"
	tail -n 40 "$work/log" >&2
done
exit $failed
