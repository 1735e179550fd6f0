#!/usr/bin/env bats
# nghttpx (Debian's nghttp2-proxy 1.52) under hotswap, a reverse proxy in front of a backend the
# test starts outside hotswap (tests/servers/backend.py): a master that binds, and a worker
# process it forks, with 2 worker threads sharing the listeners. SIGTERM is its quick stop (it
# comes after the drain). Five reloads under load on 127.0.0.1, five on ::1.

load helpers

@test "nghttpx reverse proxy, a worker process with 2 threads: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    need nghttpx
    PORT=$(free_port)
    prepare_config nghttpx
    mkdir -p "$WORK/backend"
    mv "$WORK/index.html" "$WORK/backend/index.html"
    start_backend "$WORK/backend"
    sed -i "s|@BACKEND@|$BACKEND|g" "$WORK/nghttpx.conf"
    CLEANUP_PATTERN="nghttpx --conf $WORK/nghttpx.conf"
    local v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
    serves() { [[ "$(get "$1" /index.html)" == "hotswap nghttpx backend ok" ]]; }
    probe() { serves "$v4" && serves "$v6"; }
    start_real probe -- nghttpx --conf "$WORK/nghttpx.conf"
    five_reloads_under_load "$v4" --path /index.html
    five_reloads_under_load "$v6" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 2
}
