import hashlib
import os

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from .models import Note
from .tasks import add


def text(body, status=200):
    return HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8")


def commit(request):
    """Names the commit this server runs (its release directory's name)."""
    return text("commit %s" % settings.COMMIT)


def healthcheck(request):
    """The balancer's health check: 200 while gunicorn serves the app, in
    both of nginx's page modes."""
    return text("ok")


# A form-less API: the test (and curl) POST without Django's CSRF token.
@csrf_exempt
def notes(request):
    """POST text=...: a note written on the primary; answers its id."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    n = Note.objects.create(text=request.POST.get("text", ""))
    return text("note %d" % n.id, status=201)


def note(request, note_id):
    """A note read from the replica: 404 until replication brought it."""
    try:
        n = Note.objects.get(id=note_id)
    except Note.DoesNotExist:
        raise Http404("no such note on the replica (yet)")
    return text("note %d %s" % (n.id, n.text))


def task(request):
    """A Celery task's round trip: sent through RabbitMQ to the worker, its
    result back through Redis."""
    x, y = int(request.GET.get("x", "2")), int(request.GET.get("y", "3"))
    return text("sum %d" % add.delay(x, y).get(timeout=60))


def session(request):
    """A counter in the session, which lives in Redis."""
    request.session["visits"] = request.session.get("visits", 0) + 1
    return text("visits %d" % request.session["visits"])


def secret(request):
    """Which value of the secret API_TOKEN this process read from
    /etc/app/secrets.env, by the first 16 hex digits of its SHA-256: a push
    or a boot's fetch is seen without the value being shown."""
    value = os.environ.get("API_TOKEN")
    if value is None:
        return text("secret API_TOKEN unset")
    return text("secret API_TOKEN sha256:%s" % hashlib.sha256(value.encode()).hexdigest()[:16])
