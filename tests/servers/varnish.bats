#!/usr/bin/env bats
# Varnish (Debian's varnish 7.1) under hotswap, in the foreground (-F): a manager process that
# binds the -a addresses (127.0.0.1 and ::1) and its CLI socket (-T, default localhost:0, an
# ephemeral port), and a cache child it forks, which calls listen() on the -a sockets and serves
# with its thread pools, in front of a backend the test starts outside hotswap
# (tests/servers/backend.py, a static file server on 127.0.0.1). Run as root, the child serves as
# vcache. Each generation gets its own working directory (-n): varnishd refuses to start while the
# pid in the directory's pidfile is alive ("Varnishd is already running"). --kill-mode mixed, as
# its own systemd unit stops it (KillMode=process): the manager stops its child itself, and exits
# 64 if the child is sent the stop signal directly. When its child stops, the manager reopens its
# listen sockets: in a drained generation the shim binds them to a port of their own (the address
# is the next generation's).

load helpers

DRAIN_TIMEOUT=10

setup() {
    need varnishd
    PORT=$(free_port)
    prepare_config varnish
    mkdir -p "$WORK/backend"
    mv "$WORK/index.html" "$WORK/backend/index.html"
    start_backend "$WORK/backend"
    # varnishd (its child runs as vcache when run as root) reads and writes the -n directories:
    # search permission up to bats' private run directory, write on $WORK
    reachable_by_others "$WORK"
    chmod a+rwx "$WORK"
    CLEANUP_PATTERN="varnishd -F -a 127.0.0.1:$PORT "
    v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
}

serves_index() { [[ "$(get "$1" /index.html)" == "hotswap varnish backend ok" ]]; }
varnish_up() { serves_index "$v4" && serves_index "$v6"; }

@test "varnishd, manager and cache child: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    # sh execs varnishd, with -n naming the generation's own working directory
    start_real varnish_up --drain-timeout "${DRAIN_TIMEOUT}s" --kill-mode mixed -- \
        sh -c 'exec varnishd -F -a "$1" -a "$2" -b "$3" -s malloc,32m -n "$0/gen$HOTSWAP_GENERATION"' \
        "$WORK" "$v4" "$v6" "127.0.0.1:$BACKEND"
    five_reloads_under_load "$v4" --path /index.html
    five_reloads_under_load "$v6" --path /index.html
    varnish_up
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}
