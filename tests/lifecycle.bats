#!/usr/bin/env bats
# The reload lifecycle operators ask for around the reload itself: a check before it (--check).

load helpers
bats_require_minimum_version 1.5.0

teardown() { teardown_hotswap; }

# a check script that passes while $CONF says good, as nginx -t does for a configuration
write_check() {
    CHECK="$BATS_TEST_TMPDIR/check" CONF="$BATS_TEST_TMPDIR/conf"
    echo good >"$CONF"
    cat >"$CHECK" <<SCRIPT
#!/bin/sh
if [ "\$(cat "$CONF")" != good ]; then
    echo "conf: line 3: unknown directive 'lisen'" >&2
    echo "conf: configuration test failed"
    exit 1
fi
sleep \${CHECK_SLEEP:-0}
echo "conf: syntax is ok"
SCRIPT
    chmod +x "$CHECK"
}

@test "--check: a passing check reloads; a failing one refuses with its output and changes nothing, under load" {
    write_check
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --check "$CHECK" -- --model epoll
    start_load "$addr"
    run -0 reload
    [[ "$output" == *"check: conf: syntax is ok"*"ok: gen 2 ready in"* ]]
    echo broken >"$CONF"
    run -1 reload
    [[ "$output" == *"check: conf: line 3: unknown directive 'lisen'"* ]]
    [[ "$output" == *"check: conf: configuration test failed"* ]]
    [[ "$output" == *"reload failed: the check exited with status 1; gen 2 keeps serving" ]]
    refute grep -q "gen 3" "$HS_LOG"   # nothing started
    [ "$(generation_of "$addr")" = 2 ]
    run -0 status_of --json
    [[ "$output" == *'"last_reload": {"ok": false'* ]]
    echo good >"$CONF"
    run -0 reload
    [[ "$output" == *"ok: gen 3 ready in"* ]]
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
}

@test "--check runs beside the launcher: status answers while it runs, and one past --ready-timeout is killed" {
    write_check
    local addr="127.0.0.1:$(free_port)"
    CHECK_SLEEP=60 start_hotswap "$addr" --check "$CHECK" --ready-timeout 2s -- --model epoll
    local started=$SECONDS
    reload >"$BATS_TEST_TMPDIR/reload.out" 2>&1 &
    local waiting=$!
    wait_until 5 grep -q "reload: checking first" "$HS_LOG"
    run -0 timeout 1 "$HOTSWAP" status --control "$HS_CONTROL"
    run -1 timeout 5 "$HOTSWAP" reload --control "$HS_CONTROL"
    [[ "$output" == *"a reload is already in progress"* ]]
    local status=0
    wait "$waiting" || status=$?
    [ "$status" -eq 1 ]
    local killed_after
    killed_after=$(sed -n 's/.*reload failed: the check did not finish within \([0-9]*\) ms: killed; gen 1 keeps serving$/\1/p' \
        "$BATS_TEST_TMPDIR/reload.out")
    ((killed_after >= 2000 && killed_after < 8000))   # at --ready-timeout (late only on a busy host)
    ((SECONDS - started < 10))
    [ "$(generation_of "$addr")" = 1 ]
}

@test "--check is an option for running a server: with a command it is one line, exit 64" {
    run -64 "$HOTSWAP" reload --check true
    [ "$output" = "hotswap: --check is for running a server (see hotswap --help)" ]
}

# pid_of_gen N: generation N's pid, from the launcher's log (empty before it started).
pid_of_gen() { sed -n "s/.*: gen $1 pid \([0-9]*\) starting .*/\1/p" "$HS_LOG"; }

# cut_total LOG: the connections every cut in the log cut, added up.
cut_total() { sed -n 's/.*: cutting \([0-9]*\) open connections*$/\1/p' "$1" | awk '{n += $1} END {print n + 0}'; }

# held_request ADDR FILE: a client that sends half a request to ADDR, and the rest once FILE
# exists; it prints the answer (nothing if the connection was cut). Its generation drains until
# then, however slowly a loaded machine reloads.
held_request() {
    exec 3<>"/dev/tcp/${1%:*}/${1##*:}"
    printf 'GET / HTTP/1.0\r\n' >&3
    wait_until 60 test -e "$2"
    printf '\r\n' >&3 2>/dev/null || return 0
    timeout 10 cat <&3
}

@test "--max-draining 2: 10 reloads back to back, each old generation with a held request; only what the bound cut fails" {
    local addr="127.0.0.1:$(free_port)" slow_dir="$BATS_TEST_TMPDIR/slow" release="$BATS_TEST_TMPDIR/release"
    mkdir "$slow_dir"
    start_hotswap "$addr" --max-draining 2 -- --model threads
    start_load "$addr"
    local server older held=()
    for gen in $(seq 2 11); do
        # a held request on the serving generation, then the reload: it drains until the test
        # releases the request. Only the serving one holds the listener by then, so only it can
        # take the request.
        server=$(pid_of_gen $((gen - 1)))
        older=$(pid_of_gen $((gen - 2)))
        [[ -z $older ]] || wait_until 5 lets_go_of_listener "$older" "$addr"
        held_request "$addr" "$release" >"$slow_dir/$gen" 2>&1 &
        held+=($!)
        wait_until 5 accepted_from "$server" "${held[-1]}" "$addr"
        kill -HUP "$HS_PID"
        wait_until 10 grep -q "gen $gen pid [0-9]* ready in" "$HS_LOG"
    done
    # never more than 2 draining: the 8 oldest were cut as the next ones began to drain
    wait_until 20 bash -c '[ "$(grep -c "reload done" "$0")" -eq 8 ]' "$HS_LOG"
    [ "$(grep -c "is one draining generation too many (--max-draining 2): cutting" "$HS_LOG")" -eq 8 ]
    [ "$(grep -c "(--max-draining 2: connections cut)" "$HS_LOG")" -eq 8 ]
    # release the held requests: the two newest old generations answer theirs and end their drains
    touch "$release"
    wait "${held[@]}" || true
    wait_until 20 bash -c '[ "$(grep -c "reload done" "$0")" -eq 10 ]' "$HS_LOG"
    stop_load
    local slow_failed cut
    slow_failed=$(grep -L "^gen=" "$slow_dir"/* | wc -l)
    cut=$(cut_total "$HS_LOG")
    echo "cut $cut; failed: $(field failed "$LOAD_SUMMARY") of the load, $slow_failed of the 10 held requests"
    [ "$slow_failed" -eq 8 ]   # the two newest old generations answered theirs
    (($(field failed "$LOAD_SUMMARY") + slow_failed <= cut))
    [ "$(generation_of "$addr")" = 11 ]
}

# cmdline_of ADDR: the command line of the process that answers, spaces between arguments.
cmdline_of() { tr '\0' ' ' <"/proc/$(pid_of_answer "$1")/cmdline"; }

# env_of ADDR NAME: NAME's value in the environment of the process that answers.
env_of() { tr '\0' '\n' <"/proc/$(pid_of_answer "$1")/environ" | sed -n "s/^$2=//p"; }

@test "reload -- COMMAND: the new command line serves, later reloads and crash restarts keep it; one that fails changes nothing" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    start_load "$addr"
    run -0 "$HOTSWAP" reload --control "$HS_CONTROL" -- "$FIXTURE" --listen "$addr" --model threads
    [[ "$output" == *"reload: with a new command line: $FIXTURE --listen $addr --model threads"* ]]
    [[ "$(cmdline_of "$addr")" == *"--model threads "* ]]
    run -0 reload                                   # a plain reload keeps it
    [ "$(generation_of "$addr")" = 3 ]
    [[ "$(cmdline_of "$addr")" == *"--model threads "* ]]
    run -0 status_of --json
    [[ "$output" == *'"command": ["'"$FIXTURE"'", "--listen", "'"$addr"'", "--model", "threads"]'* ]]
    run -1 "$HOTSWAP" reload --control "$HS_CONTROL" -- "$BATS_TEST_TMPDIR/no-such-server" --listen "$addr"
    [[ "$output" == *"cannot start gen 4: No such file or directory; gen 3 keeps serving"* ]]
    [ "$(generation_of "$addr")" = 3 ]
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    # a crash restart runs the command line that served last, not the failed one
    kill -KILL "$(pid_of_answer "$addr")"
    wait_until 10 answers_with_gen "$addr" 4   # (the one that could not start took no number)
    [[ "$(cmdline_of "$addr")" == *"--model threads "* ]]
}

@test "--env-file is read again at each reload: the new generation gets the new values; a malformed line refuses the reload" {
    local addr="127.0.0.1:$(free_port)" envfile="$BATS_TEST_TMPDIR/env"
    printf '# the greeting\nGREETING=one\n\nHOTSWAP_GENERATION=99\n' >"$envfile"
    start_hotswap "$addr" --env-file "$envfile" -- --model epoll
    [ "$(env_of "$addr" GREETING)" = one ]
    [ "$(env_of "$addr" HOTSWAP_GENERATION)" = 1 ]   # hotswap's own variables win
    printf 'GREETING=two words = fine\n' >"$envfile"
    run -0 reload
    [ "$(env_of "$addr" GREETING)" = "two words = fine" ]
    printf 'GREETING=three\nthis is not a variable\n' >"$envfile"
    run -1 reload
    [[ "$output" == *"reload failed: --env-file $envfile line 2: not KEY=VALUE" ]]
    refute grep -q "gen 3" "$HS_LOG"
    [ "$(env_of "$addr" GREETING)" = "two words = fine" ]
}

@test "--env-file that cannot be read at start: one line, exit 1, nothing started" {
    run -1 "$HOTSWAP" --env-file "$BATS_TEST_TMPDIR/missing" -- "$FIXTURE" --listen "127.0.0.1:$(free_port)" --model epoll
    [ "$output" = "hotswap: --env-file $BATS_TEST_TMPDIR/missing: No such file or directory" ]
}

@test "a port the new configuration drops is released once its generation served 2 s alone; one it adds is held" {
    local old="127.0.0.1:$(free_port)" new="127.0.0.1:$(free_port)"
    start_hotswap "$old" -- --model prefork
    # the same configuration: after 2 s, nothing is released
    run -0 reload
    sleep 2.5
    refute grep -q "released" "$HS_LOG"
    answers_with_gen "$old" 2
    # the new configuration listens elsewhere: the new port is held, the old one released
    run -0 "$HOTSWAP" reload --control "$HS_CONTROL" -- "$FIXTURE" --listen "$new" --model prefork
    grep -q "gen 3 pid [0-9]* listens on $new: held" "$HS_LOG"
    answers_with_gen "$new" 3
    wait_until 5 grep -q "listener $old: no process of gen 3 uses it (its configuration no longer binds it): released" \
        "$HS_LOG"
    run -1 "$LOADCLIENT" --connect "$old" --get / --timeout-ms 2000
    [[ "$output" == *"refused"* ]]
    # from now on only the new port is handed over, and it stays
    run -0 reload
    grep -q "gen 4 pid [0-9]* starting (1 listener)" "$HS_LOG"
    answers_with_gen "$new" 4
}

@test "a listener a program took at its hand-over number (a wrapper exec'ing its worker on fd 3) is never released" {
    local addr="127.0.0.1:$(free_port)"
    HS_SERVER=$PATTERN_SERVER start_hotswap "$addr" -- --pattern port0
    # from gen 2 on: bind, move the listener onto fd 3, exec the worker that serves it there
    run -0 "$HOTSWAP" reload --control "$HS_CONTROL" -- "$PATTERN_SERVER" --listen "$addr" --pattern exec-fd3
    run -0 reload
    answers_with_gen "$addr" 3
    sleep 2.5    # past the moment unused listeners are released
    refute grep -q "released" "$HS_LOG"
    answers_with_gen "$addr" 3
}

# ---- --ready notify --------------------------------------------------------------------------
# The fixture's warm-up quirk answers 503 for FIXTURE_WARM_MS after listen, then sends READY=1 to
# $NOTIFY_SOCKET: a request the new generation took before that fails in the load client.

# ready_ms GEN: how long the log says generation GEN took to be ready.
ready_ms() { sed -n "s/.*gen $1 pid [0-9]* ready in \([0-9]*\) ms.*/\1/p" "$HS_LOG" | head -1; }

@test "--ready notify: until READY=1 the old generation serves alone, in every I/O model; 0 failed" {
    local model
    for model in blocking threads thread-pool prefork forking epoll epoll-et epoll-threads poll select; do
        local addr="127.0.0.1:$(free_port)"
        FIXTURE_WARM_MS=1000 start_hotswap "$addr" --ready notify -- --model "$model" --workers 4 --quirk warm-up
        start_load "$addr"
        run -0 reload
        [[ "$output" == *"ok: gen 2 ready in"* ]]
        grep -q "gen 2 pid [0-9]* ready in [0-9]* ms (READY=1 from pid [0-9]*)" "$HS_LOG"
        (($(ready_ms 2) >= 500))   # it waited for READY=1 (at its first accept: a few ms)
        [ "$(generation_of "$addr")" = 2 ]
        stop_load
        [ "$(field failed "$LOAD_SUMMARY")" = 0 ] || { echo "model $model: $LOAD_SUMMARY"; return 1; }
        [ "$(field gens "$LOAD_SUMMARY")" = 1,2 ]
        stop_hotswap
    done
}

@test "--ready accept (the default): a server warming up after listen is taken at its first accept, and clients get its 503s" {
    local addr="127.0.0.1:$(free_port)"
    FIXTURE_WARM_MS=1000 start_hotswap "$addr" -- --model epoll --quirk warm-up
    start_load "$addr"
    run -0 reload
    (($(ready_ms 2) < 1000))
    wait_until 5 answers_with_gen "$addr" 2   # its warm-up over (a 503 has no generation)
    stop_load
    (($(field bad "$LOAD_SUMMARY") > 0))   # what --ready notify spares the clients
}

@test "--ready notify: a generation that never sends READY=1 rolls back at --ready-timeout; 0 failed" {
    local addr="127.0.0.1:$(free_port)" env_file="$BATS_TEST_TMPDIR/env"
    echo FIXTURE_WARM_MS=300 >"$env_file"
    start_hotswap "$addr" --ready notify --ready-timeout 2s --env-file "$env_file" -- --model epoll --quirk warm-up
    start_load "$addr"
    echo FIXTURE_WARM_MS=never >"$env_file"
    run -1 reload
    [[ "$output" == *"not ready within 2000 ms (--ready notify: it never sent READY=1 to NOTIFY_SOCKET)"* ]]
    [ "$(generation_of "$addr")" = 1 ]
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field gens "$LOAD_SUMMARY")" = 1 ]
}

@test "--ready notify: READY=1 from a process outside the generation is ignored, and said once" {
    local addr="127.0.0.1:$(free_port)" env_file="$BATS_TEST_TMPDIR/env"
    echo FIXTURE_WARM_MS=300 >"$env_file"
    start_hotswap "$addr" --ready notify --ready-timeout 3s --env-file "$env_file" -- --model epoll --quirk warm-up
    echo FIXTURE_WARM_MS=never >"$env_file"
    reload >"$BATS_TEST_TMPDIR/reload.out" 2>&1 &
    local reloading=$! pid socket
    wait_until 5 grep -q "gen 2 pid [0-9]* starting" "$HS_LOG"
    pid=$(sed -n 's/.*gen 2 pid \([0-9]*\) starting.*/\1/p' "$HS_LOG")
    wait_until 5 grep -qz '^NOTIFY_SOCKET=@' "/proc/$pid/environ"
    socket=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^NOTIFY_SOCKET=@//p')
    /usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for _ in range(2): s.sendto(b"READY=1\n", "\0" + sys.argv[1])' "$socket"
    local status=0
    wait "$reloading" || status=$?
    [ "$status" -eq 1 ]
    grep -q "never sent READY=1" "$BATS_TEST_TMPDIR/reload.out"
    [ "$(grep -c "gen 2: READY=1 on its NOTIFY_SOCKET from pid [0-9]*, not one of its processes: ignored" "$HS_LOG")" = 1 ]
    [ "$(generation_of "$addr")" = 1 ]
}

@test "--ready notify: an event loop waiting for READY=1 does not spin on its hidden listener while connections wait" {
    # gen 1 stopped and a connection queued: the shared listener stays readable. Had gen 2's
    # level-triggered epoll set held it, each wait would wake at once to an accept() the gate
    # refuses: a busy loop at a whole core for as long as the server warms up.
    local addr="127.0.0.1:$(free_port)" env_file="$BATS_TEST_TMPDIR/env"
    echo FIXTURE_WARM_MS=300 >"$env_file"
    start_hotswap "$addr" --ready notify --ready-timeout 5s --env-file "$env_file" -- --model epoll --quirk warm-up
    local old_pid new_pid
    old_pid=$(pid_of_answer "$addr")
    echo FIXTURE_WARM_MS=never >"$env_file"
    reload >"$BATS_TEST_TMPDIR/reload.out" 2>&1 &
    RELOADING=$!
    wait_until 5 grep -q "fixture: gen 2 pid [0-9]* model epoll listening on" "$HS_LOG"
    new_pid=$(sed -n 's/.*fixture: gen 2 pid \([0-9]*\) model epoll listening on.*/\1/p' "$HS_LOG")
    kill -STOP "$old_pid"
    STOPPED_PID=$old_pid
    get "$addr" / >"$BATS_TEST_TMPDIR/queued.answer" 2>&1 &
    local queued_get=$!
    wait_until 5 queued "$addr" 1
    local busy
    busy=$(busy_percent "$new_pid" 1)
    echo "gen 2 busy ${busy}% of a second before READY=1, a connection queued"
    [ "$busy" -lt 20 ]
    kill -CONT "$old_pid"
    STOPPED_PID=
    wait "$queued_get"
    grep -q "^gen=1 pid=$old_pid" "$BATS_TEST_TMPDIR/queued.answer"   # taken by gen 1, after all
    wait "$RELOADING" || true
    grep -q "never sent READY=1" "$BATS_TEST_TMPDIR/reload.out"
}

@test "--ready with a bad value: one line, exit 64" {
    run -64 "$HOTSWAP" --ready maybe -- true
    [ "$output" = "hotswap: --ready: 'maybe' is not a readiness (accept, notify) (see hotswap --help)" ]
}

# ---- --keep-old and hotswap rollback ---------------------------------------------------------

rollback() { "$HOTSWAP" rollback --control "$HS_CONTROL"; }

@test "--keep-old: reload, then hotswap rollback under load, in every I/O model: the old processes serve again; 0 failed" {
    local model
    for model in blocking threads thread-pool prefork forking epoll epoll-et epoll-threads poll select; do
        local addr="127.0.0.1:$(free_port)" old_pid
        start_hotswap "$addr" --keep-old 30s -- --model "$model" --workers 4
        old_pid=$(pid_of_answer "$addr")
        start_load "$addr"
        run -0 reload
        [[ "$output" == *"ok: gen 2 ready in"*"gen 1 drained "*", parked for 30000 ms (hotswap rollback brings it back); kernel: "* ]]
        [ "$(generation_of "$addr")" = 2 ]
        run -0 status_of
        [[ "$output" == *"gen 1 parked: "*" left for hotswap rollback"* ]]
        run -0 rollback
        [[ "$output" == "ok: gen 1 serves again (re-armed after "*" ms parked); gen 2 drains" ]]
        wait_until 5 answers_with_gen "$addr" 1
        wait_until 10 grep -q "gen 2 pid [0-9]* killed by signal 15" "$HS_LOG"
        [ "$(generation_of "$addr")" = 1 ]
        [ "$(pid_of_answer "$addr")" = "$old_pid" ] || [ "$model" = forking ] || [ "$model" = prefork ]
        stop_load
        [ "$(field failed "$LOAD_SUMMARY")" = 0 ] || { echo "model $model: $LOAD_SUMMARY"; return 1; }
        [ "$(field gens "$LOAD_SUMMARY")" = 1,2 ]
        stop_hotswap
    done
}

@test "--keep-old: a new generation that dies while the old one is parked brings it back at once, not a cold restart" {
    local addr="127.0.0.1:$(free_port)" old_pid new_pid
    start_hotswap "$addr" --keep-old 30s -- --model epoll
    old_pid=$(pid_of_answer "$addr")
    start_load "$addr"
    run -0 reload
    new_pid=$(pid_of_answer "$addr")
    kill -KILL "$new_pid"
    wait_until 5 grep -q "gen 2 pid $new_pid killed by signal 9 (Killed): gen 1, parked, serves again" "$HS_LOG"
    wait_until 5 answers_with_gen "$addr" 1
    [ "$(pid_of_answer "$addr")" = "$old_pid" ]
    refute grep -q "restarting in" "$HS_LOG"
    run -0 status_of --json
    [[ "$output" == *'"serving": 1,'* ]]
    stop_load
    # only what the killed process held can have failed
    (($(field failed "$LOAD_SUMMARY") <= 8))
}

@test "--keep-old: the parked generation is stopped when its time is up; rollback then says there is nothing to roll back to" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --keep-old 1s -- --model threads
    run -0 reload
    [[ "$output" == *"parked for 1000 ms (hotswap rollback brings it back); kernel: "* ]]
    wait_until 5 grep -q "gen 1 parked for [0-9]* ms, and no rollback came: stopping it" "$HS_LOG"
    wait_until 5 grep -q "gen 1 pid [0-9]* killed by signal 15" "$HS_LOG"
    run -1 rollback
    [ "$output" = "hotswap: rollback failed: no parked generation to roll back to (none has drained since the last reload, or its --keep-old time is up)" ]
    [ "$(generation_of "$addr")" = 2 ]
}

@test "hotswap rollback without --keep-old: one clear line, exit 1, nothing changes" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    run -0 reload
    run -1 rollback
    [ "$output" = "hotswap: rollback failed: no parked generation to roll back to: run the launcher with --keep-old DUR to keep the old one after each reload" ]
    [ "$(generation_of "$addr")" = 2 ]
}

@test "--keep-old: a pool of threads waiting in poll(), rolled back while idle: every thread serves again" {
    # each thread's poll() waits on the dummy's file; the re-arm puts the listener back on the
    # number, but a poll() already asleep waits on the files it found at its start: the thread
    # the re-arm ran in comes back, the others only if a signal sends them back. 4 slow requests
    # at once: 4 threads answer them together, 1 thread one after the other (past the timeout).
    local addr="127.0.0.1:$(free_port)" old_pid i
    start_hotswap "$addr" --keep-old 30s -- --model poll-pool --workers 4 --slow-ms 1500
    old_pid=$(pid_of_answer "$addr")
    run -0 reload
    run -0 rollback
    wait_until 10 grep -q "gen 2 pid [0-9]* .*after the stop" "$HS_LOG"
    local pids=()
    for i in 1 2 3 4; do
        "$LOADCLIENT" --connect "$addr" --get /slow --timeout-ms 3500 >"$BATS_TEST_TMPDIR/slow.$i" 2>&1 &
        pids+=($!)
    done
    for i in 1 2 3 4; do
        wait "${pids[$((i - 1))]}" || { cat "$BATS_TEST_TMPDIR/slow.$i"; false; }
        grep -q "^gen=1 pid=$old_pid" "$BATS_TEST_TMPDIR/slow.$i"
    done
}

@test "--keep-old: a thread-pool server rolled back while idle answers the next request (its waits woken on the listener)" {
    # its 4 threads wait on the dummy; the re-arm's knock wakes them, and poll() then looks at the
    # listener with nothing queued and sleeps on the dummy alone: only a signal sends them back
    local addr="127.0.0.1:$(free_port)" old_pid
    start_hotswap "$addr" --keep-old 30s -- --model thread-pool --workers 4
    old_pid=$(pid_of_answer "$addr")
    run -0 reload
    run -0 rollback
    wait_until 10 grep -q "gen 2 pid [0-9]* .*after the stop" "$HS_LOG"
    run -0 "$LOADCLIENT" --connect "$addr" --get / --timeout-ms 3000
    [[ "$output" == "gen=1 pid=$old_pid"* ]]
}
