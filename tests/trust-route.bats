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

# leader_of_gen N: the pid of generation N's command, from the log.
leader_of_gen() { sed -n "s/.*gen $1 pid \([0-9]*\) starting.*/\1/p" "$HS_LOG" | head -1; }

reaped() { [[ ! -e "/proc/$1" ]]; }

# stranger_survives_daemonized_gen TRACK: a server that daemonizes (its command's process exits at
# once, the server goes on in a session of its own) leaves its command's pid free. A stranger takes
# it, as its own process group's id. Reloaded, then stopped: the stranger lives on, and the
# launcher does not wait for it.
stranger_survives_daemonized_gen() {
    start_hotswap "127.0.0.1:$(free_port)" --track "$1" --kill-timeout 5s -- --model epoll --quirk daemonize
    local leader
    leader=$(leader_of_gen 1)
    [[ -n "$leader" ]]
    wait_until 10 reaped "$leader"
    run -0 python3 "$ROOT/tests/fixtures/take-pid.py" "$leader"
    STRANGER=$output
    [ "$STRANGER" = "$leader" ]
    [ "$(awk '{print $5}' "/proc/$STRANGER/stat")" = "$leader" ]   # its own group: pgid = pid
    start_load "$HS_ADDR"
    run -0 reload
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    # gen 1 is gone, and soon: its stop waited neither for the stranger nor for the kill timeout
    wait_until 4 grep -q "gen 1 pid $leader .* after the stop" "$HS_LOG"
    refute grep -q "gen 1 pid $leader still running" "$HS_LOG"
    process_running "$STRANGER"
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    process_running "$STRANGER"
}

@test "--track tree: a stranger that took a daemonized generation's reaped pid as its process group is never signalled, nor waited for" {
    stranger_survives_daemonized_gen tree
}

@test "--track cgroup: a stranger that took a daemonized generation's reaped pid as its process group is never signalled, nor waited for" {
    grep -q "tracking each generation's processes in a cgroup" <("$HOTSWAP" --track cgroup -- true 2>&1) ||
        skip "no cgroup v2 group can be made here"
    stranger_survives_daemonized_gen cgroup
}
