#!/usr/bin/env bats
# Zero-loss reloads of the fixture server, one test per I/O model.

load helpers

teardown() { teardown_hotswap; }

# Ten reloads under a closed-loop load: every request answered, the new generation answering
# after each reload, and the launcher, with the same pid, the ancestor of whoever answers.
ten_reloads_under_load() {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model "$1"
    local launcher=$HS_PID
    start_load "$addr"
    for gen in $(seq 2 11); do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        [[ "$output" == *"ok: gen $gen ready in"* ]]
        [ "$(generation_of "$addr")" = "$gen" ]
        descends_from "$(pid_of_answer "$addr")" "$launcher"
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field requests "$LOAD_SUMMARY")" -gt 100 ]
    [ "$HS_PID" = "$launcher" ] && process_running "$launcher"
}

@test "blocking single thread: 10 reloads under load lose no request" { ten_reloads_under_load blocking; }
@test "thread per connection: 10 reloads under load lose no request" { ten_reloads_under_load threads; }
@test "epoll level-triggered: 10 reloads under load lose no request" { ten_reloads_under_load epoll; }
@test "epoll edge-triggered nonblocking: 10 reloads under load lose no request" { ten_reloads_under_load epoll-et; }
@test "poll: 10 reloads under load lose no request" { ten_reloads_under_load poll; }
@test "select: 10 reloads under load lose no request" { ten_reloads_under_load select; }
@test "prefork workers: 10 reloads under load lose no request" { ten_reloads_under_load prefork; }

@test "SIGHUP to the launcher reloads, as hotswap reload does" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    kill -HUP "$HS_PID"
    wait_until 10 answers_with_gen "$addr" 2
    wait_until 10 grep -q "reload done: gen 2 ready" "$HS_LOG"
}

@test "the launcher logs the reload timings: ready, drained, exited" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model threads
    run reload
    [ "$status" -eq 0 ]
    grep -Eq "gen 2 pid [0-9]+ ready in [0-9]+ ms" "$HS_LOG"
    grep -Eq "gen 1 drained [0-9]+ connections? in [0-9]+ ms" "$HS_LOG"
    grep -Eq "gen 1 pid [0-9]+ killed by signal 15 \(Terminated\), [0-9]+ ms after the stop" "$HS_LOG"
}

# 128 listeners (a virtual-host server, one port each): every one held, handed to each new
# generation and answering after the reloads, the last one under load; the reload's line names
# the fullest accept queues, not the first four.
@test "128 listeners: each held across reloads, the last one under load loses nothing" {
    local ports=() extra=() i
    while ((${#ports[@]} < 128)); do
        local port
        port=$(free_port)
        [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
    done
    for ((i = 1; i < 128; i++)); do extra+=(--listen "127.0.0.1:${ports[i]}"); done
    start_hotswap "127.0.0.1:${ports[0]}" -- --model epoll "${extra[@]}"
    # (the first port answers before the launcher has read every listener its shim reported)
    wait_until 10 bash -c '[ "$(grep -c ": held$" "$0")" -eq 128 ]' "$HS_LOG"
    start_load "127.0.0.1:${ports[127]}"
    for gen in 2 3; do
        run reload
        [ "$status" -eq 0 ] || { echo "$output"; return 1; }
        [[ "$output" == *"(the 4 fullest of 128)"* ]]
        [ "$(generation_of "127.0.0.1:${ports[0]}")" = "$gen" ]
        [ "$(generation_of "127.0.0.1:${ports[64]}")" = "$gen" ]
    done
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field requests "$LOAD_SUMMARY")" -gt 100 ]
}
