#!/usr/bin/env bats
# nginx (Debian's nginx-light) under hotswap: master plus 2 workers forked after listen(), and
# master_process off. nginx calls listen() twice per socket, sets nonblocking mode with
# ioctl(FIONBIO), and puts its listeners in epoll with EPOLLEXCLUSIVE.

load helpers

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
