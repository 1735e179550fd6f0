#!/usr/bin/env bats
# Twisted Web (Debian's python3-twisted, `/usr/bin/python3 -m twisted web`) under hotswap: one
# process, Twisted's epoll reactor, static files from --path on 127.0.0.1 and ::1 (two --listen
# endpoints, tcp and tcp6). SIGTERM stops the reactor.

load helpers

PYTHON=/usr/bin/python3
DRAIN_TIMEOUT=5

setup() {
    need "$PYTHON"
    "$PYTHON" -c 'import twisted.web' || { echo "python3-twisted is not installed: run tests/servers/install" >&2; return 1; }
    PORT=$(free_port)
    prepare_config twisted
    CLEANUP_PATTERN="twisted .*web --listen tcp:$PORT:"
    v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
}

serves_index() { [[ "$(get "$1" /index.html)" == "hotswap twisted ok" ]]; }
twisted_up() { serves_index "$v4" && serves_index "$v6"; }

@test "twisted web (one process, epoll reactor): 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    # its log (a line per request) goes to its own file
    start_real twisted_up --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        "$PYTHON" -m twisted --log-file "$WORK/twisted.log" web --listen "tcp:$PORT:interface=127.0.0.1" \
        --listen "tcp6:$PORT:interface=\:\:1" --path "$WORK"
    five_reloads_under_load "$v4" --path /index.html
    five_reloads_under_load "$v6" --path /index.html
    twisted_up
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}
