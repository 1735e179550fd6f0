#!/usr/bin/env bats
# Node.js (Debian's nodejs) under hotswap: a plain http.createServer script
# (tests/servers/node/server.js), one process, libuv's event loop (epoll, nonblocking accept4),
# one server per address on 127.0.0.1 and ::1. Node dies of SIGTERM, the default stop signal.
# Five reloads under load on each address with a fresh connection per request; then with
# keep-alive clients (Node keeps an idle connection open 5 s), in the default mode (the drain
# closes idle connections: only retryable failures allowed) and with --handover-idle (idle
# connections move to the new generation: no failure at all). Every drain must end before
# --drain-timeout (5 s here, to keep a failing run short): each old generation counts its
# connections down to zero.

load helpers

NODE=/usr/bin/node
DRAIN_TIMEOUT=5

setup() {
    need "$NODE"
    PORT=$(free_port)
    prepare_config node
    CLEANUP_PATTERN="node $WORK/server.js $PORT"
    v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
}

# start_node [hotswap options...]: the server under hotswap; waits until both addresses answer
# from generation 1.
start_node() {
    probe() { answers_with_gen "$v4" 1 && answers_with_gen "$v6" 1; }
    start_real probe --drain-timeout "${DRAIN_TIMEOUT}s" "$@" -- \
        "$NODE" "$WORK/server.js" "$PORT" 127.0.0.1 ::1
}

# no_drain_timeout: no old generation was stopped at --drain-timeout (the launcher's log).
# keep_alive_reloads ADDR: 5 reloads under a keep-alive load on ADDR (8 clients); each reload
# succeeds and its old generation is gone; the summary in LOAD_SUMMARY. The callers check it.
keep_alive_reloads() {
    local addr=$1 gen old serving
    start_load "$addr" --keep-alive --allow-retryable --timeout-ms 10000
    serving=$(sed -n 's/.*gen \([0-9]*\) pid [0-9]* ready in.*/\1/p' "$HS_LOG" | tail -1)
    for gen in $(seq $((serving + 1)) $((serving + 5))); do
        old=$(serving_pid)
        run reload
        [ "$status" -eq 0 ] || { echo "reload to gen $gen: $output"; return 1; }
        [[ "$output" == *"ok: gen $gen ready in"* ]]
        process_gone "$old"
    done
    stop_load
    [[ -n "${SERVERS_REPORT:-}" ]] && echo "$BATS_TEST_DESCRIPTION | $addr | $LOAD_SUMMARY" >>"$SERVERS_REPORT"
    [ "$(field ok "$LOAD_SUMMARY")" -gt 0 ]
    # generation 1..5 or 6..10 answered before its reload, and the last one after
    [[ ",$(field gens "$LOAD_SUMMARY")," == *",$gen,"* ]]
}

@test "node http.createServer: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures, no drain timeout" {
    start_node
    five_reloads_under_load "$v4"
    five_reloads_under_load "$v6"
    answers_with_gen "$v4" 11
    answers_with_gen "$v6" 11
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}

@test "node, keep-alive clients, default mode: 5 reloads on 127.0.0.1, 5 on ::1, no hard failure, no drain timeout" {
    start_node
    keep_alive_reloads "$v4"
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field hard "$LOAD_SUMMARY")" = 0 ]
    # the clients reconnected: the old generations closed their idle connections
    [ "$(field conns "$LOAD_SUMMARY")" -gt 8 ]
    keep_alive_reloads "$v6"
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field hard "$LOAD_SUMMARY")" = 0 ]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}

@test "node, keep-alive clients, --handover-idle: 5 reloads on 127.0.0.1, 5 on ::1, zero failures, no reconnection" {
    start_node --handover-idle
    keep_alive_reloads "$v4"
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field conns "$LOAD_SUMMARY")" = 8 ]
    keep_alive_reloads "$v6"
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [ "$(field conns "$LOAD_SUMMARY")" = 8 ]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}

# Node's cluster module, with express from npm (tests/servers/install puts it in EXPRESS_MODULES):
# the primary accepts every connection and passes it to one of its 2 workers (SCHED_RR, the
# default on Linux). The workers, which node exec'd, track the connections they are handed: the
# drain closes their idle ones, so no drain runs to its timeout.
EXPRESS_MODULES=/usr/local/lib/hotswap-tests/node/node_modules

# start_node_cluster [hotswap options...]: cluster.js under hotswap on 127.0.0.1 (the scheduling
# policy from NODE_CLUSTER_SCHED_POLICY, if set).
start_node_cluster() {
    [[ -f "$EXPRESS_MODULES/express/package.json" ]] ||
        { echo "express is not installed: run tests/servers/install" >&2; return 1; }
    CLEANUP_PATTERN="node $WORK/cluster.js $PORT"
    NODE_PATH=$EXPRESS_MODULES start_real "answers_with_gen $v4 1" --drain-timeout "${DRAIN_TIMEOUT}s" "$@" -- \
        "$NODE" "$WORK/cluster.js" "$PORT" 127.0.0.1
}

@test "node cluster with express, 2 workers handed each connection: keep-alive clients through 5 reloads, no hard failure, no drain timeout" {
    start_node_cluster
    keep_alive_reloads "$v4"
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field hard "$LOAD_SUMMARY")" = 0 ]
    # the clients reconnected: the old workers closed their idle connections
    [ "$(field conns "$LOAD_SUMMARY")" -gt 8 ]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

# With NODE_CLUSTER_SCHED_POLICY=none the primary hands the listener to its workers, which
# accept: the primary never waits on it, so only the workers, which node exec'd, can say a
# generation is ready (issue 25). Every reload must be done, with no failure.
@test "node cluster with express, SCHED_NONE (2 workers accept from the listener they are handed): 10 reloads under load, every one done, zero failures" {
    NODE_CLUSTER_SCHED_POLICY=none start_node_cluster --ready-timeout 10s
    local gen
    start_load "$v4" --timeout-ms 10000
    for gen in $(seq 2 11); do
        run reload
        [ "$status" -eq 0 ] && [[ "$output" == *"ok: gen $gen ready in"* ]] ||
            { echo "reload to gen $gen: $output"; stop_load; return 1; }
    done
    stop_load
    [[ -n "${SERVERS_REPORT:-}" ]] && echo "$BATS_TEST_DESCRIPTION | $v4 | $LOAD_SUMMARY" >>"$SERVERS_REPORT"
    [ "$LOAD_STATUS" -eq 0 ]
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
    [[ ",$(field gens "$LOAD_SUMMARY")," == *",11,"* ]]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}
