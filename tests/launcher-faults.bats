#!/usr/bin/env bats
# Hostile and unlucky conditions around the launcher (docs/design.md, "What hotswap promises under
# faults"): a control directory or socket another user prepared, replies with terminal escapes,
# a listener's path swapped for a symlink before the stop, the launcher at its fd limit, signal
# options that would break the server, a symlink planted at the pidfile's temporary name.

load helpers
bats_require_minimum_version 1.5.0

setup_file() { require_tool python3 python3; }

teardown() {
    [[ -n "${FAKE_PID:-}" ]] && kill -TERM "$FAKE_PID" 2>/dev/null
    [[ -n "${HOLDER_PID:-}" ]] && kill -TERM "$HOLDER_PID" 2>/dev/null
    [[ -n "${VICTIM_PID:-}" ]] && kill -TERM "$VICTIM_PID" 2>/dev/null
    [[ -n "${EVIL_DIR:-}" ]] && rm -rf "$EVIL_DIR"
    [[ -n "${HOG_PIDS:-}" ]] && kill -TERM $HOG_PIDS 2>/dev/null
    teardown_hotswap
}

# fake_launcher PATH: a control socket at PATH that answers like a launcher, with terminal escape
# codes in its replies (FAKE_PID); run it under setpriv to make it another user's.
FAKE_LAUNCHER='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
s.listen(8)
while True:
    c, _ = s.accept()
    try:
        request = c.recv(64)
        if request == b"reload":
            c.send(b".\x1b]0;owned\x07\x1b[2Jstarting")
            c.send(b"+gen 2 ready in 1 ms \x1b[32mall good\x1b[0m")
        elif request == b"status":
            c.send(b"=gen\tstate\n1\t\x1b[31mserving\x7f\n")
            c.send(b"+")
        else:
            c.send(b"!no \x1b[5mway\x1b[0m\r")
    except OSError:
        pass  # a client that would not listen
    c.close()
'

# no_control_bytes TEXT: nothing below 0x20 but newline and tab, and no DEL.
no_control_bytes() { ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$1"; }

@test "control directory: another user's, one open to all, or a symlink is refused in one line; nothing starts" {
    export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
    local dir="$XDG_RUNTIME_DIR/hotswap" started="$BATS_TEST_TMPDIR/started"
    mkdir -p -m 700 "$XDG_RUNTIME_DIR"
    # another user made it first, open to all, to put a socket of its own in it
    mkdir -m 777 "$dir"
    chown 65534:65534 "$dir"
    run -1 timeout 10 "$HOTSWAP" -- touch "$started"
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "hotswap: control socket directory $dir belongs to uid 65534, not to uid 0: refusing it ("* ]]
    [ ! -e "$started" ] && [ -z "$(ls -A "$dir")" ]
    # the user's own, but open to all
    chown 0:0 "$dir"
    run -1 timeout 10 "$HOTSWAP" -- touch "$started"
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "hotswap: control socket directory $dir is mode 0777, not 0700: refusing it ("* ]]
    [ ! -e "$started" ] && [ -z "$(ls -A "$dir")" ]
    # a symlink, even to a directory that would do
    rmdir "$dir"
    mkdir -m 700 "$BATS_TEST_TMPDIR/elsewhere"
    ln -s ../elsewhere "$dir"
    run -1 timeout 10 "$HOTSWAP" -- touch "$started"
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "hotswap: control socket directory $dir is a symbolic link, not a directory: refusing it"* ]]
    [ ! -e "$started" ] && [ -z "$(ls -A "$BATS_TEST_TMPDIR/elsewhere")" ]
    # missing: made 0700 whatever the umask, and the launcher runs
    rm "$dir"
    run -0 bash -c 'umask 0277 && exec timeout 10 "$0" -- touch "$1"' "$HOTSWAP" "$started"
    [ -e "$started" ]
    [ "$(stat -c '%a %u %F' "$dir")" = "700 0 directory" ]
}

@test "hotswap reload believes only a launcher of its own user or root: another user's socket is refused" {
    EVIL_DIR=$(mktemp -d /tmp/hotswap-evil.XXXXXX)
    chmod 755 "$EVIL_DIR"
    chown 65534:65534 "$EVIL_DIR"
    local sock="$EVIL_DIR/control.sock"
    setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c "$FAKE_LAUNCHER" "$sock" &
    FAKE_PID=$!
    wait_until 5 test -S "$sock"
    run -69 "$HOTSWAP" reload --control "$sock"
    [ "$output" = "hotswap: $sock is served by uid 65534, not by you (uid 0) or root: refusing to talk to it" ]
    run -69 "$HOTSWAP" status --control "$sock"
    [ "${#lines[@]}" -eq 1 ]
    # found by looking in the default directory: the same refusal, not a reload "ok"
    export XDG_RUNTIME_DIR="$EVIL_DIR/run"
    mkdir -p -m 700 "$XDG_RUNTIME_DIR/hotswap"   # a directory the client accepts: the socket's owner is what it refuses
    ln "$sock" "$XDG_RUNTIME_DIR/hotswap/4194000.sock"
    run -69 "$HOTSWAP" reload
    [ "$output" = "hotswap: $XDG_RUNTIME_DIR/hotswap/4194000.sock is served by uid 65534, not by you (uid 0) or root: refusing to talk to it" ]
}

@test "a launcher's replies reach the terminal as text: control characters are escaped" {
    local sock="$BATS_TEST_TMPDIR/fake.sock"
    python3 -c "$FAKE_LAUNCHER" "$sock" &
    FAKE_PID=$!
    wait_until 5 test -S "$sock"
    run -0 "$HOTSWAP" reload --control "$sock"
    no_control_bytes "$output"
    [ "${lines[0]}" = '\x1b]0;owned\x07\x1b[2Jstarting' ]
    [ "${lines[1]}" = 'ok: gen 2 ready in 1 ms \x1b[32mall good\x1b[0m' ]
    run -0 "$HOTSWAP" status --control "$sock"   # the newline stays: the table's own
    no_control_bytes "$output"
    [ "$output" = $'gen\\tstate\n1\\t\\x1b[31mserving\\x7f' ]
    run -1 "$HOTSWAP" stop --control "$sock"
    no_control_bytes "$output"
    [ "$output" = 'hotswap: stop failed: no \x1b[5mway\x1b[0m\r' ]
}

@test "--control PATH that is not a socket is left alone: one line, exit 1, nothing started" {
    local started="$BATS_TEST_TMPDIR/started" precious="$BATS_TEST_TMPDIR/precious"
    echo precious >"$precious"
    run -1 timeout 10 "$HOTSWAP" --control "$precious" -- touch "$started"
    [ "$output" = "hotswap: control socket path $precious is a regular file, not a socket: refusing to replace it" ]
    [ "$(cat "$precious")" = precious ]
    # a symlink to it: neither the link nor the file it names is touched
    ln -s "$precious" "$BATS_TEST_TMPDIR/link.sock"
    run -1 timeout 10 "$HOTSWAP" --control "$BATS_TEST_TMPDIR/link.sock" -- touch "$started"
    [ "$output" = "hotswap: control socket path $BATS_TEST_TMPDIR/link.sock is a symbolic link, not a socket: refusing to replace it" ]
    [ -L "$BATS_TEST_TMPDIR/link.sock" ] && [ "$(cat "$precious")" = precious ]
    mkdir "$BATS_TEST_TMPDIR/a-directory"
    run -1 timeout 10 "$HOTSWAP" --control "$BATS_TEST_TMPDIR/a-directory" -- touch "$started"
    [[ "$output" == *" is a directory, not a socket: refusing to replace it" ]]
    [ -d "$BATS_TEST_TMPDIR/a-directory" ]
    [ ! -e "$started" ]
    # a socket left behind (a killed launcher's) is stale: replaced, and the launcher serves
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).bind(sys.argv[1])' \
        "$BATS_TEST_TMPDIR/control.sock"
    [ -S "$BATS_TEST_TMPDIR/control.sock" ]
    start_hotswap "127.0.0.1:$(free_port)" -- --model epoll
    run -0 status_of
    [[ "${lines[0]}" == "hotswap pid $HS_PID: running"* ]]
}

@test "at the stop, a listener's path is removed only while it is the socket held: a symlink swapped in saves root's files" {
    local srv="$BATS_TEST_TMPDIR/srv" victim="$BATS_TEST_TMPDIR/victim"
    mkdir -p "$srv/sock" "$victim"
    echo precious >"$victim/app.sock"
    start_hotswap "unix:$srv/sock/app.sock" -- --model threads
    # a compromised worker swaps the directory on the path for a symlink to root's directory
    mv "$srv/sock" "$srv/sock.moved"
    ln -s "$victim" "$srv/sock"
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    [ "$(cat "$victim/app.sock")" = precious ]
    grep -q "^hotswap: $srv/sock/app.sock left in place: it is no longer the socket the launcher held (not a socket)$" "$HS_LOG"

    # root's file there is a socket too (another service's): a socket is not enough, it must be ours
    rm "$srv/sock" "$victim/app.sock"
    mv "$srv/sock.moved" "$srv/sock"
    start_hotswap "unix:$srv/sock/app.sock" -- --model threads
    mv "$srv/sock" "$srv/sock.moved"
    ln -s "$victim" "$srv/sock"
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(sys.argv[1])' \
        "$victim/app.sock"
    stop_hotswap
    [ -S "$victim/app.sock" ]
    grep -q "left in place: it is no longer the socket the launcher held (another socket)$" "$HS_LOG"

    # untouched, the path goes at the stop, as before
    rm "$srv/sock"
    mv "$srv/sock.moved" "$srv/sock"
    start_hotswap "unix:$srv/sock/app.sock" -- --model threads
    stop_hotswap
    [ ! -e "$srv/sock/app.sock" ]
}


fd_count() { ls "/proc/$1/fd" | wc -l; }
fds_at_least() { (($(fd_count "$1") >= $2)); }

@test "at its fd limit the launcher pauses control accepts instead of spinning, says so once, and serves after" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    local fds limit
    fds=$(fd_count "$HS_PID")
    limit=$((fds + 2))
    prlimit --pid "$HS_PID" --nofile="$limit":
    # clients that connect and say nothing: two take the last fds, the rest wait in the backlog
    python3 -c '
import socket, sys, time
held = []
for _ in range(6):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    held.append(s)
open(sys.argv[2], "w").write("connected\n")
time.sleep(60)
' "$HS_CONTROL" "$BATS_TEST_TMPDIR/holding" &
    HOLDER_PID=$!
    wait_until 5 test -s "$BATS_TEST_TMPDIR/holding"
    wait_until 5 fds_at_least "$HS_PID" "$limit"
    # over a second with connections queued it cannot take: next to no CPU (spinning is ~1000 ms)
    local before after
    before=$(cpu_ms "$HS_PID")
    sleep 1
    after=$(cpu_ms "$HS_PID")
    echo "launcher CPU over 1 s: $((after - before)) ms"
    ((after - before < 200))
    [ "$(grep -c "^hotswap: control: out of file descriptors (EMFILE): pausing accepts$" "$HS_LOG")" -eq 1 ]
    # the clients go: the launcher answers again, at the same limit
    kill -TERM "$HOLDER_PID"
    wait "$HOLDER_PID" || true
    HOLDER_PID=
    wait_until 10 status_of
    run -0 status_of
    [[ "${lines[0]}" == "hotswap pid $HS_PID: running"* ]]
    [ "$(generation_of "$addr")" = 1 ]
    prlimit --pid "$HS_PID" --nofile=1024:
    run -0 reload
    [ "$(generation_of "$addr")" = 2 ]
}

@test "an fd limit below the fds the launcher watches: it says so once, hears SIGTERM and stops gracefully" {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model epoll
    local server
    server=$(pid_of_answer "$addr")
    # poll() refuses a set larger than the soft fd limit (EINVAL): the loop once left, orphaning
    # the server and forgetting the state file
    prlimit --pid "$HS_PID" --nofile=2:
    # a control client wakes the loop (it may find no fd to be accepted with; the loop goes round)
    timeout 10 "$HOTSWAP" status --control "$HS_CONTROL" >/dev/null 2>&1 || true
    wait_until 10 grep -q "^hotswap: the fd limit (2) is below the [0-9]* fds the launcher watches" "$HS_LOG"
    process_running "$HS_PID"
    answers_with_gen "$addr" 1
    # the stop still reaches the server, though the launcher has no fd to open its cgroup with
    kill -TERM "$HS_PID"
    wait_until 10 process_gone "$server"
    wait_until 10 process_gone "$HS_PID"
    # its exit status as it says it (LeakSanitizer, with no fd for /proc, changes the real one)
    wait "$HS_PID" || true
    HS_PID=
    grep -q "^hotswap: exiting with status 0" "$HS_LOG"
    [ "$(grep -c "fds the launcher watches" "$HS_LOG")" -eq 1 ]
}

@test "signal options refuse signals that would break a server: one line, exit 64" {
    local option sig
    for option in --drain-signal --stop-signal; do
        for sig in PIPE CHLD SEGV BUS FPE ILL KILL STOP TSTP TTIN TTOU SYS TRAP ABRT SIGPIPE 13 11; do
            run -64 "$HOTSWAP" "$option" "$sig" --control "$BATS_TEST_TMPDIR/c.sock" -- true
            [ "${#lines[@]}" -eq 1 ]
            [[ "$output" == "hotswap: $option: '$sig' is not a usable signal: it would break the server (not KILL, STOP, "*") (see hotswap --help)" ]]
        done
        run -64 "$HOTSWAP" "$option" NOPE -- true
        [ "$output" = "hotswap: $option: 'NOPE' is not a signal (like TERM, 15, RTMIN+10) (see hotswap --help)" ]
    done
    # the usual choices still are
    run -0 "$HOTSWAP" --stop-signal QUIT --drain-signal USR2 --control "$BATS_TEST_TMPDIR/c.sock" -- true
    run -0 "$HOTSWAP" --stop-signal WINCH --drain-signal RTMIN+3 --control "$BATS_TEST_TMPDIR/c.sock" -- true
}

@test "standalone: a trigger or stop signal that would break the server is refused by the shim, in one line" {
    local addr="127.0.0.1:$(free_port)" log="$BATS_TEST_TMPDIR/server.log" pidfile="$BATS_TEST_TMPDIR/server.pid"
    HS_ADDR=$addr
    HOTSWAP_TRIGGER_SIGNAL=13 HOTSWAP_STOP_SIGNAL=11 HOTSWAP_PIDFILE="$pidfile" LD_PRELOAD="$SHIM" \
        "$FIXTURE" --listen "$addr" --model poll 2>"$log" &
    wait_until 10 answers_with_gen "$addr" 0
    grep -qx "libhotswap: HOTSWAP_TRIGGER_SIGNAL=13 is not a usable signal number (not KILL, STOP, PIPE, CHLD, SEGV...): using the default" "$log"
    grep -qx "libhotswap: HOTSWAP_STOP_SIGNAL=11 is not a usable signal number (not KILL, STOP, PIPE, CHLD, SEGV...): using the default" "$log"
    # the defaults: HUP upgrades, and the old process is stopped (TERM), not crashed
    local old
    old=$(cat "$pidfile")
    kill -HUP "$old"
    wait_until 10 answers_with_gen "$addr" 1
    wait_until 10 process_gone "$old"
}

@test "standalone: the pidfile is written without following a symlink planted at its temporary name" {
    local addr="127.0.0.1:$(free_port)" precious="$BATS_TEST_TMPDIR/precious" pidfile="$BATS_TEST_TMPDIR/server.pid"
    HS_ADDR=$addr
    echo keep >"$precious"
    # the temporary name is the pidfile's and the pid: planted by the same process just before
    # it becomes the server
    sh -c 'ln -s "$1" "$2.$$" && exec env HOTSWAP_PIDFILE="$2" LD_PRELOAD="$3" "$4" --listen "$5" --model poll' \
        sh "$precious" "$pidfile" "$SHIM" "$FIXTURE" "$addr" 2>"$BATS_TEST_TMPDIR/server.log" &
    local server=$!
    wait_until 10 answers_with_gen "$addr" 0
    wait_until 5 test -s "$pidfile"
    [ "$(cat "$precious")" = keep ]
    [ ! -L "$pidfile" ] && [ -f "$pidfile" ]
    [ "$(cat "$pidfile")" = "$server" ]
    [ ! -e "$pidfile.$server" ]
}

@test "the launcher stopped (SIGSTOP) for 2 s: a fork-per-connection server answers on, and reloads after" {
    # every fork is a message to the launcher: a blocking send would stop the server in fork()
    # once the channel's buffer is full
    start_hotswap "127.0.0.1:$(free_port)" -- --model forking
    start_load "$HS_ADDR" -c 8 --timeout-ms 1500
    wait_until 5 test -s "$HS_LOG"
    kill -STOP "$HS_PID"
    sleep 2 # the fault itself: the launcher stays stopped this long
    kill -CONT "$HS_PID"
    stop_load
    # none waited (a request stuck behind a blocked fork would time out within the stop), and
    # there were many more forks than the channel holds unread (10 messages): most found it full
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    (($(field requests "$LOAD_SUMMARY") > 100))
    run reload
    [ "$status" -eq 0 ]
    [ "$(generation_of "$HS_ADDR")" = 2 ]
}

@test "the launcher's stderr is a pipe nobody reads: it serves, reloads and says how many lines it dropped" {
    local fifo="$BATS_TEST_TMPDIR/stderr" addr="127.0.0.1:$(free_port)"
    mkfifo "$fifo"
    exec 7<>"$fifo" # a reader that never reads: the pipe fills
    HS_CONTROL="$BATS_TEST_TMPDIR/control.sock"
    HS_ADDR=$addr
    # the server's own stderr goes elsewhere: only the launcher's lines meet the full pipe
    "$HOTSWAP" --control "$HS_CONTROL" -- bash -c 'exec 2>/dev/null; exec "$@"' fixture \
        "$FIXTURE" --model epoll --listen "$addr" 2>&7 &
    HS_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    # fill what room is left, through a description of its own (O_NONBLOCK on the launcher's
    # would make its writes fail instead of block)
    timeout 5 dd if=/dev/zero of="$fifo" bs=4096 count=64 oflag=nonblock status=none 2>/dev/null || true
    local gen
    for gen in 2 3 4 5; do
        run timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
        [ "$status" -eq 0 ]
        [ "$(generation_of "$addr")" = "$gen" ]
    done
    timeout 2 cat <&7 >/dev/null || true # room again
    run timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
    [ "$status" -eq 0 ]
    timeout 2 cat <&7 >"$BATS_TEST_TMPDIR/after" || true
    grep -Eq "^hotswap: \([0-9]+ log lines? dropped: stderr was full\)" "$BATS_TEST_TMPDIR/after"
    exec 7>&-
}

@test "a worker lying on the channel about another process is not believed: that process is not waited for" {
    # the victim: any process outside the generation (the test's own), its pid known to the worker
    sleep 600 &
    VICTIM_PID=$!
    local addr="127.0.0.1:$(free_port)"
    FORGE_VICTIM_PID=$VICTIM_PID start_hotswap "$addr" --drain-timeout 20s -- --model epoll --quirk forge-messages
    wait_until 5 grep -q "forged messages about pid $VICTIM_PID" "$HS_LOG"
    run -0 timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
    # and gen 1 is gone when its own processes are, while the victim lives on untouched
    wait_until 10 grep -q "reload done: gen 2 ready in [0-9]* ms; gen 1 drained 0 connections in [0-9]* ms, exited" "$HS_LOG"
    refute grep -q "cutting\|at the drain timeout" "$HS_LOG"
    process_running "$VICTIM_PID"
    grep -q "gen 1 pid [0-9]*: says pid $VICTIM_PID is its child, which it is not: ignored" "$HS_LOG"
    grep -q "gen 1 pid [0-9]*: sent a message as pid $VICTIM_PID: taken as its own" "$HS_LOG"
    kill -TERM "$VICTIM_PID"
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
}

# adopting_launcher ADDR MODEL: a launcher started as the killed one was, on the same control
# socket (HS_PID, its log appended to HS_LOG).
adopting_launcher() {
    "$HOTSWAP" --control "$HS_CONTROL" -- "$FIXTURE" --listen "$1" --model "$2" 2>>"$HS_LOG" &
    HS_PID=$!
}

# killed_and_adopted MODEL: the launcher SIGKILLed under load, a new one adopts its generation
# and reloads it 5 times: no request fails, and the adopted generation drains and exits.
killed_and_adopted() {
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" -- --model "$1"
    # a second launcher on a live control socket is refused, and changes nothing
    run -1 timeout 10 "$HOTSWAP" --control "$HS_CONTROL" -- "$FIXTURE" --listen "$addr" --model "$1"
    [[ "$output" == *"control socket $HS_CONTROL is served by a running launcher: refusing to start a second one on it" ]]
    start_load "$addr"
    local server
    server=$(sed -n 's/.*gen 1 pid \([0-9]*\) starting.*/\1/p' "$HS_LOG")
    kill -KILL "$HS_PID"
    wait "$HS_PID" || true
    adopting_launcher "$addr" "$1"
    wait_until 10 grep -q "gen 1 pid $server adopted from launcher pid [0-9]*, which is gone: it serves on" "$HS_LOG"
    grep -q "1 listener held again, taken from the adopted processes" "$HS_LOG"
    for gen in $(seq 2 6); do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        [ "$(generation_of "$addr")" = "$gen" ]
    done
    wait_until 10 grep -q "gen 1 pid $server exited (adopted" "$HS_LOG"
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field requests "$LOAD_SUMMARY")" -gt 100 ]
    stop_hotswap
    [ "$HS_STATUS" -eq 0 ]
    [ ! -e "$HS_CONTROL.state" ]   # a clean exit leaves nothing to adopt
}

@test "the launcher SIGKILLed under load: one started on the same control socket adopts the server; 5 reloads lose nothing" {
    killed_and_adopted epoll
}

@test "the same with prefork workers: the listener is taken back from whichever process holds it" {
    killed_and_adopted prefork
}

@test "exec'd workers with a thread that cannot stop yet (a vfork wait): the last look waits for the stop, at most 5 s, and says so" {
    # Each worker has a thread waiting in the kernel on a slow vfork-style child: SIGSTOP cannot
    # stop it, so the pause before the drain's last look is never complete. The launcher waits
    # for it (a thread still running may yet take a connection) up to its bound, then looks.
    local addr
    addr="127.0.0.1:$(free_port)"
    HS_SERVER=$PATTERN_SERVER start_hotswap "$addr" -- --pattern exec-workers-spawning
    start_load "$addr" -c 8
    run reload
    [ "$status" -eq 0 ] || { echo "$output"; stop_load; return 1; }
    wait_until 30 grep -q "gen 1 drained\|gen 1 cut" "$HS_LOG"
    stop_load
    grep -Eq "gen 1: pid [0-9]+ has not stopped 5000 ms after SIGSTOP: looking at the kernel anyway" "$HS_LOG" ||
        { cat "$HS_LOG"; false; }
    [ "$(field hard "$LOAD_SUMMARY")" -eq 0 ]
    refute grep -q "gen 1 cut" "$HS_LOG"
}

# late_workers GEN: generation GEN's exec'd workers, every thread, at nice 10 on the busy CPU
late_workers() {
    local main worker task
    main=$(sed -n "s/.*gen $1 pid \([0-9]*\) ready in.*/\1/p" "$HS_LOG")
    for worker in $(ps -o pid= --ppid "$main"); do
        taskset -a -p -c "$BUSY_CPU" "$worker" >/dev/null 2>&1 || true # a thread may just have ended
        for task in /proc/"$worker"/task/*; do renice -n 10 -p "${task##*/}" >/dev/null 2>&1 || true; done
    done
}

@test "a busy host: exec'd workers that get a CPU late are stopped before the last look; nothing cut" {
    # SIGSTOP only asks: a worker thread woken for a connection stops once it runs, after its
    # accept. Here the workers run at nice 10 beside two busy loops on one CPU, so that takes
    # milliseconds; a look before then missed the connection, and the stop cut it. (Not at nice
    # 19 or SCHED_IDLE: there the kernel kept the launcher in its reap of a dying worker for
    # seconds to minutes, docs/faults.md.)
    [ "$(nproc)" -ge 2 ] || skip "needs two CPUs: one kept busy"
    BUSY_CPU=$(($(nproc) - 1))
    local addr
    addr="127.0.0.1:$(free_port)"
    taskset -c "$BUSY_CPU" sh -c 'while :; do :; done' &
    HOG_PIDS=$!
    taskset -c "$BUSY_CPU" sh -c 'while :; do :; done' &
    HOG_PIDS="$HOG_PIDS $!"
    HS_SERVER=$PATTERN_SERVER start_hotswap "$addr" -- --pattern exec-workers
    late_workers 1
    start_load "$addr" -c 32 --timeout-ms 10000
    for gen in $(seq 2 16); do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; stop_load; return 1; }
        late_workers "$gen"
    done
    stop_load
    [ "$(field hard "$LOAD_SUMMARY")" -eq 0 ]
    [ "$(field ok "$LOAD_SUMMARY")" -gt 1000 ]
    refute grep -q "has not stopped" "$HS_LOG"
}

@test "a shim's word that its drain began, lost to a full channel: the kernel's view ends the drain, not its timeout" {
    # The channel keeps only a few messages (net.unix.max_dgram_qlen, 10) and a shim never waits
    # for room: with the launcher stopped and the channel full, the server's drain starts (the
    # drain signal, as the launcher would send it) and its DRAINING is dropped. A shim says it
    # once, so the reload's own drain signal brings no word either.
    local addr pid
    addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --drain-timeout 30s -- --model epoll --quirk fill-channel-on-usr2
    pid=$(pid_of_answer "$addr")
    kill -STOP "$HS_PID"
    kill -USR2 "$pid"
    wait_until 10 grep -q "fixture: channel full" "$HS_LOG"
    kill -s "$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^HOTSWAP_DRAIN_SIGNAL=//p')" "$pid"
    wait_until 10 lets_go_of_listener "$pid" "$addr"
    kill -CONT "$HS_PID"
    run reload
    [ "$status" -eq 0 ] || { echo "$output"; cat "$HS_LOG"; return 1; }
    wait_until 20 grep -q "gen 1 drained\|gen 1 cut" "$HS_LOG"
    grep -q "gen 1 pid $pid: its shim's word that its drain began never came" "$HS_LOG" || { cat "$HS_LOG"; false; }
    refute grep -q "gen 1 cut" "$HS_LOG"
    answers_with_gen "$addr" 2
}
