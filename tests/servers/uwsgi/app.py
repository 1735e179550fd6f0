# A tiny WSGI app for tests/servers/uwsgi.bats: answers "gen=G pid=P" (the form the load
# client and get/generation_of in tests/helpers.bash read), with Content-Length.
import os


def application(environ, start_response):
    body = ("gen=%s pid=%d\n" % (os.environ.get("HOTSWAP_GENERATION", "0"), os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
