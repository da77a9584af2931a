# Celery's app loads with Django's, so that a task sent from a view uses
# the broker and result backend of the settings.
from .celery import app as celery_app

__all__ = ("celery_app",)
