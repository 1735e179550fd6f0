#!/usr/bin/env bats
# unbound as a DNS server under hotswap: two threads, each with a socket of its own on every
# address for UDP and for TCP (SO_REUSEPORT: the kernel spreads queries over a group of sockets
# bound to one address, so a generation holds 8 listeners for 2 addresses). It drops root to the
# unbound user. The load (tests/fixtures/dns-load.py) asks for a name of a local zone over UDP
# and over TCP; every query must be answered with its address.

load helpers

NAME=test.example ADDRESS=192.0.2.1

setup() {
    need unbound /usr/bin/python3
    PORT=$(free_port)
    CLEANUP_PATTERN="unbound -d -c $BATS_TEST_TMPDIR/unbound.conf"
}

# unbound_config: a resolver that answers NAME from a local zone and asks no one else.
unbound_config() {
    cat >"$BATS_TEST_TMPDIR/unbound.conf" <<CONF
server:
    interface: 127.0.0.1@$PORT
    interface: ::1@$PORT
    port: $PORT
    num-threads: 2
    so-reuseport: yes
    do-daemonize: no
    username: "unbound"
    chroot: ""
    directory: "$BATS_TEST_TMPDIR"
    pidfile: ""
    use-syslog: no
    logfile: ""
    access-control: 127.0.0.0/8 allow
    access-control: ::1 allow
    local-zone: "${NAME#*.}." static
    local-data: "$NAME. 60 IN A $ADDRESS"
    module-config: "iterator"
remote-control:
    control-enable: no
CONF
}

@test "unbound (2 threads, a socket group per address): 5 reloads under load on 127.0.0.1, 5 on ::1, no query lost" {
    unbound_config
    start_real both_answer -- unbound -d -c "$BATS_TEST_TMPDIR/unbound.conf"
    # each thread its own socket: two listeners per address and protocol, all held
    [ "$(grep -c "gen 1 pid [0-9]* listens on .*:$PORT: held" "$HS_LOG")" -eq 8 ]
    dns_reloads 127.0.0.1
    dns_reloads ::1
    both_answer
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 8
}
