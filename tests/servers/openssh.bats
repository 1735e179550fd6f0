#!/usr/bin/env bats
# OpenSSH's sshd (Debian's openssh-server 9.2) under hotswap, in the foreground (-D -e): select()
# on its listeners, a fork per connection, and the child re-execs sshd (-R) with the connection
# on its stdin and stdout. The server speaks first: each request reads its version banner, sends
# the client's and hangs up. Five reloads under load on 127.0.0.1, five on ::1.

load helpers

SSH_REQUEST=(--raw 'SSH-2.0-hotswap-load\r\n' --expect 'SSH-2.0-OpenSSH')

@test "sshd, a fork and re-exec per connection: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    need /usr/sbin/sshd ssh-keygen
    PORT=$(free_port)
    prepare_config openssh
    ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_ed25519"
    mkdir -p /run/sshd   # its privilege separation directory, which its unit makes
    CLEANUP_PATTERN="sshd -D -e -f $WORK/sshd_config"
    local v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
    probe() { "$LOADCLIENT" --connect "$v4" "${SSH_REQUEST[@]}" --get && "$LOADCLIENT" --connect "$v6" "${SSH_REQUEST[@]}" --get; }
    # sshd re-execs itself per connection, so it must be started by its absolute path
    start_real probe -- /usr/sbin/sshd -D -e -f "$WORK/sshd_config"
    five_reloads_under_load "$v4" "${SSH_REQUEST[@]}"
    five_reloads_under_load "$v6" "${SSH_REQUEST[@]}"
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}
