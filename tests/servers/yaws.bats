#!/usr/bin/env bats
# yaws 2.1 (Debian's yaws, on Erlang/OTP 25) under hotswap: the Erlang VM runs its own event loop
# over its scheduler threads, starts helper programs (erl_child_setup, inet_gethost), and listens
# first on a control port of its own that the kernel chooses (127.0.0.1:0, where `yaws --stop`
# finds it), then on the service addresses, 300 ms or more into its start. It refuses to start
# while a yaws with the same id runs, so each generation takes its own: the id is the generation's
# number, from HOTSWAP_GENERATION. Five reloads under load on 127.0.0.1; then ::1, its second
# listener, answers too.

load helpers

yaws_reloads() {
    need yaws
    PORT=$(free_port)
    prepare_config yaws   # yaws.conf and index.html, into $WORK
    local addr="127.0.0.1:$PORT"
    probe() { get "$addr" /index.html && get "[::1]:$PORT" /index.html; }
    # HOME: yaws keeps each id's control file under ~/.yaws; its reports go to $WORK/server.log
    start_real probe -- env HOME="$WORK" sh -c \
        'exec yaws -i --conf "$0/yaws.conf" --erlarg -noshell --id "gen$HOTSWAP_GENERATION" >>"$0/server.log" 2>&1' \
        "$WORK"
    five_reloads_under_load "$addr" --path /index.html
    probe
    stop_and_check_nothing_left "beam.smp.*-conf $WORK/yaws.conf"
    launcher_log_clean 2
    # the control port is the server's own: no word of a listener made past the shim
    refute grep -q 'but the shim never saw that socket' "$HS_LOG"
}

@test "yaws (Erlang VM, a control port of its own): 5 reloads under load on 127.0.0.1, ::1 answers after, zero failures" {
    yaws_reloads
}
