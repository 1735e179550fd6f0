#!/usr/bin/env bats
# The shim in a process it cannot help: bad or missing environment means one clear line on
# stderr, then plain pass-through. The server must run exactly as it would without the shim.

load helpers
bats_require_minimum_version 1.5.0

teardown() {
    [[ -n "${SECURE_DIR:-}" ]] && rm -rf "$SECURE_DIR"
    [[ -n "${SERVER_PID:-}" ]] && kill -TERM "$SERVER_PID" 2>/dev/null
    [[ -n "${SERVER_PID:-}" ]] && wait "$SERVER_PID" 2>/dev/null
    stop_leftovers
}

# run_server ENV...: the fixture with the shim preloaded and ENV exported, started through
# `sh -c 'exec'` so that LISTEN_PID=$$ names the server's own pid (the shim is preloaded in the
# exec, not in sh). stderr in SERVER_ERR.
run_server() {
    ADDR="127.0.0.1:$(free_port)"
    SERVER_ERR="$BATS_TEST_TMPDIR/server.err"
    env -u HOTSWAP_CHANNEL_FD -u LISTEN_FDS -u LISTEN_PID "$@" PRELOAD="$SHIM" /bin/sh -c \
        'if [ -n "$WANT_LISTEN_PID" ]; then export LISTEN_PID=$$; fi; LD_PRELOAD=$PRELOAD exec "$@"' sh \
        "$FIXTURE" --model epoll --listen "$ADDR" 2>"$SERVER_ERR" 3<"${FD3:-/dev/null}" &
    SERVER_PID=$!
    wait_until 10 answers_with_gen "$ADDR" 0
}

@test "no launcher: standalone mode, said once, and the server serves" {
    run_server
    [ "$(grep -c '^libhotswap: ' "$SERVER_ERR")" -eq 1 ]
    grep -Eq '^libhotswap: standalone: signal 1 to pid [0-9]+ starts a new generation of it' "$SERVER_ERR"
}

@test "a program exec'd by a standalone server passes through, silently" {
    # sh is the standalone server here; the fixture it starts (fork + exec) is its child program
    ADDR="127.0.0.1:$(free_port)"
    SERVER_ERR="$BATS_TEST_TMPDIR/server.err"
    env -u HOTSWAP_CHANNEL_FD LD_PRELOAD="$SHIM" /bin/sh -c '"$0" --model epoll --listen "$1"; :' \
        "$FIXTURE" "$ADDR" 2>"$SERVER_ERR" &
    SERVER_PID=$!
    wait_until 10 answers_with_gen "$ADDR" 0
    [ "$(grep -c '^libhotswap: ' "$SERVER_ERR")" -eq 1 ]   # sh's line only
    stop_leftovers "$ADDR"
}

@test "garbage LISTEN_FDS: one line, and the server binds its own socket" {
    run_server WANT_LISTEN_PID=1 LISTEN_FDS=banana
    [ "$(grep -c 'LISTEN_FDS' "$SERVER_ERR")" -eq 1 ]
    grep -q '^libhotswap: ignoring LISTEN_FDS=banana: not a count of fds from 0 to 64$' "$SERVER_ERR"
}

@test "LISTEN_FDS naming an fd that is not a socket: ignored, the server binds its own" {
    FD3=/dev/null run_server WANT_LISTEN_PID=1 LISTEN_FDS=1
    grep -q '^libhotswap: ignoring an inherited fd that is not a bound socket (LISTEN_FDS)$' "$SERVER_ERR"
}

@test "LISTEN_FDS meant for another process (LISTEN_PID) is left alone, silently" {
    run_server LISTEN_FDS=1 LISTEN_PID=1
    refute grep -q 'LISTEN_FDS' "$SERVER_ERR"
}

@test "a channel fd that is not a socket: one line, and the server serves" {
    run_server HOTSWAP_CHANNEL_FD=0
    [ "$(grep -c '^libhotswap: ' "$SERVER_ERR")" -eq 1 ]
    grep -q '^libhotswap: HOTSWAP_CHANNEL_FD=0 is not a hotswap channel: passing calls through$' "$SERVER_ERR"
}

@test "a channel fd that is not a number: one line, and the server serves" {
    run_server HOTSWAP_CHANNEL_FD=12abc
    grep -q '^libhotswap: HOTSWAP_CHANNEL_FD=12abc is not a hotswap channel: passing calls through$' "$SERVER_ERR"
}

@test "a libc that lacks a hooked function: one line, pass-through, and the server serves" {
    # a shim built to find no sendmmsg in libc (real.c's HS_PRETEND_MISSING), as on an old glibc
    local build="$BATS_TEST_TMPDIR/build"
    make -s -C "$ROOT" BUILD="$build" EXTRA_CFLAGS='-DHS_PRETEND_MISSING=\"sendmmsg\"' "$build/libhotswap.so"
    SHIM="$build/libhotswap.so" run_server
    [ "$(grep -c '^libhotswap: ' "$SERVER_ERR")" -eq 1 ]
    grep -q '^libhotswap: libc has no sendmmsg(): passing calls through$' "$SERVER_ERR"
}

@test "errors pass through unchanged: bind on a port in use fails as it would without the shim" {
    run_server
    run env LD_PRELOAD="$SHIM" "$FIXTURE" --model epoll --listen "$ADDR"
    [ "$status" -ne 0 ]
    [[ "$output" == *"fixture: bind: Address already in use"* ]]
}

@test "every hooked call binds to the shim, not to libc (LD_DEBUG=bindings)" {
    run_server
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=
    local bindings="$BATS_TEST_TMPDIR/bindings"
    LD_DEBUG=bindings LD_DEBUG_OUTPUT="$bindings" LD_PRELOAD="$SHIM" \
        "$FIXTURE" --model epoll --listen "127.0.0.1:$(free_port)" --fail-if-exists / 2>/dev/null || true
    for symbol in bind listen accept4 close epoll_ctl unlink; do
        grep -h "normal symbol \`$symbol'" "$bindings".* | grep -q "libhotswap.so" ||
            { echo "$symbol does not bind to the shim"; grep -h "\`$symbol'" "$bindings".*; return 1; }
    done
}

@test "the launcher appends the shim to an LD_PRELOAD the server already has" {
    local addr="127.0.0.1:$(free_port)" log="$BATS_TEST_TMPDIR/hotswap.log"
    # a harmless library of the system's, preloaded first; the server must see both
    local libm
    libm=$(ldconfig -p | awk '/libm\.so\.6 .*x86-64|libm\.so\.6 / {print $NF; exit}')
    LD_PRELOAD="$libm" "$HOTSWAP" --control "$BATS_TEST_TMPDIR/c.sock" -- "$FIXTURE" --model epoll \
        --listen "$addr" 2>"$log" &
    SERVER_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    local pid
    pid=$(pid_of_answer "$addr")
    tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "LD_PRELOAD=$libm:$SHIM"
}

@test "the server's stdout and stderr are the launcher's, with their flags untouched" {
    local addr="127.0.0.1:$(free_port)" out="$BATS_TEST_TMPDIR/out" err="$BATS_TEST_TMPDIR/err"
    : >"$out"
    # stdout opened for appending: O_APPEND must still be on it in the server
    "$HOTSWAP" --control "$BATS_TEST_TMPDIR/c.sock" -- "$FIXTURE" --model epoll --listen "$addr" \
        >>"$out" 2>"$err" &
    SERVER_PID=$!
    wait_until 10 answers_with_gen "$addr" 1
    local pid flags
    pid=$(pid_of_answer "$addr")
    [ "$(readlink "/proc/$pid/fd/1")" = "$out" ]
    [ "$(readlink "/proc/$pid/fd/2")" = "$err" ]
    flags=$(awk '/^flags:/ {print $2}' "/proc/$pid/fdinfo/1")
    (( (8#$flags & 8#2000) != 0 ))                  # O_APPEND
    flags=$(awk '/^flags:/ {print $2}' "/proc/$pid/fdinfo/2")
    (( (8#$flags & 8#4000) == 0 ))                  # not made O_NONBLOCK
}

# in_secure_world DIR COMMAND...: COMMAND in a mount namespace of its own whose /etc has an
# ld.so.preload naming DIR/libhotswap.so (an overlay: the real /etc is not touched). That file
# reaches setuid programs too, where LD_PRELOAD never does.
in_secure_world() {
    local dir=$1; shift
    unshare -m /bin/sh -c '
        dir=$1; shift
        mount -t tmpfs scratch "$dir/ovl" && mkdir "$dir/ovl/up" "$dir/ovl/work" &&
        mount -t overlay overlay -o "lowerdir=/etc,upperdir=$dir/ovl/up,workdir=$dir/ovl/work" /etc &&
        echo "$dir/libhotswap.so" >/etc/ld.so.preload && exec "$@"' sh "$dir" "$@"
}

@test "a setuid program the shim reaches (/etc/ld.so.preload) takes nothing from HOTSWAP_ variables" {
    local dir
    dir=$(mktemp -d /tmp/hotswap-secure.XXXXXX)
    SECURE_DIR=$dir
    chmod 755 "$dir"
    mkdir -m 755 "$dir/ovl" "$dir/rootonly"
    mkdir -m 777 "$dir/open"
    cp "$SHIM" "$dir/libhotswap.so"
    cp /bin/true "$dir/plain-true"
    cp /bin/true "$dir/setuid-true"
    chmod 4755 "$dir/setuid-true"
    # (setpriv and env load the shim too, and say so: only the pidfiles tell the two apart)
    # the same program without the setuid bit, as nobody: the shim acts (standalone, its pidfile)
    run -0 in_secure_world "$dir" setpriv --reuid=65534 --regid=65534 --clear-groups \
        env HOTSWAP_PIDFILE="$dir/open/pid" "$dir/plain-true"
    [ -s "$dir/open/pid" ]
    # setuid root, run by nobody: no pidfile where only root may write
    run -0 in_secure_world "$dir" setpriv --reuid=65534 --regid=65534 --clear-groups \
        env HOTSWAP_PIDFILE="$dir/rootonly/pid" "$dir/setuid-true"
    [ ! -e "$dir/rootonly/pid" ]
}
