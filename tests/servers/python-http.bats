#!/usr/bin/env bats
# Python's http.server (Debian's /usr/bin/python3, not a pyenv one on PATH) under hotswap:
# ThreadingHTTPServer, a thread per request, poll() with a 0.5 s timeout in serve_forever, a
# blocking accept, backlog 5. It binds one address per process: one test on 127.0.0.1, one on ::1
# (where http.server clears IPV6_V6ONLY before bind()).

load helpers

PYTHON=/usr/bin/python3

# launcher_log_clean LISTENERS: every old generation exited 0 or by the stop signal (never a
# non-zero status, never SIGKILL), and every new generation was handed LISTENERS held listeners
# (the launcher held each socket once).
launcher_log_clean() {
    local clean=0 counts
    if grep -E 'exited with status [1-9]|SIGKILL|cannot hold' "$HS_LOG"; then clean=1; fi
    counts=$(sed -n 's/.*gen \([0-9]*\) pid [0-9]* starting (\([0-9]*\) listeners\{0,1\}).*/\1 \2/p' "$HS_LOG" |
        awk '$1 > 1 {print $2}' | sort -nu | paste -sd,)
    if [ "$counts" != "$1" ]; then
        echo "listeners handed to generations 2..: $counts (want $1)"
        clean=1
    fi
    return $clean
}

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
