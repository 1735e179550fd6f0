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
    [[ -n "${EVIL_DIR:-}" ]] && rm -rf "$EVIL_DIR"
    teardown_hotswap
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
