#!/usr/bin/env bats
# A new generation probing a held address before it binds is refused, as on a plain start
# (issue 25, item 3; issue 28, item 2): tests/fixtures/probe-server.c exits 70 when its probe
# connects.

load helpers

PROBE_SERVER="$ROOT/$BUILD/probe-server"

teardown() {
    [[ -z "${OTHER_PID:-}" ]] || kill -TERM "$OTHER_PID" 2>/dev/null || true
    teardown_hotswap
}

# ten_probing_reloads ADDR: the probe-server reloaded 10 times under load: every reload done,
# nothing failed, each new generation answering, and each one's probe refused.
ten_probing_reloads() {
    local addr=$1
    HS_SERVER=$PROBE_SERVER start_hotswap "$addr"
    start_load "$addr"
    for gen in $(seq 2 11); do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; cat "$HS_LOG"; return 1; }
        [[ "$output" == *"ok: gen $gen ready in"* ]]
        [ "$(generation_of "$addr")" = "$gen" ]
        grep -q "probe-server: gen $gen probe: refused" "$HS_LOG"
        # and the launcher's log names it, once per generation
        [ "$(grep -c "hotswap: gen $gen pid [0-9]* probed .* before binding it: refused" "$HS_LOG")" -eq 1 ]
        grep -qF "probed $addr before binding it: refused, as on a plain start" "$HS_LOG" ||
            { cat "$HS_LOG"; false; }
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    refute grep -q "seems to be in use" "$HS_LOG"
}

@test "a server probing its TCP port before binding: 10 reloads under load, none rolled back" {
    ten_probing_reloads "127.0.0.1:$(free_port)"
}

@test "a server probing its IPv6 port before binding: 10 reloads under load, none rolled back" {
    ten_probing_reloads "[::1]:$(free_port)"
}

@test "a server probing its Unix path before binding: 10 reloads under load, none rolled back" {
    ten_probing_reloads "unix:$BATS_TEST_TMPDIR/probe.sock"
}

@test "after its claim, a generation connecting to its own address connects" {
    local addr="127.0.0.1:$(free_port)"
    HS_SERVER=$PROBE_SERVER start_hotswap "$addr"
    run reload
    [ "$status" -eq 0 ]
    run get "$addr" /self
    [ "$status" -eq 0 ]
    [[ "$output" == "gen=2 pid="*" self=connected" ]]
}

@test "a connect to an unrelated address is not refused while the probe is" {
    local other="127.0.0.1:$(free_port)"
    "$FIXTURE" --model threads --listen "$other" 2>/dev/null &
    OTHER_PID=$!
    wait_until 10 answers_with_gen "$other" 0
    local addr="127.0.0.1:$(free_port)"
    HS_SERVER=$PROBE_SERVER start_hotswap "$addr" -- --other "$other"
    run reload
    [ "$status" -eq 0 ]
    grep -q "probe-server: gen 2 probe: refused" "$HS_LOG"
    grep -q "probe-server: gen 2 other: connected" "$HS_LOG"
}
