#!/usr/bin/env bats
# Input the launcher takes from others (issue 23): the NOTIFY_SOCKET another local user could
# take, the env file someone else could swap, the counts a generation reports.

load helpers
bats_require_minimum_version 1.5.0

teardown() { teardown_hotswap; }

# ---- --ready notify: a NOTIFY_SOCKET nobody can guess, or no reload -----------------------------

# squat_notify_names LAUNCHER_PID SEEN_NAME READY_FILE: binds, in the background, every abstract
# name a NOTIFY_SOCKET made of the launcher's pid, the generation and a counter could be for the
# next generations (@hotswap-PID-N-M), and SEEN_NAME (one a generation had, as /proc/net/unix
# shows it to anyone), as any local user can; writes READY_FILE once they are held.
squat_notify_names() {
    /usr/bin/python3 -c 'import socket, sys, time
names = [sys.argv[2].lstrip("@")]
names += ["hotswap-%s-%d-%d" % (sys.argv[1], gen, made) for gen in range(1, 6) for made in range(100)]
held = []
for name in names:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        s = socket.socket(socket.AF_UNIX, kind)
        try:
            s.bind("\0" + name)
            held.append(s)
        except OSError:
            s.close()
open(sys.argv[3], "w").write("%d\n" % len(held))
time.sleep(600)' "$1" "$2" "$3" >/dev/null 2>&1 3>&- &
    disown $!
    wait_until 10 test -s "$3"
}

# notify_socket_of PID: the NOTIFY_SOCKET in the process's environment.
notify_socket_of() { tr '\0' '\n' <"/proc/$1/environ" | sed -n 's/^NOTIFY_SOCKET=//p'; }

@test "--ready notify: squatted NOTIFY_SOCKET names never let a warming generation answer; 0 failed" {
    local addr="127.0.0.1:$(free_port)"
    FIXTURE_WARM_MS=1000 start_hotswap "$addr" --ready notify -- --model epoll --workers 2 --quirk warm-up
    local first_name
    first_name=$(notify_socket_of "$(pid_of_answer "$addr")")
    squat_notify_names "$HS_PID" "$first_name" "$BATS_TEST_TMPDIR/squatted"
    start_load "$addr"
    run -0 reload
    [[ "$output" == *"ok: gen 2 ready in"* ]]
    grep -q "gen 2 pid [0-9]* ready in [0-9]* ms (READY=1 from pid [0-9]*)" "$HS_LOG"
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]   # no 503 from a generation still warming up
    [ "$(field gens "$LOAD_SUMMARY")" = 1,2 ]
    local pid
    pid=$(pid_of_answer "$addr")
    [[ "$(notify_socket_of "$pid")" =~ ^@hotswap-[0-9a-f]{32}$ ]]   # 128 random bits
    [ "$(notify_socket_of "$pid")" != "$first_name" ]
    refute grep -q "cannot make its NOTIFY_SOCKET" "$HS_LOG"
}

# fd_limit PID: the process's RLIMIT_NOFILE, soft and hard ("SOFT:HARD").
fd_limit() { prlimit --pid "$1" --nofile --noheadings -o SOFT,HARD | awk '{print $1 ":" $2}'; }

# limit_leaving_one_fd PID: the fd limit under which the process has exactly one fd number free
# (for the control connection a reload comes on: none then for a NOTIFY_SOCKET).
limit_leaving_one_fd() {
    ls "/proc/$1/fd" | sort -n | awk '
        { used[$1] = 1 }
        END { for (k = 0; ; k++) if (!(k in used) && ++free == 2) { print k; exit } }'
}

# EMFILE, as glibc (the sanitizer build) or musl (the static launcher) says it
EMFILE_TEXT='(Too many open files|No file descriptors available)'

@test "--ready notify: a NOTIFY_SOCKET that cannot be made refuses the reload; the old generation serves on" {
    local addr="127.0.0.1:$(free_port)"
    FIXTURE_WARM_MS=200 start_hotswap "$addr" --ready notify -- --model epoll --quirk warm-up
    local limit fds
    limit=$(fd_limit "$HS_PID")
    fds=$(limit_leaving_one_fd "$HS_PID")
    prlimit --pid "$HS_PID" --nofile="$fds:${limit#*:}"   # the kernel's own limit (the soft one)
    run -1 timeout 10 "$HOTSWAP" reload --control "$HS_CONTROL"
    [[ "$output" =~ "cannot start gen 2: cannot make its NOTIFY_SOCKET for --ready notify: "$EMFILE_TEXT"; gen 1 keeps serving" ]]
    grep -Eq "cannot start gen 2: cannot make its NOTIFY_SOCKET for --ready notify: $EMFILE_TEXT; gen 1 keeps serving" "$HS_LOG"
    refute grep -q "gen 2 pid" "$HS_LOG"   # nothing ran
    [ "$(generation_of "$addr")" = 1 ]
    prlimit --pid "$HS_PID" --nofile="$limit"
    run -0 reload
    [[ "$output" == *"ok: gen 2 ready in"* ]]
    grep -q "gen 2 pid [0-9]* ready in [0-9]* ms (READY=1 from pid [0-9]*)" "$HS_LOG"
}

@test "--ready notify: a NOTIFY_SOCKET that cannot be made at start-up stops the launcher with one line" {
    local addr="127.0.0.1:$(free_port)"
    # Only fds 0-2 inherited, and a limit of 6: the launcher's own three (its control socket,
    # signalfd, ...) leave none for the first generation's NOTIFY_SOCKET.
    run -1 timeout 10 bash -c 'for fd in /proc/$$/fd/*; do n=${fd##*/}; ((n > 2)) && eval "exec $n>&-"; done
        exec prlimit --nofile=6:6 -- "$@"' limited "$HOTSWAP" --control "$BATS_TEST_TMPDIR/control.sock" \
        --ready notify -- "$FIXTURE" --listen "$addr"
    [[ "$output" =~ "hotswap: gen 1: cannot make its NOTIFY_SOCKET for --ready notify: "$EMFILE_TEXT ]]
    refute grep -q "fixture:" <<<"$output"   # the server never ran
}

# ---- --env-file: a regular file that only its owner may write ----------------------------------

@test "--env-file: a FIFO in its place refuses the reload within a second, and SIGTERM still stops the launcher" {
    local addr="127.0.0.1:$(free_port)" env_file="$BATS_TEST_TMPDIR/env"
    echo GREETING=one >"$env_file"
    start_hotswap "$addr" --env-file "$env_file" -- --model epoll
    rm "$env_file"
    mkfifo -m 600 "$env_file"
    local started=$EPOCHREALTIME
    run -1 timeout 5 "$HOTSWAP" reload --control "$HS_CONTROL"
    (( $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { print int((b - a) * 1000) }') < 1000 ))
    [[ "$output" == *"--env-file $env_file: a FIFO: refused"* ]]
    grep -q "reload refused: --env-file $env_file: a FIFO: refused" "$HS_LOG"
    run -0 timeout 5 "$HOTSWAP" status --control "$HS_CONTROL"   # the loop goes on
    [ "$(generation_of "$addr")" = 1 ]
    kill -TERM "$HS_PID"
    wait_until 5 process_gone "$HS_PID"
}

@test "--env-file: a symbolic link is refused, even to a file only root may read" {
    local addr="127.0.0.1:$(free_port)" env_file="$BATS_TEST_TMPDIR/env" secret="$BATS_TEST_TMPDIR/secret"
    echo GREETING=one >"$env_file"
    start_hotswap "$addr" --env-file "$env_file" -- --model epoll
    (umask 077 && echo DB_PASSWORD=hunter2 >"$secret")
    ln -sfn "$secret" "$env_file"
    run -1 reload
    [[ "$output" == *"--env-file $env_file: a symbolic link: refused"* ]]
    [ "$(generation_of "$addr")" = 1 ]
    refute grep -qz DB_PASSWORD "/proc/$(pid_of_answer "$addr")/environ"
    # and at start-up: one line, exit 1
    run -1 "$HOTSWAP" --control "$BATS_TEST_TMPDIR/other.sock" --env-file "$env_file" -- "$FIXTURE" \
        --listen "127.0.0.1:$(free_port)"
    [[ "$output" == "hotswap: --env-file $env_file: a symbolic link: refused" ]]
}

@test "--env-file: a file, or a directory, others may write is refused; a sticky directory and a file of our own is not" {
    local addr="127.0.0.1:$(free_port)" dir="$BATS_TEST_TMPDIR/conf"
    mkdir -m 755 "$dir"
    local env_file="$dir/env"
    echo GREETING=one >"$env_file"
    start_hotswap "$addr" --env-file "$env_file" -- --model epoll
    chmod 666 "$env_file"
    run -1 reload
    [[ "$output" == *"--env-file $env_file: group or others may write it: refused"* ]]
    chmod 644 "$env_file"
    chown nobody "$env_file"
    run -1 reload
    [[ "$output" == *"--env-file $env_file: owned by uid $(id -u nobody), neither root nor the launcher's user: refused"* ]]
    chown root "$env_file"
    chmod 777 "$dir"
    run -1 reload
    [[ "$output" == *"--env-file $env_file: group or others may write its directory (and so replace the file): refused"* ]]
    [ "$(generation_of "$addr")" = 1 ]
    chmod 1777 "$dir"   # as /tmp: others cannot replace a file that is ours
    echo GREETING=two >"$env_file"
    run -0 reload
    [[ "$output" == *"ok: gen 2 ready in"* ]]
    grep -qzx GREETING=two "/proc/$(pid_of_answer "$addr")/environ"
}

@test "--env-file: a name with a newline is shown escaped" {
    local addr="127.0.0.1:$(free_port)" env_file="$BATS_TEST_TMPDIR/env"$'\n'"hotswap: gen 9 ready"
    echo GREETING=one >"$env_file"
    start_hotswap "$addr" --env-file "$env_file" -- --model epoll
    chmod 666 "$env_file"
    run -1 reload
    [[ "$output" == *'env\nhotswap: gen 9 ready: group or others may write it: refused'* ]]
    # (no line of its own begins with the name's second line: inside the refusal, it is text)
    refute grep -q "^hotswap: gen 9 ready" "$HS_LOG"
}

# ---- channel messages: counts a generation reports are bounded -----------------------------------

# established ADDR N: at least N connections to ADDR's port are open.
# accepted ADDR N: N connections to ADDR are held by a process (one still in the accept queue is
# nobody's yet).
accepted() { (($(ss -Htnp state established "( sport = :${1##*:} )" | grep -c 'pid=') >= $2)); }

@test "a generation reporting 2^62 connections is not believed: one line, and the kernel's count ends its drain" {
    local addr="127.0.0.1:$(free_port)" wrapper="$BATS_TEST_TMPDIR/server"
    printf '#!/bin/sh\nFORGE_COUNT=4611686018427387904 LD_PRELOAD="%s:%s" exec "%s" "$@"\n' "$SHIM" \
        "$ROOT/$BUILD/libforge-count.so" "$FIXTURE" >"$wrapper"
    chmod +x "$wrapper"
    HS_SERVER=$wrapper start_hotswap "$addr" --drain-timeout 20s -- --model prefork --workers 3
    # two requests held half sent, completed once the drain has begun
    local one two
    exec {one}<>"/dev/tcp/127.0.0.1/${addr##*:}" {two}<>"/dev/tcp/127.0.0.1/${addr##*:}"
    printf 'GET / HTTP/1.0\r\n' >&"$one"
    printf 'GET / HTTP/1.0\r\n' >&"$two"
    wait_until 5 accepted "$addr" 2   # by gen 1's workers, not waiting in the queue for gen 2
    reload >"$BATS_TEST_TMPDIR/reload.out" &
    local reloading=$!
    # the drain has counted them (the kernel's count: the shim's is a lie)
    wait_until 10 grep -q "^gen 1 draining: 2 connections open$" "$BATS_TEST_TMPDIR/reload.out"
    printf '\r\n' >&"$one"
    printf '\r\n' >&"$two"
    [[ "$(timeout 10 cat <&"$one")" == *"gen=1 "* ]]
    [[ "$(timeout 10 cat <&"$two")" == *"gen=1 "* ]]
    exec {one}<&- {two}<&-
    wait "$reloading"
    output=$(cat "$BATS_TEST_TMPDIR/reload.out")
    [[ "$output" =~ "gen 1 drained 2 connections in "[0-9]+" ms" ]]   # the kernel's count, not the lie
    [ "$(grep -c "more than a process can hold" "$HS_LOG")" = 1 ]
    grep -q "gen 1 pid [0-9]*: reported 4611686018427387904 connections and 4611686018427387904 datagrams, more than a process can hold (2147483647): not believed, the kernel's count decides its drain" "$HS_LOG"
    refute grep -q "cutting\|drain timeout\|the kernel wins" "$HS_LOG"
}
