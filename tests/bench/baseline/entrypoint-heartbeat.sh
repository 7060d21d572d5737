#!/bin/bash
# The same handler with the usual heartbeat loop: a background subshell that calls the AWS CLI
# every HEARTBEAT_SECONDS while the job runs, stopped by the trap before the result is sent.
#   ENTRYPOINT ["/entrypoint-heartbeat.sh"]   CMD ["/app/job", "arg"]
set -e

OUTPUT='{}'
HEARTBEAT_SECONDS=${HEARTBEAT_SECONDS:-60}

while sleep "$HEARTBEAT_SECONDS"; do
	aws stepfunctions send-task-heartbeat --task-token "$TASK_TOKEN"
done &
HEARTBEAT_PID=$!

catch() {
	kill "$HEARTBEAT_PID" 2>/dev/null || true
	if [ "$1" != "0" ]; then
		aws stepfunctions send-task-failure --task-token "$TASK_TOKEN" \
			--error "ScriptFailed" --cause "exit status $1 at line $2"
	else
		aws stepfunctions send-task-success --task-token "$TASK_TOKEN" --task-output "$OUTPUT"
	fi
}
trap 'catch $? $LINENO' EXIT

"$@"
