#!/usr/bin/env bats
# lighttpd (Debian's package) under hotswap: static files on 127.0.0.1 and ::1, one process and
# two prefork workers (server.max-worker). Five reloads under load on each address.

load helpers

# lighttpd_reloads CONF [WORKERS]: `lighttpd -D -f $WORK/CONF` under hotswap; five reloads under
# load on 127.0.0.1, five on ::1; stops, and checks nothing is left. With WORKERS, the master of
# the serving generation has that many worker children, at the start and at the end.
lighttpd_reloads() {
    need lighttpd
    PORT=$(free_port)
    prepare_config lighttpd
    CLEANUP_PATTERN="lighttpd -D -f $WORK/"
    local v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
    probe() { get "$v4" /index.html && get "$v6" /index.html; }
    children() { (($(pgrep -c -P "$(serving_pid)" lighttpd) == $1)); }
    start_real probe -- lighttpd -D -f "$WORK/$1"
    [[ -z "${2:-}" ]] || wait_until 10 children "$2"
    five_reloads_under_load "$v4" --path /index.html
    five_reloads_under_load "$v6" --path /index.html
    probe
    [[ -z "${2:-}" ]] || wait_until 10 children "$2"
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}

@test "lighttpd, one process: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    lighttpd_reloads lighttpd.conf
}

@test "lighttpd, server.max-worker = 2: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    lighttpd_reloads lighttpd-workers.conf 2
}
