#!/usr/bin/env bats
# Python's http.server (Debian's /usr/bin/python3, not a pyenv one on PATH) under hotswap:
# ThreadingHTTPServer, a thread per request, poll() with a 0.5 s timeout in serve_forever, a
# blocking accept, backlog 5. It binds one address per process: one test on 127.0.0.1, one on ::1
# (where http.server clears IPV6_V6ONLY before bind()).

load helpers

PYTHON=/usr/bin/python3

# python_reloads BIND: `python3 -m http.server PORT --bind BIND --directory $WORK/` under
# hotswap; five reloads under load on BIND:PORT.
python_reloads() {
    need "$PYTHON"
    PORT=$(free_port)
    prepare_config python
    CLEANUP_PATTERN="http.server $PORT .*--directory $WORK/"
    local addr
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { get "$addr" /index.html; }
    # http.server logs every request on stderr: into $WORK/server.log, not the launcher's log
    # (sh execs the server, so the generation's pid is python's own)
    start_real probe -- sh -c 'exec "$@" 2>>"$0"' "$WORK/server.log" \
        "$PYTHON" -m http.server "$PORT" --bind "$1" --directory "$WORK/"
    five_reloads_under_load "$addr" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}

@test "python3 -m http.server on 127.0.0.1: 5 reloads under load lose no request" {
    python_reloads 127.0.0.1
}

@test "python3 -m http.server on ::1: 5 reloads under load lose no request" {
    python_reloads ::1
}
