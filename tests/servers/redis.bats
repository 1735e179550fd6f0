#!/usr/bin/env bats
# redis-server under hotswap: without persistence (--save '' --appendonly no), measured with PING;
# and with an append-only file, whose every acknowledged write must survive the reloads.
# Without persistence its data does not survive a reload (it lives in memory); connections and commands do.

load helpers

redis_answers() { "$LOADCLIENT" --connect "$HS_ADDR" --raw 'PING\r\n' --expect '+PONG' --get >/dev/null; }

@test "redis: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    need redis-server
    PORT=$(free_port)
    HS_ADDR="127.0.0.1:$PORT"
    CLEANUP_PATTERN="redis-server .*:$PORT"
    start_real redis_answers -- redis-server --port "$PORT" --bind 127.0.0.1 ::1 --save '' \
        --appendonly no --dir "$BATS_TEST_TMPDIR"
    five_reloads_under_load "127.0.0.1:$PORT" --raw 'PING\r\n' --expect '+PONG'
    five_reloads_under_load "[::1]:$PORT" --raw 'PING\r\n' --expect '+PONG'
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}

# redis_counter: the value of the key "counter".
redis_counter() { "$LOADCLIENT" --connect "$HS_ADDR" --raw 'GET counter\r\n' --expect '$' --expect-lines 2 --get | sed -n 2p | tr -d '\r'; }

@test "redis with an append-only file: 10 reloads in sequence under INCR load, every acknowledged write kept" {
    # Each generation loads the append-only file while it already waits for connections (it
    # answers LOADING meanwhile) and says READY=1 after (--supervised systemd): --ready notify.
    # Beside its old generation, it would miss the old one's writes acknowledged after its load:
    # the launcher sees it load the file the old one appends to, and reloads go in sequence.
    need redis-server
    PORT=$(free_port)
    HS_ADDR="127.0.0.1:$PORT"
    CLEANUP_PATTERN="redis-server .*:$PORT"
    start_real redis_answers --ready notify -- redis-server --port "$PORT" --bind 127.0.0.1 --save '' \
        --appendonly yes --supervised systemd --dir "$BATS_TEST_TMPDIR"
    start_load "$HS_ADDR" -c 4 --raw 'INCR counter\r\n' --expect ':' --timeout-ms 10000
    # the first reload finds gen 2 loading the file gen 1 appends to, fails it, and goes in sequence
    reloads_in_sequence 10 3 || { stop_load; return 1; }
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    (($(field ok "$LOAD_SUMMARY") > 0))
    [ "$(redis_counter)" = "$(field ok "$LOAD_SUMMARY")" ]
    grep -Eq "gen 2 loaded $BATS_TEST_TMPDIR/appendonlydir/appendonly\.aof\.[0-9]+\.incr\.aof, which gen 1 pid [0-9]+ holds open for writing" "$HS_LOG"
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    FAILED_GEN=2 launcher_log_clean 1
}
