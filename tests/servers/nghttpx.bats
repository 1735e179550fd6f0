#!/usr/bin/env bats
# nghttpx (Debian's nghttp2-proxy 1.52) under hotswap, a reverse proxy in front of a backend the
# test starts outside hotswap (tests/servers/backend.py): a master that binds, and a worker
# process it forks, with 2 worker threads sharing the listeners. SIGTERM is its quick stop (it
# comes after the drain). Five reloads under load on 127.0.0.1, five on ::1.

load helpers

@test "nghttpx reverse proxy, a worker process with 2 threads: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    need nghttpx
    proxy_setup nghttpx
    CLEANUP_PATTERN="nghttpx --conf $WORK/nghttpx.conf"
    proxy_reloads 2 nghttpx --conf "$WORK/nghttpx.conf"
}
