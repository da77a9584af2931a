# PostgreSQL 15's cluster main, shared by db-primary and db-replica:
# listening on every address, TLS with the certificate of the environment's
# database CA for the server's address, WAL for
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
# The server's certificate and key, signed by the environment's database
# CA for its address (roles.DBTLS): what web, worker and the replica check.
require FERRY_DB_TLS_CERT FERRY_DB_TLS_KEY
ensure_dir /etc/postgresql/ferry-tls 0750 root:postgres
# (Decoded into files first: put_file at the end of a pipeline would run
# in a subshell, and what it changed would not count.)
tls=$(mktemp -d "$FERRY_TMP/tls.XXXXXX")
printf '%s' "$FERRY_DB_TLS_CERT" | base64 -d >"$tls/server.crt"
printf '%s' "$FERRY_DB_TLS_KEY" | base64 -d >"$tls/server.key"
put_file "$tls/server.crt" /etc/postgresql/ferry-tls/server.crt 0644 root:postgres postgresql
put_file "$tls/server.key" /etc/postgresql/ferry-tls/server.key 0640 root:postgres postgresql
rm -rf "$tls"
put_file "$(file postgresql/ferry.conf)" "$PG_CONF/conf.d/ferry.conf" 0644 postgres:postgres postgresql
put_file "$(file postgresql/pg_hba.conf)" "$PG_CONF/pg_hba.conf" 0640 postgres:postgres postgresql

# psql as postgres over the local socket.
pg() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }
pg_ready() { runuser -u postgres -- pg_isready -q; }
