# worker: the app without nginx; Celery consumes its tasks from RabbitMQ.
. "$FERRY_RECIPE/app.sh"
put_file "$(file systemd/celery.service)" /etc/systemd/system/celery.service 0644 root:root celery
role_units worker celery
ensure_app_service celery
