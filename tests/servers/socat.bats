#!/usr/bin/env bats
# socat (Debian's socat) as an inetd-style server under hotswap: TCP-LISTEN with fork, one child
# per connection, each running tests/servers/inetd/answer.sh (a shell script that reads the
# request and answers "gen=G pid=P"). With EXEC:SCRIPT the socat child forks and execs the script
# and relays between the connection and a socketpair to it; with EXEC:SCRIPT,nofork the socat
# child execs the script itself, so the exec'd script holds the connection on fds 0 and 1. The
# exec'd script runs with the shim passing through (it is not the process the launcher started)
# and stays in the generation's process group. socat exits with status 143 on SIGTERM. One
# address per socat: 127.0.0.1 and ::1.

load helpers

DRAIN_TIMEOUT=5

setup() {
    need socat
    PORT=$(free_port)
    prepare_config inetd
    chmod 755 "$WORK/answer.sh"
    CLEANUP_PATTERN="socat TCP6?-LISTEN:$PORT,"
}

# socat_reloads LISTEN ADDR EXEC_OPTIONS: socat LISTEN,fork EXEC:answer.sh EXEC_OPTIONS under
# hotswap; five reloads under load on ADDR; every generation answered.
socat_reloads() {
    local listen=$1 addr=$2 exec_opts=$3
    probe() { get "$addr"; }
    start_real probe --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        socat "$listen,reuseaddr,fork" "EXEC:$WORK/answer.sh$exec_opts"
    five_reloads_under_load "$addr"
    [ "$(field gens "$LOAD_SUMMARY")" = 1,2,3,4,5,6 ]
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "socat fork + EXEC (a relay child per connection) on 127.0.0.1: 5 reloads under load lose no request" {
    socat_reloads "TCP-LISTEN:$PORT,bind=127.0.0.1" "127.0.0.1:$PORT" ""
}

@test "socat fork + EXEC (a relay child per connection) on ::1: 5 reloads under load lose no request" {
    socat_reloads "TCP6-LISTEN:$PORT,bind=[::1]" "[::1]:$PORT" ""
}

@test "socat fork + EXEC nofork (the script holds the connection) on 127.0.0.1: 5 reloads under load lose no request" {
    socat_reloads "TCP-LISTEN:$PORT,bind=127.0.0.1" "127.0.0.1:$PORT" ",nofork"
}
