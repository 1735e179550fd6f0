#!/usr/bin/env bats
# uvicorn (Debian's python3-uvicorn) under hotswap, serving a tiny ASGI app
# (tests/servers/uvicorn/app.py answers "gen=G pid=P"). One process: asyncio's event loop binds
# and listens itself. With --workers 2: the process the launcher starts binds the socket but does
# not listen; it starts its workers with multiprocessing's "spawn" (fork, then exec of a new
# python), and each worker calls listen() and accepts on the inherited socket. One address per
# server (--host): 127.0.0.1 and ::1.

load helpers

PYTHON=/usr/bin/python3
DRAIN_TIMEOUT=5

setup() {
    need "$PYTHON"
    "$PYTHON" -c 'import uvicorn' || { echo "python3-uvicorn is not installed: run tests/servers/install" >&2; return 1; }
    PORT=$(free_port)
    prepare_config uvicorn
    CLEANUP_PATTERN="uvicorn app:app --app-dir $WORK "
}

no_drain_timeout() { ! grep 'drain timeout' "$HS_LOG"; }

# uvicorn_reloads HOST [uvicorn options...]: uvicorn on HOST:PORT under hotswap; five reloads
# under load; every generation answered.
uvicorn_reloads() {
    local host=$1 addr; shift
    if [[ "$host" == *:* ]]; then addr="[$host]:$PORT"; else addr="$host:$PORT"; fi
    probe() { answers_with_gen "$addr" "$1"; }
    # uvicorn's log lines go to $WORK/server.log, not the launcher's log (sh execs python)
    start_real "probe 1" --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        sh -c 'exec "$@" 2>>"$0"' "$WORK/server.log" \
        "$PYTHON" -m uvicorn app:app --app-dir "$WORK" --host "$host" --port "$PORT" --no-access-log "$@"
    five_reloads_under_load "$addr"
    [ "$(field gens "$LOAD_SUMMARY")" = 1,2,3,4,5,6 ]
    probe 6
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "uvicorn, one process, on 127.0.0.1: 5 reloads under load lose no request" {
    uvicorn_reloads 127.0.0.1
}

@test "uvicorn, one process, on ::1: 5 reloads under load lose no request" {
    uvicorn_reloads ::1
}

# A known limit: with --workers, the processes that listen and accept are exec'd (multiprocessing
# "spawn"), where the shim is not in charge; the launcher says so instead of a vague "not ready",
# and the server keeps serving, untouched.
@test "uvicorn --workers 2 (exec'd workers listen): the reload is refused, saying the shim is not in charge there" {
    local addr="127.0.0.1:$PORT"
    probe() { answers_with_gen "$addr" 1; }
    start_real probe -- sh -c 'exec "$@" 2>>"$0"' "$WORK/server.log" \
        "$PYTHON" -m uvicorn app:app --app-dir "$WORK" --host 127.0.0.1 --port "$PORT" --no-access-log --workers 2
    wait_until 10 grep -q "listens on $addr, but the shim never saw that socket" "$HS_LOG"
    run reload
    [ "$status" -ne 0 ]
    [[ "$output" == *"not ready yet: gen 1 pid "*"listens on $addr, but the shim never saw that socket: that process is a program the server exec'd, where the shim is not in charge"* ]]
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
}
