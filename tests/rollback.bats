#!/usr/bin/env bats
# A new generation that fails never takes the old one down.

load helpers

teardown() { teardown_hotswap; }

# rollback_under_load FIXTURE-FLAG: gen 2 is made to fail by FLAG's file; the reload must fail
# and say why, while generation 1 serves the load without a single failure.
rollback_under_load() {
    local flag=$1 expected=$2; shift 2
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/break-next"
    start_hotswap "$addr" "$@" -- --model epoll "$flag" "$trigger"
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    start_load "$addr"
    touch "$trigger"
    run reload
    echo "$output"
    [ "$status" -ne 0 ]
    [[ "$output" == *"$expected"* ]]
    [[ "$output" == *"gen 1 keeps serving"* ]]
    rm -f "$trigger"
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field gens "$LOAD_SUMMARY")" = 1 ]
    [ "$(pid_of_answer "$addr")" = "$old_pid" ]
    # and the next reload, with the fault gone, works
    run reload
    [ "$status" -eq 0 ]
    [[ "$output" == *"ok: gen 3 ready"* ]]
    [ "$(generation_of "$addr")" = 3 ]
}

@test "rollback: a new generation that exits at start leaves the old one serving under load" {
    rollback_under_load --fail-if-exists "gen 2 exited before it was ready (status 1)"
}

@test "rollback: a new generation that never becomes ready is killed at the ready timeout" {
    rollback_under_load --hang-if-exists "gen 2 not ready within 1000 ms" --ready-timeout 1s
}

@test "rollback: a new generation without the shim is reported as such, by name" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/strip-preload"
    # the command clears LD_PRELOAD for generation 2 (and sleeps: it never listens either)
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log" HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    "$HOTSWAP" --control "$HS_CONTROL" --ready-timeout 3s -- /bin/sh -c \
        'if [ -e "$1" ]; then exec env -u LD_PRELOAD sleep 600; fi; exec "$2" --model poll --listen "$3"' \
        sh "$trigger" "$FIXTURE" "$addr" 2>"$HS_LOG" &
    HS_PID=$!
    HS_ADDR=$addr
    wait_until 10 answers_with_gen "$addr" 1
    touch "$trigger"
    run reload
    [ "$status" -ne 0 ]
    [[ "$output" == *"gen 2 never said hello within 3000 ms: the shim is not loaded in it (pid "*"/sleep: statically linked? setuid? LD_PRELOAD cleared?)"* ]]
    [ "$(generation_of "$addr")" = 1 ]
}

@test "a reload while another is starting is refused, and the first one completes" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/slow-start"
    start_hotswap "$addr" --ready-timeout 2s -- --model epoll --hang-if-exists "$trigger"
    touch "$trigger"
    reload >"$BATS_TEST_TMPDIR/first.out" 2>&1 &
    local first=$!
    wait_until 5 grep -q "gen 2 pid .* starting" "$HS_LOG"
    run reload
    [ "$status" -ne 0 ]
    [[ "$output" == *"a reload is already in progress"* ]]
    local first_status=0
    wait "$first" || first_status=$?   # (not under `run`: only this shell can wait for it)
    [ "$first_status" -ne 0 ]   # gen 2 hangs: rolled back at its ready timeout
    grep -q "rolled back\|rollback\|not ready" "$BATS_TEST_TMPDIR/first.out"
    [ "$(generation_of "$addr")" = 1 ]
}
