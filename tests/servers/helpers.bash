# tests/servers/helpers.bash: real servers from Debian's packages under hotswap. Each suite
# (tests/servers/NAME.bats) starts its server in the foreground on 127.0.0.1 (and ::1 where it
# can), runs the load client through 5 reloads, and requires zero failed requests, an answer from
# the new generation after each reload, and no process left after the stop.

load ../helpers

SERVERS="$ROOT/tests/servers"

# need COMMAND...: a server binary from the packages tests/servers/install installs. Missing is
# a failure, never a skip: CI must not pass by testing nothing.
need() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null || [[ -x "$cmd" ]] ||
            { echo "$cmd is not installed: run tests/servers/install" >&2; return 1; }
    done
}

# start_real PROBE [hotswap options] -- COMMAND...: the server under hotswap (HS_PID, HS_LOG,
# HS_CONTROL); waits until PROBE (a command) succeeds.
start_real() {
    local probe=$1; shift
    local opts=()
    while (($#)) && [[ "$1" != -- ]]; do opts+=("$1"); shift; done
    [[ "${1:-}" == -- ]] && shift
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    "$HOTSWAP" --control "$HS_CONTROL" "${opts[@]}" -- "$@" 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 30 $probe || { cat "$HS_LOG" >&2; return 1; }
}

# generation_pids: the pids of the generation now serving, from the launcher's log.
serving_pid() { sed -n 's/.*gen \([0-9]*\) pid \([0-9]*\) ready in.*/\2/p' "$HS_LOG" | tail -1; }

# five_reloads_under_load ADDR [loadclient options...]: 5 reloads under load; zero failures;
# after each reload the new generation's process is the one serving and the old one is gone.
five_reloads_under_load() {
    local addr=$1; shift
    start_load "$addr" "$@"
    local gen old serving
    serving=$(sed -n 's/.*gen \([0-9]*\) pid [0-9]* ready in.*/\1/p' "$HS_LOG" | tail -1)
    for gen in $(seq $((serving + 1)) $((serving + 5))); do
        old=$(serving_pid)
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; cat "$HS_LOG"; return 1; }
        [[ "$output" == *"ok: gen $gen ready in"* ]]
        process_gone "$old"
        grep -Eq "gen $gen pid [0-9]+ ready in" "$HS_LOG"
    done
    stop_load
    # SERVERS_REPORT=FILE collects each run's figures (the README's compatibility table)
    [[ -n "${SERVERS_REPORT:-}" ]] && echo "$BATS_TEST_DESCRIPTION | $addr | $LOAD_SUMMARY" >>"$SERVERS_REPORT"
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field ok "$LOAD_SUMMARY")" -gt 0 ]
}

# stop_and_check_nothing_left PATTERN: graceful stop; then no process whose command line
# matches PATTERN (pgrep -f) is left.
stop_and_check_nothing_left() {
    local pattern=$1
    stop_hotswap
    # STOP_STATUS: what a server that exits non-zero on its stop signal (mini_httpd: 1) makes the
    # launcher exit with; 0 for every other
    [ "$HS_STATUS" -eq "${STOP_STATUS:-0}" ] || { echo "launcher exited $HS_STATUS"; cat "$HS_LOG"; return 1; }
    no_match() { ! pgrep -f "$pattern" >/dev/null; }
    wait_until 10 no_match || { pgrep -af "$pattern"; return 1; }
}

# A work directory for a server's config, pid and log files, with PORT substituted into
# tests/servers/NAME/* templates (@PORT@, @DIR@, @PORT6@).
prepare_config() {
    local name=$1
    WORK="$BATS_TEST_TMPDIR/$name"
    mkdir -p "$WORK"
    local file
    for file in "$SERVERS/$name"/*; do
        sed -e "s|@PORT@|$PORT|g" -e "s|@DIR@|$WORK|g" -e "s|@SERVERS@|$SERVERS|g" \
            "$file" >"$WORK/$(basename "$file")"
    done
}

# launcher_log_clean LISTENERS: every old generation exited 0 or by the stop signal (never a
# non-zero status but STOP_STATUS after its stop, never SIGKILL, never an abort or a crash), no
# drain ran into its timeout, and every new generation was handed LISTENERS held listeners (the
# launcher held each socket once).
# FAILED_GEN=N: generation N failed its start as the test wants (a server that cannot run beside
# its old generation), and its exit status is its own.
launcher_log_clean() {
    local clean=0 counts
    if grep -E 'exited with status [1-9]|SIGKILL|\((Aborted|Segmentation fault)\)|cannot hold|drain timeout' "$HS_LOG" |
        grep -v "gen ${FAILED_GEN:-none} pid [0-9]* " |
        grep -v 'its own exit on the stop signal' | grep -v "exited with status ${STOP_STATUS:-0}, .* after the stop"; then
        clean=1
    fi
    counts=$(sed -n 's/.*gen \([0-9]*\) pid [0-9]* starting (\([0-9]*\) listeners\{0,1\}).*/\1 \2/p' "$HS_LOG" |
        awk '$1 > 1 {print $2}' | sort -nu | paste -sd,)
    if [ "$counts" != "$1" ]; then
        echo "listeners handed to generations 2..: $counts (want $1)"
        clean=1
    fi
    return $clean
}

# reachable_by_others DIR: a server that drops root (nobody, proxy, vcache) must reach DIR: search
# permission on each directory from DIR up to bats' private run directory.
reachable_by_others() {
    local dir=$1
    while [[ "$dir" == "$BATS_RUN_TMPDIR"* ]]; do
        chmod a+x "$dir"
        dir=$(dirname "$dir")
    done
}

# start_backend DIR: a static file server on 127.0.0.1:$BACKEND (a free port) serving DIR, outside
# hotswap, for the proxies to forward to (tests/servers/backend.py); its log in DIR/../backend.log.
start_backend() {
    need /usr/bin/python3
    BACKEND=$(free_port)
    /usr/bin/python3 "$SERVERS/backend.py" "$BACKEND" "$1" 2>"$1/../backend.log" &
    BACKEND_PID=$!
    backend_up() { "$LOADCLIENT" --connect "127.0.0.1:$BACKEND" --get /index.html --timeout-ms 1000; }
    wait_until 10 backend_up
}

# no_drain_timeout: no drain in the launcher's log ran into its timeout.
no_drain_timeout() { ! grep 'drain timeout' "$HS_LOG"; }

# proxy_setup NAME: a reverse proxy's work directory (prepare_config NAME), with its index page
# moved behind a backend started outside hotswap (start_backend) whose port replaces @BACKEND@ in
# the config; PORT the proxy's free port, v4 and v6 its two addresses.
proxy_setup() {
    PROXY_NAME=$1
    PORT=$(free_port)
    prepare_config "$1"
    mkdir -p "$WORK/backend"
    mv "$WORK/index.html" "$WORK/backend/index.html"
    start_backend "$WORK/backend"
    local file
    for file in $(grep -l @BACKEND@ "$WORK"/* 2>/dev/null); do
        sed -i "s|@BACKEND@|$BACKEND|g" "$file"
    done
    v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
}

# proxy_serves ADDR: the backend's index page comes through the proxy on ADDR.
proxy_serves() { [[ "$(get "$1" /index.html)" == "hotswap $PROXY_NAME backend ok" ]]; }
proxy_up() { proxy_serves "$v4" && proxy_serves "$v6"; }

# proxy_reloads LISTENERS COMMAND...: the proxy (proxy_setup first) under hotswap; 5 reloads under
# load on v4 and 5 on v6; zero failures, no drain to its timeout, nothing left after the stop.
proxy_reloads() {
    local listeners=$1; shift
    start_real proxy_up --drain-timeout "${DRAIN_TIMEOUT:-30}s" -- "$@"
    five_reloads_under_load "$v4" --path /index.html
    five_reloads_under_load "$v6" --path /index.html
    proxy_up
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean "$listeners"
}

# proxy_download_reloads LISTENERS COMMAND...: as proxy_reloads, on v4 only, while 30 MB
# downloads stream through the proxy: no download cut.
proxy_download_reloads() {
    local listeners=$1; shift
    head -c 30000000 /dev/urandom >"$WORK/backend/big.bin"
    start_real proxy_up --drain-timeout "${DRAIN_TIMEOUT:-30}s" -- "$@"
    five_reloads_under_load "$v4" --path /big.bin --timeout-ms 30000
    proxy_up
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean "$listeners"
}

teardown() {
    teardown_hotswap
    if [[ -n "${BACKEND_PID:-}" ]]; then kill "$BACKEND_PID" 2>/dev/null || true; fi
    true
}

# DNS servers (dnsmasq, unbound): PORT, and NAME's A record ADDRESS, set by the suite.
# dns_answers HOST: one query over UDP and one over TCP to HOST, each answered with ADDRESS.
dns_answers() {
    /usr/bin/python3 "$ROOT/tests/fixtures/dns-load.py" "$1" "$PORT" "$NAME" "$ADDRESS" --once 1 --timeout-ms 1000
}
both_answer() { dns_answers 127.0.0.1 && dns_answers ::1; }

# dns_reloads HOST: 5 reloads while 4 UDP and 2 TCP workers ask HOST; no query failed, and each
# old generation is gone after its reload (a reload in sequence may start a generation more).
dns_reloads() {
    /usr/bin/python3 "$ROOT/tests/fixtures/dns-load.py" "$1" "$PORT" "$NAME" "$ADDRESS" --udp 4 --tcp 2 \
        >"$BATS_TEST_TMPDIR/dns-load.out" &
    local load=$! n old summary
    for n in 1 2 3 4 5; do
        old=$(serving_pid)
        run reload
        [ "$status" -eq 0 ] || { echo "reload $n: $output"; kill -TERM "$load"; return 1; }
        [[ "$output" =~ "ok: "("in sequence: ")?"gen "[0-9]+" ready in" ]]
        process_gone "$old"
        [ "$(serving_pid)" != "$old" ]
    done
    kill -TERM "$load"
    wait "$load"
    summary=$(tail -n 1 "$BATS_TEST_TMPDIR/dns-load.out")
    echo "# $1: $summary" >&3
    [ "$(field failed "$summary")" = 0 ]
    [ "$(field udp "$summary")" -gt 0 ]
    [ "$(field tcp "$summary")" -gt 0 ]
}
