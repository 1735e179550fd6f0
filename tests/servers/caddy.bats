#!/usr/bin/env bats
# caddy (Debian's package, a Go program) under hotswap: `caddy file-server`, in the foreground.
# Go's runtime makes its own socket system calls, which the preload shim never sees: the launcher
# takes the seccomp route for it (auto), and says so.

load helpers

DRAIN_TIMEOUT=5

setup() {
    need caddy
    PORT=$(free_port)
    prepare_config caddy
    CLEANUP_PATTERN="caddy file-server --listen .*:$PORT "
    # caddy keeps its state under $HOME/.local/share and $HOME/.config: the test's own
    export HOME="$WORK" XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config"
}

# caddy_reloads IP: caddy file-server on IP:PORT under hotswap; ten reloads under load.
caddy_reloads() {
    local addr
    if [[ "$1" == *:* ]]; then addr="[$1]:$PORT"; else addr="$1:$PORT"; fi
    probe() { [[ "$(get "$addr" /index.html)" == "hotswap caddy ok" ]]; }
    start_real probe --drain-timeout "${DRAIN_TIMEOUT}s" -- caddy file-server --listen "$addr" --root "$WORK"
    grep -q "a Go program, its socket calls come to the launcher (the seccomp route)" "$HS_LOG"
    five_reloads_under_load "$addr" --path /index.html
    five_reloads_under_load "$addr" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 1
}

@test "caddy file-server (Go, the seccomp route) on 127.0.0.1: 10 reloads under load lose no request" {
    caddy_reloads 127.0.0.1
}

@test "caddy file-server (Go, the seccomp route) on ::1: 10 reloads under load lose no request" {
    caddy_reloads ::1
}
