#!/usr/bin/env bats
# A UDP (DNS-style) server: its bound socket is held across reloads; a drain stops the old
# generation receiving, while the replies it owes still go out.

load helpers

UDP_SERVER="$ROOT/$BUILD/udp-server"

teardown() { teardown_hotswap; }

start_udp() {
    local addr=$1; shift
    HS_ADDR=$addr
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    "$HOTSWAP" --control "$HS_CONTROL" -- "$UDP_SERVER" --listen "${addr#udp:}" "$@" 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
}

udp_reloads_under_load() {
    local addr="udp:$1:$(free_port)"; shift
    start_udp "$addr" "$@"
    grep -q "listens on udp:" "$HS_LOG"
    start_load "$addr"
    for gen in 2 3 4 5 6; do
        run reload
        [ "$status" -eq 0 ]
        [ "$(generation_of "$addr")" = "$gen" ]
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    # every new generation answered the load (generation 1 may have had none of it: on a busy
    # machine the load's first datagram can come after the first reload)
    [[ "$(field gens "$LOAD_SUMMARY")" =~ ^(1,)?2,3,4,5,6$ ]]
}

@test "UDP, blocking recvfrom: 5 reloads under load lose no datagram" {
    udp_reloads_under_load 127.0.0.1 --model blocking
}

@test "UDP, epoll: 5 reloads under load lose no datagram" {
    udp_reloads_under_load 127.0.0.1 --model epoll
}

@test "UDP on [::1]: 5 reloads under load lose no datagram" {
    udp_reloads_under_load "[::1]" --model blocking
}

@test "UDP: a reply the old generation owes still goes out after the drain" {
    local addr="udp:127.0.0.1:$(free_port)"
    start_udp "$addr" --model blocking --slow-ms 1000
    local reply="$BATS_TEST_TMPDIR/reply"
    "$LOADCLIENT" --connect "$addr" --get "slow one" --timeout-ms 5000 >"$reply" &
    local slow=$!
    # the old generation has received it: it owes one reply
    local old_pid
    old_pid=$(pgrep -P "$HS_PID")
    wait_until 5 grep -q nanosleep "/proc/$old_pid/wchan"   # it is taking its time over it
    run reload
    [ "$status" -eq 0 ]
    wait "$slow"
    grep -q "^gen=1 .*id=slow one" "$reply"
    [[ "$output" == *"gen 1 drained 1 connection"* ]]
}
