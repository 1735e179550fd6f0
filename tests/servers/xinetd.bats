#!/usr/bin/env bats
# xinetd (Debian's 2.3.15) under hotswap, in the foreground (-dontfork): select() on its
# listener, a fork per connection that execs the service program with the connection on fd 0/1
# (tests/servers/inetd/answer.sh, which answers with its generation). Five reloads under load.

load helpers

@test "xinetd, a program per connection: 5 reloads under load on 127.0.0.1, zero failures" {
    need xinetd
    PORT=$(free_port)
    prepare_config xinetd
    cp "$SERVERS/inetd/answer.sh" "$WORK/answer.sh"
    chmod 755 "$WORK/answer.sh"
    CLEANUP_PATTERN="xinetd -filelog $WORK/xinetd.log -dontfork -f $WORK/xinetd.conf"
    HS_ADDR="127.0.0.1:$PORT"
    probe() { answers_with_gen "$HS_ADDR" 1; }
    start_real probe -- xinetd -filelog "$WORK/xinetd.log" -dontfork -f "$WORK/xinetd.conf"
    five_reloads_under_load "$HS_ADDR" --path /
    answers_with_gen "$HS_ADDR" 6
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
