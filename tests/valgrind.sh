#!/bin/sh
# Runs the agent's run mode under valgrind in the cases that need no AWS
# endpoint and prints one line per case, like the unit tests:
#   PASS valgrind.NAME   or   FAIL valgrind.NAME: why
# usage: tests/valgrind.sh BIN
# Each case must end with the agent's expected exit status and valgrind must
# find zero errors and zero definite, indirect or possible leaks.  The command
# the agent starts is not traced (--trace-children=no), and the agent's own
# child between fork and exec is kept quiet (--child-silent-after-fork).
# Exit status 1 when any case failed.  The integration tests with a lab are in
# tests/integration/test_valgrind.py.
set -u
bin=${1:?usage: tests/valgrind.sh BIN}
command -v valgrind >/dev/null 2>&1 || { echo "FAIL valgrind: valgrind is not installed"; exit 1; }
log=$(mktemp -d "${TMPDIR:-/tmp}/sfn-valgrind.XXXXXX") || exit 2
trap 'rm -rf "$log"' EXIT
failed=0

# case NAME EXPECTED_STATUS ARGS...
case_() {
	name=$1 want=$2
	shift 2
	# A clean environment: no token, no AWS_* inherited, no traffic anywhere.
	env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$log" AWS_EC2_METADATA_DISABLED=true \
		valgrind -q --error-exitcode=99 --leak-check=full \
		--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
		--track-fds=no --trace-children=no --child-silent-after-fork=yes --log-file="$log/$name.vg" \
		"$bin" "$@" >"$log/$name.out" 2>"$log/$name.err" </dev/null
	rc=$?
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log/$name.vg" | tail -n 1)
	if [ "$rc" -eq 99 ] || [ -n "$errors" ] && [ "${errors:-0}" -ne 0 ] || [ -s "$log/$name.vg" ]; then
		echo "FAIL valgrind.$name: valgrind found errors or leaks (exit status $rc)"
		sed 's/^/    /' "$log/$name.vg" | head -n 60 >&2
		failed=1
	elif [ "$rc" -ne "$want" ]; then
		echo "FAIL valgrind.$name: exit status $rc, expected $want"
		sed 's/^/    /' "$log/$name.err" | tail -n 20 >&2
		failed=1
	else
		echo "PASS valgrind.$name"
	fi
}

case_ true 0 -- true
case_ exit_3 3 -- sh -c 'exit 3'
case_ no_such_command 127 -- /no/such/cmd
case_ help 0 --help
case_ version 0 --version
case_ bad_option 125 --no-such-option -- true
case_ bad_value 125 --heartbeat=abc -- true
case_ no_command 125 --heartbeat 5
case_ timeout 143 --timeout 0.2 --grace 0.2 -- sleep 5
case_ stdout_json 0 -- sh -c 'echo progress; echo "{\"ok\": true}"'
case_ env_map_help 0 --exit-code-map 3=Retry --success-codes 0,3 --help
exit $failed
