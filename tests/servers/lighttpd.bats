#!/usr/bin/env bats
# lighttpd (Debian's package) under hotswap: static files on 127.0.0.1 and ::1, one process and
# two prefork workers (server.max-worker). Five reloads under load on each address.

load helpers

# launcher_log_clean LISTENERS: every old generation exited 0 or by the stop signal (never a
# non-zero status, never SIGKILL), and every new generation was handed LISTENERS held listeners
# (the launcher held each socket once).
launcher_log_clean() {
    local clean=0 counts
    if grep -E 'exited with status [1-9]|SIGKILL|cannot hold' "$HS_LOG"; then clean=1; fi
    counts=$(sed -n 's/.*gen \([0-9]*\) pid [0-9]* starting (\([0-9]*\) listeners\{0,1\}).*/\1 \2/p' "$HS_LOG" |
        awk '$1 > 1 {print $2}' | sort -nu | paste -sd,)
    if [ "$counts" != "$1" ]; then
        echo "listeners handed to generations 2..: $counts (want $1)"
        clean=1
    fi
    return $clean
}

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
