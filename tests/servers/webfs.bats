#!/usr/bin/env bats
# webfsd (Debian's webfs) under hotswap, in the foreground (-F): one process, a select() event
# loop serving static files. One address per server (-i): one test on 127.0.0.1, one on ::1.

load helpers

DRAIN_TIMEOUT=5

setup() {
    need webfsd
    PORT=$(free_port)
    prepare_config webfs
    CLEANUP_PATTERN="webfsd -F -p $PORT "
}

# webfs_reloads IP: webfsd -F -p PORT -i IP -r $WORK under hotswap; five reloads under load.
webfs_reloads() {
    local addr
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { [[ "$(get "$addr" /index.html)" == "hotswap webfs ok" ]]; }
    start_real probe --drain-timeout "${DRAIN_TIMEOUT}s" -- webfsd -F -p "$PORT" -i "$1" -r "$WORK"
    five_reloads_under_load "$addr" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "webfsd (one process, select) on 127.0.0.1: 5 reloads under load lose no request" {
    webfs_reloads 127.0.0.1
}

@test "webfsd (one process, select) on ::1: 5 reloads under load lose no request" {
    webfs_reloads ::1
}
