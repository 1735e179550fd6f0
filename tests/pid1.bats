#!/usr/bin/env bats
# hotswap as a container's PID 1 (a new PID namespace: unshare --pid --fork --mount-proc): it
# reaps every zombie, its generations' and orphans' alike, and SIGTERM is a graceful stop.

load helpers

setup_file() {
    unshare --pid --fork --mount-proc true 2>/dev/null || skip "cannot make a PID namespace here (unshare)"
}

teardown() {
    if [[ -n "${UNSHARE_PID:-}" ]] && process_running "$UNSHARE_PID"; then
        kill -KILL "$HS_PID" 2>/dev/null || true   # PID 1 gone: the kernel ends the namespace
        wait_until 10 process_gone "$UNSHARE_PID" || true
    fi
    HS_PID=
    teardown_hotswap
}

# start_pid1 ADDR SH-SCRIPT: runs `hotswap -- sh -c SCRIPT sh FIXTURE ADDR` ($1: the fixture,
# $2: the address) as PID 1 of a new
# namespace. UNSHARE_PID is unshare's pid, HS_PID the launcher's (outside the namespace).
start_pid1() {
    local addr=$1 script=$2
    HS_ADDR=$addr
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    unshare --pid --fork --mount-proc "$HOTSWAP" --control "$HS_CONTROL" -- /bin/sh -c "$script" sh "$FIXTURE" "$addr" \
        2>"$HS_LOG" &
    UNSHARE_PID=$!
    wait_until 10 answers_with_gen "$addr" 1 || { cat "$HS_LOG" >&2; return 1; }
    HS_PID=$(pgrep -P "$UNSHARE_PID")
    [ "$(awk '/^NSpid:/ { print $NF }' "/proc/$HS_PID/status")" = 1 ]   # PID 1 in there
}

# zombies_of PID: the zombie children of PID (reaping them is PID's job).
# (ps, not awk over /proc/[0-9]*/stat: awk stops at the first file gone before it is read, a
# process of another suite that exited, and would count none)
zombies_of() { ps --ppid "$1" -o pid=,stat= | awk '$2 ~ /^Z/ { print $1 }'; }
no_zombies_of() { [[ -z "$(zombies_of "$1")" ]]; }

# children_of PID: how many processes PID is the parent of.
children_of() { ps --ppid "$1" -o pid= | wc -l; }

# orphans_script FILE: the command for start_pid1. Before it execs the server, it leaves
# orphans that are none of its generation's: setsid'd helpers whose parent exits at once (so
# they are re-parented to PID 1, the launcher), that run a moment, write a line to FILE and exit.
orphans_script() {
    echo "for i in 1 2 3; do (setsid sh -c 'sleep 0.3; echo done >>$1' &); done; exec \"\$1\" --model epoll --listen \"\$2\""
}

orphans_done() { [[ "$(grep -c done "$1" 2>/dev/null)" -ge "$2" ]]; }

@test "as PID 1: orphans re-parented to it are reaped, no zombie is left" {
    local addr="127.0.0.1:$(free_port)" orphans="$BATS_TEST_TMPDIR/orphans"
    start_pid1 "$addr" "$(orphans_script "$orphans")"
    wait_until 10 orphans_done "$orphans" 3
    # each orphan exited: the launcher reaped it (a zombie of PID 1 would stay until PID 1 exits)
    wait_until 5 no_zombies_of "$HS_PID"
    wait_until 5 test "$(children_of "$HS_PID")" = 1   # the server alone is left
    # and again across a reload: generation 2 leaves its own orphans
    run reload
    [ "$status" -eq 0 ]
    wait_until 10 orphans_done "$orphans" 6
    wait_until 5 no_zombies_of "$HS_PID"
    wait_until 5 test "$(children_of "$HS_PID")" = 1
    [ "$(generation_of "$addr")" = 2 ]
}

@test "as PID 1: a server that daemonizes and spawns children is reaped across reloads" {
    local addr="127.0.0.1:$(free_port)"
    start_pid1 "$addr" 'exec "$1" --model epoll --quirk daemonize --quirk spawn-child --listen "$2"'
    for gen in 2 3; do
        run reload
        [ "$status" -eq 0 ]
        [ "$(generation_of "$addr")" = "$gen" ]
        wait_until 10 no_zombies_of "$HS_PID"
    done
    # the daemon of the last generation and its "sleep" child are all that run in there
    run status_of
    [[ "$output" == *"3    serving"* ]]
}

@test "as PID 1: SIGTERM stops it gracefully, the request in flight completes, exit 0" {
    local addr="127.0.0.1:$(free_port)"
    start_pid1 "$addr" 'exec "$1" --model threads --listen "$2"'
    local server
    server=$(pgrep -P "$HS_PID")   # (pid_of_answer would say 2: its pid in the namespace)
    get "$addr" /sleep/800 >"$BATS_TEST_TMPDIR/slow" &
    local slow=$!
    wait_until 5 has_threads "$server" 2
    kill -TERM "$HS_PID"
    local status=0
    wait "$UNSHARE_PID" || status=$?
    UNSHARE_PID=
    [ "$status" -eq 0 ]
    wait "$slow"
    grep -q '^gen=1 ' "$BATS_TEST_TMPDIR/slow"
    grep -q "signal 15: graceful stop" "$HS_LOG"
    grep -Eq "gen 1 drained [0-9]+ connections? in [0-9]+ ms" "$HS_LOG"   # (not cut at a timeout)
    grep -q "exiting with status 0" "$HS_LOG"
}
