#!/usr/bin/env bats
# memcached (libevent, 4 worker threads) under hotswap, measured with its text protocol.

load helpers

memcached_answers() { "$LOADCLIENT" --connect "$HS_ADDR" --raw 'version\r\n' --expect 'VERSION ' --get >/dev/null; }

# the pid memcached itself reports (stats), to see which generation answers
memcached_pid() {
    "$LOADCLIENT" --connect "$1" --raw 'stats\r\n' --expect 'STAT pid ' --get | sed -n 's/^STAT pid \([0-9]*\).*/\1/p'
}

@test "memcached: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    need memcached
    PORT=$(free_port)
    HS_ADDR="127.0.0.1:$PORT"
    CLEANUP_PATTERN="memcached -p $PORT "
    start_real memcached_answers -- memcached -p "$PORT" -l 127.0.0.1,::1 -U 0 -t 4 -u nobody
    five_reloads_under_load "127.0.0.1:$PORT" --raw 'version\r\n' --expect 'VERSION '
    [ "$(memcached_pid "127.0.0.1:$PORT")" = "$(serving_pid)" ]
    five_reloads_under_load "[::1]:$PORT" --raw 'version\r\n' --expect 'VERSION '
    [ "$(memcached_pid "[::1]:$PORT")" = "$(serving_pid)" ]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}
