# A tiny ASGI app for tests/servers/uvicorn.bats: answers "gen=G pid=P" (the form the load
# client and get/generation_of in tests/helpers.bash read), with Content-Length.
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = ("gen=%s pid=%d\n" % (os.environ.get("HOTSWAP_GENERATION", "0"), os.getpid())).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
