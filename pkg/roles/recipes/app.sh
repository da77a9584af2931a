# The app's side of web and worker servers: the app user and its
# directories (/srv/app/releases/<sha>, /srv/app/current), its settings in
# /etc/ferry/app.env and its secrets in /etc/app/secrets.env, and the way to
# the databases: PgBouncer on 127.0.0.1:6432 (databases $FERRY_DB_NAME and
# ${FERRY_DB_NAME}_replica) through stunnel, which wraps PostgreSQL's
# protocol in TLS to the primary and the replica and checks their
# certificates against the environment's database CA.
#
# With the action "image" (a bake's builder) the server gets no secret:
# nothing that needs one is written or started, and every instance of the
# image fetches them at its boot (ferry-secrets.service).
require FERRY_DB_NAME FERRY_APP_MODULE FERRY_DB_PRIMARY FERRY_DB_REPLICA FERRY_CACHE FERRY_QUEUE
if [ "${FERRY_ACTION:-}" != image ]; then
	require DB_PASSWORD QUEUE_PASSWORD CACHE_PASSWORD DJANGO_SECRET_KEY
elif [ -z "${FERRY_SECRETS_PATH:-}" ]; then
	echo "an image's servers fetch their secrets at boot: the recipe needs the secrets path" >&2
	exit 2
fi
ensure_packages curl gunicorn python3-django python3-celery python3-psycopg2 python3-redis python3-django-redis \
	pgbouncer stunnel4 postgresql-client-15

ensure_user app /srv/app
ensure_dir /srv/app 0755 app:app
ensure_dir /srv/app/releases 0755 app:app
ensure_dir /srv/app/static 0755 app:app
ensure_dir /etc/ferry 0755 root:root
# The app's settings, no secret among them: read by the gunicorn and celery
# units (EnvironmentFile) and by a shell with set -a; . /etc/ferry/app.env
put_content /etc/ferry/app.env 0644 root:root gunicorn celery <<ENV
APP_MODULE=$FERRY_APP_MODULE
DJANGO_SETTINGS_MODULE=$FERRY_APP_MODULE.settings
DB_HOST=127.0.0.1
DB_PORT=6432
DB_NAME=$FERRY_DB_NAME
DB_REPLICA_NAME=${FERRY_DB_NAME}_replica
DB_USER=$FERRY_DB_NAME
CACHE_HOST=$FERRY_CACHE
CACHE_PORT=6379
QUEUE_HOST=$FERRY_QUEUE
QUEUE_PORT=5672
QUEUE_USER=$FERRY_DB_NAME
QUEUE_VHOST=$FERRY_DB_NAME
ENV
# Its secrets, under the names an environment's secrets have: the units
# read this file too; at boot `ferry secrets fetch` may write it afresh.
if [ "${FERRY_ACTION:-}" != image ]; then
	put_secrets /etc/app/secrets.env gunicorn celery pgbouncer -- DB_PASSWORD QUEUE_PASSWORD CACHE_PASSWORD DJANGO_SECRET_KEY
else
	ensure_dir /etc/app 0700 root:root
fi

# At each boot, before the app starts: ferry-secrets.service runs `ferry
# secrets fetch` (the instance profile's credentials, IMDSv2) to write the
# environment's secrets from SSM into that file; gunicorn, celery and
# PgBouncer wait for it, and gunicorn and celery do not start without it.
# Enabled only: it runs at boot or when an app unit starts.
put_file "$(file systemd/ferry-secrets.service)" /etc/systemd/system/ferry-secrets.service 0644 root:root
for unit in gunicorn celery; do
	put_file "$(file systemd/secrets-first.conf)" "/etc/systemd/system/$unit.service.d/ferry-secrets.conf" 0644 root:root
done
if [ -n "${FERRY_SECRETS_PATH:-}" ]; then
	if [ ! -x /usr/local/bin/ferry ]; then
		echo "ferry-secrets.service runs /usr/local/bin/ferry, which this server lacks (provision.Config.Ferry uploads it)" >&2
		exit 1
	fi
	endpoint=""
	if [ -n "${FERRY_INSTANCE_ENDPOINT:-}" ]; then endpoint="AWS_ENDPOINT_URL=$FERRY_INSTANCE_ENDPOINT"; fi
	put_content /etc/ferry/secrets-fetch.env 0644 root:root <<ENV
FERRY_SECRETS_PATH=$FERRY_SECRETS_PATH
$endpoint
ENV
	ensure_enabled ferry-secrets
else
	ensure_absent /etc/ferry/secrets-fetch.env
fi

# stunnel trusts the environment's database CA alone (RecipeParams.DBCA).
put_file "$(file tls/db-ca.pem)" /etc/ferry/db-ca.pem 0644 root:root ferry-stunnel
put_file "$(file stunnel/ferry-db.conf)" /etc/stunnel/ferry-db.conf 0644 root:root ferry-stunnel
put_file "$(file systemd/ferry-stunnel.service)" /etc/systemd/system/ferry-stunnel.service 0644 root:root ferry-stunnel
ensure_service ferry-stunnel

# PgBouncer's userlist.txt is made from the secrets file each time it
# starts, so that a new DB_PASSWORD needs only a restart.
ensure_dir /usr/local/lib/ferry 0755 root:root
put_file "$(file pgbouncer/userlist.sh)" /usr/local/lib/ferry/pgbouncer-userlist 0755 root:root pgbouncer

# At each boot of an image's instance, before nginx, gunicorn and celery:
# ferry-role.service starts the services of the instance's role alone (its
# ferry:role tag, from its metadata), as /etc/ferry/image-roles (run.sh,
# on an image's builder only) lists them. Enabled only; without that file
# it does nothing.
put_file "$(file role/ferry-role)" /usr/local/lib/ferry/ferry-role 0755 root:root
put_file "$(file systemd/ferry-role.service)" /etc/systemd/system/ferry-role.service 0644 root:root
ensure_enabled ferry-role
put_file "$(file systemd/pgbouncer-ferry.conf)" /etc/systemd/system/pgbouncer.service.d/ferry.conf 0644 root:root pgbouncer
put_file "$(file pgbouncer/pgbouncer.ini)" /etc/pgbouncer/pgbouncer.ini 0640 postgres:postgres pgbouncer
if [ "${FERRY_ACTION:-}" != image ]; then
	ensure_service pgbouncer
else
	ensure_enabled pgbouncer
fi
