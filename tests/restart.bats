#!/usr/bin/env bats
# Crash restart: a generation that dies outside a reload is replaced at once from the held
# listeners, with back-off; clients wait in the backlog meanwhile.

load helpers

teardown() { teardown_hotswap; }

# kill_serving SIGNAL ADDR: kills the process that answers, waits until another one answers.
kill_serving() {
    local pid
    pid=$(pid_of_answer "$2")
    kill "-$1" "$pid"
    wait_until 10 answers_from_other_than "$2" "$pid"
}

# queued_at PORT N: at least N connections to 127.0.0.1:PORT established on the server side.
queued_at() { (($(grep -ci "^ *[0-9]*: 0100007F:$(printf %04X "$1") 0100007F:[0-9A-F]* 01 " /proc/net/tcp) >= $2)); }

answers_from_other_than() { local p; p=$(pid_of_answer "$1") && [[ -n "$p" && "$p" != "$2" ]]; }

@test "SIGKILL under load: the generation is replaced at once, no connection is refused" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    start_load "$addr" --timeout-ms 3000
    wait_until 5 test -s "$LOAD_OUT" || true   # (the summary is written at the end; just let it run)
    for gen in 2 3 4; do
        kill_serving KILL "$addr"
        [ "$(generation_of "$addr")" = "$gen" ]
        grep -Eq "gen $((gen - 1)) pid [0-9]+ killed by signal 9 \(Killed\) outside a reload: restarting in [0-9]+ ms \(restart $((gen - 1)), --restart on-failure\)" "$HS_LOG"
    done
    stop_load
    # The listener never closed: nothing refused, nothing waited past the timeout. What can fail
    # is only what the killed process held: requests it had accepted and not yet answered, at
    # most one per load connection (8) per kill.
    [ "$(field refused "$LOAD_SUMMARY")" = 0 ]
    [ "$(field timeout "$LOAD_SUMMARY")" = 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" -le $((8 * 3)) ]
    [ "$(field ok "$LOAD_SUMMARY")" -gt 100 ]
    [ "$(field gens "$LOAD_SUMMARY")" = "1,2,3,4" ]
    process_running "$HS_PID"
}

@test "clients that connect while no generation runs wait in the backlog and are served" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/slow-start"
    # a restarted generation takes a while to come up: gen 2 waits for the trigger to go
    start_hotswap "$addr" -- --model epoll --hang-if-exists "$trigger"
    touch "$trigger"
    kill -KILL "$(pid_of_answer "$addr")"
    wait_until 5 grep -q "gen 2 pid [0-9]* starting" "$HS_LOG"
    # no server accepts now: these connect into the held listener's queue
    local clients=()
    for i in 1 2 3 4 5; do
        "$LOADCLIENT" --connect "$addr" --get / --timeout-ms 10000 >"$BATS_TEST_TMPDIR/answer.$i" 2>&1 &
        clients+=($!)
    done
    wait_until 5 queued_at "${addr##*:}" 5
    kill -KILL "$(sed -n 's/.*gen 2 pid \([0-9]*\) starting.*/\1/p' "$HS_LOG")"   # gen 2, hanging: it never served, so...
    rm -f "$trigger"                                  # ...gen 3 comes up and serves the queue
    for pid in "${clients[@]}"; do wait "$pid"; done
    for i in 1 2 3 4 5; do
        grep -q "^gen=3 " "$BATS_TEST_TMPDIR/answer.$i" || { cat "$BATS_TEST_TMPDIR/answer.$i"; return 1; }
    done
}

@test "a generation that keeps crashing is restarted after 0, 100, 200, 400 ms, capped by --restart-max-backoff" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/break"
    start_hotswap "$addr" --restart-max-backoff 400ms -- --model epoll --fail-if-exists "$trigger"
    touch "$trigger"   # from now on a new generation exits 1 at start
    kill -KILL "$(pid_of_answer "$addr")"
    wait_until 10 grep -q "(restart 5," "$HS_LOG"
    rm -f "$trigger"
    wait_until 10 answers_with_gen "$addr" 6
    grep "outside a reload" "$HS_LOG"
    [ "$(grep -o 'restarting in [0-9]* ms (restart [0-9]*' "$HS_LOG" | tr '\n' ';')" = \
      "restarting in 0 ms (restart 1;restarting in 100 ms (restart 2;restarting in 200 ms (restart 3;restarting in 400 ms (restart 4;restarting in 400 ms (restart 5;" ]
    grep -q "gen 2 pid [0-9]* exited with status 1 outside a reload: restarting in 100 ms" "$HS_LOG"
    run status_of
    [[ "$output" == *"restart on-failure (5 restarts)"* ]]
    [[ "$output" =~ "last restart: "[0-9]+(ms|s)" ago: gen 5 pid "[0-9]+" exited with status 1 outside a reload" ]]
}

@test "a generation that stayed up resets the back-off; one that crashed right away does not" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --restart-max-backoff 300ms -- --model epoll
    kill_serving KILL "$addr"                       # gen 1 had served: at once
    kill_serving KILL "$addr"                       # gen 2 crashed soon after: back off
    sleep 1.2                                       # gen 3 serves longer than 1 s (the floor) ...
    kill_serving KILL "$addr"                       # ... so at once again
    [ "$(grep -o 'restarting in [0-9]* ms' "$HS_LOG" | tr '\n' ';')" = \
      "restarting in 0 ms;restarting in 100 ms;restarting in 0 ms;" ]
}

@test "a reload between two crashes resets the back-off: the server started and served since" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    kill_serving KILL "$addr"                       # gen 1: at once
    run reload                                      # gen 3, by a reload, serves
    [ "$status" -eq 0 ]
    kill_serving KILL "$addr"                       # a new crash, not a loop: at once again
    [ "$(grep -o 'restarting in [0-9]* ms' "$HS_LOG" | tr '\n' ';')" = "restarting in 0 ms;restarting in 0 ms;" ]
}

@test "a restarted generation that misses its ready timeout is killed and backed off" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/hang"
    start_hotswap "$addr" --ready-timeout 500ms -- --model epoll --hang-if-exists "$trigger"
    touch "$trigger"
    kill -KILL "$(pid_of_answer "$addr")"
    wait_until 10 grep -q "gen 2 pid [0-9]* not ready within 500 ms (it never waited for connections on a listener) outside a reload: restarting in 100 ms" "$HS_LOG"
    rm -f "$trigger"
    # gen 3 starts 100 ms after gen 2 failed: on a busy machine, before the trigger is gone, so
    # it may hang and back off in turn; the first one started after that serves
    wait_until 10 answers_from_gen_after "$addr" 2
}

# answers_from_gen_after ADDR N: a generation after N answers.
answers_from_gen_after() {
    local gen
    gen=$(generation_of "$1")
    [[ "$gen" =~ ^[0-9]+$ ]] && ((gen > $2))
}

@test "--restart never: the launcher exits with the dead server's status, as it always did" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --restart never -- --model epoll
    kill -KILL "$(pid_of_answer "$addr")"
    HS_STATUS=0
    wait "$HS_PID" || HS_STATUS=$?
    HS_PID=
    [ "$HS_STATUS" -eq 137 ]
    grep -q "gen 1 is gone and no generation is left: exiting" "$HS_LOG"
    refute grep -q "restarting in" "$HS_LOG"
}

@test "on-failure does not restart a server that exits 0; always does" {
    local addr="127.0.0.1:$(free_port)"
    # own-handlers: the fixture exits 0 on SIGTERM (sent here to the server, not the launcher)
    start_hotswap "$addr" -- --model epoll --quirk own-handlers
    kill -TERM "$(pid_of_answer "$addr")"
    HS_STATUS=0
    wait "$HS_PID" || HS_STATUS=$?
    HS_PID=
    [ "$HS_STATUS" -eq 0 ]
    refute grep -q "restarting in" "$HS_LOG"

    addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --restart always -- --model epoll --quirk own-handlers
    kill_serving TERM "$addr"
    [ "$(generation_of "$addr")" = 2 ]
    grep -q "gen 1 pid [0-9]* exited with status 0 outside a reload: restarting in 0 ms (restart 1, --restart always)" "$HS_LOG"
}

@test "a server that dies before it was ever ready is not restarted: the launcher exits with its status" {
    run "$HOTSWAP" --control "$BATS_TEST_TMPDIR/c.sock" --restart always -- /bin/sh -c 'exit 3'
    [ "$status" -eq 3 ]
    [[ "$output" != *"restarting in"* ]]
}

@test "never a restart while the launcher stops: a pending one is cancelled" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/break"
    start_hotswap "$addr" --restart-max-backoff 1m -- --model epoll --fail-if-exists "$trigger"
    touch "$trigger"
    kill -KILL "$(pid_of_answer "$addr")"
    wait_until 10 grep -q "restarting in 1600 ms" "$HS_LOG"
    local started
    started=$(grep -c "starting (" "$HS_LOG")
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    grep -q "stopping: the pending restart is cancelled" "$HS_LOG"
    [ "$(grep -c "starting (" "$HS_LOG")" = "$started" ]
}

@test "a crash during a reload: the reload's new generation takes over when ready, nothing is restarted" {
    local addr="127.0.0.1:$(free_port)" hold="$BATS_TEST_TMPDIR/hold"
    # a server slow to start while $hold exists (the shell waits, then execs the server)
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log" HS_CONTROL="$BATS_TEST_TMPDIR/control.sock" HS_ADDR=$addr
    "$HOTSWAP" --control "$HS_CONTROL" -- /bin/sh -c \
        'while [ -e "$1" ]; do sleep 0.05; done; exec "$2" --model epoll --listen "$3"' \
        sh "$hold" "$FIXTURE" "$addr" 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    local old
    old=$(pid_of_answer "$addr")
    touch "$hold"
    reload >"$BATS_TEST_TMPDIR/reload.out" 2>&1 &
    local reloading=$!
    wait_until 5 grep -q "gen 2 pid [0-9]* starting" "$HS_LOG"
    kill -KILL "$old"
    wait_until 5 process_gone "$old"
    rm -f "$hold"
    local reload_status=0
    wait "$reloading" || reload_status=$?
    cat "$BATS_TEST_TMPDIR/reload.out"
    [ "$reload_status" -eq 0 ]
    grep -Eq "^ok: gen 2 ready in [0-9]+ ms; gen 1 had died before it could drain; kernel: " "$BATS_TEST_TMPDIR/reload.out"
    [ "$(generation_of "$addr")" = 2 ]
    refute grep -q "restarting in" "$HS_LOG"
    process_running "$HS_PID"
}

@test "a crash during a reload that then rolls back: a new generation is started in its place" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/slow"
    start_hotswap "$addr" --ready-timeout 2s -- --model epoll --hang-if-exists "$trigger"
    local old
    old=$(pid_of_answer "$addr")
    touch "$trigger"
    reload >"$BATS_TEST_TMPDIR/reload.out" 2>&1 &
    local reloading=$!
    wait_until 5 grep -q "gen 2 pid [0-9]* starting" "$HS_LOG"
    kill -KILL "$old"
    wait_until 5 process_gone "$old"
    rm -f "$trigger"   # (gen 2 is already hanging; it is the ready timeout that decides)
    local reload_status=0
    wait "$reloading" || reload_status=$?   # (not `run wait`: run's subshell has no such child)
    cat "$BATS_TEST_TMPDIR/reload.out"
    [ "$reload_status" -eq 1 ]   # gen 2 hung: rolled back, and gen 1 is dead...
    grep -q "gen 1 has died meanwhile" "$BATS_TEST_TMPDIR/reload.out"
    wait_until 10 answers_with_gen "$addr" 3   # ...so gen 3 is started in its place
    grep -q "gen 2 failed and gen 1 had died meanwhile (killed by signal 9 (Killed)): starting gen 3 from gen 1.s command line, cold, in 0 ms" "$HS_LOG"
}

# reload_into_killer POLICY: under load, a reload into a command that stops the serving
# generation (SIGTERM: the fixture's own handler exits 0) and then exits 0 itself before it
# binds, as a process manager's client did through a handed-over control socket. Neither
# generation serves then; the last good command line must start again, whatever POLICY says.
reload_into_killer() {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --restart "$1" -- --model epoll --quirk own-handlers
    local old
    old=$(pid_of_answer "$addr")
    start_load "$addr" --timeout-ms 5000
    sleep 0.3   # (some load before the reload, so the load client runs through it)
    run "$HOTSWAP" reload --control "$HS_CONTROL" -- /bin/sh -c \
        'kill -TERM "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.01; done; exit 0' sh "$old"
    [ "$status" -ne 0 ]
    [[ "$output" == *"gen 2 exited before it was ready (status 0); gen 1 has died meanwhile"* ]]
    wait_until 10 answers_with_gen "$addr" 3
    grep -q "gen 2 failed and gen 1 had died meanwhile (exited with status 0): starting gen 3 from gen 1's command line, cold, in 0 ms (whatever --restart says)" "$HS_LOG"
    sleep 0.3   # (gen 3 serves the load a while)
    stop_load
    process_running "$HS_PID"
    # The listeners stayed held: nothing refused. What can fail is only what gen 1 had accepted
    # and not answered when its own SIGTERM handler exited (at most one per load connection).
    [ "$(field refused "$LOAD_SUMMARY")" = 0 ]
    [ "$(field timeout "$LOAD_SUMMARY")" = 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" -le 8 ]
    [[ "$(field gens "$LOAD_SUMMARY")" == 1,*3 ]]
    # gen 3 runs gen 1's command line: a later reload works
    reload >/dev/null
    [ "$(generation_of "$addr")" = 4 ]
}

@test "a reload's new generation stops the old one (exit 0) and exits 0 too: gen 1's command line starts again, nothing refused" {
    reload_into_killer on-failure
}

@test "the same with --restart never: a failed reload never leaves no generation serving" {
    reload_into_killer never
}

# reload_into_breaker TRIGGER: like reload_into_killer, but the bad command also breaks the good
# one (it creates TRIGGER, which the fixture's --fail-if-exists exits at start on).
reload_into_breaker() {
    run "$HOTSWAP" reload --control "$HS_CONTROL" -- /bin/sh -c \
        'touch "$2"; kill -TERM "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.01; done; exit 0' sh \
        "$(pid_of_answer "$HS_ADDR")" "$1"
    [ "$status" -ne 0 ]
    grep -q "gen 2 failed and gen 1 had died meanwhile (exited with status 0): starting gen 3" "$HS_LOG"
}

@test "after a failed reload, a restarted generation that fails too is backed off under --restart never, until one serves" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/broken"
    start_hotswap "$addr" --restart never -- --model epoll --quirk own-handlers --fail-if-exists "$trigger"
    reload_into_breaker "$trigger"
    wait_until 10 grep -Eq "gen 4, started after a failed reload, exited with status [0-9]+ before it was ready: restarting in 200 ms \(restart 3\)" "$HS_LOG"
    grep -Eq "gen 3, started after a failed reload, exited with status [0-9]+ before it was ready: restarting in 100 ms \(restart 2\)" "$HS_LOG"
    rm -f "$trigger"
    wait_until 10 answers_from_other_than "$addr" ""
    (($(generation_of "$addr") >= 5))
    process_running "$HS_PID"
}

@test "after a failed reload, a stop asked while its restarts back off wins: nothing more starts, exit 0" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/broken"
    start_hotswap "$addr" --restart never --restart-max-backoff 1m -- --model epoll --quirk own-handlers \
        --fail-if-exists "$trigger"
    reload_into_breaker "$trigger"
    wait_until 10 grep -q "before it was ready: restarting in 1600 ms" "$HS_LOG"
    local started
    started=$(grep -c "starting (" "$HS_LOG")
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    grep -q "stopping: the pending restart is cancelled" "$HS_LOG"
    [ "$(grep -c "starting (" "$HS_LOG")" = "$started" ]
}
