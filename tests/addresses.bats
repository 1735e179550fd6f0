#!/usr/bin/env bats
# Listeners other than IPv4 TCP: IPv6 on ::1, and a Unix socket path.

load helpers

teardown() { teardown_hotswap; }

@test "an IPv6 listener on [::1] survives reloads under load" {
    local addr="[::1]:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    grep -Eq "listens on \[::1\]:[0-9]+: held" "$HS_LOG"
    start_load "$addr"
    for gen in 2 3 4 5; do
        run reload
        [ "$status" -eq 0 ]
        [ "$(generation_of "$addr")" = "$gen" ]
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
}

@test "a Unix socket path survives reloads under load, though each server unlinks it before bind" {
    local path="$BATS_TEST_TMPDIR/app.sock"
    local addr="unix:$path"
    start_hotswap "$addr" -- --model threads
    start_load "$addr"
    for gen in 2 3 4 5; do
        run reload
        [ "$status" -eq 0 ]
        [ -S "$path" ]
        [ "$(generation_of "$addr")" = "$gen" ]
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    # the final stop removes the path
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    [ ! -e "$path" ]
}

@test "IPv4 and IPv6 listeners on one port are told apart by address" {
    local port
    port=$(free_port)
    start_hotswap "127.0.0.1:$port" -- --model poll
    local v4_control=$HS_CONTROL v4_pid=$HS_PID
    # a second launcher on [::1] with the same port number: its own listener, its own reloads
    HS_CONTROL="$BATS_TEST_TMPDIR/control6.sock"
    "$HOTSWAP" --control "$HS_CONTROL" -- "$FIXTURE" --model poll --listen "[::1]:$port" \
        2>"$BATS_TEST_TMPDIR/hotswap6.log" &
    local v6_pid=$!
    wait_until 10 answers_with_gen "[::1]:$port" 1
    run reload
    [ "$status" -eq 0 ]
    [ "$(generation_of "[::1]:$port")" = 2 ]
    [ "$(generation_of "127.0.0.1:$port")" = 1 ]
    kill -TERM "$v6_pid"
    wait "$v6_pid"
    HS_CONTROL=$v4_control HS_PID=$v4_pid
}

@test "an IPv6 listener on [::1] without IPV6_V6ONLY set by the server is claimed all the same" {
    # binding a specific IPv6 address makes the kernel set IPV6_V6ONLY on it; the new
    # generation's socket, before its bind, still has the default (0): only for the wildcard
    # address does the flag decide anything
    local addr="[::1]:$(free_port)"
    start_hotswap "$addr" -- --model epoll --quirk v6only-unset
    run reload
    [ "$status" -eq 0 ]
    [ "$(generation_of "$addr")" = 2 ]
}

# start_in_dirs: the launcher runs the fixture from $BATS_TEST_TMPDIR/DIR, binding the relative
# path app.sock there; DIR is "gen$HOTSWAP_GENERATION" (a directory per generation) or "same".
start_in_dirs() {
    local dir=$1; shift
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    mkdir -p "$BATS_TEST_TMPDIR"/{gen1,gen2,gen3,same}
    # shellcheck disable=SC2016 # expanded by the generation's shell
    "$HOTSWAP" --control "$HS_CONTROL" -- sh -c 'cd "$0/'"$dir"'" && f=$1 && shift && exec "$f" --listen unix:app.sock "$@"' \
        "$BATS_TEST_TMPDIR" "$FIXTURE" "$@" 2>"$HS_LOG" &
    HS_PID=$!
}

@test "a relative Unix path in another directory is another socket: each generation binds its own" {
    # a stale socket file where generation 2 binds, as a crashed earlier run leaves: the server
    # removes it before its bind, and nothing may keep it there
    mkdir -p "$BATS_TEST_TMPDIR/gen2"
    /usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
        "$BATS_TEST_TMPDIR/gen2/app.sock"
    [ -S "$BATS_TEST_TMPDIR/gen2/app.sock" ]
    start_in_dirs 'gen$HOTSWAP_GENERATION' --model threads
    wait_until 10 answers_with_gen "unix:$BATS_TEST_TMPDIR/gen1/app.sock" 1 || { cat "$HS_LOG"; false; }
    run reload
    [ "$status" -eq 0 ] || { echo "$output"; cat "$HS_LOG"; false; }
    # generation 2 answers on its own socket, in its own directory: it was not handed the first
    # generation's, which lives in another directory under the same name
    [ "$(generation_of "unix:$BATS_TEST_TMPDIR/gen2/app.sock")" = 2 ]
    # and status names each path as its binder meant it
    run status_of
    [[ "$output" == *"unix:$BATS_TEST_TMPDIR/gen1/app.sock"* ]] || { echo "$output"; false; }
    [[ "$output" == *"unix:$BATS_TEST_TMPDIR/gen2/app.sock"* ]] || { echo "$output"; false; }
}

@test "a relative Unix path in the same directory is handed over: reloads under load lose nothing" {
    start_in_dirs same --model threads
    local addr="unix:$BATS_TEST_TMPDIR/same/app.sock"
    wait_until 10 answers_with_gen "$addr" 1 || { cat "$HS_LOG"; false; }
    start_load "$addr"
    for gen in 2 3 4; do
        run reload
        [ "$status" -eq 0 ] || { echo "$output"; cat "$HS_LOG"; false; }
        [ -S "$BATS_TEST_TMPDIR/same/app.sock" ]
        [ "$(generation_of "$addr")" = "$gen" ]
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    grep -q "listens on unix:$BATS_TEST_TMPDIR/same/app.sock: held" "$HS_LOG" || { cat "$HS_LOG"; false; }
}
