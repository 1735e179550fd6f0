#!/usr/bin/env bats
# busybox httpd (Debian's busybox) under hotswap, in the foreground (-f): one process that
# accepts and forks a child per connection; the child moves the connection onto fds 0 and 1 and
# serves it (static files), or for cgi-bin/ forks again and execs the script with pipes to it
# (tests/servers/busybox/gen.cgi). Backlog 9. One address per process (-p ADDR:PORT): one test on
# 127.0.0.1, one on ::1, and one with the CGI script, whose processes (exec'd, so the shim passes
# through in them) are in the generation's process group.

load helpers

DRAIN_TIMEOUT=5

setup() {
    need busybox
    PORT=$(free_port)
    prepare_config busybox
    mkdir -p "$WORK/cgi-bin"
    mv "$WORK/gen.cgi" "$WORK/cgi-bin/gen"
    chmod 755 "$WORK/cgi-bin/gen"
    CLEANUP_PATTERN="busybox httpd -f -p .*:$PORT -h $WORK"
}

# busybox_reloads BIND PATH: `busybox httpd -f -p BIND:PORT -h $WORK` under hotswap; five reloads
# under load on BIND:PORT asking for PATH.
busybox_reloads() {
    local addr
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { get "$addr" "$1"; }
    start_real "probe $2" --drain-timeout "${DRAIN_TIMEOUT}s" -- busybox httpd -f -p "$addr" -h "$WORK"
    five_reloads_under_load "$addr" --path "$2"
    probe "$2"
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "busybox httpd (fork per connection) on 127.0.0.1: 5 reloads under load lose no request" {
    busybox_reloads 127.0.0.1 /index.html
}

@test "busybox httpd (fork per connection) on ::1: 5 reloads under load lose no request" {
    busybox_reloads ::1 /index.html
}

@test "busybox httpd, a CGI script on 127.0.0.1: 5 reloads under load lose no request" {
    busybox_reloads 127.0.0.1 /cgi-bin/gen
    # every generation answered through its CGI script
    [ "$(field gens "$LOAD_SUMMARY")" = 1,2,3,4,5,6 ]
}
