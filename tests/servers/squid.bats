#!/usr/bin/env bats
# squid (Debian's squid 5) under hotswap, in the foreground without a daemon (-N): one process,
# epoll, a reverse proxy (accelerator) on 127.0.0.1 and ::1 in front of a backend the test starts
# outside hotswap (tests/servers/backend.py, a static file server on 127.0.0.1). Run as root, squid
# serves as the proxy user. Its own DNS socket is bound to port 0 (a client's: not handed over). On
# SIGTERM it waits shutdown_lifetime (1 s here) for open connections. Five reloads under load for a
# small page on each address, and five while 30 MB downloads stream through it (responses written
# in many writes, each download in flight across a reload).

load helpers

DRAIN_TIMEOUT=20

setup() {
    need squid
    PORT=$(free_port)
    prepare_config squid
    mkdir -p "$WORK/backend"
    mv "$WORK/index.html" "$WORK/backend/index.html"
    start_backend "$WORK/backend"
    sed -i "s|@BACKEND@|$BACKEND|g" "$WORK/squid.conf"
    # squid (the proxy user when run as root) writes its cache.log in $WORK: search permission up
    # to bats' private run directory, write on $WORK
    reachable_by_others "$WORK"
    chmod a+rwx "$WORK"
    CLEANUP_PATTERN="squid -N -f $WORK/squid.conf"
    v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
}

no_drain_timeout() { ! grep 'drain timeout' "$HS_LOG"; }

serves_index() { [[ "$(get "$1" /index.html)" == "hotswap squid backend ok" ]]; }
squid_up() { serves_index "$v4" && serves_index "$v6"; }

@test "squid reverse proxy: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    start_real squid_up --drain-timeout "${DRAIN_TIMEOUT}s" -- squid -N -f "$WORK/squid.conf"
    five_reloads_under_load "$v4" --path /index.html
    five_reloads_under_load "$v6" --path /index.html
    squid_up
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}

@test "squid reverse proxy, 30 MB downloads in flight: 5 reloads under load on 127.0.0.1, no download cut" {
    head -c 30000000 /dev/urandom >"$WORK/backend/big.bin"
    start_real squid_up --drain-timeout "${DRAIN_TIMEOUT}s" -- squid -N -f "$WORK/squid.conf"
    five_reloads_under_load "$v4" --path /big.bin --timeout-ms 30000
    squid_up
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}
