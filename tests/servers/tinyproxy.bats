#!/usr/bin/env bats
# tinyproxy (Debian's 1.11) under hotswap, in the foreground (-d): one process, a thread per
# client, a reverse proxy on 127.0.0.1 in front of a backend the test starts outside hotswap
# (tests/servers/backend.py). Five reloads under load.

load helpers

@test "tinyproxy reverse proxy: 5 reloads under load on 127.0.0.1, zero failures" {
    need tinyproxy
    PORT=$(free_port)
    prepare_config tinyproxy
    mkdir -p "$WORK/backend"
    mv "$WORK/index.html" "$WORK/backend/index.html"
    start_backend "$WORK/backend"
    sed -i "s|@BACKEND@|$BACKEND|g" "$WORK/tinyproxy.conf"
    CLEANUP_PATTERN="tinyproxy -d -c $WORK/tinyproxy.conf"
    local v4="127.0.0.1:$PORT"
    probe() { [[ "$(get "$v4" /index.html)" == "hotswap tinyproxy backend ok" ]]; }
    start_real probe -- tinyproxy -d -c "$WORK/tinyproxy.conf"
    five_reloads_under_load "$v4" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
