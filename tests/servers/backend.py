#!/usr/bin/python3
"""backend.py PORT DIR: the backend the proxy suites put behind the proxy under test, outside
hotswap: Python's static file server, a thread per connection, with a listen backlog of 128.
(http.server's own backlog is 5: while two generations of a proxy overlap, the connections to the
backend double for a moment, its accept queue overflows, and the proxy answers 502 for the second
the kernel takes to retry; that is the backend's limit, not the reload's.)"""
import functools
import http.server
import sys


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128


handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
Server(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
