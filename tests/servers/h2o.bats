#!/usr/bin/env bats
# h2o (Debian's h2o 2.2) under hotswap, in the foreground: one process, two event-loop threads that
# share each listener (each thread has its own epoll set), static files on 127.0.0.1 and ::1; it
# drops root to nobody. Five reloads under load on each address.

load helpers

@test "h2o, 2 threads: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    need h2o
    PORT=$(free_port)
    prepare_config h2o
    reachable_by_others "$WORK"
    CLEANUP_PATTERN="h2o -c $WORK/h2o.conf"
    local v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
    probe() { get "$v4" /index.html && get "$v6" /index.html; }
    start_real probe -- h2o -c "$WORK/h2o.conf"
    five_reloads_under_load "$v4" --path /index.html
    five_reloads_under_load "$v6" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}
