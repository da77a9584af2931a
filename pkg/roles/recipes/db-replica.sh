# db-replica: a hot standby streaming from the primary, seeded with
# pg_basebackup over TLS. It is seeded again (its data replaced by the
# primary's) when it is not yet a standby of this primary, or when the
# recipe runs with the action "reseed".
require FERRY_DB_NAME FERRY_DB_PRIMARY REPLICATION_PASSWORD
. "$FERRY_RECIPE/postgres.sh"

# libpq checks the primary's certificate: the environment's database CA's,
# naming the primary's address.
put_file "$(file tls/db-ca.pem)" /etc/postgresql/ferry-tls/db-ca.pem 0644 root:postgres postgresql
primary_conninfo="host=$FERRY_DB_PRIMARY port=5432 user=replicator sslmode=verify-full sslrootcert=/etc/postgresql/ferry-tls/db-ca.pem"
primary_ready() {
	PGPASSWORD=$REPLICATION_PASSWORD runuser -u postgres -- psql -X -q "$primary_conninfo replication=true" -c IDENTIFY_SYSTEM
}
primary_of() { sed -n "s/^primary_conninfo = '.*host=\([^ ']*\).*/\1/p" "$PG_DATA/postgresql.auto.conf" 2>/dev/null; }
if [ "${FERRY_ACTION:-}" = reseed ] || [ ! -f "$PG_DATA/standby.signal" ] || [ "$(primary_of)" != "$FERRY_DB_PRIMARY" ]; then
	# Until the primary's recipe has made the replicator role (the two
	# recipes run at once).
	wait_for "the primary $FERRY_DB_PRIMARY to take replication connections" 300 primary_ready
	systemctl stop postgresql
	rm -rf "$PG_DATA"
	install -d -m 0700 -o postgres -g postgres "$PG_DATA"
	# The password reaches pg_basebackup in its environment; -R writes it
	# into the standby's primary_conninfo (postgresql.auto.conf, 0600).
	PGPASSWORD=$REPLICATION_PASSWORD runuser -u postgres -- pg_basebackup -D "$PG_DATA" -R -X stream -c fast \
		-d "$primary_conninfo application_name=$(hostname)"
	changed "seeded from the primary $FERRY_DB_PRIMARY"
	want_restart postgresql
fi
ensure_service postgresql
wait_for "PostgreSQL to accept connections" 60 pg_ready
