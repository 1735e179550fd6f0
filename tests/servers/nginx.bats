#!/usr/bin/env bats
# nginx (Debian's nginx-light) under hotswap: master plus 2 workers forked after listen(), and
# master_process off. nginx calls listen() twice per socket, sets nonblocking mode with
# ioctl(FIONBIO), and puts its listeners in epoll with EPOLLEXCLUSIVE.

load helpers
bats_require_minimum_version 1.5.0

nginx_answers() { get "$HS_ADDR" / | grep -q '^pid='; }

run_nginx() {
    local config=$1
    need nginx
    PORT=$(free_port)
    prepare_config nginx
    HS_ADDR="127.0.0.1:$PORT"
    CLEANUP_PATTERN="nginx.*$WORK/$config"
    start_real nginx_answers -- nginx -p "$WORK" -c "$WORK/$config"
    five_reloads_under_load "127.0.0.1:$PORT"
    HS_ADDR="[::1]:$PORT" nginx_answers
    five_reloads_under_load "[::1]:$PORT"
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}

@test "nginx, master and 2 workers: 10 reloads under load on 127.0.0.1 and ::1, zero failures" {
    run_nginx nginx.conf
}

@test "nginx, master_process off: 10 reloads under load on 127.0.0.1 and ::1, zero failures" {
    run_nginx nginx-single.conf
}

# parent_of PID: its parent's pid.
parent_of() { awk '{print $4}' "/proc/$1/stat"; }

@test "nginx, master and 2 workers, --keep-old: reload, then hotswap rollback under load: gen 1's workers serve again, zero failures" {
    need nginx
    PORT=$(free_port)
    prepare_config nginx
    HS_ADDR="127.0.0.1:$PORT"
    start_real nginx_answers --keep-old 30s -- nginx -p "$WORK" -c "$WORK/nginx.conf"
    local old_master
    old_master=$(sed -n 's/.*gen 1 pid \([0-9]*\) starting.*/\1/p' "$HS_LOG")
    start_load "$HS_ADDR"
    run -0 reload
    [[ "$output" == *"ok: gen 2 ready in"*"parked for 30000 ms (hotswap rollback brings it back); kernel: "* ]]
    run -0 "$HOTSWAP" rollback --control "$HS_CONTROL"
    [[ "$output" == "ok: gen 1 serves again"* ]]
    wait_until 10 grep -q "gen 2 pid [0-9]* .*after the stop" "$HS_LOG"
    local worker
    worker=$(get "$HS_ADDR" / | sed -n 's/^pid=//p')
    [ "$(parent_of "$worker")" = "$old_master" ]
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    stop_and_check_nothing_left "nginx.*$WORK/nginx.conf"
}
