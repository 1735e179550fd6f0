#!/usr/bin/env bats
# Keep-alive HTTP/1.x in the default mode: during a drain, the next answer on each connection says
# "Connection: close", so its client closes after that answer and never races the connection's
# end with its next request. A client that never retries sees no error through reloads.

load helpers

teardown() { teardown_hotswap; }

DRAIN_TIMEOUT=20

# five_reloads_never_retrying MODEL [fixture options...]: five reloads under a keep-alive load
# whose clients never retry and never look at a kept connection before reusing it (as wrk):
# any failure counts. Zero failed, and every
# old generation drained well before the drain timeout.
five_reloads_never_retrying() {
    local model=$1; shift
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --drain-timeout "${DRAIN_TIMEOUT}s" -- --model "$model" --keep-alive "$@"
    start_load "$addr" --keep-alive --no-idle-check -c 16 --timeout-ms 10000
    local gen
    for gen in 2 3 4 5 6; do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
    done
    wait_until 10 grep -q "reload done: gen 6 ready" "$HS_LOG"
    wait_until 10 grep -q "gen 5 drained" "$HS_LOG"
    stop_load
    echo "# $model $*: $(field requests "$LOAD_SUMMARY") requests, failed=$(field failed "$LOAD_SUMMARY")" \
        "conns=$(field conns "$LOAD_SUMMARY")" >&3
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$LOAD_STATUS" -eq 0 ]
    [[ ",$(field gens "$LOAD_SUMMARY")," == *",6,"* ]]
    # the clients reconnected: the old generations' connections ended, each after a marked answer
    [ "$(field conns "$LOAD_SUMMARY")" -gt 16 ]
    local ms
    for ms in $(sed -n 's/.*hotswap: gen [0-9]* drained [0-9]* connections\{0,1\} in \([0-9]*\) ms.*/\1/p' "$HS_LOG"); do
        ((ms < DRAIN_TIMEOUT * 1000 / 4)) || { echo "a drain took $ms ms"; return 1; }
    done
    refute grep -q "cut" "$HS_LOG"
}

@test "keep-alive clients that never retry, thread per connection: 5 reloads, 0 failed" { five_reloads_never_retrying threads; }
@test "keep-alive clients that never retry, epoll: 5 reloads, 0 failed" { five_reloads_never_retrying epoll; }
@test "keep-alive clients that never retry, epoll edge-triggered: 5 reloads, 0 failed" { five_reloads_never_retrying epoll-et; }
@test "keep-alive clients that never retry, poll: 5 reloads, 0 failed" { five_reloads_never_retrying poll; }
@test "keep-alive clients that never retry, select: 5 reloads, 0 failed" { five_reloads_never_retrying select; }
@test "keep-alive clients that never retry, fork per connection: 5 reloads, 0 failed" { five_reloads_never_retrying forking; }
@test "keep-alive clients that never retry, HTTP/1.0 answers: 5 reloads, 0 failed" { five_reloads_never_retrying epoll --quirk http10-replies; }
@test "keep-alive clients that never retry, writev and chunked answers: 5 reloads, 0 failed" {
    five_reloads_never_retrying threads --quirk writev-replies --quirk chunked-replies
}

# across_reload REQUESTS: sends REQUESTS (printf format) on one connection to generation 1, all but
# the first request's last CRLF, reloads (until generation 2 is ready), and sends the rest once the kernel shows generation 1
# drained (it let go of its listener): the first request asks for a 1 s answer, which is then in
# flight in the drain however long a loaded machine took to reload. Sets ANSWERS to all the
# server sent until it ended the connection (CRs removed, a Content-Length's value said N: pids
# vary).
across_reload() {
    local port=${HS_ADDR##*:} conn gen1 end='\r\n\r\n'
    gen1=$(sed -n 's/.*gen 1 pid \([0-9]*\) ready in.*/\1/p' "$HS_LOG")
    exec {conn}<>"/dev/tcp/127.0.0.1/$port"
    # shellcheck disable=SC2059
    printf "${1%%"$end"*}"'\r\n' >&"$conn"
    wait_until 5 serving "$gen1" "$HS_ADDR" 1
    run "$HOTSWAP" reload --control "$HS_CONTROL" --wait ready
    [ "$status" -eq 0 ] || { echo "$output"; return 1; }
    wait_until 5 lets_go_of_listener "$gen1" "$HS_ADDR"
    # shellcheck disable=SC2059
    printf '\r\n'"${1#*"$end"}" >&"$conn"
    local status_of_read=0
    ANSWERS=$(timeout 10 cat <&"$conn" | tr -d '\r' | sed 's/^Content-Length: [0-9]*$/Content-Length: N/') ||
        status_of_read=$?
    exec {conn}<&-
    echo "$ANSWERS"
    # the connection ended (by the server, not at the 10 s bound)
    [ "$status_of_read" -eq 0 ]
}

SLOW='GET /sleep/1000 HTTP/1.1\r\nHost: t\r\n\r\n'

# one_answer QUIRKS...: generation 1 of the threads model with those quirks answers SLOW across a
# reload (ANSWERS).
one_answer() {
    start_hotswap "127.0.0.1:$(free_port)" --drain-timeout "${DRAIN_TIMEOUT}s" -- --model threads --keep-alive "$@"
    across_reload "$SLOW"
}

@test "an answer in flight when the drain begins says Connection: close instead of keep-alive, body whole" {
    one_answer
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Content-Length: N"$'\n'"Connection: close"$'\n\n'"gen=1 pid="* ]]
    [[ "$ANSWERS" != *keep-alive* ]]
    [ "$(grep -c '^HTTP/' <<<"$ANSWERS")" -eq 1 ]
}

@test "HTTP/1.0 keep-alive: the answer says Connection: close" {
    start_hotswap "127.0.0.1:$(free_port)" --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        --model epoll --keep-alive --quirk http10-replies
    across_reload 'GET /sleep/1000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
    [[ "$ANSWERS" == "HTTP/1.0 200 OK"$'\n'"Content-Length: N"$'\n'"Connection: close"$'\n\n'"gen=1 "* ]]
}

@test "a CONNECTION: Keep-Alive field in capitals is rewritten to close" {
    one_answer --quirk shouted-connection
    [[ "$ANSWERS" == *$'\n'"CONNECTION: close"$'\n\n'"gen=1 "* ]]
    [[ "$ANSWERS" != *Keep-Alive* ]]
}

@test "an answer head without a Connection field gains Connection: close" {
    one_answer --quirk no-connection-field
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Connection: close"$'\n'"Content-Length: N"$'\n\n'"gen=1 "* ]]
}

@test "writev: a head in the first iovecs is marked, the body after it whole" {
    start_hotswap "127.0.0.1:$(free_port)" --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        --model epoll --keep-alive --quirk writev-replies
    across_reload "$SLOW"
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Content-Length: N"$'\n'"Connection: close"$'\n\n'"gen=1 pid="[0-9]* ]]
}

@test "sendfile after the head, and a chunked body: marked, the body whole" {
    one_answer --quirk sendfile-body --quirk chunked-replies
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Transfer-Encoding: chunked"$'\n'"Connection: close"$'\n\n'[0-9a-f]*$'\n'"gen=1 pid="*$'\n\n'"0" ]]
}

@test "a 100 Continue goes out untouched; the final answer's head says close" {
    start_hotswap "127.0.0.1:$(free_port)" --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        --model threads --keep-alive --quirk continue-first
    across_reload 'GET /sleep/1000 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n'
    [[ "$ANSWERS" == "HTTP/1.1 100 Continue"$'\n\n'"HTTP/1.1 200 OK"$'\n'"Content-Length: N"$'\n'"Connection: close"$'\n\n'"gen=1 "* ]]
}

@test "a head split over two writes goes out as written, and the connection still ends after it" {
    one_answer --quirk split-head
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Content-Length: N"$'\n'"Connection: keep-alive"$'\n\n'"gen=1 pid="[0-9]* ]]
    [ "$(grep -c '^HTTP/' <<<"$ANSWERS")" -eq 1 ]
}

@test "pipelined requests: the answer in flight says close, and every answer after it is whole" {
    start_hotswap "127.0.0.1:$(free_port)" --drain-timeout "${DRAIN_TIMEOUT}s" -- --model epoll --keep-alive
    across_reload "${SLOW}GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n"
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Content-Length: N"$'\n'"Connection: close"$'\n\n'"gen=1 pid="* ]]
    # whatever follows the marked answer (the client ignores it) is whole answers, never a torn one
    [[ "$ANSWERS" != *keep-alive* ]]
    local heads lines
    heads=$(grep -c '^HTTP/1.1 200 OK$' <<<"$ANSWERS")
    lines=$(grep -c '^gen=1 pid=[0-9]*$' <<<"$ANSWERS")
    [ "$heads" -eq "$lines" ]
}

@test "an idle keep-alive connection is still ended at the drain, the drain prompt" {
    local addr="127.0.0.1:$(free_port)" conn
    start_hotswap "$addr" --drain-timeout "${DRAIN_TIMEOUT}s" -- --model epoll --keep-alive
    exec {conn}<>"/dev/tcp/127.0.0.1/${addr##*:}"
    printf 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' >&"$conn"
    local line head=
    while read -r -t 5 line <&"$conn" && [[ "$line" != $'\r' ]]; do head+="$line"; done
    read -r -t 5 line <&"$conn" # the body: one line
    [[ "$head" == *"Connection: keep-alive"* && "$line" == "gen=1 pid="* ]]
    run reload
    [ "$status" -eq 0 ]
    # the server ends it (end-of-file here) without a word more, well before the drain timeout
    local rest status_of_read=0
    rest=$(timeout 5 cat <&"$conn") || status_of_read=$?
    exec {conn}<&-
    [ "$status_of_read" -eq 0 ]
    [ -z "$rest" ]
    wait_until 5 grep -q "gen 1 drained 1 connection in" "$HS_LOG"
}

# start_with_short_writes FIXTURE_OPTIONS...: like start_hotswap, with libshortclose.so after the
# shim: the first write of a head saying "Connection: close" on each connection goes out only up
# to "Connection: cl", as when a send buffer fills (through sh: the launcher puts the shim last in
# an LD_PRELOAD it is given, and this must come after it).
start_with_short_writes() {
    local addr="127.0.0.1:$(free_port)"
    HS_ADDR=$addr
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    "$HOTSWAP" --control "$HS_CONTROL" --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        sh -c 'preload=$1; shift; LD_PRELOAD="$preload" exec "$@"' \
        sh "$SHIM:$ROOT/$BUILD/libshortclose.so" "$FIXTURE" --listen "$addr" --keep-alive "$@" 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
}

@test "nonblocking: a marked head the kernel takes only in part is finished before the server's next bytes" {
    start_with_short_writes --model epoll
    across_reload "$SLOW"
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Content-Length: N"$'\n'"Connection: close"$'\n\n'"gen=1 pid="[0-9]* ]]
    [ "$(grep -c '^HTTP/' <<<"$ANSWERS")" -eq 1 ]
}

@test "nonblocking: an added Connection line cut short is finished, the head whole" {
    start_with_short_writes --model epoll-et --quirk no-connection-field --quirk writev-replies
    across_reload "$SLOW"
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Connection: close"$'\n'"Content-Length: N"$'\n\n'"gen=1 pid="[0-9]* ]]
}

@test "blocking: a marked head cut short is written whole in the same call" {
    start_with_short_writes --model threads
    across_reload "$SLOW"
    [[ "$ANSWERS" == "HTTP/1.1 200 OK"$'\n'"Content-Length: N"$'\n'"Connection: close"$'\n\n'"gen=1 pid="[0-9]* ]]
}

@test "clients thinking 300 ms between requests, idle at the drain's start: none is raced, each next answer says close" {
    # Idle at the drain's start, each connection was answered less than a second before: its
    # client is thinking, not gone. Ended then, it would meet the end with its next request; kept
    # until the kernel shows it quiet, it gets that request's answer marked, and closes itself.
    require_tool python3 python3
    local addr="127.0.0.1:$(free_port)" pids=() i
    start_hotswap "$addr" --drain-timeout "${DRAIN_TIMEOUT}s" -- --model epoll --keep-alive
    local gen1
    gen1=$(sed -n 's/.*gen 1 pid \([0-9]*\) ready in.*/\1/p' "$HS_LOG")
    for i in 1 2 3 4; do
        python3 "$ROOT/tests/fixtures/thinking-client.py" 127.0.0.1 "${addr##*:}" 20 300 \
            >"$BATS_TEST_TMPDIR/client.$i" 2>&1 &
        pids+=($!)
    done
    wait_until 10 serving "$gen1" "$addr" 4
    run reload
    [ "$status" -eq 0 ] || { echo "$output"; return 1; }
    local failed=0
    for i in 1 2 3 4; do
        wait "${pids[$((i - 1))]}" || failed=1
        cat "$BATS_TEST_TMPDIR/client.$i"
    done
    [ "$failed" -eq 0 ]
    # the drain came while they were thinking: each met the mark, once
    for i in 1 2 3 4; do grep -q "closes=1$" "$BATS_TEST_TMPDIR/client.$i"; done
    refute grep -q "gen 1 cut" "$HS_LOG"
}
