#!/usr/bin/env bats
# The reload lifecycle operators ask for around the reload itself: a check before it (--check).

load helpers
bats_require_minimum_version 1.5.0

teardown() { teardown_hotswap; }

# a check script that passes while $CONF says good, as nginx -t does for a configuration
write_check() {
    CHECK="$BATS_TEST_TMPDIR/check" CONF="$BATS_TEST_TMPDIR/conf"
    echo good >"$CONF"
    cat >"$CHECK" <<SCRIPT
#!/bin/sh
if [ "\$(cat "$CONF")" != good ]; then
    echo "conf: line 3: unknown directive 'lisen'" >&2
    echo "conf: configuration test failed"
    exit 1
fi
sleep \${CHECK_SLEEP:-0}
echo "conf: syntax is ok"
SCRIPT
    chmod +x "$CHECK"
}

@test "--check: a passing check reloads; a failing one refuses with its output and changes nothing, under load" {
    write_check
    local addr="127.0.0.1:$(free_port)"
    start_hotswap "$addr" --check "$CHECK" -- --model epoll
    start_load "$addr"
    run -0 reload
    [[ "$output" == *"check: conf: syntax is ok"*"ok: gen 2 ready in"* ]]
    echo broken >"$CONF"
    run -1 reload
    [[ "$output" == *"check: conf: line 3: unknown directive 'lisen'"* ]]
    [[ "$output" == *"check: conf: configuration test failed"* ]]
    [[ "$output" == *"reload failed: the check exited with status 1; gen 2 keeps serving" ]]
    refute grep -q "gen 3" "$HS_LOG"   # nothing started
    [ "$(generation_of "$addr")" = 2 ]
    run -0 status_of --json
    [[ "$output" == *'"last_reload": {"ok": false'* ]]
    echo good >"$CONF"
    run -0 reload
    [[ "$output" == *"ok: gen 3 ready in"* ]]
    stop_load
    [ "$(field failed "$LOAD_SUMMARY")" = 0 ]
}

@test "--check runs beside the launcher: status answers while it runs, and one past --ready-timeout is killed" {
    write_check
    local addr="127.0.0.1:$(free_port)"
    CHECK_SLEEP=60 start_hotswap "$addr" --check "$CHECK" --ready-timeout 2s -- --model epoll
    local started=$SECONDS
    reload >"$BATS_TEST_TMPDIR/reload.out" 2>&1 &
    local waiting=$!
    wait_until 5 grep -q "reload: checking first" "$HS_LOG"
    run -0 timeout 1 "$HOTSWAP" status --control "$HS_CONTROL"
    run -1 timeout 5 "$HOTSWAP" reload --control "$HS_CONTROL"
    [[ "$output" == *"a reload is already in progress"* ]]
    local status=0
    wait "$waiting" || status=$?
    [ "$status" -eq 1 ]
    grep -q "reload failed: the check did not finish within 2[0-9][0-9][0-9] ms: killed; gen 1 keeps serving" \
        "$BATS_TEST_TMPDIR/reload.out"
    ((SECONDS - started < 10))
    [ "$(generation_of "$addr")" = 1 ]
}

@test "--check is an option for running a server: with a command it is one line, exit 64" {
    run -64 "$HOTSWAP" reload --check true
    [ "$output" = "hotswap: --check is for running a server (see hotswap --help)" ]
}
