#!/usr/bin/env bats
# dnsmasq (Debian's dnsmasq-base) as a DNS server under hotswap: one process answering UDP from
# its event loop, and a child forked per TCP connection (as a resolver falls back to TCP for a
# long answer). Both sockets are held across reloads: the UDP one is shared by the generations
# while they overlap, and a drained generation owes a reply to each query it read. It drops root
# to nobody. The load (tests/fixtures/dns-load.py) asks for one name over UDP and over TCP; every
# query must be answered with its address.

load helpers

NAME=test.example ADDRESS=192.0.2.1

setup() {
    need dnsmasq /usr/bin/python3
    PORT=$(free_port)
    CLEANUP_PATTERN="dnsmasq -k --port $PORT "
}

@test "dnsmasq (UDP, and a child per TCP connection): 5 reloads under load on 127.0.0.1, 5 on ::1, no query lost" {
    start_real both_answer -- dnsmasq -k --port "$PORT" --listen-address=127.0.0.1,::1 --bind-interfaces \
        --no-resolv --no-hosts --address="/$NAME/$ADDRESS" --user=nobody --log-facility=-
    dns_reloads 127.0.0.1
    dns_reloads ::1
    both_answer
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 4
}
