#!/usr/bin/env bats
# PHP's built-in web server (Debian's php-cli, `php -S ADDR:PORT -t DIR`) under hotswap, serving
# tests/servers/php/index.php (answers "gen=G pid=P"): one process (a select/poll event loop),
# and with PHP_CLI_SERVER_WORKERS=2 a parent that forks 2 workers after listen(), each accepting
# on the shared socket. One address per server: 127.0.0.1 and ::1.

load helpers

DRAIN_TIMEOUT=5

setup() {
    need php
    PORT=$(free_port)
    prepare_config php
    CLEANUP_PATTERN="php -S .*:$PORT -t $WORK"
}

# php_reloads BIND WORKERS: `php -S BIND:PORT -t $WORK` with PHP_CLI_SERVER_WORKERS=WORKERS (0:
# unset, one process) under hotswap; five reloads under load on BIND:PORT.
php_reloads() {
    local addr count=$2
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { answers_with_gen "$addr" "$1"; }
    # php logs every request on stderr: into $WORK/server.log, not the launcher's log (sh execs
    # php, so the generation's pid is php's own)
    start_real "probe 1" --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        sh -c 'if [ "$1" != 0 ]; then export PHP_CLI_SERVER_WORKERS="$1"; fi; shift; exec "$@" 2>>"$0"' \
        "$WORK/server.log" "$2" php -S "$addr" -t "$WORK"
    if ((count > 0)); then
        workers() { (($(pgrep -c -P "$(serving_pid)") == count)); }
        wait_until 10 workers
    fi
    five_reloads_under_load "$addr"
    [ "$(field gens "$LOAD_SUMMARY")" = 1,2,3,4,5,6 ]
    probe 6
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "php -S, one process, on 127.0.0.1: 5 reloads under load lose no request" {
    php_reloads 127.0.0.1 0
}

@test "php -S, one process, on ::1: 5 reloads under load lose no request" {
    php_reloads ::1 0
}

@test "php -S, PHP_CLI_SERVER_WORKERS=2, on 127.0.0.1: 5 reloads under load lose no request" {
    php_reloads 127.0.0.1 2
}
