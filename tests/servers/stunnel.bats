#!/usr/bin/env bats
# stunnel4 (Debian's 5.68) under hotswap, in the foreground: TLS termination, one process, a thread
# per connection, in front of a backend the test starts outside hotswap (tests/servers/backend.py).
# The load client speaks plain HTTP to a second stunnel, outside hotswap, that opens a TLS
# connection to the one under test for each request. TLS is a protocol the shim does not frame,
# so each connection ends when the backend answers and closes. Five reloads under load.

load helpers

@test "stunnel, TLS in front of a backend: 5 reloads under load on 127.0.0.1, zero failures" {
    need stunnel4 openssl
    PORT=$(free_port)
    prepare_config stunnel
    mkdir -p "$WORK/backend"
    mv "$WORK/index.html" "$WORK/backend/index.html"
    start_backend "$WORK/backend"
    FRONT=$(free_port)
    sed -i -e "s|@BACKEND@|$BACKEND|g" -e "s|@FRONT@|$FRONT|g" "$WORK/server.conf" "$WORK/client.conf"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
    stunnel4 "$WORK/client.conf" 2>"$WORK/client.log" &
    CLEANUP_PATTERN="stunnel4 $WORK/server.conf"
    local front="127.0.0.1:$FRONT"
    probe() { [[ "$(get "$front" /index.html)" == "hotswap stunnel backend ok" ]]; }
    start_real probe -- stunnel4 "$WORK/server.conf"
    five_reloads_under_load "$front" --path /index.html
    probe
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    launcher_log_clean 1
}
