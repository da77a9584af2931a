# Django's settings for the test release (Celery reads them: the units set
# DJANGO_SETTINGS_MODULE=app.settings).
import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
INSTALLED_APPS = []
USE_TZ = True
