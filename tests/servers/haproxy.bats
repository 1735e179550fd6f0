#!/usr/bin/env bats
# haproxy (Debian's haproxy 2.6) under hotswap, in the foreground (-db): one process with a thread
# per CPU, epoll, an HTTP reverse proxy on 127.0.0.1 and ::1 in front of a backend the test starts
# outside hotswap (tests/servers/backend.py, a static file server on 127.0.0.1). SIGTERM is
# haproxy's hard stop (it comes after the drain). Five reloads under load for a small page on each
# address, and five while 30 MB downloads stream through it.

load helpers

DRAIN_TIMEOUT=20

setup() {
    need haproxy
    proxy_setup haproxy
    CLEANUP_PATTERN="haproxy -db -f $WORK/haproxy.cfg"
}

@test "haproxy reverse proxy: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    proxy_reloads 2 haproxy -db -f "$WORK/haproxy.cfg"
}

@test "haproxy reverse proxy, 30 MB downloads in flight: 5 reloads under load on 127.0.0.1, no download cut" {
    proxy_download_reloads 2 haproxy -db -f "$WORK/haproxy.cfg"
}
