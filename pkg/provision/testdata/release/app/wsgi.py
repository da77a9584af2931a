# The smallest app the role recipes can serve: gunicorn runs
# app.wsgi:application from /srv/app/current (examples/app is the real one).
def application(environ, start_response):
    if environ.get("PATH_INFO") == "/healthcheck.html":
        body = b"ok\n"
    else:
        body = b"release under test\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
