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

dns_answers() {
    /usr/bin/python3 "$ROOT/tests/fixtures/dns-load.py" "$1" "$PORT" "$NAME" "$ADDRESS" --once 1 --timeout-ms 1000
}
both_answer() { dns_answers 127.0.0.1 && dns_answers ::1; }

# dns_reloads HOST: 5 reloads while 4 UDP and 2 TCP workers ask HOST; no query failed, and each
# old generation is gone after its reload.
dns_reloads() {
    /usr/bin/python3 "$ROOT/tests/fixtures/dns-load.py" "$1" "$PORT" "$NAME" "$ADDRESS" --udp 4 --tcp 2 \
        >"$BATS_TEST_TMPDIR/dns-load.out" &
    local load=$! gen old serving summary
    serving=$(sed -n 's/.*gen \([0-9]*\) pid [0-9]* ready in.*/\1/p' "$HS_LOG" | tail -1)
    for gen in $(seq $((serving + 1)) $((serving + 5))); do
        old=$(serving_pid)
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; kill -TERM "$load"; return 1; }
        [[ "$output" == *"ok: gen $gen ready in"* ]]
        process_gone "$old"
    done
    kill -TERM "$load"
    wait "$load"
    summary=$(tail -n 1 "$BATS_TEST_TMPDIR/dns-load.out")
    echo "# $1: $summary" >&3
    [ "$(field failed "$summary")" = 0 ]
    [ "$(field udp "$summary")" -gt 0 ]
    [ "$(field tcp "$summary")" -gt 0 ]
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
