#!/usr/bin/env bats
# Keep-alive connections through reloads: by default an old generation closes each idle
# connection cleanly and exits in about one request's time; with --handover-idle it passes them
# to the new generation, and the client never sees its connection close.

load helpers

teardown() { teardown_hotswap; }

DRAIN_TIMEOUT=20

# reload_timed GEN: one reload to GEN; fails unless the old generation drained well before the
# drain timeout (by the launcher's own figure), which is where idle keep-alive connections would
# otherwise keep it.
reload_timed() {
    run reload
    [ "$status" -eq 0 ] || { echo "reload to gen $1: $output"; return 1; }
    [[ "$output" == *"ok: gen $1 ready in"* ]]
    local drained_ms
    drained_ms=$(sed -n "s/.*hotswap: gen $(($1 - 1)) drained [0-9]* connections\{0,1\} in \([0-9]*\) ms.*/\1/p" "$HS_LOG")
    [[ -n "$drained_ms" ]] && ((drained_ms < DRAIN_TIMEOUT * 1000 / 4)) ||
        { echo "gen $(($1 - 1)) drained in ${drained_ms:-?} ms"; return 1; }
}

# ten_reloads_keep_alive MODEL CONNS [hotswap options...]: ten reloads under a keep-alive load
# of CONNS clients; the summary in LOAD_SUMMARY.
ten_reloads_keep_alive() {
    local model=$1 conns=$2; shift 2
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --drain-timeout "${DRAIN_TIMEOUT}s" "$@" -- --model "$model" --keep-alive
    start_load "$addr" --keep-alive --allow-retryable -c "$conns" --timeout-ms 10000
    for gen in $(seq 2 11); do
        reload_timed "$gen"
    done
    # (no probe request per reload: the blocking and prefork models serve one client at a time)
    wait_until 10 grep -q "reload done: gen 11 ready" "$HS_LOG"
    stop_load
    # the figures, for the record (bats shows fd 3 even when the test passes)
    local mode=default
    [[ " $* " == *" --handover-idle "* ]] && mode=handover-idle
    echo "# $model, $mode: requests=$(field requests "$LOAD_SUMMARY") failed=$(field failed "$LOAD_SUMMARY")" \
        "retryable=$(field retryable "$LOAD_SUMMARY") hard=$(field hard "$LOAD_SUMMARY") conns=$(field conns "$LOAD_SUMMARY")" >&3
    [ "$(field requests "$LOAD_SUMMARY")" -gt 100 ]
    [[ ",$(field gens "$LOAD_SUMMARY")," == *",11,"* ]]
    refute grep -q "cut" "$HS_LOG"
}

# The default: zero non-retryable failures, every old generation gone in seconds.
default_mode() {
    ten_reloads_keep_alive "$@"
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field hard "$LOAD_SUMMARY")" = 0 ]
    # the clients reconnected: the old generations closed their connections
    [ "$(field conns "$LOAD_SUMMARY")" -gt "$2" ]
}

# --handover-idle: zero failures counted strictly, and not one reconnection.
handover_mode() {
    ten_reloads_keep_alive "$@" --handover-idle
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field conns "$LOAD_SUMMARY")" = "$2" ]
    grep -Eq "gen 10 drained [0-9]+ connections? in [0-9]+ ms, [1-9][0-9]* idle handed over" "$HS_LOG"
}

@test "keep-alive, thread per connection: idle connections closed cleanly, old generations gone at once" { default_mode threads 8; }
@test "keep-alive, fork per connection: idle connections closed cleanly, old generations gone at once" { default_mode forking 8; }
@test "keep-alive, epoll: idle connections closed cleanly, old generations gone at once" { default_mode epoll 8; }
@test "keep-alive, epoll edge-triggered: idle connections closed cleanly, old generations gone at once" { default_mode epoll-et 8; }
@test "keep-alive, poll: idle connections closed cleanly, old generations gone at once" { default_mode poll 8; }
@test "keep-alive, select: idle connections closed cleanly, old generations gone at once" { default_mode select 8; }
@test "keep-alive, blocking single thread (one client): closed cleanly, old generations gone at once" { default_mode blocking 1; }
@test "keep-alive, prefork (one client per worker): closed cleanly, old generations gone at once" { default_mode prefork 2; }

@test "--handover-idle, thread per connection: no failure, no client ever reconnects" { handover_mode threads 8; }
@test "--handover-idle, fork per connection: no failure, no client ever reconnects" { handover_mode forking 8; }
@test "--handover-idle, epoll: no failure, no client ever reconnects" { handover_mode epoll 8; }
@test "--handover-idle, epoll edge-triggered: no failure, no client ever reconnects" { handover_mode epoll-et 8; }
@test "--handover-idle, poll: no failure, no client ever reconnects" { handover_mode poll 8; }
@test "--handover-idle, select: no failure, no client ever reconnects" { handover_mode select 8; }
@test "--handover-idle, blocking single thread (one client): no failure, no reconnection" { handover_mode blocking 1; }
@test "--handover-idle, prefork (one client per worker): no failure, no reconnection" { handover_mode prefork 2; }

# A long request on a reused connection while the drain begins: answered whole by the old
# generation; only then is the connection closed (default) or handed over.
long_request_in_flight() {
    local addr="127.0.0.1:$(free_port)"
    # a drain timeout well above the long request's 1.5 s, and short: a connection left open
    # after its answer would hold the drain until then
    start_hotswap "$addr" --drain-timeout 6s "$@" -- --model threads --keep-alive
    run python3 "$ROOT/tests/fixtures/long-request.py" 127.0.0.1 "${addr##*:}" "$HS_CONTROL" "$HOTSWAP"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "first gen=1" ]
    [[ "${lines[1]}" =~ ^long\ gen=1\ bytes=[1-9] ]]
    [ "${lines[2]}" = "reload status=0" ]
    # the drain lasted until the long request was answered, not less, and ended with it: the
    # connection was closed (or moved) once idle, not left for the drain timeout to cut
    refute grep -q "drain timeout" "$HS_LOG"
    local drained_ms
    drained_ms=$(sed -n 's/.*hotswap: gen 1 drained [0-9]* connections\{0,1\} in \([0-9]*\) ms.*/\1/p' "$HS_LOG")
    [[ -n "$drained_ms" ]]
    ((drained_ms >= 300 && drained_ms < 4000))
}

@test "a long request in flight on a keep-alive connection completes; the connection closes after it" {
    long_request_in_flight
    [ "${lines[3]}" = "after closed" ]
}

@test "--handover-idle: a long request in flight completes; the connection moves after it" {
    long_request_in_flight --handover-idle
    [ "${lines[3]}" = "after gen=2" ]
}

@test "--handover-idle on a graceful stop: idle connections are closed, not handed to nobody" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --handover-idle --drain-timeout "${DRAIN_TIMEOUT}s" -- --model epoll --keep-alive
    start_load "$addr" --keep-alive --allow-retryable -c 4 --timeout-ms 10000
    wait_until 10 grep -q "gen 1 pid [0-9]* ready" "$HS_LOG"
    local started=$SECONDS
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    ((SECONDS - started < DRAIN_TIMEOUT / 4))
    grep -Eq "gen 1 drained [0-9]+ connections? in [0-9]+ ms, 0 idle handed over" "$HS_LOG"
    refute grep -q "not taken by the next generation" "$HS_LOG"
}
