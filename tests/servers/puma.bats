#!/usr/bin/env bats
# puma (Debian's 5.6.5, Ruby) under hotswap, in the foreground, serving a Rack application: its
# own reactor (nio4r) hands connections to a thread pool. Cluster mode: a master that binds and
# forks 2 workers, each with its reactor and pool on the shared listener; single mode: one
# process. Five reloads under load each, cluster on 127.0.0.1, single on ::1.

load helpers

setup() {
    need puma
    PORT=$(free_port)
    prepare_config rack
    CLEANUP_PATTERN="\\[hotswap-$PORT\\]" # --tag: the master's and the workers' process titles
}

@test "puma, cluster mode (2 forked workers): 5 reloads under load on 127.0.0.1, zero failures" {
    local v4="127.0.0.1:$PORT"
    probe() { [[ "$(get "$v4" /)" == "hotswap rack ok pid="* ]]; }
    workers() { (($(pgrep -c -P "$(serving_pid)") == 2)); }
    start_real probe -- puma --bind "tcp://$v4" --workers 2 --threads 4:4 --tag "hotswap-$PORT" \
        "$WORK/config.ru"
    wait_until 20 workers
    five_reloads_under_load "$v4" --path /
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}

@test "puma, single mode (one process, 8 threads): 5 reloads under load on ::1, zero failures" {
    local v6="[::1]:$PORT"
    probe() { [[ "$(get "$v6" /)" == "hotswap rack ok pid="* ]]; }
    start_real probe -- puma --bind "tcp://$v6" --threads 8:8 --tag "hotswap-$PORT" "$WORK/config.ru"
    five_reloads_under_load "$v6" --path /
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
