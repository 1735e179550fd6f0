#!/usr/bin/env bats
# bind9's named as an authoritative DNS server under hotswap, as an operator runs it: libuv's
# event loops on a worker thread per CPU, a UDP socket per thread on every address and TCP
# listeners beside them (8 listeners for 2 addresses on 2 CPUs); it drops root to bind. Two
# instances cannot run at once: named locks its lock file (fcntl), so hotswap reloads it in
# sequence. It reads its sockets before its zones are loaded and answers SERVFAIL meanwhile, so
# it runs with --ready notify (it sends READY=1 once they are). The load
# (tests/fixtures/dns-load.py) asks for a name of its zone over UDP and over TCP; every query
# must be answered with its address.

load helpers

NAME=test.example ADDRESS=192.0.2.1

setup() {
    need named /usr/bin/python3
    PORT=$(free_port)
    WORK="$BATS_TEST_TMPDIR/named"
    CLEANUP_PATTERN="named -g -u bind -c $WORK/named.conf"
}

# named_config: an authoritative server for one zone, on 127.0.0.1 and ::1, in a directory of
# its own that the bind user owns (its lock file, its managed keys).
named_config() {
    mkdir -p "$WORK"
    cat >"$WORK/named.conf" <<CONF
options {
    directory "$WORK";
    listen-on port $PORT { 127.0.0.1; };
    listen-on-v6 port $PORT { ::1; };
    pid-file "$WORK/named.pid";
    lock-file "$WORK/named.lock";
    recursion no;
    dnssec-validation no;
};
controls { };
zone "${NAME#*.}" { type master; file "$WORK/zone"; };
CONF
    cat >"$WORK/zone" <<ZONE
\$TTL 60
@ IN SOA ns.${NAME#*.}. admin.${NAME#*.}. 1 3600 600 86400 60
@ IN NS ns.${NAME#*.}.
ns IN A 192.0.2.53
${NAME%%.*} IN A $ADDRESS
ZONE
    chown -R bind "$WORK"
    reachable_by_others "$WORK"
}

@test "bind9 named (libuv, locks its lock file, --ready notify): 5 reloads in sequence on 127.0.0.1, 5 on ::1, no query lost" {
    named_config
    start_real both_answer --ready notify -- named -g -u bind -c "$WORK/named.conf"
    dns_reloads 127.0.0.1
    dns_reloads ::1
    both_answer
    # the second instance found the first holding the lock file: every reload went in sequence
    grep -q "could not lock $WORK/named.lock: held by gen 1" "$HS_LOG"
    [ "$(grep -c "reload done: in sequence" "$HS_LOG")" -ge 9 ]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    FAILED_GEN=2 launcher_log_clean 8
}
