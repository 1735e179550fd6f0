#!/usr/bin/env bats
# How a drain ends, and what is said of it: UDP datagrams owed a reply for a bounded time,
# `hotswap reload --wait ready` for long-lived sessions, a drain cut at its timeout said (and
# counted) as a cut, and `hotswap try` counting every failure it saw and naming a slow drain's
# cause within a bound of its own.

load helpers
bats_require_minimum_version 1.5.0

UDP_SERVER="$ROOT/$BUILD/udp-server"

teardown() { teardown_hotswap; }

# udp_answers ADDR GEN: a datagram to ADDR is answered by generation GEN (a half-answering
# server ignores every other one: the short wait lets the next try come soon).
udp_answers() { "$LOADCLIENT" --connect "$1" --get probe --timeout-ms 300 2>/dev/null | grep -q "^gen=$2 "; }

# udp_queue_empty PORT: the kernel holds no datagram for the UDP socket on PORT.
udp_queue_empty() { [ "$(ss -Hun "( sport = :$1 )" | awk '{n += $2} END {print n + 0}')" = 0 ]; }

# start_udp_half ADDR [hotswap options...]: the UDP fixture answering every other datagram,
# under the launcher; 20 datagrams sent and taken, so the server owes (and will never send)
# about 10 replies.
start_udp_half() {
    local addr=$1; shift
    HS_ADDR=$addr
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    "$HOTSWAP" --control "$HS_CONTROL" "$@" -- "$UDP_SERVER" --listen "${addr#udp:}" --model blocking \
        --answer-every 2 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 udp_answers "$addr" 1
    local port=${addr##*:} i
    local udp
    exec {udp}>"/dev/udp/127.0.0.1/$port"
    for i in $(seq 20); do printf 'q%d' "$i" >&"$udp"; done
    exec {udp}>&-
    wait_until 5 udp_queue_empty "$port"
}

# drained_ms GEN: how long generation GEN's drain took, from the launcher's log.
drained_ms() { sed -n "s/.*hotswap: gen $1 drained .* in \([0-9]*\) ms.*/\1/p" "$HS_LOG"; }

@test "UDP: a server that answers every other datagram drains in under 2 s, and the log speaks of datagrams" {
    local addr="udp:127.0.0.1:$(free_port)"
    start_udp_half "$addr" --drain-timeout 10s
    run -0 reload
    [[ "$output" == *"gen 1 drained "[0-9]*" datagrams in "* ]]
    local line ms
    line=$(grep "hotswap: gen 1 drained" "$HS_LOG")
    echo "$line"
    [[ "$line" =~ "gen 1 drained "[1-9][0-9]*" datagrams in "[0-9]+" ms ("[1-9][0-9]*" unanswered after --datagram-timeout 1000 ms: no longer owed)" ]]
    [[ "$line" != *connection* ]]
    ms=$(drained_ms 1)
    ((ms < 2000))
    refute grep -q "cutting\|at the drain timeout" "$HS_LOG"
    wait_until 5 udp_answers "$addr" 2
}

@test "UDP: --datagram-timeout sets how long an unanswered datagram is owed" {
    local addr="udp:127.0.0.1:$(free_port)"
    start_udp_half "$addr" --datagram-timeout 2500ms --drain-timeout 10s
    run -0 reload
    local ms
    ms=$(drained_ms 1)
    echo "gen 1 drained in $ms ms"
    ((ms >= 2400 && ms < 6000))
    grep -q "unanswered after --datagram-timeout 2500 ms" "$HS_LOG"
}

@test "reload --wait ready returns once the new generation serves; the drain goes on, and is logged" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model threads
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    hold_request_open "$addr"
    wait_until 5 has_threads "$old_pid" 2   # its connection's thread is up: the request is in
    run -0 "$HOTSWAP" reload --wait ready --control "$HS_CONTROL"
    echo "$output"
    [[ "$output" == *"ok: gen 2 ready in "*" ms; gen 1 draining: its end goes to the launcher's log and hotswap status"* ]]
    process_running "$old_pid"   # still draining: the held request is not answered yet
    [ "$(generation_of "$addr")" = 2 ]
    [[ "$(finish_held_request)" == *"gen=1 "* ]]
    wait_until 10 grep -q "reload done: gen 2 ready in [0-9]* ms; gen 1 drained [0-9]* connections* in" "$HS_LOG"
    wait_until 5 process_gone "$old_pid"
}

@test "reload --wait drained, the default, returns once the old generation is gone" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model threads
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    get "$addr" /sleep/1000 >/dev/null 2>&1 &
    wait_until 5 has_threads "$old_pid" 2
    run -0 "$HOTSWAP" reload --wait drained --control "$HS_CONTROL"
    [[ "$output" == *"ok: gen 2 ready in "*"; gen 1 drained "*" connection"*" in "* ]]
    process_gone "$old_pid"
    run -64 "$HOTSWAP" reload --wait soon --control "$HS_CONTROL"
    [[ "$output" == *"--wait: 'soon' is not what to wait for (drained, ready)"* ]]
}

@test "a drain that ends at its timeout says what it cut, never drained; status counts the cut" {
    require_tool jq jq
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --drain-timeout 700ms -- --model threads
    run -0 "$HOTSWAP" status --json --control "$HS_CONTROL"
    [ "$(jq -r '.launcher.connections_cut' <<<"$output")" = 0 ]
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    get "$addr" /sleep/60000 >/dev/null 2>&1 &
    local held=$!
    wait_until 5 has_threads "$old_pid" 2
    run -0 reload
    [[ "$output" == *"gen 1 cut 1 connection at the drain timeout ("*" ms)"* ]]
    [[ "$output" =~ "ok: gen 2 ready in "[0-9]+" ms; gen 1 cut 1 connection at the drain timeout in "[0-9]+" ms, exited" ]]
    [[ "$output" != *"gen 1 drained"* ]]
    refute grep -q "gen 1 drained" "$HS_LOG"
    wait "$held" || true
    run -0 "$HOTSWAP" status --json --control "$HS_CONTROL"
    [ "$(jq -r '.launcher.connections_cut' <<<"$output")" = 1 ]
    run -0 "$HOTSWAP" status --prometheus --control "$HS_CONTROL"
    [[ "$output" == *$'\nhotswap_connections_cut_total 1\n'* ]]
    run -0 "$HOTSWAP" status --control "$HS_CONTROL"
    [[ "$output" == *"cut at drains: 1 connection, 0 datagrams"* ]]
}

@test "try: an end on a reused keep-alive connection is a failure, counted and explained" {
    require_tool python3 python3
    local port
    port=$(free_port)
    HS_ADDR="127.0.0.1:$port"
    run -1 "$HOTSWAP" try --reloads 1 "127.0.0.1:$port" -- python3 "$ROOT/tests/fixtures/kept-closer.py" "$port"
    echo "$output"
    [[ "$output" =~ "try: requests: "[0-9]+" ok, "[1-9][0-9]*" failed (".*", a reused keep-alive connection ended under the request "[1-9][0-9]*")" ]]
    [[ "$output" == *"try: problem: reused keep-alive connections ended under a request"* ]]
    [[ "$output" == *"try: verdict: NOT zero-loss here"* ]]
}

@test "try: a drain that runs to its timeout is named with its cause" {
    local addr="127.0.0.1:$(free_port)"
    HS_ADDR=$addr
    run -1 "$HOTSWAP" try --reloads 1 --http /sleep/3000 --drain-timeout 500ms "$addr" -- \
        "$FIXTURE" --listen "$addr" --model threads
    echo "$output"
    [[ "$output" =~ "try: problem: hotswap: gen 1 cut "[1-9][0-9]*" connection"s?" at the drain timeout" ]]
    [[ "$output" == *"likely cause: the drain ran to its timeout: "*" the shim counts but cannot end"* ]]
}

@test "try --timeout: try ends within its bound, however long its reloads take, and says so" {
    local addr="127.0.0.1:$(free_port)"
    HS_ADDR=$addr
    local started=$SECONDS
    # a stop signal the server ignores: each old generation lives until --kill-timeout, so
    # without the bound two reloads and the stop take 24 s
    run -1 "$HOTSWAP" try --reloads 2 --timeout 3s --stop-signal WINCH --kill-timeout 8s "$addr" -- \
        "$FIXTURE" --listen "$addr" --model threads
    echo "took $((SECONDS - started)) s"
    echo "$output"
    ((SECONDS - started < 10))
    [[ "$output" == *"try: route: preload"* ]]   # it served: the bound is what ended it
    [[ "$output" =~ "try: requests: "[1-9][0-9]*" ok" ]]
    [[ "$output" == *"try: stopped at its time bound (--timeout 3000 ms)"* ]]
    [[ "$output" == *"try: problem: try ran out of its time bound (--timeout) before it was done"* ]]
    [[ "$output" == *"try: left running: nothing"* ]]
}
