#!/usr/bin/env bats
# uWSGI (Debian's uwsgi-core with uwsgi-plugin-python3) under hotswap: a master and 2 prefork
# workers serving a tiny WSGI app (tests/servers/uwsgi/app.py answers "gen=G pid=P") on
# --http-socket 127.0.0.1 and ::1. --die-on-term: without it uWSGI takes SIGTERM (the stop
# signal) as "reload" and re-execs itself. uWSGI speaks systemd socket activation: a new
# generation finds LISTEN_FDS/LISTEN_PID and attaches each fd as a socket of its own with the
# default protocol (uwsgi's binary protocol) unless --protocol http says otherwise; it binds
# nothing itself then. Generation 1 binds and listens itself.

load helpers

DRAIN_TIMEOUT=5

setup() {
    need uwsgi
    PORT=$(free_port)
    prepare_config uwsgi
    CLEANUP_PATTERN="uwsgi .*--wsgi-file $WORK/app.py"
    v4="127.0.0.1:$PORT" v6="[::1]:$PORT"
}

# uwsgi_reloads [uwsgi options...]: uwsgi --master --processes 2 with an HTTP socket on each
# address under hotswap; five reloads under load on 127.0.0.1, five on ::1.
uwsgi_reloads() {
    probe() { answers_with_gen "$v4" "$1" && answers_with_gen "$v6" "$1"; }
    # the uWSGI log (one line per request without --disable-logging) goes to its own file
    start_real "probe 1" --drain-timeout "${DRAIN_TIMEOUT}s" -- \
        uwsgi --plugin python3 --http-socket "$v4" --http-socket "$v6" "$@" \
        --master --processes 2 --die-on-term --disable-logging --logto "$WORK/uwsgi.log" \
        --wsgi-file "$WORK/app.py"
    workers() { (($(pgrep -c -P "$(serving_pid)") == 2)); }
    wait_until 10 workers
    five_reloads_under_load "$v4"
    five_reloads_under_load "$v6"
    probe 11
    wait_until 10 workers
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    no_drain_timeout
    launcher_log_clean 2
}

@test "uwsgi, master and 2 workers, --http-socket: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    uwsgi_reloads
}

@test "uwsgi, master and 2 workers, --http-socket and --protocol http: 5 reloads under load on 127.0.0.1, 5 on ::1, zero failures" {
    # the sockets a new generation takes from LISTEN_FDS speak HTTP too
    uwsgi_reloads --protocol http
}
