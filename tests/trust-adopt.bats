#!/usr/bin/env bats
# The state file a killed launcher leaves (CONTROL.state, docs/design.md "Trust"): what a server
# names is encoded in it, the parser refuses the whole file at the first line it does not expect,
# and a recorded pid is adopted only with proof that it was a generation (its cgroup, or its
# HOTSWAP_GENERATION and its uid), never for a start time anyone can read. The file is opened so
# that a FIFO cannot hang the launcher, and a write the disk refused is retried until it lands.

load helpers
bats_require_minimum_version 1.5.0

teardown() {
    [[ -n "${VICTIM_PID:-}" ]] && kill -TERM "$VICTIM_PID" 2>/dev/null
    teardown_hotswap
    [[ -n "${SMALL_FS:-}" ]] && umount "$SMALL_FS" 2>/dev/null
    [[ -n "${EVIL_DIR:-}" ]] && rm -rf "$EVIL_DIR"
    return 0
}

# start_victim: an unrelated root server on a port of its own, not under hotswap (VICTIM_PID,
# VICTIM_ADDR), answering; VICTIM_START is its start time, which anyone can read in /proc.
start_victim() {
    VICTIM_ADDR="127.0.0.1:$(free_port)"
    "$FIXTURE" --listen "$VICTIM_ADDR" --model epoll 2>/dev/null &
    VICTIM_PID=$!
    wait_until 10 get "$VICTIM_ADDR"
    VICTIM_START=$(awk '{print $22}' "/proc/$VICTIM_PID/stat")
}

victim_untouched() {
    process_running "$VICTIM_PID"
    [[ "$(pid_of_answer "$VICTIM_ADDR")" == "$VICTIM_PID" ]]
    [[ "$(holders "$VICTIM_ADDR")" == "$VICTIM_PID" ]] # no copy of its listener elsewhere
    refute grep -q "pid $VICTIM_PID adopted" "$HS_LOG"
}

# kill_launcher: SIGKILL, as the OOM killer would; the generations run on, orphaned.
kill_launcher() {
    kill -KILL "$HS_PID"
    wait "$HS_PID" || true
    HS_PID=
}

# adopt_on_same_control [hotswap options...] -- fixture options...: a new launcher on the killed
# one's control socket (HS_PID; its log appended to HS_LOG); waits until it serves.
adopt_on_same_control() {
    local opts=()
    while (($#)) && [[ "$1" != -- ]]; do opts+=("$1"); shift; done
    [[ "${1:-}" == -- ]] && shift
    "$HOTSWAP" --control "$HS_CONTROL" "${opts[@]}" -- "$FIXTURE" --listen "$HS_ADDR" "$@" 2>>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 grep -q "launcher pid $HS_PID, control socket" "$HS_LOG"
}

forged_state_survives() {
    start_victim
    EVIL_DIR=$(mktemp -d /tmp/hsXXXX)
    # a Unix path, chosen by the server, that is also the lines a forger wants in the file
    local path="$EVIL_DIR/a"$'\n'"gen 7 $VICTIM_PID $VICTIM_START 0 -"$'\n'"listener 7 $VICTIM_ADDR"
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" "$@" -- --model epoll --listen "unix:$path" --quirk drop-privileges
    wait_until 10 grep -q "gen 1 pid [0-9]* listens on unix:$EVIL_DIR/a" "$HS_LOG"
    wait_until 10 grep -q "gen 1 pid [0-9]* ready in" "$HS_LOG"
    grep -q "runs as uid 65534 now" "$HS_LOG"
    LC_ALL=C grep -q '[^ -~]' <<<"$(tr -d '\n' <"$HS_CONTROL.state")" && return 1 # printable only
    kill_launcher
    adopt_on_same_control "$@" -- --model epoll --listen "unix:$path" --quirk drop-privileges
    grep -q "gen 1 pid [0-9]* adopted from launcher pid [0-9]*, which is gone: it serves on" "$HS_LOG"
    run timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
    victim_untouched
    [ "$status" -eq 0 ]
    wait_until 10 answers_with_gen "$addr" 2
}

@test "a server that dropped to nobody forges lines in the state file with a Unix path: an unrelated root listener is never adopted (cgroup)" {
    forged_state_survives
}

@test "the same with --track tree" {
    forged_state_survives --track tree
}
