# The sample app's settings, all from the environment that the gunicorn and
# celery units (and the default hooks) give it: /etc/ferry/app.env (no
# secret) and /etc/app/secrets.env (the secrets), both written by Ferry's
# role recipes; docs/roles.md names every variable.
import os
import sys
from pathlib import Path
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured

e = os.environ
BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = e.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    # The build hook collects the static files on a builder without
    # secrets; nothing signs anything there.
    if sys.argv[1:2] != ["collectstatic"]:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is not set: is /etc/app/secrets.env loaded?")
    SECRET_KEY = "collectstatic-only"

DEBUG = False
# Behind the balancer, which checks /healthcheck.html by the instance's
# address: every Host is the app's.
ALLOWED_HOSTS = ["*"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = ["django.contrib.staticfiles", "notes"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The primary and the replica, both through the server's PgBouncer (which
# reaches them through stunnel, in TLS). Reads go to the replica.
_db = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": e.get("DB_HOST", "127.0.0.1"),
    "PORT": e.get("DB_PORT", "6432"),
    "USER": e.get("DB_USER", ""),
    "PASSWORD": e.get("DB_PASSWORD", ""),
    # PgBouncer may pool by transaction: no cursor outlives one.
    "DISABLE_SERVER_SIDE_CURSORS": True,
}
DATABASES = {
    "default": {**_db, "NAME": e.get("DB_NAME", "")},
    "replica": {**_db, "NAME": e.get("DB_REPLICA_NAME", ""), "TEST": {"MIRROR": "default"}},
}
DATABASE_ROUTERS = ["app.routers.PrimaryReplicaRouter"]

# Redis: the cache (database 1) holds the sessions, so a session outlives
# any one gunicorn and is seen by every web server; Celery's results go to
# database 0.
_redis = "redis://%s:%s" % (e.get("CACHE_HOST", "127.0.0.1"), e.get("CACHE_PORT", "6379"))
_redis_auth = "redis://:%s@%s:%s" % (quote(e.get("CACHE_PASSWORD", ""), safe=""), e.get("CACHE_HOST", "127.0.0.1"), e.get("CACHE_PORT", "6379"))
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": _redis + "/1",
        "OPTIONS": {"PASSWORD": e.get("CACHE_PASSWORD", "")},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"

CELERY_BROKER_URL = "amqp://%s:%s@%s:%s/%s" % (
    quote(e.get("QUEUE_USER", ""), safe=""),
    quote(e.get("QUEUE_PASSWORD", ""), safe=""),
    e.get("QUEUE_HOST", "127.0.0.1"),
    e.get("QUEUE_PORT", "5672"),
    quote(e.get("QUEUE_VHOST", ""), safe=""),
)
CELERY_RESULT_BACKEND = _redis_auth + "/0"
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# Each release collects its static files into its own directory
# (/srv/app/releases/<sha>/static, the build hook), which nginx serves as
# /static/ from /srv/app/current: a page and its media are of one version.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "static"

# The release's directory is named after its commit.
COMMIT = BASE_DIR.name

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
