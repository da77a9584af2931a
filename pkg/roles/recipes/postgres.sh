# PostgreSQL 15's cluster main, shared by db-primary and db-replica:
# listening on every address, TLS with the snakeoil certificate, WAL for
# streaming replication, and the client rules of pg_hba.conf.
require FERRY_DB_NAME
ensure_packages postgresql ssl-cert
PG_CONF=/etc/postgresql/15/main
PG_DATA=/var/lib/postgresql/15/main
if [ ! -d "$PG_CONF" ]; then
	pg_createcluster 15 main >/dev/null
	changed "cluster 15/main"
fi
# The key is readable by postgres through the ssl-cert group.
if ! id -nG postgres | tr ' ' '\n' | grep -qx ssl-cert; then
	adduser postgres ssl-cert >/dev/null
	changed "postgres in group ssl-cert"
	want_restart postgresql
fi
put_file "$(file postgresql/ferry.conf)" "$PG_CONF/conf.d/ferry.conf" 0644 postgres:postgres postgresql
put_file "$(file postgresql/pg_hba.conf)" "$PG_CONF/pg_hba.conf" 0640 postgres:postgres postgresql

# psql as postgres over the local socket.
pg() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }
pg_ready() { runuser -u postgres -- pg_isready -q; }
