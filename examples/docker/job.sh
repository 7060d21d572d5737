#!/bin/sh
# A stand-in for your job: logs as usual, writes its result to $SFN_OUTPUT (the agent sends it
# with SendTaskSuccess), and fails with a status the state machine can tell apart.
set -eu
echo "job: processing ${1:-nothing}"
[ "${1:-}" != fail ] || { echo "job: asked to fail" >&2; exit 3; }
printf '{"processed":"%s"}\n' "${1:-nothing}" >"$SFN_OUTPUT"
