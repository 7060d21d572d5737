#!/bin/bash
# Nightly database dump, run by sfn-agent as the container's command.
#
# Dumps one MariaDB/MySQL database to a compressed file and prints, as its last line, where the dump
# is, how big it is and its SHA-256.  sfn-agent sends that line to Step Functions as the task's output
# (SendTaskSuccess) when this script exits 0, and reports ScriptFailed, with the exit status and the
# end of stderr, when it does not.  Nothing in here talks to Step Functions.
#
# Configuration (the task definition's environment; the password from Secrets Manager as MYSQL_PWD,
# which mysqldump reads itself):
#   DB_NAME     the database to dump
#   DB_SOCKET   the server's unix socket, or DB_HOST (and DB_PORT) for a server on the network
#   DB_USER     the user to dump as (default: root)
#   DUMP_DIR    where the dump is written (in production, an EFS volume mounted into the task)
set -euo pipefail

: "${DB_NAME:?set DB_NAME to the database to dump}"
: "${DUMP_DIR:?set DUMP_DIR to the directory the dump goes to}"
if [ -n "${DB_SOCKET:-}" ]; then
	conn=(--socket="$DB_SOCKET")
else
	conn=(--host="${DB_HOST:?set DB_HOST (or DB_SOCKET) to the database server}" --port="${DB_PORT:-3306}")
fi

file="$DUMP_DIR/$DB_NAME-$(date -u +%Y%m%dT%H%M%SZ).sql.gz"
echo "db-dump: dumping database $DB_NAME to $file"

# --single-transaction: a consistent snapshot of InnoDB tables without locking them.
mysqldump "${conn[@]}" --user="${DB_USER:-root}" --single-transaction --routines --triggers --events \
	"$DB_NAME" | gzip -9 > "$file.part"
# Only a complete dump gets the final name: a reader never mistakes a half-written file for a dump.
mv "$file.part" "$file"

bytes=$(stat -c %s "$file")
sha256=$(sha256sum "$file" | cut -d ' ' -f 1)
echo "db-dump: wrote $bytes bytes"
printf '{"dumpFile": "%s", "bytes": %d, "sha256": "%s"}\n' "$file" "$bytes" "$sha256"
