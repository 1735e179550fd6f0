#!/usr/bin/env bats
# tinyproxy (Debian's 1.11) under hotswap, in the foreground (-d): one process, a thread per
# client, a reverse proxy on 127.0.0.1 in front of a backend the test starts outside hotswap
# (tests/servers/backend.py). Five reloads under load.

load helpers

@test "tinyproxy reverse proxy: 5 reloads under load on 127.0.0.1, zero failures" {
    need tinyproxy
    proxy_setup tinyproxy
    CLEANUP_PATTERN="tinyproxy -d -c $WORK/tinyproxy.conf"
    start_real "proxy_serves $v4" -- tinyproxy -d -c "$WORK/tinyproxy.conf"
    five_reloads_under_load "$v4" --path /index.html
    proxy_serves "$v4"
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
