# db-primary: PostgreSQL for the app (role and database $FERRY_DB_NAME) and
# the replica (role replicator), only over TLS from other hosts.
require FERRY_DB_NAME DB_PASSWORD REPLICATION_PASSWORD
. "$FERRY_RECIPE/postgres.sh"
ensure_service postgresql
wait_for "PostgreSQL to accept connections" 60 pg_ready

# pg_role NAME PASSWORD_VAR OPTIONS: a login role whose password is the
# one given; checked by logging in, set (from standard input) when not.
pg_role() {
	name=$1 var=$2 opts=$3
	eval "pw=\$$var"
	exists=$(pg -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '$name'")
	if [ "$exists" != 1 ]; then
		pg <<SQL
CREATE ROLE "$name" $opts PASSWORD '$pw';
SQL
		changed "database role $name"
	elif ! PGPASSWORD=$pw psql -X -q -h 127.0.0.1 -U "$name" -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
		pg <<SQL
ALTER ROLE "$name" $opts PASSWORD '$pw';
SQL
		changed "password of database role $name"
	fi
	pw=
}
pg_role "$FERRY_DB_NAME" DB_PASSWORD "LOGIN"
pg_role replicator REPLICATION_PASSWORD "LOGIN REPLICATION"
if [ "$(pg -tA -c "SELECT 1 FROM pg_database WHERE datname = '$FERRY_DB_NAME'")" != 1 ]; then
	pg -c "CREATE DATABASE \"$FERRY_DB_NAME\" OWNER \"$FERRY_DB_NAME\""
	changed "database $FERRY_DB_NAME"
fi
