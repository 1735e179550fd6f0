#!/usr/bin/env bats
# The keep-alive load client (strict and retryable counts) and the fixture server's --keep-alive, without hotswap.

load helpers

teardown() {
    if [[ -n "${FIX_PID:-}" ]]; then kill -KILL "$FIX_PID" 2>/dev/null || true; fi
    teardown_hotswap
}

# start_fixture [fixture options...]: the fixture on a free port (FIX_ADDR, FIX_PORT, FIX_PID).
start_fixture() {
    FIX_PORT=$(free_port)
    FIX_ADDR="127.0.0.1:$FIX_PORT"
    "$FIXTURE" --listen "$FIX_ADDR" "$@" 2>"$BATS_TEST_TMPDIR/fixture.log" &
    FIX_PID=$!
    wait_until 10 get "$FIX_ADDR" /
}

# load_for [loadclient options...]: a short keep-alive load; its summary line in SUMMARY.
load_for() {
    run "$LOADCLIENT" --connect "$FIX_ADDR" --keep-alive --timeout-ms 5000 "$@"
    echo "load $*: $output (exit $status)"
    [ "$status" -eq 0 ]
    SUMMARY=$output
    [ "$(field failed "$SUMMARY")" = 0 ]
    [ "$(field hard "$SUMMARY")" = 0 ]
    [ "$(field retryable "$SUMMARY")" = 0 ]
    [ "$(field gens "$SUMMARY")" = 0 ]
}

# exchange REQUESTS: writes REQUESTS (printf format) on one connection, prints all that comes
# back until the server closes it. (bash may write it in pieces: a subshell takes any SIGPIPE.)
exchange() {
    exec 3<>"/dev/tcp/127.0.0.1/$FIX_PORT"
    (printf "$1" >&3) 2>/dev/null || true
    timeout 10 cat <&3
    exec 3<&-
}

count_ok() { grep -c '^HTTP/1.1 200 OK' <<<"$1"; }

# Keep-alive in one model: CONNS clients keep CONNS connections; a pipelined pair is answered
# in order; /sleep/1000 and /slow (--slow-ms 100) complete on a kept-alive connection.
keep_alive_in_model() {
    local model=$1 conns=$2
    start_fixture --model "$model" --keep-alive --slow-ms 100 --workers 2

    load_for -c "$conns" -d 1
    [ "$(field requests "$SUMMARY")" -gt 100 ]
    [ "$(field conns "$SUMMARY")" = "$conns" ]
    [ "$(field reused "$SUMMARY")" = $(($(field requests "$SUMMARY") - conns)) ]

    # each client: /sleep/1000 (ms) from 0 to 1 s, the next from 1 s on the same connection
    # (counts, not times: the machine may be busy)
    load_for -c "$conns" -d 2.5 --path /sleep/1000
    [ "$(field requests "$SUMMARY")" -ge $((2 * conns)) ]
    [ "$(field conns "$SUMMARY")" = "$conns" ]
    [ "$(field reused "$SUMMARY")" = $(($(field requests "$SUMMARY") - conns)) ]
    [ "$(field p50_us "$SUMMARY")" -ge 1000000 ]

    load_for -c "$conns" -d 1 --path /slow
    [ "$(field requests "$SUMMARY")" -ge $((2 * conns)) ]
    [ "$(field conns "$SUMMARY")" = "$conns" ]
    [ "$(field reused "$SUMMARY")" = $(($(field requests "$SUMMARY") - conns)) ]

    local out
    out=$(exchange 'GET /sleep/200 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    [ "$(count_ok "$out")" = 2 ]
    [ "$(grep -c 'Connection: keep-alive' <<<"$out")" = 1 ]
    [ "$(grep -c 'Connection: close' <<<"$out")" = 1 ]
    kill -0 "$FIX_PID"
}

@test "blocking: keep-alive serves one client on one connection" { keep_alive_in_model blocking 1; }
@test "thread per connection: keep-alive clients keep their connections" { keep_alive_in_model threads 4; }
@test "epoll level-triggered: keep-alive clients keep their connections" { keep_alive_in_model epoll 4; }
@test "epoll edge-triggered: keep-alive clients keep their connections" { keep_alive_in_model epoll-et 4; }
@test "poll: keep-alive clients keep their connections" { keep_alive_in_model poll 4; }
@test "select: keep-alive clients keep their connections" { keep_alive_in_model select 4; }
@test "prefork: keep-alive, one client per worker" { keep_alive_in_model prefork 2; }
@test "forking: keep-alive clients keep their connections" { keep_alive_in_model forking 4; }

@test "without --keep-alive the fixture answers one request per connection, then closes" {
    start_fixture --model epoll
    local out
    out=$(exchange 'GET / HTTP/1.1\r\nHost: x\r\n\r\n') # HTTP/1.1, yet closed after it
    [ "$(count_ok "$out")" = 1 ]
    grep -q 'Connection: close' <<<"$out"

    # the keep-alive client follows the server's Connection: close: no failure, no reuse
    load_for -c 4 -d 1
    [ "$(field conns "$SUMMARY")" = "$(field requests "$SUMMARY")" ]
    [ "$(field reused "$SUMMARY")" = 0 ]

    run "$LOADCLIENT" --connect "$FIX_ADDR" -c 4 -d 1
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(field failed "$output")" = 0 ]
    [ "$(field conns "$output")" = "$(field requests "$output")" ]
    [ "$(field reused "$output")" = 0 ]
    [ "$(field hard "$output")" = 0 ]
}

@test "a keep-alive fixture closes after a request that says Connection: close, or HTTP/1.0" {
    start_fixture --model poll --keep-alive
    local out
    out=$(exchange 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n')
    [ "$(count_ok "$out")" = 1 ]
    out=$(exchange 'GET / HTTP/1.0\r\n\r\n')
    [ "$(count_ok "$out")" = 1 ]
    out=$(exchange 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n')
    [ "$(count_ok "$out")" = 2 ]
    # and the client without --keep-alive is served as before
    run "$LOADCLIENT" --connect "$FIX_ADDR" -c 4 -d 1
    [ "$status" -eq 0 ]
    [ "$(field conns "$output")" = "$(field requests "$output")" ]
}

@test "a reused connection closed by the server without a word is a retryable failure" {
    command -v python3 || skip "needs python3"
    local port; port=$(free_port)
    # answers keep-alive requests, and silently closes after every 3rd one
    python3 -c '
import socket, sys, threading
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(128)
def serve(c):
    buf, n = b"", 0
    while True:
        while b"\r\n\r\n" not in buf:
            d = c.recv(4096)
            if not d: c.close(); return
            buf += d
        buf = buf.split(b"\r\n\r\n", 1)[1]; n += 1
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\ngen=9 pid=1\n")
        if n % 3 == 0: c.close(); return
while True:
    c, _ = ls.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$port" &
    FIX_PID=$!
    wait_until 10 get "127.0.0.1:$port" /
    run "$LOADCLIENT" --connect "127.0.0.1:$port" --keep-alive -c 4 -d 1 --log "$BATS_TEST_TMPDIR/log"
    echo "$output"
    [ "$status" -eq 1 ]   # strict: any failure fails the run
    [ "$(field ok "$output")" -gt 100 ]
    [ "$(field hard "$output")" = 0 ]
    [ "$(field retryable "$output")" = "$(field failed "$output")" ]
    [ "$(field gens "$output")" = 9 ]
    [ "$(field failed "$output")" = "$(grep -c ' retryable$' "$BATS_TEST_TMPDIR/log")" ]
    run "$LOADCLIENT" --connect "127.0.0.1:$port" --keep-alive --allow-retryable -c 4 -d 1
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(field hard "$output")" = 0 ]
}
