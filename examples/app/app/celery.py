# Celery's app (-A app, as celery.service runs it): the broker and the
# result backend come from Django's settings (CELERY_*), the tasks from each
# installed app's tasks.py.
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

app = Celery("app")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
