# queue: RabbitMQ on port 5672, with a user and a vhost named after the
# database for the app's Celery.
require FERRY_DB_NAME QUEUE_PASSWORD
ensure_packages rabbitmq-server
put_file "$(file rabbitmq/rabbitmq-env.conf)" /etc/rabbitmq/rabbitmq-env.conf 0644 root:root rabbitmq-server
ensure_service rabbitmq-server
wait_for "RabbitMQ to start" 120 rabbitmqctl -q await_startup

q_user=$FERRY_DB_NAME
# Passwords go to rabbitmqctl on its standard input, never as arguments.
if ! rabbitmqctl -q list_users | awk '{print $1}' | grep -qx "$q_user"; then
	printf '%s\n' "$QUEUE_PASSWORD" | rabbitmqctl -q add_user "$q_user" >/dev/null
	changed "RabbitMQ user $q_user"
elif ! printf '%s\n' "$QUEUE_PASSWORD" | rabbitmqctl -q authenticate_user "$q_user" >/dev/null 2>&1; then
	printf '%s\n' "$QUEUE_PASSWORD" | rabbitmqctl -q change_password "$q_user" >/dev/null
	changed "RabbitMQ password of $q_user"
fi
if ! rabbitmqctl -q list_vhosts | grep -qx "$FERRY_DB_NAME"; then
	rabbitmqctl -q add_vhost "$FERRY_DB_NAME" >/dev/null
	changed "RabbitMQ vhost $FERRY_DB_NAME"
fi
if ! rabbitmqctl -q list_user_permissions "$q_user" | grep -q "^$FERRY_DB_NAME	\.\*	\.\*	\.\*$"; then
	rabbitmqctl -q set_permissions -p "$FERRY_DB_NAME" "$q_user" '.*' '.*' '.*' >/dev/null
	changed "RabbitMQ permissions of $q_user on $FERRY_DB_NAME"
fi
