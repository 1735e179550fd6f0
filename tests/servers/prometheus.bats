#!/usr/bin/env bats
# Prometheus itself (Debian's prometheus package, a Go program) under hotswap, in the foreground:
# the seccomp route (auto), ready at its listen, drained at a SIGURG; ten reloads under a load of
# GET /-/healthy. Each generation opens the same TSDB directory (its lock file taken over).

load helpers

DRAIN_TIMEOUT=10

setup() {
    need prometheus
    PORT=$(free_port)
    WORK="$BATS_TEST_TMPDIR/prometheus"
    mkdir -p "$WORK"
    printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' >"$WORK/prometheus.yml"
    CLEANUP_PATTERN="prometheus --config.file=$WORK/prometheus.yml"
}

# prometheus_reloads IP: Prometheus on IP:PORT under hotswap; ten reloads under load.
prometheus_reloads() {
    local addr
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { get "$addr" /-/healthy | grep -q 'Healthy'; }
    start_real probe --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        prometheus --config.file="$WORK/prometheus.yml" --web.listen-address="$addr" \
        --storage.tsdb.path="$WORK/data"
    grep -q "a Go program, its socket calls come to the launcher (the seccomp route)" "$HS_LOG"
    five_reloads_under_load "$addr" --path /-/healthy
    five_reloads_under_load "$addr" --path /-/healthy
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
}

@test "prometheus (Go, the seccomp route) on 127.0.0.1: 10 reloads under load lose no request" {
    prometheus_reloads 127.0.0.1
}

@test "prometheus (Go, the seccomp route) on ::1: 10 reloads under load lose no request" {
    prometheus_reloads ::1
}
