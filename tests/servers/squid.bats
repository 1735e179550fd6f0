#!/usr/bin/env bats
# squid (Debian's squid 5) under hotswap, in the foreground without a daemon (-N): one process,
# epoll, a reverse proxy (accelerator) on 127.0.0.1 and ::1 in front of a backend the test starts
# outside hotswap (tests/servers/backend.py, a static file server on 127.0.0.1). Run as root, squid
# serves as the proxy user. Its own DNS socket is bound to port 0 (a client's: not handed over). On
# SIGTERM it waits shutdown_lifetime (1 s here) for open connections. Five reloads under load for a
# small page on each address, and five while 30 MB downloads stream through it (responses written
# in many writes, each download in flight across a reload).

load helpers

DRAIN_TIMEOUT=20

setup() {
    need squid
    proxy_setup squid
    # squid (the proxy user when run as root) writes its cache.log in $WORK: search permission up
    # to bats' private run directory, write on $WORK
    reachable_by_others "$WORK"
    chmod a+rwx "$WORK"
    CLEANUP_PATTERN="squid -N -f $WORK/squid.conf"
}

@test "squid reverse proxy: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    proxy_reloads 2 squid -N -f "$WORK/squid.conf"
}

@test "squid reverse proxy, 30 MB downloads in flight: 5 reloads under load on 127.0.0.1, no download cut" {
    proxy_download_reloads 2 squid -N -f "$WORK/squid.conf"
}
