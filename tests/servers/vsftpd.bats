#!/usr/bin/env bats
# vsftpd (Debian's 3.0.3) under hotswap, standalone (listen=YES, background=NO): a fork per
# connection, the session child in namespaces of its own (isolate), a privilege-separated helper;
# the server speaks first. Each request reads the "220" greeting, sends QUIT and reads "221".
# SIGTERM kills it (no handler). Five reloads under load on 127.0.0.1.

load helpers

FTP_REQUEST=(--raw 'QUIT\r\n' --expect '220 ' --expect-lines 2)

@test "vsftpd, a fork per connection: 5 reloads under load on 127.0.0.1, zero failures" {
    need vsftpd
    PORT=$(free_port)
    prepare_config vsftpd
    mkdir -p /var/run/vsftpd/empty   # its secure_chroot_dir, which its package makes at boot
    CLEANUP_PATTERN="vsftpd $WORK/vsftpd.conf"
    local v4="127.0.0.1:$PORT"
    probe() { "$LOADCLIENT" --connect "$v4" "${FTP_REQUEST[@]}" --get | grep -q '^221 '; }
    start_real probe -- vsftpd "$WORK/vsftpd.conf"
    five_reloads_under_load "$v4" "${FTP_REQUEST[@]}"
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
