#!/usr/bin/env bats
# nginx (Debian's nginx-light) under hotswap: master plus 2 workers forked after listen(), and
# master_process off. nginx calls listen() twice per socket, sets nonblocking mode with
# ioctl(FIONBIO), and puts its listeners in epoll with EPOLLEXCLUSIVE.

load helpers
bats_require_minimum_version 1.5.0

nginx_answers() { get "$HS_ADDR" / | grep -q '^pid='; }

run_nginx() {
    local config=$1
    need nginx
    PORT=$(free_port)
    prepare_config nginx
    HS_ADDR="127.0.0.1:$PORT"
    CLEANUP_PATTERN="nginx.*$WORK/$config"
    start_real nginx_answers -- nginx -p "$WORK" -c "$WORK/$config"
    five_reloads_under_load "127.0.0.1:$PORT"
    HS_ADDR="[::1]:$PORT" nginx_answers
    five_reloads_under_load "[::1]:$PORT"
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}

@test "nginx, master and 2 workers: 10 reloads under load on 127.0.0.1 and ::1, zero failures" {
    run_nginx nginx.conf
}

@test "nginx, master_process off: 10 reloads under load on 127.0.0.1 and ::1, zero failures" {
    run_nginx nginx-single.conf
}

# parent_of PID: its parent's pid.
parent_of() { awk '{print $4}' "/proc/$1/stat"; }

@test "nginx, master and 2 workers, --keep-old: reload, then hotswap rollback under load: gen 1's workers serve again, zero failures" {
    need nginx
    PORT=$(free_port)
    prepare_config nginx
    HS_ADDR="127.0.0.1:$PORT"
    start_real nginx_answers --keep-old 30s -- nginx -p "$WORK" -c "$WORK/nginx.conf"
    local old_master
    old_master=$(sed -n 's/.*gen 1 pid \([0-9]*\) starting.*/\1/p' "$HS_LOG")
    start_load "$HS_ADDR"
    run -0 reload
    [[ "$output" == *"ok: gen 2 ready in"*"parked for 30000 ms (hotswap rollback brings it back); kernel: "* ]]
    run -0 "$HOTSWAP" rollback --control "$HS_CONTROL"
    [[ "$output" == "ok: gen 1 serves again"* ]]
    wait_until 10 grep -q "gen 2 pid [0-9]* .*after the stop" "$HS_LOG"
    local worker
    worker=$(get "$HS_ADDR" / | sed -n 's/^pid=//p')
    [ "$(parent_of "$worker")" = "$old_master" ]
    stop_load
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    stop_and_check_nothing_left "nginx.*$WORK/nginx.conf"
}

# wrk_socket_errors FILE: the sum of wrk's socket errors (connect, read, write, timeout; wrk prints
# the line only when one is not zero)
wrk_socket_errors() {
    sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$1" |
        awk '{n += $1 + $2 + $3 + $4} END {print n + 0}'
}

@test "nginx keep-alive, plaintext: wrk (32 connections, never retries) through 5 reloads, 0 socket errors" {
    need nginx wrk
    PORT=$(free_port)
    prepare_config nginx
    HS_ADDR="127.0.0.1:$PORT"
    start_real nginx_answers -- nginx -p "$WORK" -c "$WORK/nginx.conf"
    local out="$BATS_TEST_TMPDIR/wrk.out" wrk_pid gen
    wrk -t2 -c32 -d120s "http://$HS_ADDR/" >"$out" 2>&1 &
    wrk_pid=$!
    wrk_connected() { (($(ss -Htn state established "( sport = :$PORT )" | wc -l) >= 32)); }
    wait_until 10 wrk_connected
    for gen in 2 3 4 5 6; do
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        # the old generation gone before the next reload: each drain meets 32 busy connections
        wait_until 10 grep -q "reload done: gen $gen ready" "$HS_LOG"
    done
    kill -INT "$wrk_pid"
    wait "$wrk_pid"
    cat "$out"
    grep -Eq '^ +[0-9]+ requests in' "$out"
    [ "$(wrk_socket_errors "$out")" -eq 0 ]
    refute grep -q "cut" "$HS_LOG"
    stop_and_check_nothing_left "nginx.*$WORK/nginx.conf"
}

# clients_connected N: at least N connections established to the server.
clients_connected() { (($(ss -Htn state established "( sport = :$PORT )" | wc -l) >= $1)); }

# nginx_tls_reloads [hotswap options...]: nginx serving TLS (master and 2 workers) under 16
# keep-alive TLS clients that pause 200 ms between requests, reloaded 5 times; each old
# generation gone within a second of its drain's start (drained, or stopped by itself on its
# --graceful-signal), no drain cut at its timeout, 0 failed.
nginx_tls_reloads() {
    need nginx openssl
    [[ -x "$ROOT/$BUILD/tls-keepalive" ]] || make -s -C "$ROOT" BUILD="$BUILD" test-fixtures >&2
    PORT=$(free_port)
    prepare_config nginx-tls
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
    HS_ADDR="127.0.0.1:$PORT"
    tls_answers() { grep -q "gen 1 pid [0-9]* ready" "$HS_LOG"; }
    start_real tls_answers --drain-timeout 10s "$@" -- nginx -p "$WORK" -c "$WORK/nginx.conf"
    "$ROOT/$BUILD/tls-keepalive" load --connect "$HS_ADDR" --ca "$WORK/cert.pem" -c 16 -d 60 --pause-ms 200 \
        >"$BATS_TEST_TMPDIR/client.out" &
    LOAD_PID=$!
    local gen old ms
    for gen in 2 3 4 5 6; do
        old=$((gen - 1))
        wait_until 10 clients_connected 16
        run -0 reload
        ms=$(sed -n -e "s/.*gen $old stopped itself on its graceful signal, \([0-9]*\) ms into its drain.*/\1/p" \
            -e "s/^hotswap: gen $old drained [0-9]* connections\{0,1\} in \([0-9]*\) ms.*/\1/p" "$HS_LOG" | head -1)
        echo "# gen $old gone in ${ms:-?} ms" >&3
        [[ -n "$ms" ]] || { cat "$HS_LOG"; false; }
        ((ms < 1000))
    done
    kill -TERM "$LOAD_PID"
    wait "$LOAD_PID"
    LOAD_PID=
    echo "# $(tail -n 1 "$BATS_TEST_TMPDIR/client.out")" >&3
    [ "$(field failed "$(tail -n 1 "$BATS_TEST_TMPDIR/client.out")")" = 0 ]
    refute grep -q "at the drain timeout" "$HS_LOG"
    stop_and_check_nothing_left "nginx.*$WORK/nginx.conf"
}

# TLS: the shim cannot frame it, so each keep-alive connection is ended once the kernel shows it
# idle by turn (the server answered, the client acknowledged and paused).
@test "nginx serving TLS, master and 2 workers: keep-alive clients through 5 reloads, 0 failed, each old generation gone within a second" {
    nginx_tls_reloads
}

# --graceful-signal QUIT: nginx's own graceful stop closes each keep-alive TLS connection after
# its answer (its protocol's goodbye); the shim ends none itself here (--idle-close never).
@test "nginx serving TLS with --graceful-signal QUIT: each old generation gone within a second, 0 failed" {
    nginx_tls_reloads --idle-close never --graceful-signal QUIT
    [ "$(grep -c "pid [0-9]* sent signal 3 (--graceful-signal)" "$HS_LOG")" -ge 5 ]
}
