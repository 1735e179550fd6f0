#!/usr/bin/env bats
# A blocking accept() on a drained listener behaves as the kernel's would (issue 28, item 4):
# it waits, a signal with SA_RESTART leaves it waiting, one without ends it with EINTR, and a
# close of the listener by another thread followed by such a signal ends it too, with no busy
# loop. tests/fixtures/blocking-acceptor.c stops the way the JVM closes a channel a thread is
# blocked on (another file dup2'd onto the number, then a signal without SA_RESTART); a JVM
# acceptor thread spun on the drained listener until SIGKILL before this.

load helpers

ACCEPTOR="$ROOT/$BUILD/blocking-acceptor"

teardown() { teardown_hotswap; }

# exited_after LINE: the "exited N ms later" of a reload's reply.
exited_after() { sed -n 's/.*exited \([0-9]*\) ms later.*/\1/p' <<<"$1"; }

@test "a blocking acceptor whose shutdown closes the listener and signals its thread: each old generation exits within 1 s of its stop" {
    local addr="127.0.0.1:$(free_port)"
    HS_SERVER=$ACCEPTOR start_hotswap "$addr" --kill-timeout 3s
    start_load "$addr"
    for gen in 2 3 4 5 6; do
        run reload
        [ "$status" -eq 0 ] || { echo "$output"; cat "$HS_LOG"; false; }
        [ "$(generation_of "$addr")" = "$gen" ]
        local after
        after=$(exited_after "$(tail -n 1 <<<"$output")")
        [ -n "$after" ] && [ "$after" -lt 1000 ] || { echo "$output"; false; }
    done
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    refute grep -q 'SIGKILL' "$HS_LOG"
    [ "$(grep -c 'blocking-acceptor: stopped' "$HS_LOG")" -eq 5 ]
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
}

@test "a drained blocking accept waits through a signal with SA_RESTART, and a rollback still brings it back" {
    local addr="127.0.0.1:$(free_port)"
    HS_SERVER=$ACCEPTOR start_hotswap "$addr" --keep-old 60s
    local old
    old=$(pid_of_answer "$addr")
    run reload
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(generation_of "$addr")" = 2 ]
    # parked: its acceptor waits in accept() on the drained listener; a signal whose handler has
    # SA_RESTART is restarted by the kernel, so the server never sees it
    local i
    for i in 1 2 3; do kill -USR1 "$old"; done
    run "$HOTSWAP" rollback --control "$HS_CONTROL"
    [ "$status" -eq 0 ] || { echo "$output"; cat "$HS_LOG"; false; }
    # gen 2 takes connections until its own drain starts, as any old generation does: once it
    # has drained, only the parked process can answer
    wait_until 10 grep -q "gen 2 drained" "$HS_LOG"
    [ "$(generation_of "$addr")" = 1 ]
    [ "$(pid_of_answer "$addr")" = "$old" ]
    refute grep -q 'accept interrupted' "$HS_LOG"
}
