#!/usr/bin/env bats
# tcpsvd (Debian's ipsvd) as an inetd-style server under hotswap: one process that accepts and
# forks a child per connection; the child moves the connection onto fds 0 and 1 and execs
# tests/servers/inetd/answer.sh (a shell script that reads the request and answers "gen=G pid=P"),
# so the program holding the connection runs with the shim passing through. Before the exec, the
# child looks up the local hostname in DNS unless -l NAME gives it: djb's resolver code binds a
# UDP socket to a random port for that query. The query goes to a resolver of the test's own on the
# loopback (inetd/dns-nxdomain.py, named by DNSCACHEIP, which djb's resolver reads first): the
# machine's own, a remote one, once lost a query, and the lookup's 3 s retry timed requests out.
# tcpsvd is IPv4 only: 127.0.0.1.

load helpers

DRAIN_TIMEOUT=5

teardown() {
    [[ -z "${RESOLVER_PID:-}" ]] || kill -TERM "$RESOLVER_PID" 2>/dev/null
    teardown_hotswap
}

setup() {
    need tcpsvd
    PORT=$(free_port)
    prepare_config inetd
    chmod 755 "$WORK/answer.sh"
    CLEANUP_PATTERN="tcpsvd .*127.0.0.1 $PORT $WORK/answer.sh"
}

# tcpsvd_reloads [tcpsvd options...]: `tcpsvd OPTIONS 127.0.0.1 PORT answer.sh` under hotswap;
# five reloads under load; every generation answered.
tcpsvd_reloads() {
    local addr="127.0.0.1:$PORT"
    probe() { get "$addr"; }
    start_real probe --drain-timeout "${DRAIN_TIMEOUT}s" -- tcpsvd "$@" 127.0.0.1 "$PORT" "$WORK/answer.sh"
    five_reloads_under_load "$addr"
    [ "$(field gens "$LOAD_SUMMARY")" = 1,2,3,4,5,6 ]
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "tcpsvd -l localhost (fork and exec per connection, no DNS): 5 reloads under load lose no request" {
    tcpsvd_reloads -l localhost
}

@test "tcpsvd, default (a DNS query per connection from a UDP socket bound to a random port): 5 reloads under load lose no request" {
    local resolver=127.83.53.1
    /usr/bin/python3 "$WORK/dns-nxdomain.py" "$resolver" &
    RESOLVER_PID=$!
    # (a query before it listens is refused, and djb's resolver then waits 11 s)
    resolving() { ss -Hlun "( sport = :53 )" | grep -q "$resolver:53"; }
    wait_until 10 resolving
    export DNSCACHEIP=$resolver
    tcpsvd_reloads
}
