# Celery's app (-A app): tasks come from RabbitMQ, results go to Redis.
import os

from celery import Celery

app = Celery("app", broker=os.environ["CELERY_BROKER_URL"], backend=os.environ["REDIS_URL"])


@app.task
def add(x, y):
    return x + y
