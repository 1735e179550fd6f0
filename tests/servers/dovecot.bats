#!/usr/bin/env bats
# dovecot (Debian's dovecot-imapd 2.3) under hotswap, in the foreground (-F): a master that binds
# every listener and starts its services by fork + exec (imap-login accepts on the listener it
# inherits; auth, anvil, config, log, stats); the services talk over Unix listeners of the
# server's own, and stay connected for their life. The server speaks first: each request reads
# the "* OK" greeting and logs out. Five reloads under load on 127.0.0.1, with imap-login in
# dovecot's default mode (a process per connection) and in its high-performance mode (long-lived
# login processes that keep accepting).
#
# dovecot refuses to start while the pid in base_dir/master.pid is alive, so each generation gets
# its own base_dir (-o base_dir=.../gen$HOTSWAP_GENERATION), and so new Unix socket paths: the
# launcher lets the old generations' ones go once no process takes them, but holds both
# generations' during a reload, and says it cannot hold more past 64.

load helpers

IMAP_REQUEST=(--raw 'a LOGOUT\r\n' --expect '* OK')

dovecot_reloads() {
    need dovecot
    PORT=$(free_port)
    prepare_config dovecot
    mkdir -p "$WORK/state" "$WORK/run"
    reachable_by_others "$WORK/run"
    cat "$@" >>"$WORK/dovecot.conf" </dev/null
    CLEANUP_PATTERN="dovecot -F -c $WORK/dovecot.conf"
    local v4="127.0.0.1:$PORT"
    probe() { "$LOADCLIENT" --connect "$v4" "${IMAP_REQUEST[@]}" --get; }
    start_real probe -- sh -c 'mkdir -p "$1/gen$HOTSWAP_GENERATION" && exec dovecot -F -c "$0" -o base_dir="$1/gen$HOTSWAP_GENERATION"' \
        "$WORK/dovecot.conf" "$WORK/run"
    five_reloads_under_load "$v4" "${IMAP_REQUEST[@]}"
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    # its services' connections to each other never held up a drain
    refute grep -E 'drain timeout|exited with status [1-9]|SIGKILL' "$HS_LOG"
}

@test "dovecot, a login process per connection: 5 reloads under load on 127.0.0.1, zero failures" {
    dovecot_reloads
}

@test "dovecot, long-lived login processes (service_count = 0): 5 reloads under load, zero failures" {
    dovecot_reloads "$SERVERS/dovecot/high-performance.conf.in"
}
