#!/usr/bin/env bats
# uvicorn (Debian's python3-uvicorn) under hotswap, serving a tiny ASGI app
# (tests/servers/uvicorn/app.py answers "gen=G pid=P"). One process: asyncio's event loop binds
# and listens itself. With --workers 2: the process the launcher starts binds the socket but does
# not listen; it starts its workers with multiprocessing's "spawn" (fork, then exec of a new
# python), and each worker calls listen() and accepts on the inherited socket: the workers take
# part (the shim's channel crosses their exec, dormant until they listen). One address per
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

# With --workers the processes that listen and accept are exec'd (multiprocessing "spawn"): each
# takes the socket its primary bound as its own listener when it calls listen() on it, says the
# generation is ready, and drains (issue 25).
@test "uvicorn --workers 2 (exec'd workers listen on the socket the primary bound): 5 reloads under load lose no request" {
    uvicorn_reloads 127.0.0.1 --workers 2
}
