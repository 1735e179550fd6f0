#!/usr/bin/env bats
# Real servers do surprising things with fds, signals and processes. For each, the fixture does
# it (--quirk) and five reloads under load must lose nothing.

load helpers

teardown() { teardown_hotswap; }

# reloads_under_load ADDR [hotswap options] -- fixture args: 5 reloads, zero failures, the new
# generation answering after each.
reloads_under_load() {
    local addr=$1; shift
    start_hotswap "$addr" "$@"
    start_load "$addr"
    for gen in 2 3 4 5 6; do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        [ "$(generation_of "$addr")" = "$gen" ]
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
}

tcp() { echo "127.0.0.1:$(free_port)"; }

# ---- fds --------------------------------------------------------------------------------------

@test "the server closes every fd above 2 in a loop at start: the shim's fds survive" {
    reloads_under_load "$(tcp)" -- --model epoll --quirk close-fds-loop
}

@test "the server calls close_range(3, ~0) at start: the shim's fds survive" {
    reloads_under_load "$(tcp)" -- --model epoll --quirk close-range
}

@test "the server calls closefrom(3) at start: the shim's fds survive" {
    reloads_under_load "$(tcp)" -- --model threads --quirk closefrom
}

@test "the server dup2()s /dev/null over fds 3..31: the shim's fds move out of the way" {
    reloads_under_load "$(tcp)" -- --model poll --quirk dup2-over
}

@test "the server dup3()s /dev/null over fds 3..31: the shim's fds move out of the way" {
    reloads_under_load "$(tcp)" -- --model select --quirk dup3-over
}

@test "connections duplicated (dup, F_DUPFD) then served on the copy: the drain waits for them" {
    local addr
    addr=$(tcp)
    reloads_under_load "$addr" -- --model threads --quirk dup-conns --slow-ms 300
    # and a slow request in flight on a duplicated fd still completes
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    get "$addr" /slow >"$BATS_TEST_TMPDIR/body" &
    local slow=$!
    wait_until 5 has_threads "$old_pid" 2
    run reload
    [ "$status" -eq 0 ]
    wait "$slow"
    grep -q "^gen=6 " "$BATS_TEST_TMPDIR/body"
}

@test "connections closed with close_range(fd, fd): counted out, the drain ends" {
    reloads_under_load "$(tcp)" -- --model blocking --quirk close-range-conns
    refute grep -q "drain timeout" "$HS_LOG"
}

@test "a listener made nonblocking with ioctl(FIONBIO): reloads lose nothing" {
    reloads_under_load "$(tcp)" -- --model epoll-et --quirk fionbio
}

@test "generations that alternate blocking and nonblocking accept on the shared listener" {
    # gen 1, 3, 5: blocking accept(); gen 2, 4, 6: nonblocking, edge-triggered epoll
    reloads_under_load "$(tcp)" -- --model-by-generation blocking,epoll-et
    stop_hotswap   # (its control socket: a second launcher on it would be refused)
    reloads_under_load "$(tcp)" -- --model-by-generation epoll,threads
}

# A program the server execs keeps the shim's channel, unused and close-on-exec, in case it is
# handed a listener or a connection (a worker: tests/received.bats); no other fd of the shim
# reaches it through the shim, nothing it execs gets the channel, and it takes no part (no drain
# handler).
@test "a program the server execs holds the shim's channel only close-on-exec, and takes no part" {
    local addr
    addr=$(tcp)
    start_hotswap "$addr" -- --model epoll --quirk spawn-child
    local server child
    server=$(pid_of_answer "$addr")
    wait_until 5 pgrep -P "$server" sleep
    child=$(pgrep -P "$server" sleep)
    local channel_fd control fd copies=0
    channel_fd=$(tr '\0' '\n' <"/proc/$server/environ" | sed -n 's/^HOTSWAP_CHANNEL_FD=//p')
    control=$(readlink "/proc/$server/fd/$channel_fd")
    [[ "$control" == socket:* ]]
    # (the fixture leaks its own listener into the child on purpose: that is the server's doing)
    for fd in /proc/"$child"/fd/*; do
        [ "$(readlink "$fd")" = "$control" ] || continue
        copies=$((copies + 1))
        # close-on-exec (O_CLOEXEC is octal 02000000, bit 19, in fdinfo's flags)
        (( (8#$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$child/fdinfo/${fd##*/}") >> 19 & 1) == 1 ))
    done
    [ "$copies" -le 1 ]
    # no handler for the drain signal (44): the launcher never signals it
    local caught
    caught=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$child/status")
    (( (0x$caught >> 43 & 1) == 0 ))
}

@test "a child program binding the same address is not handed the server's listener" {
    local addr
    addr=$(tcp)
    start_hotswap "$addr" -- --model threads --quirk spawn-binder
    wait_until 10 grep -q "fixture: binder child exited with status 1" "$HS_LOG"
    grep -q "fixture: bind: Address already in use" "$HS_LOG"
    [ "$(generation_of "$addr")" = 1 ]
}

# ---- signals ----------------------------------------------------------------------------------

@test "the server installs its own handler for every signal: the drain still happens" {
    reloads_under_load "$(tcp)" -- --model threads --quirk own-handlers
}

@test "the server blocks every signal in every thread and takes them with sigwait" {
    reloads_under_load "$(tcp)" -- --model threads --quirk block-signals
}

@test "the server reads every signal from a signalfd" {
    reloads_under_load "$(tcp)" -- --model epoll --quirk signalfd
}

@test "prefork workers that block every signal drain too" {
    reloads_under_load "$(tcp)" -- --model prefork --quirk block-signals
}

# ---- processes --------------------------------------------------------------------------------

@test "a server that forks per connection: the whole generation drains" {
    local addr
    addr=$(tcp)
    reloads_under_load "$addr" -- --model forking --slow-ms 400
    # a slow request served by a forked child finishes after its parent has drained
    local parent
    parent=$(pgrep -n -P "$HS_PID")   # the newest generation's first process
    live_children() { ps --ppid "$1" -o stat= | grep -v '^Z'; }
    no_live_children() { ! live_children "$1"; }
    wait_until 10 no_live_children "$parent"   # the load's children are done: the next is ours
    get "$addr" /slow >"$BATS_TEST_TMPDIR/body" &
    local slow=$!
    wait_until 5 live_children "$parent"
    run reload
    [ "$status" -eq 0 ]
    wait "$slow"
    grep -q "^gen=6 " "$BATS_TEST_TMPDIR/body"
}

@test "a server that daemonizes (forks, parent exits 0) is tracked by its surviving process" {
    reloads_under_load "$(tcp)" -- --model epoll --quirk daemonize
    refute grep -q "exited before it was ready" "$HS_LOG"
}

@test "a thread blocked in accept() at drain time takes no new connection afterwards" {
    # thread-pool: the drain signal sent to the process lands on the main thread (in pause());
    # the idle workers wait in accept(), and while generation 2 is stopped they alone could take
    # the connection queued on the shared listener
    start_hotswap "$(tcp)" --drain-timeout 30s -- --model thread-pool --workers 4
    OLD_PID=$(pid_of_answer "$HS_ADDR")
    hold_request_open "$HS_ADDR"
    only_the_old_generation_accepts "$HS_ADDR" 1
    # a second with a connection there for the taking: it stays queued, and no woken thread spins
    local busy
    busy=$(busy_percent "$OLD_PID" 1)
    echo "gen 1 busy ${busy}% of a second with a connection queued"
    untaken "$HS_ADDR"
    [ "$busy" -lt 20 ]
    release_new_generation
    finish_held_request >"$BATS_TEST_TMPDIR/held.answer"
    grep -q "^gen=1 pid=$OLD_PID" "$BATS_TEST_TMPDIR/held.answer"   # the held request: answered by gen 1
    wait "$RELOADING"
}

# ---- paths ------------------------------------------------------------------------------------

unix_path_survives() {
    local path="$BATS_TEST_TMPDIR/app.sock"
    reloads_under_load "unix:$path" -- --model threads "$@"
    [ -S "$path" ]
    # the same socket throughout: each new generation claimed the held one, none bound its own
    [ "$(grep -c ": held$" "$HS_LOG")" -eq 1 ] || { cat "$HS_LOG"; false; }
}

@test "Unix path: the new generation's remove() before bind leaves the handed-over path" {
    unix_path_survives --quirk unlink-remove
}

@test "Unix path: unlinkat() before bind leaves the handed-over path" {
    unix_path_survives --quirk unlink-at
}

@test "Unix path: the old generation's unlink() at exit leaves the path to the new one" {
    unix_path_survives --quirk unlink-at-exit
}

# ---- listeners taken without bind() (found with gunicorn) --------------------------------------

@test "a socket-activated server accepting on fd 3 as handed over (no bind, no listen)" {
    reloads_under_load "$(tcp)" -- --model blocking --quirk socket-activation
}

@test "a server that dups fd 3, closes it and listens on the copy: held once, not once more per reload" {
    reloads_under_load "$(tcp)" -- --model threads --quirk fromfd
    [ "$(grep -c ": held$" "$HS_LOG")" -eq 1 ]
    refute grep -Eq "starting \([2-9][0-9]* listeners\)" "$HS_LOG"
}

@test "getsockname() on a drained listener still names the listener, not the shim's stand-in" {
    local addr
    addr=$(tcp)
    start_hotswap "$addr" -- --model epoll --quirk sockname-at-exit
    run reload
    [ "$status" -eq 0 ]
    wait_until 5 grep -q "fixture: listener at exit:" "$HS_LOG"
    grep -q "fixture: listener at exit: inet$" "$HS_LOG"
}

@test "a fork while the shim claims an inherited listener (its lock held): the child binds, and the server serves" {
    # libslow-claim.so, after the shim, holds the shim in its claim for 300 ms and tells a thread
    # of the server, which forks then; the child's own bind() goes through the same lock
    local addr="127.0.0.1:$(free_port)" wrapper="$BATS_TEST_TMPDIR/server"
    printf '#!/bin/sh\nLD_PRELOAD="%s:%s" exec "%s" "$@"\n' "$SHIM" "$ROOT/$BUILD/libslow-claim.so" \
        "$FIXTURE" >"$wrapper"
    chmod +x "$wrapper"
    HS_SERVER=$wrapper start_hotswap "$addr" -- --model epoll --quirk fork-during-claim
    run reload    # gen 2 claims the held listener: the fork comes in the middle
    [ "$status" -eq 0 ]
    wait_until 5 grep -q "fixture: gen 2: the child forked during the claim" "$HS_LOG"
    grep -q "fixture: gen 2: the child forked during the claim bound and exited (status 0)" "$HS_LOG"
    answers_with_gen "$addr" 2
}

@test "a server that moves its listener onto the channel's fd, then execs its worker: the worker finds the channel" {
    # gen 1 has no listener handed over, so its channel is fd 3: exec-fd3 dup2s over it
    local addr="127.0.0.1:$(free_port)"
    HS_SERVER=$PATTERN_SERVER start_hotswap "$addr" -- --pattern exec-fd3
    grep -q "pattern-server: gen 1 pid [0-9]* pattern exec-fd3" "$HS_LOG"
    refute grep -q "is not a hotswap channel" "$HS_LOG"
}
