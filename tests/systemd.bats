#!/usr/bin/env bats
# systemd: Type=notify (a datagram socket stands in for NOTIFY_SOCKET) and socket activation
# (Debian's systemd-socket-activate passes the listener to hotswap itself).

load helpers

NOTIFY="$ROOT/$BUILD/notify-socket"

setup_file() { require_tool systemd-socket-activate systemd; }

teardown() {
    if [[ -n "${ACTIVATE_PID:-}" ]] && process_running "$ACTIVATE_PID"; then
        kill -TERM "$ACTIVATE_PID" 2>/dev/null || true
        wait_until 20 process_gone "$ACTIVATE_PID" || kill -KILL "$ACTIVATE_PID" 2>/dev/null || true
    fi
    [[ -n "${NOTIFY_PID:-}" ]] && kill -TERM "$NOTIFY_PID" 2>/dev/null
    teardown_hotswap
}

# listen_for_notify [@NAME]: the stand-in service manager; what it hears goes to HEARD.
listen_for_notify() {
    NOTIFY_SOCKET_PATH=${1:-$BATS_TEST_TMPDIR/notify.sock}
    HEARD="$BATS_TEST_TMPDIR/heard"
    : >"$HEARD"
    "$NOTIFY" "$NOTIFY_SOCKET_PATH" "$HEARD" &
    NOTIFY_PID=$!
    if [[ "$NOTIFY_SOCKET_PATH" == @* ]]; then
        wait_until 5 grep -q "@${NOTIFY_SOCKET_PATH#@}" /proc/net/unix
    else
        wait_until 5 test -S "$NOTIFY_SOCKET_PATH"
    fi
}

heard() { grep -qx -- "$1" "$HEARD"; }

# line_of TEXT [AFTER]: the number of the first line of HEARD that is TEXT, after line AFTER.
line_of() { awk -v text="$1" -v after="${2:-0}" 'NR > after && $0 == text { print NR; exit }' "$HEARD"; }

@test "Type=notify: READY=1 with MAINPID= when generation 1 is ready, and STATUS=" {
    local addr="127.0.0.1:$(free_port)"
    listen_for_notify
    NOTIFY_SOCKET="$NOTIFY_SOCKET_PATH" start_hotswap "$addr" -- --model epoll
    wait_until 5 heard "READY=1"
    heard "MAINPID=$HS_PID"
    heard "STATUS=gen 1 serving, 1 listener"
}

@test "a reload, by SIGHUP or by hotswap reload, is RELOADING=1 with MONOTONIC_USEC=, then READY=1" {
    local addr="127.0.0.1:$(free_port)"
    listen_for_notify
    NOTIFY_SOCKET="$NOTIFY_SOCKET_PATH" start_hotswap "$addr" -- --model epoll
    wait_until 5 heard "READY=1"
    kill -HUP "$HS_PID"
    wait_until 10 heard "STATUS=gen 2 serving, 1 listener"
    run reload
    [ "$status" -eq 0 ]
    wait_until 10 heard "STATUS=gen 3 serving, 1 listener"
    cat "$HEARD"
    local first_ready reloading second_ready reloading_again third_ready
    first_ready=$(line_of "READY=1")
    reloading=$(line_of "RELOADING=1" "$first_ready")
    second_ready=$(line_of "READY=1" "$reloading")
    reloading_again=$(line_of "RELOADING=1" "$second_ready")
    third_ready=$(line_of "READY=1" "$reloading_again")
    [[ -n "$third_ready" ]]
    # each RELOADING=1 carries the time, on CLOCK_MONOTONIC (the clock /proc/uptime counts)
    local usec now_usec
    usec=$(sed -n "$((reloading + 1))p" "$HEARD")
    [[ "$usec" =~ ^MONOTONIC_USEC=([0-9]+)$ ]]
    now_usec=$(awk '{ printf "%.0f", $1 * 1000000 }' /proc/uptime)   # (%d stops at 2^31: 36 min of uptime)
    ((now_usec - BASH_REMATCH[1] < 60000000 && BASH_REMATCH[1] - now_usec < 1000000))
    [[ "$(sed -n "$((reloading_again + 1))p" "$HEARD")" =~ ^MONOTONIC_USEC=[0-9]+$ ]]
}

@test "a reload that rolls back is followed by READY=1 too, with the reason in STATUS=" {
    local addr="127.0.0.1:$(free_port)" trigger="$BATS_TEST_TMPDIR/break"
    listen_for_notify
    NOTIFY_SOCKET="$NOTIFY_SOCKET_PATH" start_hotswap "$addr" -- --model epoll --fail-if-exists "$trigger"
    wait_until 5 heard "READY=1"
    touch "$trigger"
    run reload
    [ "$status" -ne 0 ]
    wait_until 5 heard "STATUS=reload failed: gen 2 exited before it was ready (status 1); gen 1 keeps serving"
    local reloading
    reloading=$(line_of "RELOADING=1")
    [[ -n "$(line_of "READY=1" "$reloading")" ]]
}

@test "stopping is STOPPING=1" {
    local addr="127.0.0.1:$(free_port)"
    listen_for_notify
    NOTIFY_SOCKET="$NOTIFY_SOCKET_PATH" start_hotswap "$addr" -- --model epoll
    wait_until 5 heard "READY=1"
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    wait_until 5 heard "STOPPING=1"
}

@test "an abstract NOTIFY_SOCKET (@name) works" {
    local addr="127.0.0.1:$(free_port)"
    listen_for_notify "@hotswap-test-$$-$RANDOM"
    NOTIFY_SOCKET="$NOTIFY_SOCKET_PATH" start_hotswap "$addr" -- --model epoll
    wait_until 5 heard "READY=1"
    heard "MAINPID=$HS_PID"
}

@test "the generations do not see NOTIFY_SOCKET: only the launcher talks to the service manager" {
    local addr="127.0.0.1:$(free_port)"
    listen_for_notify
    NOTIFY_SOCKET="$NOTIFY_SOCKET_PATH" start_hotswap "$addr" -- --model prefork
    local pid
    pid=$(pid_of_answer "$addr")
    grep -qz '^HOTSWAP_GENERATION=1$' "/proc/$pid/environ"   # (the right process)
    refute grep -qz '^NOTIFY_SOCKET=' "/proc/$pid/environ"
    run reload
    pid=$(pid_of_answer "$addr")
    refute grep -qz '^NOTIFY_SOCKET=' "/proc/$pid/environ"
}

@test "a NOTIFY_SOCKET that is not a socket address: one line, and the launcher runs on" {
    local addr="127.0.0.1:$(free_port)"
    NOTIFY_SOCKET="relative/path" start_hotswap "$addr" -- --model epoll
    grep -q "NOTIFY_SOCKET='relative/path' is not a socket path or @abstract name: not notifying" "$HS_LOG"
}

# start_activated ADDR fixture-args...: systemd-socket-activate listens on ADDR and starts the
# launcher (same pid) at the first connection; ACTIVATE_PID is that pid.
start_activated() {
    local addr=$1; shift
    HS_ADDR=$addr
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    local pass_env=()   # it starts its command with a clean environment; the sanitizers' options go on
    for var in ASAN_OPTIONS UBSAN_OPTIONS; do [[ -n "${!var:-}" ]] && pass_env+=(-E "$var"); done
    systemd-socket-activate -l "$addr" "${pass_env[@]}" "$HOTSWAP" --control "$HS_CONTROL" -- "$FIXTURE" \
        --listen "$addr" "$@" 2>"$HS_LOG" &
    ACTIVATE_PID=$!
    wait_until 5 grep -q "Listening on $addr as 3" "$HS_LOG"
}

# listening_sockets PORT: how many sockets listen on 127.0.0.1:PORT (from /proc/net/tcp).
listening_sockets() { grep -ci "^ *[0-9]*: 0100007F:$(printf %04X "$1") 00000000:0000 0A " /proc/net/tcp; }

# socket_inode FD PID: the inode of a socket fd.
socket_inode() { readlink "/proc/$2/fd/$1" | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p'; }

@test "socket activation: the listener systemd passes to hotswap is the one every generation serves" {
    local port
    port=$(free_port)
    local addr="127.0.0.1:$port"
    start_activated "$addr" --model epoll
    # the first request is queued in systemd's socket before hotswap, let alone gen 1, exists
    run get "$addr"
    [ "$status" -eq 0 ]
    [[ "$output" == "gen=1 pid="* ]]
    HS_PID=$ACTIVATE_PID   # systemd-socket-activate exec'd hotswap: same pid
    grep -q "socket activation: holding $addr (fd 3) from the service manager" "$HS_LOG"
    # one socket listens on the port, the launcher's fd 3: the server's bind() took it
    [ "$(listening_sockets "$port")" -eq 1 ]
    local inode
    inode=$(socket_inode 3 "$HS_PID")
    grep -qi " 0100007F:$(printf %04X "$port") 00000000:0000 0A .* $inode " /proc/net/tcp
    run status_of
    [[ "$output" == *"listeners: $addr (socket activation)"* ]]

    # reloads under load: zero failures, the same socket throughout
    start_load "$addr"
    for gen in 2 3 4; do
        run reload
        [ "$status" -eq 0 ]
        [ "$(generation_of "$addr")" = "$gen" ]
    done
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(listening_sockets "$port")" -eq 1 ]
    [ "$(socket_inode 3 "$HS_PID")" = "$inode" ]
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    ACTIVATE_PID=
}

@test "socket activation: LISTEN_PID of another process is ignored, and the variables are not passed on" {
    local addr="127.0.0.1:$(free_port)"
    LISTEN_FDS=1 LISTEN_PID=1 LISTEN_FDNAMES=web start_hotswap "$addr" -- --model epoll
    grep -q "socket activation: LISTEN_PID=1 is not this process ($HS_PID): ignored" "$HS_LOG"
    local pid
    pid=$(pid_of_answer "$addr")
    refute grep -qz '^LISTEN_' "/proc/$pid/environ"   # nothing held before gen 1 listened: none passed
    run reload
    pid=$(pid_of_answer "$addr")
    # the launcher's own hand-over, to gen 2: under its private names, not systemd's
    grep -qz '^HOTSWAP_LISTEN_FDS=1$' "/proc/$pid/environ"
    grep -qz "^HOTSWAP_PID=$pid$" "/proc/$pid/environ"
    refute grep -qz '^LISTEN_' "/proc/$pid/environ"
}

@test "--socket-activation: each generation also gets LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --socket-activation -- --model epoll
    run reload
    local pid
    pid=$(pid_of_answer "$addr")
    grep -qz '^LISTEN_FDS=1$' "/proc/$pid/environ"
    grep -qz "^LISTEN_PID=$pid$" "/proc/$pid/environ"
    grep -qz '^LISTEN_FDNAMES=hotswap$' "/proc/$pid/environ"
}

# own_lines: what systemd-analyze said of the units under test, without what it said of the host's
# own units it loaded on the way (a package's unit with a bad line is not ours to judge)
own_lines() { grep -Ev '^(/usr)?/lib/systemd/(system|user)/|^/etc/systemd/(system|user)/|^/run/systemd/' || true; }

@test "the example units are there: docs/hotswap.service (Type=notify) and docs/hotswap.socket" {
    grep -qx "Type=notify" "$ROOT/docs/hotswap.service"
    grep -qx "NotifyAccess=main" "$ROOT/docs/hotswap.service"
    grep -q "^ExecReload=" "$ROOT/docs/hotswap.service"
    grep -q "^ListenStream=" "$ROOT/docs/hotswap.socket"
    if command -v systemd-analyze >/dev/null; then
        # the syntax of both, as systemd reads it (the binaries' absence is not this test's concern)
        run systemd-analyze verify "$ROOT/docs/hotswap.socket" "$ROOT/docs/hotswap.service"
        echo "$output"
        refute grep -Ei "unknown (key|section)|failed to parse|invalid" <<<"$(own_lines <<<"$output")"
    fi
}

@test "the example units (docs/hotswap.service, docs/hotswap.socket) pass systemd-analyze verify without a word" {
    require_tool systemd-analyze systemd
    local dir="$BATS_TEST_TMPDIR/units"
    mkdir -p "$dir"
    # as the comments say to install them: one name for both, the paths of a real install
    sed "s|/usr/local/bin/hotswap|$HOTSWAP|g; s|/usr/local/bin/myapp|/bin/true|g" "$ROOT/docs/hotswap.service" \
        >"$dir/myapp.service"
    cp "$ROOT/docs/hotswap.socket" "$dir/myapp.socket"
    run systemd-analyze verify --man=no "$dir/myapp.socket" "$dir/myapp.service"
    [ "$status" -eq 0 ]
    [ -z "$(own_lines <<<"$output")" ] || { echo "$output"; false; }
    # and it does speak up: the same unit with a kill mode systemd does not know
    sed -i 's/^KillMode=mixed/KillMode=sideways/' "$dir/myapp.service"
    run systemd-analyze verify --man=no "$dir/myapp.socket" "$dir/myapp.service"
    [[ "$output" == *"Failed to parse kill mode specification"* ]]
}
