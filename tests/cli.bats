#!/usr/bin/env bats
# The launcher's command line: help, version, bad input.

load helpers
bats_require_minimum_version 1.5.0

teardown() { teardown_hotswap; }

@test "--help prints the usage and exits 0" {
    run "$HOTSWAP" --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"usage: hotswap [OPTIONS] -- COMMAND"* ]]
    for option in --ready-timeout --drain-timeout --kill-timeout --stop-signal --drain-signal --control --pid --shim; do
        [[ "$output" == *"$option"* ]]
    done
}

@test "--version prints the version" {
    run "$HOTSWAP" --version
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^hotswap\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "built where musl-gcc is installed, the launcher loads no shared library: a preload in its environment never reaches it" {
    command -v musl-gcc >/dev/null || skip "musl-gcc is not installed: the launcher is linked against the system's libc"
    [[ $BUILD != build-asan ]] || skip "the sanitizer build links the launcher against the system's libc"
    run --separate-stderr env LD_PRELOAD=/nonexistent/libmissing.so "$HOTSWAP" --version
    [ "$status" -eq 0 ]
    [ "$stderr" = "" ]   # a dynamic program's loader says it cannot preload the library
    [[ "$output" =~ ^hotswap\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

# load_address_of PID: where the kernel mapped the launcher's own file in process PID.
load_address_of() { awk -v file="$(readlink -f "$HOTSWAP")" '$6 == file { print $1; exit }' "/proc/$1/maps"; }

@test "the launcher is a position-independent executable, mapped at a new address each run; built with musl, a static PIE: no interpreter" {
    require_tool readelf binutils
    run -0 readelf -h "$HOTSWAP"
    [[ "$output" == *"Type:"*"DYN"* ]]   # EXEC would be one fixed address, known to anyone
    if command -v musl-gcc >/dev/null && [[ $BUILD != build-asan ]]; then
        run -0 readelf -l "$HOTSWAP"
        refute grep -q INTERP <<<"$output"   # static: no loader, no shared library
    fi
    local first second run_number runs=()
    for run_number in 1 2; do
        "$HOTSWAP" --control "$BATS_TEST_TMPDIR/control-$run_number.sock" -- sleep 60 2>/dev/null &
        runs+=($!)
        HS_PID=$!
        wait_until 10 test -S "$BATS_TEST_TMPDIR/control-$run_number.sock"
        wait_until 5 test -n "$(load_address_of "$HS_PID")"
    done
    first=$(load_address_of "${runs[0]}")
    second=$(load_address_of "${runs[1]}")
    echo "mapped at $first, then at $second"
    kill -TERM "${runs[@]}"
    wait "${runs[@]}" || true
    HS_PID=
    [ "$first" != "$second" ]
}

@test "an unknown option: one line, exit 64" {
    run "$HOTSWAP" --frobnicate -- true
    [ "$status" -eq 64 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "hotswap: unknown option '--frobnicate' (see hotswap --help)" ]]
}

@test "a bad duration or signal: one line, exit 64" {
    run "$HOTSWAP" --drain-timeout soon -- true
    [ "$status" -eq 64 ]
    [[ "$output" == *"--drain-timeout: 'soon' is not a duration"* ]]
    run "$HOTSWAP" --stop-signal KILL -- true
    [ "$status" -eq 64 ]
    [[ "$output" == *"--stop-signal: 'KILL' is not a usable signal"* ]]
}

@test "no command: one line, exit 64" {
    run "$HOTSWAP"
    [ "$status" -eq 64 ]
    [[ "$output" == *"no server command given"* ]]
}

@test "a command that does not exist: exit 127" {
    run -127 "$HOTSWAP" --control "$BATS_TEST_TMPDIR/c.sock" -- /nonexistent/server
    [ "$status" -eq 127 ]
    [[ "$output" == *"/nonexistent/server: command not found"* ]]
}

@test "hotswap reload with no launcher there: says so, exits 69" {
    run "$HOTSWAP" reload --control "$BATS_TEST_TMPDIR/nobody.sock"
    [ "$status" -eq 69 ]
    [[ "$output" == *"cannot reach a launcher at $BATS_TEST_TMPDIR/nobody.sock"* ]]
}

@test "hotswap reload --pid finds the launcher's default control socket" {
    local addr="127.0.0.1:$(free_port)"
    "$HOTSWAP" -- "$FIXTURE" --model epoll --listen "$addr" 2>"$BATS_TEST_TMPDIR/log" &
    local launcher=$!
    wait_until 10 answers_with_gen "$addr" 1
    run "$HOTSWAP" reload --pid "$launcher"
    kill -TERM "$launcher"; wait "$launcher"
    [ "$status" -eq 0 ]
    [[ "$output" == *"ok: gen 2 ready"* ]]
}

@test "the server's exit status is the launcher's when it exits on its own" {
    run "$HOTSWAP" --control "$BATS_TEST_TMPDIR/c.sock" -- /bin/sh -c 'exit 3'
    [ "$status" -eq 3 ]
}

@test "make install: the installed launcher finds the shim under ../lib" {
    local prefix="$BATS_TEST_TMPDIR/prefix" addr="127.0.0.1:$(free_port)"
    make -s -C "$ROOT" BUILD="$BUILD" install PREFIX="$prefix" >/dev/null
    [ -x "$prefix/bin/hotswap" ] && [ -f "$prefix/lib/libhotswap.so" ]
    "$prefix/bin/hotswap" --control "$BATS_TEST_TMPDIR/c.sock" -- "$FIXTURE" --model epoll --listen "$addr" \
        2>"$BATS_TEST_TMPDIR/log" &
    local launcher=$!
    wait_until 10 answers_with_gen "$addr" 1
    run "$prefix/bin/hotswap" reload --control "$BATS_TEST_TMPDIR/c.sock"
    kill -TERM "$launcher"; wait "$launcher"
    [ "$status" -eq 0 ]
    [[ "$output" == *"ok: gen 2 ready in"* ]]
}
