#!/usr/bin/env bats
# memcached (libevent, 4 worker threads) under hotswap, measured with its text protocol.

load helpers

memcached_answers() { "$LOADCLIENT" --connect "$HS_ADDR" --raw 'version\r\n' --expect 'VERSION ' --get >/dev/null; }

# the pid memcached itself reports (stats), to see which generation answers
memcached_pid() {
    "$LOADCLIENT" --connect "$1" --raw 'stats\r\n' --expect 'STAT pid ' --get | sed -n 's/^STAT pid \([0-9]*\).*/\1/p'
}

@test "memcached: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    need memcached
    PORT=$(free_port)
    HS_ADDR="127.0.0.1:$PORT"
    CLEANUP_PATTERN="memcached -p $PORT "
    start_real memcached_answers -- memcached -p "$PORT" -l 127.0.0.1,::1 -U 0 -t 4 -u nobody
    five_reloads_under_load "127.0.0.1:$PORT" --raw 'version\r\n' --expect 'VERSION '
    [ "$(memcached_pid "127.0.0.1:$PORT")" = "$(serving_pid)" ]
    five_reloads_under_load "[::1]:$PORT" --raw 'version\r\n' --expect 'VERSION '
    [ "$(memcached_pid "[::1]:$PORT")" = "$(serving_pid)" ]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}

@test "memcached, --handover-idle: sessions that pause between requests move open; 10 reloads, none lost or reopened" {
    need memcached
    PORT=$(free_port)
    HS_ADDR="127.0.0.1:$PORT"
    CLEANUP_PATTERN="memcached -p $PORT "
    start_real memcached_answers --handover-idle -- memcached -p "$PORT" -l 127.0.0.1 -U 0 -t 4 -u nobody
    # 8 sessions, each "version" then 150 ms idle: its text protocol, which no framing here knows
    python3 "$ROOT/tests/fixtures/line-sessions.py" 127.0.0.1 "$PORT" 8 0 150 --ask version 'VERSION ' \
        >"$BATS_TEST_TMPDIR/client.out" &
    local client=$! gen
    for gen in $(seq 2 11); do
        wait_until 10 serving "$(serving_pid)" "$HS_ADDR" 8
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        wait_until 15 grep -q "gen $((gen - 1)) drained" "$HS_LOG"
    done
    kill -TERM "$client"
    wait "$client" || true
    local summary
    summary=$(tail -n 1 "$BATS_TEST_TMPDIR/client.out")
    echo "# $summary" >&3
    [ "$(field lost "$summary")" = 0 ]
    [ "$(field sessions "$summary")" = 8 ] # each moved open: no client ever began a new one
    [ "$(memcached_pid "$HS_ADDR")" = "$(serving_pid)" ]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
