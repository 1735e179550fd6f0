#!/usr/bin/env bats
# Ruby's WEBrick (Debian's ruby 3.1 and ruby-webrick 1.8) under hotswap, as `ruby -run -e httpd`:
# one process, IO.select on its listener, a thread per connection. It binds one address per
# process: one test on 127.0.0.1, one on ::1. Five reloads under load each.

load helpers

webrick_reloads() {
    need ruby
    PORT=$(free_port)
    WORK="$BATS_TEST_TMPDIR/webrick"
    mkdir -p "$WORK"
    echo "hotswap webrick ok" >"$WORK/index.html"
    CLEANUP_PATTERN="ruby -run -e httpd -- -b $1 -p $PORT"
    local addr
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { get "$addr" /index.html; }
    # WEBrick logs every request on stderr: into $WORK/server.log, not the launcher's log
    start_real probe -- sh -c 'exec "$@" 2>>"$0"' "$WORK/server.log" \
        ruby -run -e httpd -- -b "$1" -p "$PORT" "$WORK"
    five_reloads_under_load "$addr" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}

@test "ruby WEBrick on 127.0.0.1: 5 reloads under load, zero failures" {
    webrick_reloads 127.0.0.1
}

@test "ruby WEBrick on ::1: 5 reloads under load, zero failures" {
    webrick_reloads ::1
}
