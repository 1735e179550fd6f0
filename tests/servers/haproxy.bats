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
    PORT=$(free_port)
    prepare_config haproxy
    mkdir -p "$WORK/backend"
    mv "$WORK/index.html" "$WORK/backend/index.html"
    start_backend "$WORK/backend"
    sed -i "s|@BACKEND@|$BACKEND|g" "$WORK/haproxy.cfg"
    CLEANUP_PATTERN="haproxy -db -f $WORK/haproxy.cfg"
    v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
}

no_drain_timeout() { ! grep 'drain timeout' "$HS_LOG"; }

serves_index() { [[ "$(get "$1" /index.html)" == "hotswap haproxy backend ok" ]]; }
haproxy_up() { serves_index "$v4" && serves_index "$v6"; }

@test "haproxy reverse proxy: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    start_real haproxy_up --drain-timeout "${DRAIN_TIMEOUT}s" -- haproxy -db -f "$WORK/haproxy.cfg"
    five_reloads_under_load "$v4" --path /index.html
    five_reloads_under_load "$v6" --path /index.html
    haproxy_up
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}

@test "haproxy reverse proxy, 30 MB downloads in flight: 5 reloads under load on 127.0.0.1, no download cut" {
    head -c 30000000 /dev/urandom >"$WORK/backend/big.bin"
    start_real haproxy_up --drain-timeout "${DRAIN_TIMEOUT}s" -- haproxy -db -f "$WORK/haproxy.cfg"
    five_reloads_under_load "$v4" --path /big.bin --timeout-ms 30000
    haproxy_up
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}
