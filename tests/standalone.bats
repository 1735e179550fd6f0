#!/usr/bin/env bats
# Standalone mode: no launcher. `LD_PRELOAD=libhotswap.so ./server`, then `kill -HUP <pid>`:
# the server starts its binary again with its listeners, the old one drains and exits.

load helpers

SA_ADDRS=()

teardown() {
    [[ -n "${LOAD_PID:-}" ]] && kill -TERM "$LOAD_PID" 2>/dev/null
    [[ -n "${NOTIFY_PID:-}" ]] && kill -TERM "$NOTIFY_PID" 2>/dev/null
    stop_leftovers "${SA_ADDRS[@]}"
    if [[ -z "${BATS_TEST_COMPLETED:-}" && -f "${SA_LOG:-}" ]]; then cat "$SA_LOG" >&2; fi
    true
}

# start_standalone ADDR [VAR=value...] -- fixture args: the server alone, shim preloaded
# (SA_PRELOAD: the whole LD_PRELOAD instead).
start_standalone() {
    local addr=$1; shift
    local vars=()
    while (($#)) && [[ "$1" != -- ]]; do vars+=("$1"); shift; done
    [[ "${1:-}" == -- ]] && shift
    PIDFILE="$BATS_TEST_TMPDIR/server.pid"
    SA_LOG="$BATS_TEST_TMPDIR/server.log"
    SA_ADDRS+=("$addr")
    # SA_NOFILE: the fd limit the server gets (ulimit is setrlimit: the kernel's own limit)
    ( [[ -z "${SA_NOFILE:-}" ]] || ulimit -n "$SA_NOFILE"
      exec env "${vars[@]}" HOTSWAP_PIDFILE="$PIDFILE" LD_PRELOAD="${SA_PRELOAD:-$SHIM}" "$FIXTURE" --listen "$addr" "$@" \
        2>"$SA_LOG" ) &
    wait_until 10 answers_with_gen "$addr" 0
    wait_until 5 test -s "$PIDFILE"
}

pidfile_is_not() { [[ -s "$PIDFILE" && "$(cat "$PIDFILE")" != "$1" ]]; }

# upgrade [SIGNAL]: signal the pid in the pidfile; wait for the new pid there and the old gone.
upgrade() {
    local old
    old=$(cat "$PIDFILE")
    kill "-${1:-HUP}" "$old"
    wait_until 10 pidfile_is_not "$old"
    wait_until 10 process_gone "$old"
}

upgrades_under_load() {
    local addr="127.0.0.1:$(free_port)"
    start_standalone "$addr" -- --model "$1"
    grep -q "^libhotswap: standalone: signal 1 to pid $(cat "$PIDFILE") starts a new generation" "$SA_LOG"
    start_load "$addr"
    for gen in 1 2 3 4 5; do
        upgrade
        [ "$(generation_of "$addr")" = "$gen" ]
        descends_from "$(pid_of_answer "$addr")" "$(cat "$PIDFILE")"
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(grep -c "is ready; draining" "$SA_LOG")" -eq 5 ]
}

@test "standalone, epoll: 5 upgrades by kill -HUP under load lose no request" { upgrades_under_load epoll; }
@test "standalone, thread per connection: 5 upgrades under load lose no request" { upgrades_under_load threads; }
@test "standalone, prefork: 5 upgrades under load lose no request" { upgrades_under_load prefork; }
@test "standalone, blocking: 5 upgrades under load lose no request" { upgrades_under_load blocking; }

@test "standalone, threaded: a READY that comes before the old process has recorded the new pid counts for that pid" {
    # libslow-upgrade.so holds the old process, right after it starts the new one, until the new
    # one has said READY: READY comes first, as the trigger signal, which another thread of the
    # server could take while the new pid was still unknown (the pidfile, and MAINPID=, then said 0)
    local addr="127.0.0.1:$(free_port)"
    SA_PRELOAD="$SHIM:$ROOT/$BUILD/libslow-upgrade.so" start_standalone "$addr" -- --model threads
    start_load "$addr" -c 16
    local gen old
    for gen in 1 2 3 4 5; do
        old=$(cat "$PIDFILE")
        upgrade
        [ "$(cat "$PIDFILE")" -gt 1 ]
        [ "$(cat "$PIDFILE")" != "$old" ]
        [ "$(generation_of "$addr")" = "$gen" ]
        [ "$(pid_of_answer "$addr")" = "$(cat "$PIDFILE")" ]
    done
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    refute grep -q "upgrade: pid 0 " "$SA_LOG"
}

@test "standalone: a new binary that fails leaves the old one serving, and a later upgrade works" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/broken"
    start_standalone "$addr" -- --model epoll --fail-if-exists "$trigger"
    local old
    old=$(cat "$PIDFILE")
    start_load "$addr"
    touch "$trigger"
    kill -HUP "$old"
    wait_until 10 grep -q "upgrade failed: the new process exited before it was ready; this one keeps serving" "$SA_LOG"
    [ "$(pid_of_answer "$addr")" = "$old" ]
    rm "$trigger"
    upgrade
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(generation_of "$addr")" = 1 ]
}

@test "standalone: the service manager hears MAINPID= of the new process (NOTIFY_SOCKET)" {
    local addr="127.0.0.1:$(free_port)" notify="$BATS_TEST_TMPDIR/notify.sock" heard="$BATS_TEST_TMPDIR/heard"
    "$ROOT/$BUILD/notify-socket" "$notify" "$heard" &
    NOTIFY_PID=$!
    wait_until 5 test -S "$notify"
    start_standalone "$addr" NOTIFY_SOCKET="$notify" -- --model threads
    upgrade
    wait_until 5 grep -q "^MAINPID=$(cat "$PIDFILE")$" "$heard"
    grep -q "^READY=1$" "$heard"
}

@test "standalone: the trigger signal is configurable (HOTSWAP_TRIGGER_SIGNAL)" {
    local addr="127.0.0.1:$(free_port)"
    start_standalone "$addr" HOTSWAP_TRIGGER_SIGNAL=12 -- --model poll
    grep -q "standalone: signal 12 to pid" "$SA_LOG"
    upgrade USR2
    [ "$(generation_of "$addr")" = 1 ]
}

@test "standalone: an in-flight slow request completes on the old process" {
    local addr="127.0.0.1:$(free_port)"
    start_standalone "$addr" -- --model threads
    local old
    old=$(cat "$PIDFILE")
    get "$addr" /sleep/1000 >"$BATS_TEST_TMPDIR/body" &
    local slow=$!
    wait_until 5 has_threads "$old" 2
    upgrade
    wait "$slow"
    grep -q "^gen=0 pid=$old" "$BATS_TEST_TMPDIR/body"
}

@test "standalone: a slow request on a connection served from an fd above 65536 completes on the old process" {
    local addr="127.0.0.1:$(free_port)" body="$BATS_TEST_TMPDIR/body" limit
    limit=$(high_fd_limit)
    SA_NOFILE=$limit start_standalone "$addr" -- --model threads --slow-ms 1500 --quirk high-fd-conns
    local old
    old=$(cat "$PIDFILE")
    get "$addr" /slow >"$body" &
    local slow=$!
    wait_until 5 has_fd_above "$old" $((limit - 300))   # served from just below the limit
    upgrade   # no launcher here: the old process stops itself once its own count says drained
    wait "$slow"
    grep -q "^gen=0 pid=$old" "$body"
    [ "$(tr -cd x <"$body" | wc -c)" -eq 65536 ]
}

@test "standalone: upgrades under the usual fd limits (256, 1024 as systemd sets, 1025) lose no request" {
    local limit addr
    for limit in 256 1024 1025; do
        addr="127.0.0.1:$(free_port)"
        SA_NOFILE=$limit start_standalone "$addr" -- --model epoll
        [ "$(awk '/Max open files/ {print $4}' "/proc/$(cat "$PIDFILE")/limits")" = "$limit" ]
        start_load "$addr"
        upgrade
        upgrade
        stop_load
        [ "$(field failed "$LOAD_SUMMARY")" = 0 ] || { echo "limit $limit: $LOAD_SUMMARY"; false; }
        [ "$(generation_of "$addr")" = 2 ] || { echo "limit $limit: not gen 2"; false; }
        refute grep -q "not a hotswap control socket\|Address already in use\|cannot move" "$SA_LOG"
        local last
        last=$(cat "$PIDFILE")
        kill -TERM "$last"
        wait_until 10 process_gone "$last"
    done
}

@test "standalone: only the handed-over fds cross into the new process: idle keep-alive clients end cleanly" {
    # the epoll model accepts without SOCK_CLOEXEC: a connection left open across the exec would
    # keep its client waiting forever, with no answer and no close
    local addr="127.0.0.1:$(free_port)" out="$BATS_TEST_TMPDIR/idle"
    start_standalone "$addr" -- --model epoll --keep-alive
    python3 "$ROOT/tests/fixtures/idle-clients.py" 127.0.0.1 "${addr##*:}" 4 10 >"$out" &
    local client=$!
    wait_until 10 grep -q "^answered 4 at" "$out"
    upgrade
    wait_until 15 grep -q "^done" "$out"
    wait "$client"
    [ "$(grep -c "^eof at" "$out")" -eq 4 ] || { cat "$out"; false; }
    [ -z "$(ss -Htn state close-wait "( sport = :${addr##*:} )")" ]
}
