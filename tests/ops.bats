#!/usr/bin/env bats
# Operating a running launcher: hotswap status (table and JSON), hotswap reload's phases,
# hotswap stop, and a control socket that refuses what is not a request.

load helpers
bats_require_minimum_version 1.5.0

setup_file() { require_tool jq jq; require_tool python3 python3; }

teardown() { teardown_hotswap; }

# row GEN: the status table's row for generation GEN.
row() { status_of | awk -v gen="$1" '$1 == gen'; }

# json_is FILTER VALUE: `hotswap status --json | jq FILTER` prints VALUE.
json_is() { [[ "$(status_of --json | jq -r "$1")" == "$2" ]]; }

gen_row_has() { [[ "$(row "$1")" =~ $2 ]]; }

# control_raw BYTES [with-fd]: sends one raw message to the control socket (BYTES: a Python
# bytes expression), with an fd attached if asked; prints each reply message on a line.
control_raw() {
    python3 - "$HS_CONTROL" "$1" "${2:-}" <<'PY'
import os, socket, sys
path, payload, with_fd = sys.argv[1], eval(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
if with_fd:
    socket.send_fds(s, [payload], [os.open("/dev/null", os.O_RDONLY)])
else:
    s.send(payload)
while True:
    reply = s.recv(4096)
    if not reply:
        break
    sys.stdout.write(reply.decode(errors="replace") + "\n")
PY
}

@test "status: generations, pids, state, ready time, connections, listeners, uptime, last reload" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model threads
    local pid
    pid=$(pid_of_answer "$addr")
    hold_request_open "$addr"
    wait_until 5 gen_row_has 1 ' 1 +preload$'     # the held request is one open connection
    run status_of
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" =~ ^"hotswap pid $HS_PID: running, up "[0-9]+(ms|s)"; restart on-failure"$ ]]
    [[ "$output" == *"control: $HS_CONTROL"* ]]
    [[ "$output" == *"listeners: $addr (gen 1)"* ]]
    [[ "$output" == *"last reload: none"* ]]
    [[ "$output" =~ "GEN  STATE     PID      PROCS  READY IN  UP       CONNS  ROUTE" ]]
    [[ "$(row 1)" =~ ^1\ +serving\ +$pid\ +1\ +[0-9]+\ ms\ +[0-9]+(ms|s)\ +1\ +preload$ ]]

    # a reload while it is in flight: gen 1 drains with its connection, gen 2 serves
    reload >"$BATS_TEST_TMPDIR/reload.out" &
    local reloading=$!
    wait_until 5 gen_row_has 1 '^1 +draining +[0-9]+ +1 .* 1 +preload$'
    [[ "$(row 2)" =~ ^2\ +serving\ + ]]
    [[ "$(finish_held_request)" == *"gen=1 "* ]]
    wait "$reloading"
    run status_of
    echo "$output"
    [[ "$output" =~ "last reload: ok "[0-9]+(ms|s)" ago: gen 2 ready in "[0-9]+" ms; gen 1 drained" ]]
    [[ "$(row 2)" =~ ^2\ +serving\ +[0-9]+\ +1\ +[0-9]+\ ms\ +[0-9]+(ms|s)\ +0\ +preload$ ]]
    [ -z "$(row 1)" ]   # gone, and forgotten
}

@test "status --json: one valid JSON object with the same facts" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model prefork --workers 3
    hold_request_open "$addr"
    wait_until 5 json_is '.generations[0].connections' 1
    local json="$BATS_TEST_TMPDIR/status.json"
    status_of --json >"$json"
    cat "$json"
    /usr/bin/python3 -m json.tool "$json" >/dev/null   # valid JSON, by a second parser
    [ "$(jq -r '.launcher.pid' "$json")" = "$HS_PID" ]
    [ "$(jq -r '.launcher.state' "$json")" = running ]
    [ "$(jq -r '.launcher.control' "$json")" = "$HS_CONTROL" ]
    [ "$(jq -r '.launcher.restart_policy' "$json")" = on-failure ]
    [ "$(jq -r '.launcher.uptime_ms | type' "$json")" = number ]
    [ "$(jq -r '.serving' "$json")" = 1 ]
    [ "$(jq -r '.last_reload' "$json")" = null ]
    [ "$(jq -r '.listeners | length' "$json")" = 1 ]
    [ "$(jq -r '.listeners[0].address' "$json")" = "$addr" ]
    [ "$(jq -r '.listeners[0].from_generation' "$json")" = 1 ]
    [ "$(jq -r '.generations | length' "$json")" = 1 ]
    [ "$(jq -r '.generations[0] | "\(.number) \(.state) \(.serving) \(.processes)"' "$json")" = "1 serving true 4" ]
    [ "$(jq -r '.generations[0].pids | length' "$json")" = 4 ]   # the master and 3 workers
    [ "$(jq -r '.generations[0].ready_in_ms | type' "$json")" = number ]
    [ "$(jq -r '.generations[0].connections' "$json")" = 1 ]
    [[ "$(finish_held_request)" == *"gen=1 "* ]]

    run reload
    [ "$status" -eq 0 ]
    status_of --json >"$json"
    /usr/bin/python3 -m json.tool "$json" >/dev/null
    [ "$(jq -r '.serving' "$json")" = 2 ]
    [ "$(jq -r '.last_reload.ok' "$json")" = true ]
    [[ "$(jq -r '.last_reload.text' "$json")" == "gen 2 ready in "* ]]
}

@test "hotswap reload shows each phase as it happens: starting, ready, draining with connections falling, done" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model threads
    local old
    old=$(pid_of_answer "$addr")
    # two requests held half sent, completed one at a time once the reload shows each step: a shim
    # sends a count other than 0 at most every 20 ms, so two ends close together (or one close to
    # the drain's own start) could show as one step
    local first second out="$BATS_TEST_TMPDIR/reload.out"
    exec {first}<>"/dev/tcp/127.0.0.1/${addr##*:}" {second}<>"/dev/tcp/127.0.0.1/${addr##*:}"
    printf 'GET / HTTP/1.0\r\n' >&"$first"
    printf 'GET / HTTP/1.0\r\n' >&"$second"
    wait_until 5 gen_row_has 1 ' 2 +preload$'
    reload >"$out" &
    local reloading=$!
    wait_until 10 grep -q "^gen 1 draining: 2 connections open$" "$out"
    printf '\r\n' >&"$first"
    wait_until 10 grep -q "^gen 1 draining: 1 connection open$" "$out"
    printf '\r\n' >&"$second"
    wait "$reloading"
    exec {first}<&- {second}<&-
    output=$(cat "$out")
    mapfile -t lines <"$out"
    echo "$output"
    # in this order, one line each
    local starting ready draining falling drained done
    starting=$(grep -n "^gen 2 pid [0-9]* starting (1 listener)$" <<<"$output" | cut -d: -f1)
    ready=$(grep -En "^gen 2 pid [0-9]+ ready in [0-9]+ ms" <<<"$output" | cut -d: -f1)
    draining=$(grep -n "^gen 1 pid $old draining (timeout 30000 ms)$" <<<"$output" | cut -d: -f1)
    falling=$(grep -n "^gen 1 draining: 1 connection open$" <<<"$output" | cut -d: -f1)
    drained=$(grep -En "^gen 1 drained [0-9]+ connections in [0-9]+ ms$" <<<"$output" | cut -d: -f1)
    done=$(grep -En "^ok: gen 2 ready in [0-9]+ ms; gen 1 drained" <<<"$output" | cut -d: -f1)
    ((starting < ready && ready < draining && draining < falling && falling < drained && drained < done))
    # the count as it was before it fell to 1
    grep -Eq "^gen 1 draining: [2-9] connections open$" <<<"$output"
    [ "$done" -eq "${#lines[@]}" ]
}

@test "hotswap reload exits non-zero on a rollback, and status says the last reload failed" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/break"
    start_hotswap "$addr" -- --model epoll --fail-if-exists "$trigger"
    touch "$trigger"
    run reload
    [ "$status" -eq 1 ]
    [[ "$output" == *"hotswap: reload failed: gen 2 exited before it was ready (status 1); gen 1 keeps serving"* ]]
    run status_of
    [[ "$output" =~ "last reload: failed "[0-9]+(ms|s)" ago: gen 2 exited before it was ready (status 1); gen 1 keeps serving" ]]
    json_is '.last_reload.ok' false
    json_is '.serving' 1
}

@test "hotswap stop: drains, says so, the launcher exits 0" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    run "$HOTSWAP" stop --control "$HS_CONTROL"
    [ "$status" -eq 0 ]
    [[ "$output" == *"ok: stopped"* ]]
    local code=0
    wait "$HS_PID" || code=$?
    HS_PID=
    [ "$code" -eq 0 ]
}

@test "status of a launcher that is not running: one line, exit 69" {
    run "$HOTSWAP" status --control "$BATS_TEST_TMPDIR/nobody.sock"
    [ "$status" -eq 69 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "hotswap: cannot reach a launcher at $BATS_TEST_TMPDIR/nobody.sock: No such file or directory" ]]
    run "$HOTSWAP" status --json --pid 4194303
    [ "$status" -eq 69 ]
    [ "${#lines[@]}" -eq 1 ]
}

@test "reload, status without --pid or --control: the one launcher running here, or a clear error" {
    export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
    mkdir -p -m 700 "$XDG_RUNTIME_DIR"
    run "$HOTSWAP" status
    [ "$status" -eq 69 ]
    [ "$output" = "hotswap: no running launcher found in $XDG_RUNTIME_DIR/hotswap (give --pid PID or --control PATH)" ]
    local addr="127.0.0.1:$(free_port)" addr2="127.0.0.1:$(free_port)"
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    "$HOTSWAP" -- "$FIXTURE" --listen "$addr" --model epoll 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    run "$HOTSWAP" reload
    [ "$status" -eq 0 ]
    [[ "$output" == *"ok: gen 2 ready in"* ]]
    [ "$(generation_of "$addr")" = 2 ]
    # a second launcher: which one is meant must be said
    "$HOTSWAP" -- "$FIXTURE" --listen "$addr2" --model epoll 2>/dev/null &
    local second=$!
    wait_until 10 answers_with_gen "$addr2" 1
    run "$HOTSWAP" status
    [ "$status" -eq 64 ]
    [[ "$output" == "hotswap: 2 launchers run here (pids "*"): say which with --pid PID" ]]
    [[ "$output" == *"$HS_PID"* && "$output" == *"$second"* ]]
    kill -TERM "$second"
    wait "$second" || true
}

@test "status: bad usage is one line and exit 64" {
    run "$HOTSWAP" reload --json --control x
    [ "$status" -eq 64 ]
    [[ "$output" == "hotswap: --json is for 'hotswap status' (see hotswap --help)" ]]
    run "$HOTSWAP" status --restart always --control x
    [ "$status" -eq 64 ]
}

@test "--help lists status, --json, --prometheus, --restart and --restart-max-backoff" {
    run "$HOTSWAP" --help
    [ "$status" -eq 0 ]
    for word in "hotswap status [--json | --prometheus]" --json --prometheus "--restart POLICY" "--restart-max-backoff DUR" NOTIFY_SOCKET LISTEN_FDS; do
        [[ "$output" == *"$word"* ]] || { echo "missing: $word"; return 1; }
    done
}

@test "the control socket is the owner's alone: another user cannot reach it" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    [ "$(stat -c '%a %U' "$HS_CONTROL")" = "700 root" ] || [ "$(stat -c '%a %U' "$HS_CONTROL")" = "600 root" ]
    run setpriv --reuid 65534 --regid 65534 --clear-groups "$HOTSWAP" reload --control "$HS_CONTROL"
    [ "$status" -eq 69 ]
    [[ "$output" == *"Permission denied"* ]]
    [ "$(generation_of "$addr")" = 1 ]
}

@test "malformed and oversized control messages get an error reply and change nothing" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    local before
    before=$(pid_of_answer "$addr")

    run control_raw 'b"r" * 100000'
    [[ "$output" == "!request too long (100000 bytes; at most 63)" ]]
    run control_raw 'b"reload" * 11'
    [[ "$output" == "!request too long (66 bytes; at most 63)" ]]
    run control_raw 'b"\0\xffreload"'
    [[ "$output" == "!malformed request: not printable text" ]]
    run control_raw 'b"reload\n"'
    [[ "$output" == "!malformed request: not printable text" ]]
    run control_raw 'b"reload"' with-fd
    [[ "$output" == "!malformed request: file descriptors or other ancillary data are not accepted" ]]
    run control_raw 'b"reboot"'
    [[ "$output" == "!unknown request (expected 'reload', 'stop', 'rollback', 'status', 'status json' or 'status prometheus')" ]]
    run control_raw 'b"status jsonx"'
    [[ "$output" == "!unknown request"* ]]
    run control_raw 'b"status"'   # the raw protocol, for the record: the table, then an empty "ok"
    [[ "${lines[0]}" == "=hotswap pid $HS_PID: running"* ]]
    [[ "${lines[-1]}" == "+" ]]

    # nothing changed: the same process answers, no reload was started, the launcher still talks
    [ "$(pid_of_answer "$addr")" = "$before" ]
    refute grep -q "reload: starting" "$HS_LOG"
    json_is '.last_reload' null
    json_is '.generations | length' 1
    # and a well-formed request after all that works
    run reload
    [ "$status" -eq 0 ]
    [ "$(generation_of "$addr")" = 2 ]
}

# ---- what the kernel saw during a reload -------------------------------------------------------

@test "each reload says what the kernel saw: no overflow or drop under load, in its line and in status --json" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    start_load "$addr"
    run -0 reload
    [[ "$output" == *"; kernel: 0 listen overflows, 0 listen drops, "*" sent (the whole network namespace's counters, other traffic included); accept queue peak $addr "*/128 ]]
    grep -q "reload done: gen 2 ready in .*; kernel: 0 listen overflows" "$HS_LOG"
    json_is '.last_reload.kernel.may_have_dropped' false
    json_is '.last_reload.kernel.listen_overflows' 0
    json_is '.last_reload.kernel.accept_queue_peaks[0].limit' 128
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
}

@test "a reload during which the accept queue overflowed says connections may have been dropped" {
    local addr="127.0.0.1:$(free_port)" old_pid
    start_hotswap "$addr" -- --model epoll
    old_pid=$(pid_of_answer "$addr")
    # the next generation takes 2 s to start; meanwhile gen 1 accepts nothing and 300 clients come
    "$HOTSWAP" reload --control "$HS_CONTROL" -- sh -c "sleep 2; exec '$FIXTURE' --listen $addr --model epoll" \
        >"$BATS_TEST_TMPDIR/reload.out" 2>&1 &
    local reloading=$!
    kill -STOP "$old_pid"
    STOPPED_PID=$old_pid
    /usr/bin/python3 -c 'import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
clients = [socket.socket() for _ in range(300)]
for c in clients:
    c.setblocking(False)
    c.connect_ex((host, int(port)))
time.sleep(1)' "$addr"
    kill -CONT "$old_pid"
    STOPPED_PID=
    wait "$reloading"
    grep -q "; kernel: [1-9][0-9]* listen overflows\{0,1\}, [1-9][0-9]* listen drops\{0,1\}: connections may have been dropped" \
        "$BATS_TEST_TMPDIR/reload.out"
    grep -Eq "accept queue peak $addr (129|128)/128" "$BATS_TEST_TMPDIR/reload.out"
    json_is '.last_reload.kernel.may_have_dropped' true
}

# exposition_ok FILE: the Prometheus text format's rules, checked here (promtool checks them too
# where Debian's prometheus package installs): every sample's family has HELP and TYPE first,
# names and labels are well formed, values are numbers, a histogram's buckets are cumulative
# and end with +Inf equal to its _count.
exposition_ok() {
    awk '
        /^# HELP / { help[$3] = 1; next }
        /^# TYPE / { if (!help[$3]) { print "TYPE before HELP: " $3; bad = 1 } type[$3] = $4; next }
        /^#/ { next }
        {
            if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*",?)*\})? [-+0-9.eE]+$/) { print "bad line: " $0; bad = 1; next }
            name = $1; sub(/\{.*/, "", name); family = name
            sub(/_(bucket|sum|count)$/, "", family)
            if (!(name in type) && !(family in type)) { print "no TYPE for " name; bad = 1 }
            if (name ~ /_bucket$/) {
                if ($2 + 0 < last[family]) { print "buckets not cumulative: " $0; bad = 1 }
                last[family] = $2 + 0
                if ($0 ~ /le="\+Inf"/) inf[family] = $2
            }
            if (name ~ /_count$/ && (family in inf) && inf[family] != $2) { print "+Inf != _count: " family; bad = 1 }
        }
        END { exit bad }' "$1"
}

@test "status --prometheus: the text exposition format (promtool agrees); reloads counted by outcome, durations as histograms" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/fail"
    start_hotswap "$addr" --check "test ! -e $trigger" -- --model epoll --fail-if-exists "$trigger.start"
    run -0 reload                                # ok
    touch "$trigger"
    run -1 reload                                # refused: the check fails
    rm "$trigger"
    touch "$trigger.start"
    run -1 reload                                # failed: the new generation exits at start
    run -0 status_of --prometheus
    echo "$output" >"$BATS_TEST_TMPDIR/metrics.txt"
    exposition_ok "$BATS_TEST_TMPDIR/metrics.txt"
    [[ "$output" == *'hotswap_reloads_total{outcome="ok"} 1'* ]]
    [[ "$output" == *'hotswap_reloads_total{outcome="failed"} 1'* ]]
    [[ "$output" == *'hotswap_reloads_total{outcome="refused"} 1'* ]]
    [[ "$output" == *'hotswap_reload_duration_seconds_count 2'* ]]
    [[ "$output" == *'hotswap_drain_duration_seconds_count 1'* ]]
    [[ "$output" == *'hotswap_serving_generation 2'* ]]
    [[ "$output" == *'hotswap_generations{state="serving"} 1'* ]]
    [[ "$output" == *'hotswap_connections{generation="2",state="serving"} '* ]]
    if command -v promtool >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } >/dev/null 2>&1; then
        run -0 promtool check metrics <"$BATS_TEST_TMPDIR/metrics.txt"
        [ -z "$output" ]   # not even a lint warning
    fi
}

@test "status --prometheus and --json together: one line, exit 64" {
    run -64 "$HOTSWAP" status --json --prometheus
    [ "$output" = "hotswap: give --json or --prometheus, not both (see hotswap --help)" ]
}
