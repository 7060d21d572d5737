#!/bin/bash
# The handler this project replaces, as it is commonly written: the container's ENTRYPOINT runs
# the job, and a trap reports the result with the AWS CLI when the script exits.
#   ENTRYPOINT ["/entrypoint.sh"]   CMD ["/app/job", "arg"]
set -e

OUTPUT='{}'

catch() {
	if [ "$1" != "0" ]; then
		aws stepfunctions send-task-failure --task-token "$TASK_TOKEN" \
			--error "ScriptFailed" --cause "exit status $1 at line $2"
	else
		aws stepfunctions send-task-success --task-token "$TASK_TOKEN" --task-output "$OUTPUT"
	fi
}
trap 'catch $? $LINENO' EXIT

"$@"
