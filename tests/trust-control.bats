#!/usr/bin/env bats
# Trust at the operator's end: names a server chooses (a Unix path, a command line) are escaped in
# everything an operator reads (the log, status, --json, --prometheus, hotswap try, the client's
# own output), and the control socket stands up to requests and sockets that are not what they
# should be (a request past the buffer, a socket whose owner never accepts, a default directory
# someone else could write).

load helpers
bats_require_minimum_version 1.5.0

# A uid nobody on this machine uses: the client runs as it to see /tmp/hotswap-UID.
OTHER_UID=54321

setup_file() { require_tool jq jq; require_tool python3 python3; }

teardown() {
    if [[ -n "${HOLDER_PID:-}" ]]; then
        kill -KILL "$HOLDER_PID" 2>/dev/null || true
        wait "$HOLDER_PID" 2>/dev/null || true
    fi
    teardown_hotswap
    if [[ -n "${OTHER_DIR:-}" ]]; then rm -rf "$OTHER_DIR"; fi
}

# A name with every kind of byte that must never reach a terminal or a log raw: a newline, ESC
# (the start of a terminal escape), DEL and the C1 control CSI in its UTF-8 form (C2 9B).
HOSTILE=$'a\nb\e[31mc\x7fd\xc2\x9be'
HOSTILE_ESCAPED='a\nb\x1b[31mc\x7fd\xc2\x9be'

# no_raw_bytes FILE: every byte of FILE is printable ASCII or a newline; else shows where.
no_raw_bytes() {
    if LC_ALL=C grep -naP '[^\x20-\x7e]' "$1" >&2; then
        echo "raw bytes in $1 (above)" >&2
        od -c "$1" | grep -E '\\033|\\177|302|233' >&2 || true
        return 1
    fi
}

# launcher_lines: the log without the server's own lines: the fixture prints its address raw,
# as a server may (its stderr is the launcher's), split in two by the newline in it.
launcher_lines() { grep -av '^fixture: ' "$HS_LOG" | grep -avxF "${HOSTILE#*$'\n'}.sock"; }

@test "a Unix path with a newline, ESC, DEL and C1 bytes is escaped in the log, status, --json and --prometheus" {
    local path="$BATS_TEST_TMPDIR/$HOSTILE.sock"
    local escaped="unix:$BATS_TEST_TMPDIR/$HOSTILE_ESCAPED.sock"
    start_hotswap "unix:$path" -- --model threads
    run -0 reload
    no_raw_bytes <(echo "$output")

    # the log: every line whole (the name did not split one), no raw control byte anywhere
    grep -qF "listens on $escaped: held" "$HS_LOG"
    launcher_lines >"$BATS_TEST_TMPDIR/launcher.log"
    no_raw_bytes "$BATS_TEST_TMPDIR/launcher.log"
    refute grep -qav '^hotswap: ' "$BATS_TEST_TMPDIR/launcher.log"

    run -0 status_of
    echo "$output" >"$BATS_TEST_TMPDIR/status.txt"
    no_raw_bytes "$BATS_TEST_TMPDIR/status.txt"
    [[ "$output" == *"listeners: $escaped (gen 1)"* ]]

    run -0 status_of --json
    echo "$output" >"$BATS_TEST_TMPDIR/status.json"
    no_raw_bytes "$BATS_TEST_TMPDIR/status.json"
    # valid JSON, and the string holds the escaped text (what the table and the log show)
    [ "$(jq -r '.listeners[0].address' "$BATS_TEST_TMPDIR/status.json")" = "$escaped" ]

    run -0 status_of --prometheus
    echo "$output" >"$BATS_TEST_TMPDIR/metrics.txt"
    no_raw_bytes "$BATS_TEST_TMPDIR/metrics.txt"
    if command -v promtool >/dev/null; then
        run -0 promtool check metrics <"$BATS_TEST_TMPDIR/metrics.txt"
    fi
}

@test "a new command line's tab and C1 bytes are escaped in the log, status and --json" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    # The client refuses control characters but tab; tab and bytes past 0x7f still go through.
    local odd="$BATS_TEST_TMPDIR/x"$'\t\xc2\x9b'"y" odd_escaped="$BATS_TEST_TMPDIR/x\\t\\xc2\\x9by"
    run -0 "$HOTSWAP" reload --control "$HS_CONTROL" -- "$FIXTURE" --listen "$addr" --model epoll \
        --fail-if-exists "$odd"
    [ "$(generation_of "$addr")" = 2 ]
    grep -qF -- "--fail-if-exists $odd_escaped" "$HS_LOG"
    no_raw_bytes "$HS_LOG"
    run -0 status_of
    [[ "$output" == *"gen 2: $FIXTURE --listen $addr --model epoll --fail-if-exists $odd_escaped"* ]]
    echo "$output" >"$BATS_TEST_TMPDIR/status.txt"
    no_raw_bytes "$BATS_TEST_TMPDIR/status.txt"
    run -0 status_of --json
    echo "$output" >"$BATS_TEST_TMPDIR/status.json"
    no_raw_bytes "$BATS_TEST_TMPDIR/status.json"
    [ "$(jq -r '.generations[0].command[-1]' "$BATS_TEST_TMPDIR/status.json")" = "$odd_escaped" ]
}

@test "hotswap try shows a hostile Unix path escaped" {
    local path="$BATS_TEST_TMPDIR/$HOSTILE.sock"
    local escaped="unix:$BATS_TEST_TMPDIR/$HOSTILE_ESCAPED.sock"
    run "$HOTSWAP" try --reloads 1 --connect-only "unix:$path" -- "$FIXTURE" --listen "unix:$path" --model threads
    echo "$output" >"$BATS_TEST_TMPDIR/try.txt"
    [[ "$output" == *"try: $escaped, 1 reload"* ]]
    [[ "$output" == *"try: reload 1/1: ok: gen 2 ready in"* ]]
    no_raw_bytes "$BATS_TEST_TMPDIR/try.txt"
}

@test "a program path with newlines never adds an assignment to what the service manager hears" {
    local addr="127.0.0.1:$(free_port)" heard="$BATS_TEST_TMPDIR/heard"
    "$ROOT/$BUILD/notify-socket" "$BATS_TEST_TMPDIR/notify.sock" "$heard" &
    HOLDER_PID=$!
    wait_until 5 test -S "$BATS_TEST_TMPDIR/notify.sock"
    NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" start_hotswap "$addr" --ready-timeout 3s -- --model epoll
    wait_until 5 grep -qx "MAINPID=$HS_PID" "$heard"
    # The new generation's program is at a path the server chose: it names no shim (it is exec'd
    # with LD_PRELOAD cleared), so the reload's failure names that path.
    local dir="$BATS_TEST_TMPDIR/x"$'\n'"MAINPID=1"$'\n'"y"
    mkdir "$dir"
    cp "$(command -v sleep)" "$dir/sleep"
    run -1 "$HOTSWAP" reload --control "$HS_CONTROL" -- sh -c "unset LD_PRELOAD; exec $BATS_TEST_TMPDIR/x*/sleep 60"
    [[ "$output" == *'x\nMAINPID=1\ny/sleep'* ]]
    wait_until 5 grep -q '^STATUS=reload failed' "$heard"
    cat "$heard"
    grep -qF 'x\nMAINPID=1\ny/sleep' "$heard"
    refute grep -qx "MAINPID=1" "$heard"
    [ "$(generation_of "$addr")" = 1 ]
}

# fake_launcher PATH REPLY...: a process posing as a launcher on PATH (root's, so the client
# believes it): each connection gets the REPLY messages (Python bytes expressions) and is closed.
fake_launcher() {
    local path=$1; shift
    python3 - "$path" "$@" <<'PY' &
import os, socket, sys
path, replies = sys.argv[1], [eval(r) for r in sys.argv[2:]]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen(4)
s.settimeout(60)
while True:
    c, _ = s.accept()
    c.recv(65536)
    for r in replies:
        c.send(r)
    c.close()
PY
    HOLDER_PID=$!
    wait_until 10 test -S "$path"
}

@test "the client escapes what a process posing as a launcher sends: no terminal escape reaches the terminal" {
    local path="$BATS_TEST_TMPDIR/fake.sock"
    fake_launcher "$path" 'b"=gen 1 \x1b[2J\x1b]0;owned\x07 \xc2\x9b31m\x7f\tend\n"' 'b"+"'
    run -0 "$HOTSWAP" status --control "$path"
    [ "$output" = 'gen 1 \x1b[2J\x1b]0;owned\x07 \xc2\x9b31m\x7f\tend' ]
}

# ---- the control socket -------------------------------------------------------------------------

# big_request BYTES: one "reload with" request of BYTES bytes (its socket's send buffer raised to
# fit, as root may); prints each reply message on a line.
big_request() {
    python3 - "$HS_CONTROL" "$1" <<'PY'
import socket, sys
path, size = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.setsockopt(socket.SOL_SOCKET, 32, 4 * size)  # SO_SNDBUFFORCE
s.connect(path)
head = b"reload with\0/bin/true\0"
s.send(head + b"x" * (size - len(head) - 1) + b"\0")
s.settimeout(10)
while True:
    reply = s.recv(4096)
    if not reply:
        break
    sys.stdout.write(reply.decode(errors="replace") + "\n")
PY
}

@test "a 1 MB reload request gets an error reply, and the launcher goes on answering and reloading" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    run -0 big_request 1048576
    [ "$output" = "!request too long (1048576 bytes; at most 16384)" ]
    grep -qF "control: refused a request: request too long (1048576 bytes; at most 16384)" "$HS_LOG"
    process_running "$HS_PID"
    run -0 status_of
    [[ "$output" == "hotswap pid $HS_PID: running"* ]]
    run -0 reload
    [ "$(generation_of "$addr")" = 2 ]
    # one past the buffer is refused too; a request that fills it exactly is read whole
    run -0 big_request 16385
    [ "$output" = "!request too long (16385 bytes; at most 16384)" ]
    run -0 big_request 16384
    [[ "$output" == *"gen 3"* ]]
}

# full_backlog PATH: a SEQPACKET listener on PATH that never accepts, its one-place queue taken.
full_backlog() {
    python3 - "$1" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
s.listen(0)
queued = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
queued.connect(sys.argv[1])
open(sys.argv[1] + ".full", "w").close()
time.sleep(120)
PY
    HOLDER_PID=$!
    wait_until 10 test -e "$1.full"
}

@test "a control socket whose owner never accepts: the client gives up within its deadline, one line, exit 69" {
    local path="$BATS_TEST_TMPDIR/stuck.sock"
    full_backlog "$path"
    local start=$SECONDS
    run timeout 30 "$HOTSWAP" status --control "$path"
    echo "took $((SECONDS - start)) s" >&2
    [ "$status" -eq 69 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "hotswap: cannot reach a launcher at $path: it does not accept connections (its queue stayed full for 5 s)" ]]
    ((SECONDS - start < 20))
}

@test "the client refuses a default control directory that is not its own and 0700 (XDG_RUNTIME_DIR, as root)" {
    export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
    mkdir -p -m 700 "$XDG_RUNTIME_DIR"
    local addr="127.0.0.1:$(free_port)"
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    "$HOTSWAP" -- "$FIXTURE" --listen "$addr" --model epoll 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    local dir="$XDG_RUNTIME_DIR/hotswap"
    run -0 "$HOTSWAP" status --pid "$HS_PID"

    chmod 0777 "$dir"
    run -69 "$HOTSWAP" reload --pid "$HS_PID"
    [ "$output" = "hotswap: control socket directory $dir is mode 0777, not 0700: refusing it (another user could replace the socket; chmod 700 it, or give --control PATH)" ]
    run -69 "$HOTSWAP" status          # the one launcher here: looked for in the same directory
    [[ "$output" == "hotswap: control socket directory $dir is mode 0777"* ]]
    chmod 0700 "$dir"
    chown "$OTHER_UID" "$dir"
    run -69 "$HOTSWAP" status --pid "$HS_PID"
    [[ "$output" == "hotswap: control socket directory $dir belongs to uid $OTHER_UID, not to uid 0: refusing it"* ]]
    [ "$(generation_of "$addr")" = 1 ]   # no reload went through
    chown 0 "$dir"
    run -0 "$HOTSWAP" reload --pid "$HS_PID"
    [ "$(generation_of "$addr")" = 2 ]
}

@test "the client refuses /tmp/hotswap-UID when another user owns it or others may write it" {
    OTHER_DIR="/tmp/hotswap-$OTHER_UID"
    rm -rf "$OTHER_DIR"
    local addr="127.0.0.1:$(free_port)"
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    as_other() { env -u XDG_RUNTIME_DIR setpriv --reuid "$OTHER_UID" --regid "$OTHER_UID" --clear-groups "$@"; }
    env -u XDG_RUNTIME_DIR setpriv --reuid "$OTHER_UID" --regid "$OTHER_UID" --clear-groups \
        "$HOTSWAP" -- "$FIXTURE" --listen "$addr" --model epoll 2>"$HS_LOG" &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    [ "$(stat -c '%u %a' "$OTHER_DIR")" = "$OTHER_UID 700" ]
    run -0 as_other "$HOTSWAP" status --pid "$HS_PID"

    chmod 0777 "$OTHER_DIR"
    run -69 as_other "$HOTSWAP" reload --pid "$HS_PID"
    [ "$output" = "hotswap: control socket directory $OTHER_DIR is mode 0777, not 0700: refusing it (another user could replace the socket; chmod 700 it, or give --control PATH)" ]
    chmod 0700 "$OTHER_DIR"
    chown 0 "$OTHER_DIR"
    run -69 as_other "$HOTSWAP" reload --pid "$HS_PID"
    [[ "$output" == "hotswap: control socket directory $OTHER_DIR belongs to uid 0, not to uid $OTHER_UID: refusing it"* ]]
    [ "$(generation_of "$addr")" = 1 ]
    chown "$OTHER_UID" "$OTHER_DIR"
    run -0 as_other "$HOTSWAP" reload --pid "$HS_PID"
    [ "$(generation_of "$addr")" = 2 ]
}
