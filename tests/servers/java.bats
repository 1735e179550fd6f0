#!/usr/bin/env bats
# The JDK's own HTTP server (com.sun.net.httpserver, Debian's OpenJDK 17) under hotswap:
# tests/servers/java/HelloServer.java, compiled once. NIO: a selector thread per address accepts
# (epoll), one pool of 4 threads answers; the listener is an IPv6 socket even for 127.0.0.1 (a
# v4-mapped address). The JVM exits 143 on SIGTERM. Five reloads under load on 127.0.0.1, five
# on ::1.

load helpers

@test "java com.sun.net.httpserver: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    need java javac
    PORT=$(free_port)
    WORK="$BATS_TEST_TMPDIR/java"
    mkdir -p "$WORK"
    javac -d "$WORK" "$SERVERS/java/HelloServer.java"
    CLEANUP_PATTERN="HelloServer $PORT 127.0.0.1 ::1"
    local v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
    serves() { get "$1" / | grep -q '^hotswap java ok'; }
    probe() { serves "$v4" && serves "$v6"; }
    start_real probe -- java -cp "$WORK" HelloServer "$PORT" 127.0.0.1 ::1
    five_reloads_under_load "$v4" --path /
    five_reloads_under_load "$v6" --path /
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}

@test "java blocking ServerSocket.accept(): 5 reloads under load, each old JVM gone at its stop, no SIGKILL" {
    # Its shutdown closes the socket the acceptor thread is blocked on and joins that thread: the
    # JVM puts another file on the fd number and signals the thread. On the drained listener that
    # once spun, and every old JVM was SIGKILLed 10 s after its stop (exit 137 at the final stop).
    need java javac
    PORT=$(free_port)
    WORK="$BATS_TEST_TMPDIR/java"
    mkdir -p "$WORK"
    javac -d "$WORK" "$SERVERS/java/BlockingAcceptor.java"
    CLEANUP_PATTERN="BlockingAcceptor $PORT"
    serves() { get "127.0.0.1:$PORT" / | grep -q '^hotswap java ok'; }
    start_real serves --kill-timeout 5s -- java -cp "$WORK" BlockingAcceptor "$PORT"
    five_reloads_under_load "127.0.0.1:$PORT" --path /
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
