#!/usr/bin/env bats
# unicorn (Debian's 6.0.0, Ruby) under hotswap, in the foreground, serving a Rack application: a
# master that binds and forks 2 workers, each single-threaded, waiting in select() on the shared
# listener and taking turns in accept(); SIGTERM is its quick shutdown (the workers killed at
# once), which the launcher sends only once the drain is over. Five reloads under load on
# 127.0.0.1 and on ::1.

load helpers

setup() {
    need unicorn
    PORT=$(free_port)
    prepare_config rack
}

# unicorn_reloads ADDR: unicorn -l ADDR with 2 workers under hotswap; five reloads under load.
unicorn_reloads() {
    local addr=$1
    probe() { [[ "$(get "$addr" /)" == "hotswap rack ok pid="* ]]; }
    workers() { (($(pgrep -c -P "$(serving_pid)") == 2)); }
    start_real probe -- unicorn -l "$addr" -c "$WORK/unicorn.conf.rb" "$WORK/config.ru"
    wait_until 20 workers
    five_reloads_under_load "$addr" --path /
    probe
    stop_and_check_nothing_left "unicorn .*:$PORT " # the port alone: "[::1]" would be a regex class
    launcher_log_clean 1
}

@test "unicorn, 2 forked workers: 5 reloads under load on 127.0.0.1, zero failures" {
    unicorn_reloads "127.0.0.1:$PORT"
}

@test "unicorn, 2 forked workers: 5 reloads under load on ::1, zero failures" {
    unicorn_reloads "[::1]:$PORT"
}
