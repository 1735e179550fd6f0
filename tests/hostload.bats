#!/usr/bin/env bats
# A host whose own load reaches into the launcher: a large TCP table, read by every drain's look,
# beside busy loops. The test loads the whole host (every other suite's `ss` walks that table
# too), so the suite runs by itself.

# tests/run: alone (it loads the whole host's socket table)
load helpers

setup_file() {
    require_tool go golang-go
    "$ROOT/tests/fixtures/go-server/build" "$BATS_FILE_TMPDIR"
}

teardown() {
    [[ -z "${HOG_PIDS:-}" ]] || kill -TERM $HOG_PIDS 2>/dev/null
    teardown_hotswap
}

GO_STATIC() { echo "$BATS_FILE_TMPDIR/go-server-static"; }

@test "Go on a host with a large TCP table, beside two busy loops: trapped calls are answered while the launcher reads it; 25 reloads, 0 failed" {
    # a drain's look reads the host's TCP table, and sock_diag walks every socket on the host
    # for it (a hundred ms and more on a busy one, tens of thousands in TIME_WAIT). The loop
    # answered one trapped call a turn, and a Go program's stop-the-world collection waits for
    # every thread's trapped return: requests timed out at 5 s (docs/faults.md). A turn now
    # answers all that wait.
    local table
    HOG_PIDS=""
    for table in 1 2 3 4; do # 72,000 sockets (an fd limit of 20,000 a process)
        prlimit --nofile=20000 -- python3 "$ROOT/tests/fixtures/busy-table.py" 9000 >"$BATS_TEST_TMPDIR/table$table" &
        HOG_PIDS="$HOG_PIDS $!"
    done
    for table in 1 2 3 4; do wait_until 60 grep -q "^holding" "$BATS_TEST_TMPDIR/table$table"; done
    sh -c 'while :; do :; done' &
    HOG_PIDS="$HOG_PIDS $!"
    sh -c 'while :; do :; done' &
    HOG_PIDS="$HOG_PIDS $!"
    HS_SERVER=$(GO_STATIC) start_hotswap "127.0.0.1:$(free_port)" --drain-timeout 10s
    reload_times 25 64
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    refute grep -q "drain timeout" "$HS_LOG"
}
