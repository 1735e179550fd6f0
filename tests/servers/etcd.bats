#!/usr/bin/env bats
# etcd (Debian's etcd-server, a Go program: the seccomp route) under hotswap, one data directory
# for every generation. etcd locks its database (bbolt: flock with LOCK_NB, retried every 50 ms)
# and cannot start beside its old generation; it listens long before it serves, and says when it
# serves with READY=1 (its own unit is Type=notify): --ready notify. The launcher finds the new
# generation keeping the locked database open, and goes in sequence from then on. etcd's gRPC
# gateway also connects to its own client port: the drain does not wait for that connection.

load helpers

ETCD_ANSWERS='{"etcdserver"'

setup() {
    need etcd
    PORT=$(free_port)
    PEER_PORT=$(free_port)
    HS_ADDR="127.0.0.1:$PORT"
    DATA="$BATS_TEST_TMPDIR/etcd-data"
    CLEANUP_PATTERN="etcd --name hotswap-test --data-dir $DATA"
}

etcd_answers() { [[ "$(get "$HS_ADDR" /version)" == "$ETCD_ANSWERS"* ]]; }

# etcd_v3 PATH JSON: a POST to etcd's JSON gateway (keys and values in base64), its answer.
etcd_v3() {
    /usr/bin/python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode()), timeout=10).read().decode())' \
        "http://$HS_ADDR$1" "$2"
}

start_etcd() {
    start_real etcd_answers --ready notify -- etcd --name hotswap-test --data-dir "$DATA" \
        --listen-client-urls "http://$HS_ADDR" --advertise-client-urls "http://$HS_ADDR" \
        --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
        --initial-cluster "hotswap-test=http://127.0.0.1:$PEER_PORT"
}

@test "etcd (Go, one locked data directory): 10 reloads in sequence under load, 0 failed, the data kept" {
    start_etcd
    # a key written by gen 1 ("hotswap" = "kept", in base64)
    run etcd_v3 /v3/kv/put '{"key": "aG90c3dhcA==", "value": "a2VwdA=="}'
    [ "$status" -eq 0 ]
    start_load "$HS_ADDR" --path /version --timeout-ms 15000
    # the first reload finds gen 2 retrying the lock, fails it, and brings gen 3 in sequence
    reloads_in_sequence 10 3 || { stop_load; return 1; }
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    (($(field ok "$LOAD_SUMMARY") > 0))
    grep -Eq "gen 2 has $DATA/member/snap/db open, which gen 1 pid [0-9]+ holds locked" "$HS_LOG"
    [ "$(grep -c 'cannot run beside' "$HS_LOG")" = 1 ]
    # its own connection to its client port held no drain (it did for 20 s, as a client's would)
    local slow
    slow=$(sed -n 's/.*gen [0-9]* drained [0-9]* connections\{0,1\} in \([0-9]*\) ms.*/\1/p' "$HS_LOG" | awk '$1 > 5000' | head -1)
    [ -z "$slow" ] || { echo "a drain took $slow ms"; return 1; }
    run etcd_v3 /v3/kv/range '{"key": "aG90c3dhcA=="}'
    [[ "$output" == *'"value":"a2VwdA=="'* ]] || { echo "$output"; return 1; }
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}
