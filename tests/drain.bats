#!/usr/bin/env bats
# What happens to the old generation: in-flight requests finish on it, a drain timeout cuts.

load helpers

teardown() { teardown_hotswap; }



@test "a slow request in flight during a reload completes, whole, from the old generation" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll --slow-ms 1500
    local body="$BATS_TEST_TMPDIR/slow.body" old_pid fds
    old_pid=$(pid_of_answer "$addr")
    fds=$(ls "/proc/$old_pid/fd" | wc -l)
    get "$addr" /slow >"$body" &
    local slow=$!
    wait_until 5 has_fds "$old_pid" $((fds + 1))   # gen 1 has accepted the slow request
    run reload
    [ "$status" -eq 0 ]
    wait "$slow"
    head -c 6 "$body" | grep -q '^gen=1 '
    # 'gen=1 pid=P\n' + 64 KiB of x + '\n': the whole body arrived
    [ "$(tr -cd x <"$body" | wc -c)" -eq 65536 ]
    [[ "$output" == *"gen 1 drained 1 connection in"* ]]
}

# tcp_dumps FAMILY TRACE: how many sock_diag dumps of FAMILY's TCP table (2: IPv4, 0a: IPv6) an
# strace of the launcher's sendto calls shows (strace prints the request's bytes: family, then
# protocol 6).
tcp_dumps() { grep -F "nlmsg_len=72" "$2" | grep -cF "\"\\x$1\\x06\\x00\\x00" || true; }

@test "a drain's looks read the kernel's TCP table of its listeners' family alone (each read walks every socket on the host)" {
    require_tool strace strace
    local addr
    for addr in "127.0.0.1:$(free_port)" "[::1]:$(free_port)"; do
        start_hotswap "$addr" -- --model epoll --slow-ms 1500
        local trace="$BATS_TEST_TMPDIR/trace" tracer slow old_pid fds
        strace -e trace=sendto -o "$trace" -p "$HS_PID" 2>"$trace.said" &
        tracer=$!
        wait_until 10 grep -q attached "$trace.said"
        old_pid=$(pid_of_answer "$addr")
        fds=$(ls "/proc/$old_pid/fd" | wc -l)
        get "$addr" /slow >/dev/null &
        slow=$!
        wait_until 5 has_fds "$old_pid" $((fds + 1)) # gen 1 has accepted it: its drain looks
        run reload
        [ "$status" -eq 0 ]
        [[ "$output" == *"gen 1 drained 1 connection in"* ]]
        wait "$slow"
        kill -TERM "$tracer"
        wait "$tracer" || true
        echo "$addr: IPv4 dumps $(tcp_dumps 02 "$trace"), IPv6 dumps $(tcp_dumps 0a "$trace")"
        if [[ "$addr" == \[* ]]; then
            (($(tcp_dumps 0a "$trace") > 0 && $(tcp_dumps 02 "$trace") == 0))
        else
            (($(tcp_dumps 02 "$trace") > 0 && $(tcp_dumps 0a "$trace") == 0))
        fi
        stop_hotswap
    done
}

@test "the old generation stays until its in-flight request is answered, then goes" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model threads
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    "$LOADCLIENT" --connect "$addr" --get /sleep/4000 --timeout-ms 15000 >"$BATS_TEST_TMPDIR/body" &
    local slow=$!
    wait_until 5 has_threads "$old_pid" 2   # gen 1 has accepted it: a thread serves it
    reload >"$BATS_TEST_TMPDIR/reload.out" &
    local reloading=$!
    wait_until 10 grep -q "gen 1 pid $old_pid draining" "$HS_LOG"
    # draining, with its request in flight: still there, and the new generation answers
    process_running "$old_pid"
    [ "$(generation_of "$addr")" = 2 ]
    wait "$slow"
    wait "$reloading"
    grep -q '^gen=1 ' "$BATS_TEST_TMPDIR/body"
    wait_until 10 process_gone "$old_pid"
}

# no_spin_with_a_queued_connection [launcher options...]: the epoll fixture drains with a request
# held open while generation 2 is stopped and a connection is queued: the shared listener stays
# readable. An old generation that still watched it in its epoll set would wake at once, every
# time, and find nothing it may accept: a busy loop at a whole core for the rest of its drain.
no_spin_with_a_queued_connection() {
    start_hotswap "127.0.0.1:$(free_port)" --drain-timeout 30s "$@" -- --model epoll
    OLD_PID=$(pid_of_answer "$HS_ADDR")
    hold_request_open "$HS_ADDR"
    only_the_old_generation_accepts "$HS_ADDR" 1
    local busy
    # (the launcher too: on the seccomp route each of those accepts is a round trip through it)
    busy=$(busy_percent "$OLD_PID,$HS_PID" 1)
    echo "gen 1 and the launcher busy ${busy}% of a second with a connection queued"
    # a busy loop scores about 100 however loaded the machine (time waiting for a CPU counts);
    # the launcher's own looks, on a machine two CPU hogs share, about 25
    [ "$busy" -lt 50 ]
    untaken "$HS_ADDR"   # and took nothing
    release_new_generation
    finish_held_request >"$BATS_TEST_TMPDIR/held.answer"
    grep -q "^gen=1 pid=$OLD_PID" "$BATS_TEST_TMPDIR/held.answer"   # the held request: answered by gen 1
    wait "$RELOADING"
}

@test "epoll: a draining generation does not spin on the listener while connections wait in its queue" {
    no_spin_with_a_queued_connection
}

# The seccomp route puts a stand-in on the drained listener's fd number; an epoll set knows its
# entry by file and number together, so the launcher takes the entry out of the set as well.
@test "epoll, the seccomp route: a draining generation does not spin on the listener either" {
    no_spin_with_a_queued_connection --intercept seccomp
}

@test "an old generation holding a connection open is stopped at the drain timeout" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --drain-timeout 700ms -- --model threads
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    get "$addr" /sleep/60000 >/dev/null 2>&1 &
    local held=$!
    wait_until 5 has_threads "$old_pid" 2   # its connection's thread is up: the request is in
    run reload
    [ "$status" -eq 0 ]
    [[ "$output" == *"gen 1 cut 1 connection at the drain timeout ("* ]]
    [[ "$output" == *"; gen 1 cut 1 connection at the drain timeout in "* ]]
    process_gone "$old_pid"
    run wait "$held"
    [ "$status" -ne 0 ]   # the held request was cut, and the client saw it
}

@test "SIGTERM to the launcher drains, stops the server, exits 0 and leaves no process" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model prefork
    local pids
    pids=$(descendants "$HS_PID" | tr '\n' ' ')
    [ -n "$pids" ]
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    for pid in $pids; do wait_until 5 process_gone "$pid"; done
    grep -q "exiting with status 0" "$HS_LOG"
}

@test "SIGINT to the launcher is a graceful stop too, even when started in the background" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model select
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    kill -INT "$HS_PID"
    wait_until 10 process_gone "$HS_PID"
    wait "$HS_PID"
    HS_PID=
    grep -q "signal 2: graceful stop" "$HS_LOG"
    process_gone "$old_pid"
}

@test "--stop-signal chooses what stops a drained generation" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --stop-signal USR1 -- --model epoll
    run reload
    [ "$status" -eq 0 ]
    grep -Eq "gen 1 pid [0-9]+ sent signal 10 to stop" "$HS_LOG"
    grep -Eq "gen 1 pid [0-9]+ killed by signal 10 " "$HS_LOG"
}

@test "a generation that ignores its stop signal is killed at the kill timeout" {
    local addr="127.0.0.1:$(free_port)"
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log" HS_CONTROL="$BATS_TEST_TMPDIR/control.sock" HS_ADDR=$addr
    "$HOTSWAP" --control "$HS_CONTROL" --kill-timeout 300ms -- /bin/sh -c \
        'trap "" TERM; exec "$0" --model threads --listen "$1"' "$FIXTURE" "$addr" 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    local old_pid
    old_pid=$(pid_of_answer "$addr")
    run reload
    [ "$status" -eq 0 ]
    grep -Eq "gen 1 pid $old_pid still running [0-9]+ ms after its stop signal: SIGKILL" "$HS_LOG"
    grep -Eq "gen 1 pid $old_pid killed by signal 9 " "$HS_LOG"
    process_gone "$old_pid"
}

@test "a child forked while another thread is in accept() brings no phantom connection to the drain" {
    # the child has only the forking thread: the parent's accepts in flight are not its own
    start_hotswap "127.0.0.1:$(free_port)" -- --model threads --quirk fork-while-accepting
    wait_until 5 grep -q "fixture: forked idle child pid" "$HS_LOG"
    run reload
    [ "$status" -eq 0 ]
    # a phantom in the child's count would disagree with the kernel until the kernel won
    refute grep -q "the kernel wins\|cutting\|at the drain timeout" "$HS_LOG"
}

# threads_in_accept PID: how many threads of PID wait in accept() now (accept, accept4; under the
# shim, the poll or ppoll its accept() waits in)
threads_in_accept() { cat /proc/"$1"/task/*/syscall 2>/dev/null | awk '$1 == 43 || $1 == 288 || $1 == 7 || $1 == 271' | wc -l; }
at_least_in_accept() { (($(threads_in_accept "$1") >= $2)); }

@test "300 threads blocked in accept(): every one is woken at the drain, and none takes a connection after it" {
    start_hotswap "127.0.0.1:$(free_port)" --drain-timeout 5s -- --model thread-pool --workers 300
    local old
    old=$(pid_of_answer "$HS_ADDR")
    wait_until 10 at_least_in_accept "$old" 300
    # no load: a thread left waiting would count as a connection in flight, against the kernel
    run reload
    [ "$status" -eq 0 ]
    refute grep -q "drain timeout\|cutting\|the kernel wins" "$HS_LOG"
    start_load "$HS_ADDR" -c 8
    run reload
    [ "$status" -eq 0 ]
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    refute grep -q "drain timeout\|cutting\|the kernel wins" "$HS_LOG"
    [ "$(generation_of "$HS_ADDR")" = 3 ]
}

@test "a server's signal handler that closes a connection while the shim sends a count: the drain goes on" {
    # libraise-on-count.so, after the shim, raises SIGUSR1 inside each count the shim sends; the
    # server's handler then closes its newest connection, which enters the shim's close and
    # count again from inside the count
    local addr="127.0.0.1:$(free_port)" wrapper="$BATS_TEST_TMPDIR/server"
    printf '#!/bin/sh\nLD_PRELOAD="%s:%s" exec "%s" "$@"\n' "$SHIM" "$ROOT/$BUILD/libraise-on-count.so" \
        "$FIXTURE" >"$wrapper"
    chmod +x "$wrapper"
    HS_SERVER=$wrapper start_hotswap "$addr" --drain-timeout 8s -- --model threads --quirk close-on-usr1 \
        --slow-ms 1500
    local body="$BATS_TEST_TMPDIR/slow.body" old_pid fds
    old_pid=$(pid_of_answer "$addr")
    fds=$(ls "/proc/$old_pid/fd" | wc -l)
    get "$addr" /slow >"$body" &
    local slow=$!
    wait_until 5 has_fds "$old_pid" $((fds + 1))
    # the newest connection: the one the handler closes when the slow one's close is counted
    get "$addr" /sleep/7000 >/dev/null &
    local sleeper=$!
    wait_until 5 has_fds "$old_pid" $((fds + 2))
    run reload
    [ "$status" -eq 0 ]
    wait "$slow"
    wait "$sleeper" || true
    grep -q "fixture: closed a connection in a signal handler" "$HS_LOG"
    # the slow answer is whole, and the drain ended with it, not at its timeout
    [ "$(tr -cd x <"$body" | wc -c)" -eq 65536 ]
    [[ "$output" =~ "gen 1 drained "[0-9]+" connections in "[0-9]+" ms" ]]
    refute grep -q "cutting\|at the drain timeout" "$HS_LOG"
}

# fds past 65536: a server may raise RLIMIT_NOFILE up to fs.nr_open at any time, and serve from
# any number it gets (or dup2s to). The high-fd quirks use the fds just below the limit.

# holds_connection PID ADDR: PID holds an established connection on ADDR's port, as ss shows it
holds_connection() { ss -Htnp state established "( sport = :${2##*:} )" | grep -q "pid=$1,"; }

@test "a connection served from an fd above 65536: a slow request in flight completes whole, and the drain counts it" {
    local limit
    limit=$(high_fd_limit)
    # blocking: one thread, serving the slow request, so no accept() is in flight to count too
    HS_NOFILE=$limit start_hotswap "127.0.0.1:$(free_port)" -- --model blocking --slow-ms 1500 --quirk high-fd-conns
    local body="$BATS_TEST_TMPDIR/slow.body" old
    old=$(pid_of_answer "$HS_ADDR")
    get "$HS_ADDR" /slow >"$body" &
    local slow=$!
    wait_until 5 has_fd_above "$old" $((limit - 300))   # gen 1 serves the slow request up there
    run reload
    [ "$status" -eq 0 ]
    wait "$slow"
    grep -q "^gen=1 pid=$old" "$body"
    [ "$(tr -cd x <"$body" | wc -c)" -eq 65536 ]
    [[ "$output" == *"gen 1 drained 1 connection in"* ]]
    # counted by the shim: no disagreement with the kernel to settle
    refute grep -q "the kernel shows\|the kernel wins\|cutting\|at the drain timeout" "$HS_LOG"
}

@test "a listener at an fd above 65536 is drained: the old generation takes no connection after the drain" {
    local limit
    limit=$(high_fd_limit)
    HS_NOFILE=$limit start_hotswap "127.0.0.1:$(free_port)" --drain-timeout 20s -- --model threads --quirk high-fd-listener
    grep -q "fixture: listener moved to fd $((limit - 1))" "$HS_LOG"
    local old
    old=$(pid_of_answer "$HS_ADDR")
    "$LOADCLIENT" --connect "$HS_ADDR" --get /sleep/3000 --timeout-ms 15000 >"$BATS_TEST_TMPDIR/held" &
    local held=$!
    wait_until 5 holds_connection "$old" "$HS_ADDR"   # gen 1 has taken it: it stays while it runs
    reload >"$BATS_TEST_TMPDIR/reload.out" &
    local reloading=$!
    wait_until 10 grep -q "gen 1 pid $old draining" "$HS_LOG"
    # every thread of gen 1 that waited in accept() on the high fd is out of it, and gen 2 answers
    # everything from now on
    local i
    for i in $(seq 40); do
        [ "$(generation_of "$HS_ADDR")" = 2 ] || { echo "request $i not answered by gen 2"; false; }
    done
    wait "$held"
    grep -q "^gen=1 pid=$old" "$BATS_TEST_TMPDIR/held"
    wait "$reloading"
    # (the held request, and the accept() the main thread was in when the drain began)
    grep -Eq "gen 1 drained [12] connections? in" "$BATS_TEST_TMPDIR/reload.out"
    refute grep -q "the kernel shows\|the kernel wins\|cutting\|at the drain timeout" "$HS_LOG"
    wait_until 10 process_gone "$old"
}

# listener_inode ADDR: the inode of the TCP listener on ADDR's port (hex, as epoll's fdinfo shows it)
listener_inode() {
    local port_hex
    printf -v port_hex '%04X' "${1##*:}"
    awk -v port=":$port_hex" '$4 == "0A" && substr($2, length($2) - 4) == port { printf "%x\n", $10; exit }' /proc/net/tcp
}
# epoll_sets_holding PID INODE: how many epoll sets of PID hold the socket INODE (hex), as the
# kernel shows them (/proc/PID/fdinfo: "tfd: N events: E data: D pos:0 ino:INODE ...")
epoll_sets_holding() { cat /proc/"$1"/fdinfo/* 2>/dev/null | grep -c "^tfd: .* ino:$2 " || true; }
sets_holding_at_least() { (($(epoll_sets_holding "$1" "$2") >= $3)); }
sets_holding_none() { process_running "$1" && (($(epoll_sets_holding "$1" "$2") == 0)); }

@test "300 epoll sets hold the listener (an event loop per thread): the drain takes it out of every one" {
    start_hotswap "127.0.0.1:$(free_port)" --drain-timeout 20s -- --model epoll-threads --workers 300
    local old inode
    old=$(pid_of_answer "$HS_ADDR")
    inode=$(listener_inode "$HS_ADDR")
    [ -n "$inode" ]
    wait_until 10 sets_holding_at_least "$old" "$inode" 300
    "$LOADCLIENT" --connect "$HS_ADDR" --get /sleep/5000 --timeout-ms 15000 >"$BATS_TEST_TMPDIR/held" &
    local held=$!
    wait_until 5 holds_connection "$old" "$HS_ADDR"
    reload >"$BATS_TEST_TMPDIR/reload.out" &
    local reloading=$!
    wait_until 10 grep -q "gen 1 pid $old draining" "$HS_LOG"
    # a set still holding the shared listener would wake gen 1 for every connection queued on it
    # (looked at while gen 1 is there: its held request runs for 5 s)
    wait_until 3 sets_holding_none "$old" "$inode" ||
        { echo "$(epoll_sets_holding "$old" "$inode") epoll sets of gen 1 still hold the listener"; false; }
    [ "$(generation_of "$HS_ADDR")" = 2 ]
    wait "$held"
    grep -q "^gen=1 pid=$old" "$BATS_TEST_TMPDIR/held"
    wait "$reloading"
    grep -q "gen 1 drained 1 connection in" "$BATS_TEST_TMPDIR/reload.out"
    refute grep -q "the kernel shows\|the kernel wins\|cutting\|at the drain timeout" "$HS_LOG"
}

# (epoll-threads: threads going back to the listener as the drain's marks end their connections,
# while the drain takes it out of their sets on another thread)
@test "an event loop that changes its listener's epoll events after each wait (libuv) goes on through the drain; each old generation stops cleanly" {
    local model
    for model in epoll epoll-threads; do
        local addr="127.0.0.1:$(free_port)"
        start_hotswap "$addr" -- --model "$model" --workers 4 --keep-alive --quirk reregister-listener
        start_load "$addr" --keep-alive -c 8
        local gen
        for gen in 2 3 4; do
            run reload
            [ "$status" -eq 0 ] || { echo "$model: reload to gen $gen: $output"; return 1; }
        done
        wait_until 10 grep -q "gen 3 pid [0-9]* killed by signal 15" "$HS_LOG"
        stop_load
        [ "$(field failed "$LOAD_SUMMARY")" = 0 ] || { echo "$model: $LOAD_SUMMARY"; return 1; }
        [[ ",$(field gens "$LOAD_SUMMARY")," == *",4,"* ]]
        refute grep -q "aborting\|Aborted" "$HS_LOG"
        [ "$(grep -c "gen [123] pid [0-9]* killed by signal 15 (Terminated)" "$HS_LOG")" -eq 3 ]
        stop_hotswap
    done
}
