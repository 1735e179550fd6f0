#!/usr/bin/env bats
# starman (Debian's 0.4016, Perl) under hotswap, in the foreground: Net::Server::PreFork, a master
# that binds and forks 2 workers, which take turns in accept(); a PSGI application. Five reloads
# under load on 127.0.0.1 (its --listen takes no IPv6 literal).

load helpers

@test "starman, 2 prefork workers: 5 reloads under load on 127.0.0.1, zero failures" {
    need starman
    PORT=$(free_port)
    prepare_config starman
    CLEANUP_PATTERN="starman.*:$PORT"
    local v4="127.0.0.1:$PORT"
    probe() { get "$v4" /; }
    workers() { (($(pgrep -c -P "$(serving_pid)") == 2)); }
    start_real probe -- starman --listen "$v4" --workers 2 "$WORK/app.psgi"
    wait_until 10 workers
    five_reloads_under_load "$v4" --path /
    probe
    wait_until 10 workers
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
