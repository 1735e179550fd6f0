#!/usr/bin/env bats
# Apache 2.4 (Debian's apache2) with mpm_prefork, in the foreground, under hotswap: a parent that
# binds 127.0.0.1 and ::1 (AcceptFilter default: TCP_DEFER_ACCEPT) and prefork workers (run as
# nobody when the test runs as root) that accept behind the accept mutex.

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
