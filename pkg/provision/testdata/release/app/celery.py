# Celery's app (-A app): tasks come from RabbitMQ, results go to Redis;
# the addresses from /etc/ferry/app.env, the passwords from
# /etc/app/secrets.env (the units read both).
import os

from celery import Celery

e = os.environ
broker = "amqp://%s:%s@%s:%s/%s" % (e["QUEUE_USER"], e["QUEUE_PASSWORD"], e["QUEUE_HOST"], e["QUEUE_PORT"], e["QUEUE_VHOST"])
backend = "redis://:%s@%s:%s/0" % (e["CACHE_PASSWORD"], e["CACHE_HOST"], e["CACHE_PORT"])
app = Celery("app", broker=broker, backend=backend)


@app.task
def add(x, y):
    return x + y
