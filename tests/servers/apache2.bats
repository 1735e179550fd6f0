#!/usr/bin/env bats
# Apache 2.4 (Debian's apache2), in the foreground, under hotswap: a parent that binds 127.0.0.1
# and ::1 (AcceptFilter default: TCP_DEFER_ACCEPT) and workers (run as nobody when the test runs
# as root): with mpm_prefork processes that accept behind the accept mutex, with mpm_event
# threads beside a listener thread that keeps idle keep-alive connections.

load helpers

setup() {
    need apache2
    PORT=$(free_port)
    prepare_config apache2
    mkdir -p "$WORK/htdocs"
    mv "$WORK/index.html" "$WORK/htdocs/index.html"
    # the workers (nobody, when run as root) must reach the document root: search permission on
    # the test's directories up to bats' private run directory, read on the files
    reachable_by_others "$WORK"
    chmod -R a+rX "$WORK/htdocs"
    CLEANUP_PATTERN="apache2 -DFOREGROUND -f $WORK/apache2.conf"
}

serves_index() { [[ "$(get "$1" /index.html)" == "hotswap apache2 ok" ]]; }
apache_up() { serves_index "127.0.0.1:$PORT"; }

@test "apache2 (prefork): five reloads under load, zero failed requests, ::1 still answers, nothing left" {
    start_real apache_up -- apache2 -DFOREGROUND -f "$WORK/apache2.conf"
    five_reloads_under_load "127.0.0.1:$PORT" --path /index.html
    serves_index "[::1]:$PORT"
    serves_index "127.0.0.1:$PORT"
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
}

# event_mpm: the configuration with mpm_event instead (Debian's default MPM): a listener thread
# per child keeps idle keep-alive connections in its own epoll set, worker threads answer. 25
# threads a child, as Debian ships it: with fewer than the clients that reconnect at once after a
# reload, a child ends idle keep-alive connections itself (as at a cold start, and many more in
# its own graceful restart).
event_mpm() {
    sed -i -e 's/mpm_prefork_module/mpm_event_module/; s/mod_mpm_prefork.so/mod_mpm_event.so/' \
        -e '/^StartServers/,/^MaxConnectionsPerChild/d' "$WORK/apache2.conf"
    printf '%s\n' "StartServers 2" "ThreadsPerChild 25" "MaxRequestWorkers 150" "KeepAlive On" \
        "MaxKeepAliveRequests 0" >>"$WORK/apache2.conf"
}

@test "apache2 (event): keep-alive clients that never retry, five reloads, zero failed, nothing left" {
    event_mpm
    start_real apache_up -- apache2 -DFOREGROUND -f "$WORK/apache2.conf"
    five_reloads_under_load "127.0.0.1:$PORT" --path /index.html --keep-alive --no-idle-check -c 16
    serves_index "[::1]:$PORT"
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
}
