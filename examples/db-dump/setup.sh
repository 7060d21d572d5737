#!/bin/sh
# Installs what examples/db-dump needs in the lab: a MariaDB server and its client tools (mysqldump),
# from Debian's packages.  Only as root; otherwise it says what to run.
set -eu
if command -v mysqldump >/dev/null 2>&1 && { command -v mariadbd || [ -x /usr/sbin/mariadbd ]; } >/dev/null 2>&1 &&
   command -v mariadb-install-db >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "examples/db-dump needs MariaDB (mariadbd, mariadb-install-db, mysqldump): as root, run" >&2
	echo "  apt-get install -y --no-install-recommends mariadb-server mariadb-client" >&2
	exit 1
fi
echo "examples/db-dump: installing mariadb-server and mariadb-client" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends mariadb-server mariadb-client >&2 ||
	{ apt-get update >&2 && apt-get install -y --no-install-recommends mariadb-server mariadb-client >&2; }
