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
    [[ -n "${SMALL_FS:-}" ]] && umount "$SMALL_FS" 2>/dev/null && rmdir "$SMALL_FS"
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
    # printable ASCII only, whatever the path held: a header, the launcher, gen 1, two listeners
    [[ -z "$(tr -d '\n -~' <"$HS_CONTROL.state")" ]]
    [ "$(wc -l <"$HS_CONTROL.state")" -eq 5 ]
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

@test "the forged state file with --track tree: the unrelated root listener is never adopted" {
    forged_state_survives --track tree
}

# killed_with_state: a launcher serving gen 1 (epoll), SIGKILLed once its state file says so;
# SERVER is gen 1's pid, orphaned and serving on.
killed_with_state() {
    start_hotswap "127.0.0.1:$(free_port)" "$@" -- --model epoll
    SERVER=$(sed -n 's/.*gen 1 pid \([0-9]*\) starting.*/\1/p' "$HS_LOG")
    wait_until 10 grep -q "^listener 1 " "$HS_CONTROL.state"
    kill_launcher
}

@test "a line appended to a valid state file refuses the whole file, in one line that does not echo it" {
    killed_with_state
    cp "$HS_CONTROL.state" "$BATS_TEST_TMPDIR/valid"
    printf 'gen 9 %s 1 0 0 -\n' "$SERVER" >>"$HS_CONTROL.state" # a second line for the same pid
    run -1 timeout 10 "$HOTSWAP" --control "$HS_CONTROL" -- "$FIXTURE" --listen "$HS_ADDR" --model epoll
    [ "$(grep -c "state file $HS_CONTROL.state: line 5 unexpected: adopting nothing" <<<"$output")" -eq 1 ]
    [[ "$output" != *adopted* ]]
    # a trailing field, an unknown line, a gen after a listener, a number out of its range (serving
    # is 0 or 1), an old version: each the same
    local bad
    for bad in 's/^launcher .*/& 7/' '2a\hello' '$a\gen 9 2 1 0 0 -' 's/^\(gen 1 [0-9]* [0-9]*\) 1 /\1 7 /' \
        '1s/.*/hotswap-state 1/'; do
        [ "$(sed "$bad" "$BATS_TEST_TMPDIR/valid")" != "$(cat "$BATS_TEST_TMPDIR/valid")" ]
        sed "$bad" "$BATS_TEST_TMPDIR/valid" >"$HS_CONTROL.state"
        run -1 timeout 10 "$HOTSWAP" --control "$HS_CONTROL" -- "$FIXTURE" --listen "$HS_ADDR" --model epoll
        [ "$(grep -c "state file $HS_CONTROL.state.*: adopting nothing" <<<"$output")" -eq 1 ]
        [[ "$output" != *adopted* && "$output" != *hello* ]]
    done
    [[ "$output" == *"is version 1 (an older hotswap's, which did not encode names): adopting nothing"* ]]
    # the orphan served on throughout, untouched
    [[ "$(pid_of_answer "$HS_ADDR")" == "$SERVER" ]]
    # and the file as it was written is adopted
    cp "$BATS_TEST_TMPDIR/valid" "$HS_CONTROL.state"
    adopt_on_same_control -- --model epoll
    grep -q "gen 1 pid $SERVER adopted from launcher pid [0-9]*, which is gone: it serves on" "$HS_LOG"
}

# no_proof_not_adopted [hotswap options...]: a state file in the valid format, written by hand,
# records two unrelated processes with their right start times: one as tracked by the process
# tree, one as in a cgroup of ours. Neither is adopted nor touched.
no_proof_not_adopted() {
    start_victim
    sleep 600 &
    local other=$! other_start gone
    other_start=$(awk '{print $22}' "/proc/$other/stat")
    true & gone=$!
    wait "$gone"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock" HS_LOG="$BATS_TEST_TMPDIR/hotswap.log" HS_ADDR="127.0.0.1:$(free_port)"
    printf 'hotswap-state 2\nlauncher %d 1\ngen 1 %d %s 1 0 -\ngen 2 %d %s 0 0 hotswap-%d-gen2\nlistener 1 %s\n' \
        "$gone" "$VICTIM_PID" "$VICTIM_START" "$other" "$other_start" "$gone" "$VICTIM_ADDR" >"$HS_CONTROL.state"
    chmod 600 "$HS_CONTROL.state"
    adopt_on_same_control "$@" -- --model epoll
    wait_until 10 answers_with_gen "$HS_ADDR" 1
    grep -q "gen 1 pid $VICTIM_PID: no proof it was a generation of this launcher (no HOTSWAP_GENERATION=1 in its environment): not adopted" "$HS_LOG"
    grep -q "gen 2 pid $other: no proof it was a generation of this launcher (not in its cgroup hotswap-$gone-gen2 under this launcher's own): not adopted" "$HS_LOG"
    run -0 timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
    victim_untouched
    process_running "$other"
    refute grep -q "pid $other adopted" "$HS_LOG"
    kill "$other"
}

@test "processes recorded with their right start times but no proof of membership are not adopted" {
    no_proof_not_adopted
}

@test "no proof of membership with --track tree: not adopted" {
    no_proof_not_adopted --track tree
}

@test "a FIFO at the state file's path: the launcher starts, serves and stops on SIGTERM, saying so in one line" {
    mkfifo -m 600 "$BATS_TEST_TMPDIR/control.sock.state"
    start_hotswap "127.0.0.1:$(free_port)" -- --model epoll
    [ "$(grep -c "state file $HS_CONTROL.state is not a regular file: adopting nothing" "$HS_LOG")" -eq 1 ]
    run -0 timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
    kill -TERM "$HS_PID"
    wait_until 10 process_gone "$HS_PID"
    run -0 wait "$HS_PID"
    HS_PID=
}

@test "a symlink or a directory at the state file's path is refused in one line; the launcher serves" {
    local addr="127.0.0.1:$(free_port)"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock" HS_LOG="$BATS_TEST_TMPDIR/hotswap.log" HS_ADDR=$addr
    # a symlink to a file that would be believed, were it followed
    printf 'hotswap-state 2\nlauncher 2 1\n' >"$BATS_TEST_TMPDIR/elsewhere"
    chmod 600 "$BATS_TEST_TMPDIR/elsewhere"
    ln -s "$BATS_TEST_TMPDIR/elsewhere" "$HS_CONTROL.state"
    start_hotswap "$addr" -- --model epoll
    [ "$(grep -c "state file $HS_CONTROL.state: a symlink: adopting nothing" "$HS_LOG")" -eq 1 ]
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    rm -f "$HS_CONTROL.state"
    mkdir "$HS_CONTROL.state"
    start_hotswap "$addr" -- --model epoll
    [ "$(grep -c "state file $HS_CONTROL.state is not a regular file: adopting nothing" "$HS_LOG")" -eq 1 ]
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
}

# state_says_serving GEN: the state file records generation GEN as the one that serves.
state_says_serving() { grep -q "^gen $1 [0-9]* [0-9]* 1 " "$STATE"; }

@test "a full disk: the failed write is said once, and the file is up to date within a second of room again" {
    SMALL_FS=$(mktemp -d /tmp/hsfsXXXX)
    mount -t tmpfs -o size=64k,mode=0700 tmpfs "$SMALL_FS"
    local addr="127.0.0.1:$(free_port)"
    HS_ADDR=$addr HS_LOG="$BATS_TEST_TMPDIR/hotswap.log" HS_CONTROL="$SMALL_FS/control.sock" STATE="$SMALL_FS/control.sock.state"
    "$HOTSWAP" --control "$HS_CONTROL" -- "$FIXTURE" --listen "$addr" --model epoll 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    wait_until 10 state_says_serving 1
    dd if=/dev/zero of="$SMALL_FS/fill" bs=4096 status=none 2>/dev/null || true # until ENOSPC
    run -0 timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
    wait_until 10 grep -q "state file $STATE: cannot write it (No space left on device)" "$HS_LOG"
    state_says_serving 1 # stale, while the disk is full
    # more changes while it is full: still one line
    run -0 timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
    [ "$(grep -c "state file $STATE: cannot write it" "$HS_LOG")" -eq 1 ]
    rm "$SMALL_FS/fill"
    # nothing else happens now: the retry alone brings the file up to date
    local freed=$EPOCHREALTIME
    wait_until 5 state_says_serving 3
    awk -v from="$freed" -v to="$EPOCHREALTIME" 'BEGIN { exit !(to - from < 1.2) }'
    [ "$(grep -c "state file $STATE written again: it is up to date" "$HS_LOG")" -eq 1 ]
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
}

# adopted_and_reloaded [hotswap options...]: prefork workers that dropped to nobody, under load;
# the launcher killed, a new one adopts them (their proof: their cgroup, or HOTSWAP_GENERATION
# and the uid recorded for them) and reloads 3 times: nothing fails, the adopted one exits.
adopted_and_reloaded() {
    start_hotswap "127.0.0.1:$(free_port)" "$@" -- --model prefork --quirk drop-privileges
    SERVER=$(sed -n 's/.*gen 1 pid \([0-9]*\) starting.*/\1/p' "$HS_LOG")
    wait_until 10 grep -q "^gen 1 $SERVER [0-9]* 1 65534 " "$HS_CONTROL.state"
    start_load "$HS_ADDR"
    kill_launcher
    adopt_on_same_control "$@" -- --model prefork --quirk drop-privileges
    grep -q "gen 1 pid $SERVER adopted from launcher pid [0-9]*, which is gone: it serves on" "$HS_LOG"
    local gen
    for gen in 2 3 4; do
        run -0 timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
        [ "$(generation_of "$HS_ADDR")" = "$gen" ]
    done
    wait_until 10 grep -q "gen 1 pid $SERVER exited (adopted" "$HS_LOG"
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
}

@test "a server that dropped to nobody, its launcher killed, is adopted by its cgroup; 3 reloads lose nothing" {
    adopted_and_reloaded
}

@test "the same with --track tree: adopted by its HOTSWAP_GENERATION and its recorded uid" {
    adopted_and_reloaded --track tree
}
