#!/usr/bin/env bats
# Connections the shim cannot frame (TLS, line and binary protocols; on the seccomp route every
# connection) end in a drain when the kernel shows them idle by turn: the server spoke last, the
# client acknowledged it and said nothing since, nothing is unread. Never while the client spoke
# last (a request pending). --idle-close http and never turn it off.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
    # the TLS fixture links OpenSSL, so only the test targets build it (make test-fixtures)
    [[ -x "$ROOT/$BUILD/tls-keepalive" ]] || make -s -C "$ROOT" BUILD="$BUILD" test-fixtures >&2
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$BATS_FILE_TMPDIR/key.pem" \
        -out "$BATS_FILE_TMPDIR/cert.pem" 2>/dev/null
}

teardown() { teardown_hotswap; }

TLS() { echo "$ROOT/$BUILD/tls-keepalive"; }
PUSH() { echo "$ROOT/$BUILD/push-server"; }

# start_server ADDR [hotswap options...] -- COMMAND...: the launcher on COMMAND, which must take
# --listen ADDR, and its first generation ready (by the launcher's log).
start_server() {
    local addr=$1; shift
    local opts=()
    while [[ "$1" != -- ]]; do opts+=("$1"); shift; done
    shift
    HS_ADDR=$addr
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    rm -f "$HS_LOG"
    "$HOTSWAP" --control "$HS_CONTROL" "${opts[@]}" -- "$@" --listen "$addr" 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 grep -q "gen 1 .*ready" "$HS_LOG" || { cat "$HS_LOG" >&2; return 1; }
}

start_tls() {
    local addr=$1; shift
    start_server "$addr" "$@" -- "$(TLS)" serve --cert "$BATS_FILE_TMPDIR/cert.pem" --key "$BATS_FILE_TMPDIR/key.pem"
}

# drained_ms GEN: how long GEN's drain took, by the launcher's log.
drained_ms() { sed -n "s/.*hotswap: gen $1 drained [0-9]* connections\{0,1\} in \([0-9]*\) ms.*/\1/p" "$HS_LOG"; }

# gen_pid GEN: the pid of GEN's first process, by the launcher's log.
gen_pid() { sed -n "s/.*hotswap: gen $1 pid \([0-9]*\) ready.*/\1/p" "$HS_LOG"; }

# reloads_each_drained_within N MS CONNS: N reloads, each once the generation serving holds CONNS
# connections; each old generation drained within MS ms.
reloads_each_drained_within() {
    local count=$1 limit=$2 conns=$3 gen ms
    for ((gen = 2; gen <= count + 1; gen++)); do
        wait_until 10 serving "$(gen_pid $((gen - 1)))" "$HS_ADDR" "$conns"
        echo "# reload to gen $gen at $(date +%s%3N)" >&3
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        wait_until 15 grep -q "gen $((gen - 1)) drained" "$HS_LOG"
        ms=$(drained_ms $((gen - 1)))
        echo "# gen $((gen - 1)) drained in $ms ms" >&3
        [[ -n "$ms" ]] && ((ms < limit)) || { echo "gen $((gen - 1)) drained in ${ms:-?} ms"; return 1; }
    done
}

# stop_client: stops the client LOAD_PID (SIGTERM); its summary line in SUMMARY.
stop_client() {
    kill -TERM "$LOAD_PID"
    wait "$LOAD_PID" || true
    LOAD_PID=
    SUMMARY=$(tail -n 1 "$BATS_TEST_TMPDIR/client.out")
    echo "# $SUMMARY" >&3
}

# sessions_through_reloads RELOADS MS WAIT_MS PAUSE_MS: 8 line-sessions clients (WAIT_MS, PAUSE_MS)
# through RELOADS reloads, each old generation drained within MS; none lost, the last generation
# heard; the client's summary in SUMMARY.
sessions_through_reloads() {
    local reloads=$1 limit=$2 last=$(($1 + 1))
    python3 "$ROOT/tests/fixtures/line-sessions.py" 127.0.0.1 "${HS_ADDR##*:}" 8 "$3" "$4" \
        >"$BATS_TEST_TMPDIR/client.out" &
    LOAD_PID=$!
    reloads_each_drained_within "$reloads" "$limit" 8
    wait_until 10 serving "$(gen_pid "$last")" "$HS_ADDR" 8
    stop_client
    [ "$(field lost "$SUMMARY")" = 0 ]
    [[ ",$(field gens "$SUMMARY")," == *",$last,"* ]]
}

@test "TLS keep-alive clients through 5 reloads: 0 failed, each old generation gone within a second or two" {
    start_tls "127.0.0.1:$(free_port)" --drain-timeout 10s
    local out="$BATS_TEST_TMPDIR/client.out"
    "$(TLS)" load --connect "$HS_ADDR" --ca "$BATS_FILE_TMPDIR/cert.pem" -c 16 -d 30 --pause-ms 200 >"$out" &
    LOAD_PID=$!
    # (about 0.5 s; 2 s leaves room for a machine busy with two CPU hogs)
    reloads_each_drained_within 5 2000 16
    wait_until 10 serving "$(gen_pid 6)" "$HS_ADDR" 16
    stop_client
    [ "$(field failed "$SUMMARY")" = 0 ]
    [[ ",$(field gens "$SUMMARY")," == *",6,"* ]]
    # each client's connection ended at each reload: noticed while idle, or (the race every
    # server-side close has) met by a request that got nothing back and was repeated
    (($(field reconnects "$SUMMARY") + $(field retryable "$SUMMARY") >= 80))
    refute grep -q "cut" "$HS_LOG"
}

@test "Go line protocol (seccomp route): a session is never ended with a request pending; 5 reloads lose none" {
    require_tool go golang-go
    "$ROOT/tests/fixtures/go-server/build" "$BATS_FILE_TMPDIR" >&2
    start_server "127.0.0.1:$(free_port)" --drain-timeout 10s -- "$BATS_FILE_TMPDIR/go-server-static" --lines
    grep -q "gen 1 .*seccomp" "$HS_LOG"
    # each session spends most of its time with a request pending (WAIT 400), the rest idle
    sessions_through_reloads 5 8000 400 150
    [ "$(field sessions "$SUMMARY")" -ge 40 ] # each session ended at each reload, and begun again
}

# subscribe N: N sessions of the push server at HS_ADDR, each read into its own file until its
# end, then "eof at T" (ms since the epoch) appended.
subscribe() {
    local i
    for ((i = 1; i <= $1; i++)); do
        (
            exec 5<>"/dev/tcp/127.0.0.1/${HS_ADDR##*:}"
            echo SUBSCRIBE >&5
            cat <&5 >"$BATS_TEST_TMPDIR/sub.$i"
            echo "eof at $(date +%s%3N)" >>"$BATS_TEST_TMPDIR/sub.$i"
        ) &
    done
}

# ticked N GEN: every one of the N sessions has had a tick from generation GEN.
ticked() { (($(grep -l "gen=$2\$" "$BATS_TEST_TMPDIR"/sub.* | wc -l) == $1)); }

# all_ended N: every one of the N sessions has ended.
all_ended() { (($(grep -l "^eof at" "$BATS_TEST_TMPDIR"/sub.* | wc -l) == $1)); }

@test "a server that pushes unasked, by turn (the default): each session ends in a pause between ticks; drained in a second" {
    # (preload only: on the seccomp route a C server blocked in accept() since before the drain
    # holds the drain to its timeout, whatever its connections do)
    for route in preload; do
        rm -f "$BATS_TEST_TMPDIR"/sub.*
        start_server "127.0.0.1:$(free_port)" --intercept "$route" --drain-timeout 10s -- "$(PUSH)"
        subscribe 4
        wait_until 10 ticked 4 1
        local began=$(date +%s%3N)
        run reload
        [ "$status" -eq 0 ]
        wait_until 10 all_ended 4
        wait_until 10 grep -q "gen 1 drained" "$HS_LOG"
        local ms
        ms=$(drained_ms 1)
        echo "# $route: gen 1 drained in $ms ms" >&3
        [[ -n "$ms" ]]
        ((ms < 1000))
        stop_hotswap
        wait
    done
}

@test "--idle-close http: a pushing session is left alone (it ends at the drain timeout), on either route" {
    for route in preload seccomp; do
        rm -f "$BATS_TEST_TMPDIR"/sub.*
        start_server "127.0.0.1:$(free_port)" --intercept "$route" --idle-close http --drain-timeout 1500ms -- "$(PUSH)"
        subscribe 2
        wait_until 10 ticked 2 1
        local began=$(date +%s%3N)
        run reload
        [ "$status" -eq 0 ]
        wait_until 10 all_ended 2
        # ticks went on for the whole drain (a tick every 200 ms), and the sessions ended with it
        local ended
        for sub in "$BATS_TEST_TMPDIR"/sub.*; do
            ended=$(sed -n 's/^eof at //p' "$sub")
            echo "# $route: a session ended $((ended - began)) ms after the reload began" >&3
            ((ended - began >= 1400))
        done
        refute grep -q "gen 1 drained [0-9]* connections* in [0-9]\{1,3\} ms" "$HS_LOG"
        stop_hotswap
        wait
    done
}

@test "--idle-close never: idle HTTP keep-alive and TLS connections stay until the drain timeout" {
    start_hotswap "127.0.0.1:$(free_port)" --idle-close never --drain-timeout 1500ms -- --model epoll --keep-alive
    python3 "$ROOT/tests/fixtures/idle-clients.py" 127.0.0.1 "${HS_ADDR##*:}" 3 10 >"$BATS_TEST_TMPDIR/idle" &
    local client=$!
    wait_until 10 grep -q "^answered 3 at" "$BATS_TEST_TMPDIR/idle"
    local began=$(date +%s%3N)
    run reload
    [ "$status" -eq 0 ]
    wait "$client"
    local ended
    ended=$(sed -n 's/^eof at //p; s/^reset at //p' "$BATS_TEST_TMPDIR/idle" | sort -n | head -n 1)
    echo "# http: the first idle connection ended $((ended - began)) ms after the reload began" >&3
    ((ended - began >= 1400))
    stop_hotswap
    rm -f "$HS_LOG"

    start_tls "127.0.0.1:$(free_port)" --idle-close never --drain-timeout 1500ms
    "$(TLS)" load --connect "$HS_ADDR" --ca "$BATS_FILE_TMPDIR/cert.pem" -c 2 -d 30 --pause-ms 200 \
        >"$BATS_TEST_TMPDIR/client.out" 2>&1 &
    LOAD_PID=$!
    wait_until 10 serving "$(gen_pid 1)" "$HS_ADDR" 2
    run reload
    [ "$status" -eq 0 ]
    stop_client
    refute grep -q "gen 1 drained [0-9]* connections* in [0-9]\{1,3\} ms" "$HS_LOG"
}

@test "--handover-idle, a line protocol (not HTTP): each session idle by turn moves to the next generation; 10 reloads, none lost or reopened" {
    start_server "127.0.0.1:$(free_port)" --handover-idle --drain-timeout 10s -- \
        python3 "$ROOT/tests/fixtures/line-server.py"
    # each session: PING, then WAIT 100 (a request pending), then 150 ms idle
    sessions_through_reloads 10 5000 100 150
    [ "$(field sessions "$SUMMARY")" = 8 ] # each moved open: no client ever began a new one
    grep -q "gen 10 drained" "$HS_LOG"
    refute grep -q "cut" "$HS_LOG"
}
