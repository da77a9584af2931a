#!/bin/sh
# PgBouncer's userlist.txt from the app's secrets file (ExecStartPre of
# pgbouncer.service, as root): the password never goes anywhere else.
set -eu
umask 027
pw=$(sed -n 's/^DB_PASSWORD=//p' /etc/app/secrets.env | tail -n 1)
if [ -z "$pw" ]; then
	echo "no DB_PASSWORD in /etc/app/secrets.env" >&2
	exit 1
fi
t=$(mktemp /etc/pgbouncer/.userlist.XXXXXX)
printf '"%s" "%s"\n' '{{.DBName}}' "$pw" >"$t"
chown postgres:postgres "$t"
chmod 0640 "$t"
mv -f "$t" /etc/pgbouncer/userlist.txt
