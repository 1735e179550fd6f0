#!/usr/bin/env bats
# mini_httpd (Debian's mini-httpd) under hotswap, in the foreground (-D): one process, select(),
# that forks a child per connection; run as root it serves as nobody after binding. On SIGTERM it
# logs "exiting due to signal 15" and exits with status 1. One address per server (-h): one test
# on 127.0.0.1, one on ::1.

load helpers

DRAIN_TIMEOUT=5
STOP_STATUS=1 # mini_httpd's own exit status on SIGTERM, which the launcher passes on after a stop

setup() {
    need mini_httpd
    PORT=$(free_port)
    prepare_config mini-httpd
    # the server runs as nobody: search permission on the test's directories up to bats' private
    # run directory, read on the files
    reachable_by_others "$WORK"
    chmod -R a+rX "$WORK"
    CLEANUP_PATTERN="mini_httpd -D -p $PORT "
}

# mini_httpd_reloads HOST: mini_httpd -D -p PORT -h HOST under hotswap; five reloads under load.
mini_httpd_reloads() {
    local addr
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { [[ "$(get "$addr" /index.html)" == "hotswap mini_httpd ok" ]]; }
    start_real probe --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        mini_httpd -D -p "$PORT" -h "$1" -d "$WORK" -l "$WORK/access.log"
    five_reloads_under_load "$addr" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "mini_httpd (fork per connection) on 127.0.0.1: 5 reloads under load lose no request" {
    mini_httpd_reloads 127.0.0.1
}

@test "mini_httpd (fork per connection) on ::1: 5 reloads under load lose no request" {
    mini_httpd_reloads ::1
}
