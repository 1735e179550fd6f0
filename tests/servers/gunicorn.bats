#!/usr/bin/env bats
# gunicorn (Debian's package) under hotswap: an arbiter and 2 sync workers serving a tiny WSGI
# app (tests/servers/gunicorn/app.py answers "gen=G pid=P"). gunicorn speaks socket activation:
# a new generation finds LISTEN_FDS/LISTEN_PID, dups each fd (socket.fromfd), closes the original
# and calls listen() on the copy, without bind(). Generation 1 binds and listens itself.

load helpers

GUNICORN=/usr/bin/gunicorn

# gunicorn_reloads BIND...: gunicorn --workers 2 bound to each BIND under hotswap; five reloads
# under load on the first; every BIND answers from generation 6 at the end.
gunicorn_reloads() {
    need "$GUNICORN"
    local binds=("$@") args=() b
    for b in "${binds[@]}"; do args+=(--bind "$b"); done
    probe() { for b in "${binds[@]}"; do answers_with_gen "$b" "$1" || return 1; done; }
    # --graceful-timeout 5: SIGTERM is a graceful stop that waits for the workers (30 s default)
    start_real "probe 1" -- "$GUNICORN" --workers 2 --worker-class sync "${args[@]}" \
        --graceful-timeout 5 --chdir "$WORK/" app:application
    # both workers are up: the arbiter (the generation's leader) has 2 children
    workers() { (($(pgrep -c -P "$(serving_pid)") == 2)); }
    wait_until 10 workers
    five_reloads_under_load "${binds[0]}"
    # every generation answered during the load, and generation 6 answers now, on every address
    # (gunicorn's reloads are slow: one round of load, on the first address)
    [ "$(field gens "$LOAD_SUMMARY")" = 1,2,3,4,5,6 ]
    probe 6
    wait_until 10 workers
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean ${#binds[@]}
}

setup() {
    PORT=$(free_port)
    prepare_config gunicorn
    CLEANUP_PATTERN="gunicorn .*--chdir $WORK/"
}

@test "gunicorn, 2 sync workers on 127.0.0.1: 5 reloads under load lose no request" {
    gunicorn_reloads "127.0.0.1:$PORT"
}

@test "gunicorn, 2 sync workers on 127.0.0.1 and ::1: 5 reloads under load on 127.0.0.1 lose no request, ::1 still answers" {
    gunicorn_reloads "127.0.0.1:$PORT" "[::1]:$PORT"
}

@test "gunicorn stopped without a reload: a clean stop, exit status 0, nothing left" {
    need "$GUNICORN"
    local addr="127.0.0.1:$PORT"
    start_real "answers_with_gen $addr 1" -- "$GUNICORN" --workers 2 --worker-class sync \
        --bind "$addr" --graceful-timeout 5 --chdir "$WORK/" app:application
    workers() { (($(pgrep -c -P "$(serving_pid)") == 2)); }
    wait_until 10 workers
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean ""
}
