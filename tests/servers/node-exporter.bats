#!/usr/bin/env bats
# prometheus-node-exporter (Debian's package, a Go program) under hotswap, in the foreground:
# the seccomp route (auto), ten reloads under a load of scrapes of /metrics.

load helpers

DRAIN_TIMEOUT=5

setup() {
    need prometheus-node-exporter
    PORT=$(free_port)
    WORK="$BATS_TEST_TMPDIR/node-exporter"
    mkdir -p "$WORK"
    CLEANUP_PATTERN="prometheus-node-exporter --web.listen-address=.*:$PORT"
}

# exporter_reloads IP: the exporter on IP:PORT under hotswap; ten reloads under load.
exporter_reloads() {
    local addr
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { get "$addr" /metrics | grep -q '^node_exporter_build_info'; }
    start_real probe --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        prometheus-node-exporter --web.listen-address="$addr" --collector.disable-defaults --collector.loadavg
    grep -q "a Go program, its socket calls come to the launcher (the seccomp route)" "$HS_LOG"
    five_reloads_under_load "$addr" --path /metrics
    five_reloads_under_load "$addr" --path /metrics
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "prometheus-node-exporter (Go, the seccomp route) on 127.0.0.1: 10 reloads under load lose no request" {
    exporter_reloads 127.0.0.1
}

@test "prometheus-node-exporter (Go, the seccomp route) on ::1: 10 reloads under load lose no request" {
    exporter_reloads ::1
}
