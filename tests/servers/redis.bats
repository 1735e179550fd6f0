#!/usr/bin/env bats
# redis-server under hotswap (no persistence: --save '' --appendonly no), measured with PING.
# It keeps its data in memory, so data does not survive a reload; connections and commands do.

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
