#!/usr/bin/env bats
# Servers that cannot run beside their old generation (issue 25, item 1 and the lock part of
# item 2; issue 28, item 3): a lock on a data file (flock, fcntl, lockf), a pid file naming a live
# process, a lock retried instead of exiting. The launcher sees the evidence, says so once, and
# hands over in sequence: the old generation drains and stops with the listeners held, then the
# new one starts. tests/fixtures/lock-server.c is each of these servers.

load helpers

LOCK_SERVER="$ROOT/$BUILD/lock-server"

teardown() { teardown_hotswap; }

# ten_reloads_under_load ADDR: 10 reloads under load, each done (exit 0) with the new generation
# answering; nothing failed. FIRST_GEN: the generation the first reload ends with (default 2).
ten_reloads_under_load() {
    local addr=$1 gen=${FIRST_GEN:-2}
    # (clients wait for the old generation's drain plus the new one's start: with two CPU hogs on
    # two cores, more than the load's default second)
    start_load "$addr" --timeout-ms 10000 ${LOAD_PATH:+--path "$LOAD_PATH"}
    reloads_in_sequence 10 "$gen" "$addr" || { stop_load; return 1; }
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    (($(field ok "$LOAD_SUMMARY") > 0))
}

# switched_once FILE: the log named FILE and its holder, gen 1, and switched to sequence once.
switched_once() {
    grep -Eq "gen 2 could not lock $1: held by gen 1 pid [0-9]+" "$HS_LOG"
    [ "$(grep -c "cannot run beside" "$HS_LOG")" = 1 ]
    run status_of
    [[ "$output" == *"overlap: auto: reloads in sequence since gen 2 could not lock $1: held by gen 1 pid"* ]]
}

@test "a server that flocks its data file: switched to sequence on evidence, 10 reloads under load" {
    local addr="127.0.0.1:$(free_port)" file="$BATS_TEST_TMPDIR/data.lock"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --lock "$file" --lock-mode flock
    FIRST_GEN=3 ten_reloads_under_load "$addr"   # (gen 2 failed beside gen 1: the evidence)
    switched_once "$file"
}

@test "a server that takes an fcntl F_SETLK lock: switched to sequence on evidence, 10 reloads under load" {
    local addr="127.0.0.1:$(free_port)" file="$BATS_TEST_TMPDIR/data.lock"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --lock "$file" --lock-mode fcntl
    FIRST_GEN=3 ten_reloads_under_load "$addr"
    switched_once "$file"
}

@test "F_OFD_SETLK and lockf(F_TLOCK) locks are evidence too, with the file and its holder" {
    local mode
    for mode in ofd lockf; do
        local addr="127.0.0.1:$(free_port)" file="$BATS_TEST_TMPDIR/$mode.lock"
        HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --lock "$file" --lock-mode "$mode"
        run reload
        [ "$status" -eq 0 ] || { echo "$mode: $output"; return 1; }
        [ "$(generation_of "$addr")" = 3 ]
        switched_once "$file"
        stop_hotswap
    done
}

@test "a writer whose lock guards its append-only file: every acknowledged write is there after 10 reloads" {
    local addr="127.0.0.1:$(free_port)" data="$BATS_TEST_TMPDIR/data.aof"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --lock "$data" --data "$data" --start-ms 50
    LOAD_PATH=/put FIRST_GEN=3 ten_reloads_under_load "$addr"
    local lines ok count
    lines=$(wc -l <"$data")
    ok=$(field ok "$LOAD_SUMMARY")
    count=$(get "$addr" | sed -n 's/.* count=\([0-9]*\).*/\1/p')
    echo "acknowledged $ok, in the file $lines, in the last generation's memory $count"
    ((lines >= ok))
    [ "$count" = "$lines" ]   # what it loaded at start is all there was: nobody wrote beside it
}

@test "an append-only file with no lock: loaded while the old one writes it is evidence; no acknowledged write is lost" {
    # (issue 28: overlapping, the old generation acknowledged writes the new one never loaded)
    local addr="127.0.0.1:$(free_port)" data="$BATS_TEST_TMPDIR/data.aof"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --data "$data" --start-ms 100
    LOAD_PATH=/put FIRST_GEN=3 ten_reloads_under_load "$addr"
    grep -Eq "gen 2 loaded $data, which gen 1 pid [0-9]+ holds open for writing" "$HS_LOG"
    grep -q "gen 2 pid [0-9]* failed: loaded a file its old generation still writes" "$HS_LOG"
    [ "$(grep -c "cannot run beside" "$HS_LOG")" = 1 ]
    local lines ok count
    lines=$(wc -l <"$data")
    ok=$(field ok "$LOAD_SUMMARY")
    count=$(get "$addr" | sed -n 's/.* count=\([0-9]*\).*/\1/p')
    echo "acknowledged $ok, in the file $lines, in the last generation's memory $count"
    ((lines >= ok))
    [ "$count" = "$lines" ]
}

@test "a log file the new generation appends to is no evidence: generations still overlap" {
    local addr="127.0.0.1:$(free_port)" log="$BATS_TEST_TMPDIR/server.log"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --log "$log"
    run reload
    [ "$status" -eq 0 ]
    [[ "$output" == *"ok: gen 2 ready in"* ]]
    refute grep -q "cannot run beside" "$HS_LOG"
}

@test "a file made for many processes (an LMDB environment's locks) is no evidence: generations overlap, 0 failed" {
    # each generation tries the exclusive lock twice, then takes a shared one beside the old one's,
    # and starts for 200 ms with it held (longer than the launcher waits before it judges)
    local addr="127.0.0.1:$(free_port)" file="$BATS_TEST_TMPDIR/lock.mdb"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --lock "$file" --lock-mode shared --start-ms 200
    start_load "$addr"
    local gen
    for gen in 2 3 4 5 6; do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        [[ "$output" == *"ok: gen $gen ready in"* ]]
    done
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    refute grep -q "cannot run beside\|could not lock" "$HS_LOG"
}

@test "a pid-file checker: switched to sequence on kill(pid, 0) evidence, 10 reloads under load" {
    local addr="127.0.0.1:$(free_port)" pidfile="$BATS_TEST_TMPDIR/server.pid"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --pid-file "$pidfile"
    FIRST_GEN=3 ten_reloads_under_load "$addr"
    grep -Eq "gen 2 found gen 1 pid [0-9]+ alive \(kill\([0-9]+, 0\): a pid file's check\)" "$HS_LOG"
    [ "$(grep -c "cannot run beside" "$HS_LOG")" = 1 ]
}

@test "a lock retrier (30 s of retries) is failed at its second try: the switch does not wait 30 s" {
    local addr="127.0.0.1:$(free_port)" file="$BATS_TEST_TMPDIR/data.lock"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" -- --lock "$file" --retry-ms 30000
    local started=$SECONDS
    run reload
    [ "$status" -eq 0 ] || { echo "$output"; return 1; }
    ((SECONDS - started < 10))
    [ "$(generation_of "$addr")" = 3 ]
    grep -q "gen 2 pid [0-9]* failed: retries a lock its old generation holds" "$HS_LOG"
    switched_once "$file"
    FIRST_GEN=4 ten_reloads_under_load "$addr"
}

@test "--overlap never: the old generation is gone before the new one starts, and nothing is refused" {
    local addr="127.0.0.1:$(free_port)" pidfile="$BATS_TEST_TMPDIR/server.pid"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" --overlap never -- --pid-file "$pidfile" --start-ms 100
    ten_reloads_under_load "$addr"   # gen 2 on the first reload: no attempt failed beside gen 1
    refute grep -q "failed:" "$HS_LOG"
    refute grep -q "cannot run beside" "$HS_LOG"
    # the order, by the log: gen 1 gone (its drain ended, it exited) before gen 2 started
    local gone started
    gone=$(grep -n "gen 1 pid [0-9]* .*exited\|gen 1 .*gone" "$HS_LOG" | head -1 | cut -d: -f1)
    started=$(grep -n "reload: starting gen 2" "$HS_LOG" | head -1 | cut -d: -f1)
    [ -n "$gone" ] && [ -n "$started" ] && ((gone < started))
    run status_of
    [[ "$output" == *"overlap: never"* ]]
}

@test "--overlap never: a new generation that fails is replaced by the last good command line, cold" {
    local addr="127.0.0.1:$(free_port)" pidfile="$BATS_TEST_TMPDIR/server.pid"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" --overlap never -- --pid-file "$pidfile"
    start_load "$addr" --timeout-ms 10000
    run "$HOTSWAP" reload --control "$HS_CONTROL" -- /bin/false
    [ "$status" -ne 0 ]
    [[ "$output" == *"gen 2 exited before it was ready (status 1); gen 1 had stopped first (in sequence)"* ]]
    wait_until 10 answers_with_gen "$addr" 3
    grep -q "gen 2 failed after gen 1 had stopped for a reload in sequence: starting gen 3 from gen 1's command line, cold" "$HS_LOG"
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    run reload   # and reloads go on from gen 3's command line
    [ "$status" -eq 0 ]
    [ "$(generation_of "$addr")" = 4 ]
}

@test "--overlap always: no switch; the failed reload names the lock and its holder" {
    local addr="127.0.0.1:$(free_port)" file="$BATS_TEST_TMPDIR/data.lock"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" --overlap always -- --lock "$file"
    run reload
    [ "$status" -ne 0 ]
    grep -Eq "gen 2 could not lock $file: held by gen 1 pid [0-9]+" "$HS_LOG"
    refute grep -q "cannot run beside" "$HS_LOG"
    [ "$(generation_of "$addr")" = 1 ]
}

@test "--keep-old with --overlap never is refused in one line" {
    run "$HOTSWAP" --keep-old 10s --overlap never -- /bin/true
    [ "$status" -eq 64 ]
    [[ "${lines[0]}" == *"--keep-old and --overlap never"* ]]
}

@test "the seccomp route: the exit before ready while the old generation holds a lock switches to sequence" {
    local addr="127.0.0.1:$(free_port)" file="$BATS_TEST_TMPDIR/data.lock"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" --intercept seccomp -- --lock "$file"
    grep -q "seccomp" "$HS_LOG"
    FIRST_GEN=3 ten_reloads_under_load "$addr"
    grep -Eq "gen 2 exited before it was ready while gen 1 pid [0-9]+ holds a lock on $file" "$HS_LOG"
    [ "$(grep -c "cannot run beside" "$HS_LOG")" = 1 ]
}

@test "hotswap try names the lock and its holder: a note when reloads went in sequence, a problem with --overlap always" {
    local addr="127.0.0.1:$(free_port)" file="$BATS_TEST_TMPDIR/data.lock"
    run "$HOTSWAP" try --reloads 2 "$addr" -- "$LOCK_SERVER" --listen "$addr" --lock "$file"
    [ "$status" -eq 0 ] || { echo "$output"; return 1; }
    [[ "$output" =~ "try: note: hotswap: gen 2 could not lock $file: held by gen 1 pid "[0-9]+ ]]
    [[ "$output" == *"reloads went in sequence"* ]]
    run "$HOTSWAP" try --reloads 1 --overlap always "$addr" -- "$LOCK_SERVER" --listen "$addr" --lock "$file"
    [ "$status" -eq 1 ]
    [[ "$output" =~ "try: problem: hotswap: gen 2 could not lock $file: held by gen 1 pid "[0-9]+ ]]
    [[ "$output" == *"likely cause: the new generation cannot run beside the old one"* ]]
}

@test "during a hand-over in sequence: a second reload is refused, and a graceful stop starts nothing new" {
    local addr="127.0.0.1:$(free_port)" pidfile="$BATS_TEST_TMPDIR/server.pid"
    HS_SERVER=$LOCK_SERVER start_hotswap "$addr" --overlap never -- --pid-file "$pidfile" --start-ms 3000
    "$HOTSWAP" reload --control "$HS_CONTROL" >"$BATS_TEST_TMPDIR/first" 2>&1 &
    local first=$!
    wait_until 10 grep -q "gen 2 pid [0-9]* starting" "$HS_LOG"
    run reload
    [ "$status" -ne 0 ]
    [[ "$output" == *"a reload is already in progress"* ]]
    kill -TERM "$HS_PID"
    local status_first=0
    wait "$first" || status_first=$?
    ((status_first != 0))
    wait_until 10 process_gone "$HS_PID"
    refute grep -q "gen 3" "$HS_LOG"
    grep -q "gen 2 pid [0-9]* failed: the launcher is stopping" "$HS_LOG"
}
