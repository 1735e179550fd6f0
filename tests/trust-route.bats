#!/usr/bin/env bats
# Trust, the launcher's side of a generation it cannot fully believe (issue 23): on the seccomp
# route only an accept on a listener makes a generation ready; after a generation's command was
# reaped its pid (and so its process group's id) may be another process's, which no signal of
# the launcher's may reach.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
    require_tool musl-gcc musl-tools
    local out="$BATS_FILE_TMPDIR"
    # static (musl): these never load the shim, so they take the seccomp route
    musl-gcc -static -O2 -std=gnu11 -pthread -Wall -Wextra -Wno-unused-parameter -o "$out/fixture-static" \
        "$ROOT"/tests/fixtures/{fixture-server,quirks,common}.c
    musl-gcc -static -O2 -std=gnu11 -Wall -Wextra -o "$out/accept-then-fail" "$ROOT/tests/fixtures/accept-then-fail.c"
}

teardown() {
    if [[ -n "${STRANGER:-}" ]]; then kill -KILL "$STRANGER" 2>/dev/null || true; fi
    teardown_hotswap
}

@test "seccomp route: a static binary that accepts on non-listeners, then exits 1, is rolled back under load: the old one serves, 0 refused" {
    HS_SERVER="$BATS_FILE_TMPDIR/fixture-static" start_hotswap "127.0.0.1:$(free_port)" -- --model epoll
    grep -q "statically linked, its socket calls come to the launcher (the seccomp route)" "$HS_LOG"
    local old_pid
    old_pid=$(pid_of_answer "$HS_ADDR")
    start_load "$HS_ADDR"
    run "$HOTSWAP" reload --control "$HS_CONTROL" -- "$BATS_FILE_TMPDIR/accept-then-fail" --listen "$HS_ADDR"
    echo "reload: $status $output"
    [ "$status" -ne 0 ]
    [[ "$output" == *"gen 2 exited before it was ready"* ]]
    [ "$(pid_of_answer "$HS_ADDR")" = "$old_pid" ]
    refute grep -q "gen 1 pid [0-9]* draining" "$HS_LOG"
    # and the good binary still reloads (under the load: an epoll server accepts when woken)
    run -0 reload
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field refused "$LOAD_SUMMARY")" = 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(generation_of "$HS_ADDR")" = 3 ]
}
