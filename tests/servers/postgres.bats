#!/usr/bin/env bats
# PostgreSQL (Debian's postgresql) under hotswap: the postmaster, a backend process forked per
# connection, listening on 127.0.0.1 and on a Unix socket. A new postmaster finds the old one's
# pid in postmaster.pid alive (kill(pid, 0)) and refuses to start: the launcher sees the check and
# reloads in sequence. It accepts connections while it recovers ("the database system is starting
# up") and says when it serves with READY=1: --ready notify. The load is pgbench's TPC-B, a new
# connection per transaction (-C), each client in its own thread; every committed transaction
# adds a row to pgbench_history, and every one must be there after the reloads.

load helpers

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

setup() {
    need "$PG_BIN/postgres" "$PG_BIN/pgbench" psql setpriv
    PORT=$(free_port)
    WORK="$BATS_TEST_TMPDIR/postgres"
    mkdir -p "$WORK/sock"
    chown -R postgres: "$WORK"
    reachable_by_others "$WORK"
    as_postgres "$PG_BIN/initdb" -D "$WORK/data" -A trust -U postgres >"$WORK/initdb.log"
    HS_ADDR="127.0.0.1:$PORT"
    CLEANUP_PATTERN="postgres -D $WORK/data"
}

as_postgres() { setpriv --reuid postgres --regid postgres --init-groups -- "$@"; }

sql() { psql -h 127.0.0.1 -p "$PORT" -U postgres -XAtq -c "$1" postgres; }

postgres_answers() { [[ "$(sql 'select 1' 2>/dev/null)" == 1 ]]; }

@test "postgres: 10 reloads in sequence under pgbench, 0 failed, every committed transaction's row present" {
    start_real postgres_answers --ready notify -- setpriv --reuid postgres --regid postgres --init-groups -- \
        "$PG_BIN/postgres" -D "$WORK/data" -p "$PORT" -h 127.0.0.1 -k "$WORK/sock"
    "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -i -q postgres >"$WORK/pgbench-init.log" 2>&1
    "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -C -c 4 -j 4 -T 15 postgres >"$WORK/pgbench.log" 2>&1 &
    local bench=$!
    # the first reload finds gen 2 checking gen 1's pid (postmaster.pid) and goes in sequence
    reloads_in_sequence 10 3 || { kill -TERM "$bench"; return 1; }
    local status=0
    wait "$bench" || status=$?
    cat "$WORK/pgbench.log"
    [ "$status" -eq 0 ]
    refute grep -q "aborted" "$WORK/pgbench.log"
    grep -q "^number of failed transactions: 0 " "$WORK/pgbench.log"
    local committed
    committed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.log")
    ((committed > 0))
    [ "$(sql 'select count(*) from pgbench_history')" = "$committed" ]
    grep -Eq "gen 2 found gen 1 pid [0-9]+ alive \(kill\([0-9]+, 0\): a pid file's check\)" "$HS_LOG"
    [ "$(grep -c 'cannot run beside' "$HS_LOG")" = 1 ]
    stop_and_check_nothing_left "$CLEANUP_PATTERN"
    FAILED_GEN=2 launcher_log_clean 2
}
