# The app's side of web and worker servers: the app user and its
# directories (/srv/app/releases/<sha>, /srv/app/current), its settings in
# /etc/ferry/app.env, and the way to the databases: PgBouncer on
# 127.0.0.1:6432 (databases $FERRY_DB_NAME and ${FERRY_DB_NAME}_replica)
# through stunnel, which wraps PostgreSQL's protocol in TLS to the primary
# and the replica.
require FERRY_DB_NAME FERRY_APP_MODULE FERRY_DB_PRIMARY FERRY_DB_REPLICA FERRY_CACHE FERRY_QUEUE \
	FERRY_DB_PASSWORD FERRY_QUEUE_PASSWORD FERRY_CACHE_PASSWORD FERRY_SECRET_KEY
ensure_packages gunicorn python3-django python3-celery python3-psycopg2 python3-redis python3-django-redis \
	pgbouncer stunnel4 postgresql-client-15

ensure_user app /srv/app
ensure_dir /srv/app 0755 app:app
ensure_dir /srv/app/releases 0755 app:app
ensure_dir /srv/app/static 0755 app:app
ensure_dir /etc/ferry 0755 root:root
# Read by the gunicorn and celery units (EnvironmentFile) and by the app's
# settings when run by hand: set -a; . /etc/ferry/app.env
put_content /etc/ferry/app.env 0640 root:app gunicorn celery <<ENV
APP_MODULE=$FERRY_APP_MODULE
DJANGO_SETTINGS_MODULE=$FERRY_APP_MODULE.settings
DJANGO_SECRET_KEY=$FERRY_SECRET_KEY
DB_HOST=127.0.0.1
DB_PORT=6432
DB_NAME=$FERRY_DB_NAME
DB_REPLICA_NAME=${FERRY_DB_NAME}_replica
DB_USER=$FERRY_DB_NAME
DB_PASSWORD=$FERRY_DB_PASSWORD
REDIS_URL=redis://:$FERRY_CACHE_PASSWORD@$FERRY_CACHE:6379/0
CELERY_BROKER_URL=amqp://$FERRY_DB_NAME:$FERRY_QUEUE_PASSWORD@$FERRY_QUEUE:5672/$FERRY_DB_NAME
ENV

put_file "$(file stunnel/ferry-db.conf)" /etc/stunnel/ferry-db.conf 0644 root:root ferry-stunnel
put_file "$(file systemd/ferry-stunnel.service)" /etc/systemd/system/ferry-stunnel.service 0644 root:root ferry-stunnel
ensure_service ferry-stunnel

put_file "$(file pgbouncer/pgbouncer.ini)" /etc/pgbouncer/pgbouncer.ini 0640 postgres:postgres pgbouncer
put_content /etc/pgbouncer/userlist.txt 0640 postgres:postgres pgbouncer <<USERS
"$FERRY_DB_NAME" "$FERRY_DB_PASSWORD"
USERS
ensure_service pgbouncer reload
