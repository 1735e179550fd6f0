#!/usr/bin/env bats
# hotswap try: "will it work for my server?" Runs the server under a launcher of its own, loads
# it, reloads it, stops it, and says what was lost and why; exit 0 only if nothing was.

load helpers
bats_require_minimum_version 1.5.0

teardown() { teardown_hotswap; }

try_fixture() {
    local addr=$1; shift
    "$HOTSWAP" try --reloads 3 "${TRY_OPTS[@]}" "$addr" -- "$FIXTURE" --listen "$addr" "$@"
}

@test "try: a server that reloads cleanly: each reload's timings, the route, nothing left, exit 0" {
    local addr="127.0.0.1:$(free_port)"
    TRY_OPTS=()
    run -0 try_fixture "$addr" --model epoll
    [[ "$output" == *"try: route: preload (libhotswap.so)"* ]]
    [[ "$output" == *"try: reload 3/3: ok: gen 4 ready in "* ]]
    [[ "$output" =~ "try: requests: "[1-9][0-9]*" ok, 0 failed" ]]
    [[ "$output" == *"try: left running: nothing"* ]]
    [[ "$output" == *"try: verdict: nothing lost in 3 reloads"* ]]
}

@test "try --connect-only: a server that is not HTTP is loaded with connections alone" {
    local addr="127.0.0.1:$(free_port)"
    TRY_OPTS=(--connect-only)
    run -0 try_fixture "$addr" --model threads
    [[ "$output" == *"connect and close"* ]]
    [[ "$output" == *"try: verdict: nothing lost"* ]]
}

@test "try: a new generation that exits at start: each reload rolls back, the cause is named, exit 1" {
    local addr="127.0.0.1:$(free_port)"
    TRY_OPTS=()
    run -1 try_fixture "$addr" --model epoll --fail-from-generation 2
    [[ "$output" == *"try: reload 1/3: hotswap: reload failed: gen 2 exited before it was ready (status 1)"* ]]
    [[ "$output" == *"try:   likely cause: the new generation exits at start"* ]]
    [[ "$output" =~ "try: requests: "[1-9][0-9]*" ok, 0 failed" ]]   # the old one served throughout
    [[ "$output" == *"try: verdict: NOT zero-loss here"* ]]
}

@test "try: a server that answers 503 while it warms up: the failures counted, --ready notify named; with it, exit 0" {
    local addr="127.0.0.1:$(free_port)"
    TRY_OPTS=()
    FIXTURE_WARM_MS=700 run -1 try_fixture "$addr" --model epoll --quirk warm-up
    [[ "$output" =~ "bad "[1-9][0-9]*", " ]]
    [[ "$output" == *"try:   see: hotswap(1): --ready notify"* ]]
    TRY_OPTS=(--ready notify)
    FIXTURE_WARM_MS=700 run -0 try_fixture "127.0.0.1:$(free_port)" --model epoll --quirk warm-up
    [[ "$output" == *"try: verdict: nothing lost in 3 reloads"* ]]
}

@test "try: a statically linked server forced onto the preload route: the shim is not in it, and that is said" {
    require_tool musl-gcc musl-tools
    musl-gcc -static -O2 -std=gnu11 -pthread -w -o "$BATS_TEST_TMPDIR/fixture-static" \
        "$ROOT"/tests/fixtures/{fixture-server,quirks,common}.c
    local addr="127.0.0.1:$(free_port)"
    run -1 "$HOTSWAP" try --reloads 2 --intercept preload --ready-timeout 2s "$addr" -- \
        "$BATS_TEST_TMPDIR/fixture-static" --listen "$addr" --model epoll
    [[ "$output" == *"likely cause: the shim is not loaded in that process (statically linked?"* ]]
    [[ "$output" == *"--intercept seccomp"* ]]
}

@test "try: a shell wrapper that forks the server: the likely cause is the launcher's own, make the wrapper exec it" {
    local addr="127.0.0.1:$(free_port)"
    # the shell runs the server as a child (a command follows it), where exec would replace it
    run -1 "$HOTSWAP" try --reloads 2 --ready-timeout 2s "$addr" -- \
        sh -c '"$0" --listen "$1" --model epoll; exit $?' "$FIXTURE" "$addr"
    [[ "$output" == *"likely cause: the command hotswap started forked it instead of exec'ing it (a shell wrapper?)"* ]]
    [[ "$output" == *"make the wrapper exec the server"* ]]
    refute grep -q 'setuid' <<<"$(grep 'likely cause' <<<"$output")"
}

@test "try: a drain held to its timeout by connections it cannot end: the server's own goodbye, --graceful-signal, is named" {
    local addr="127.0.0.1:$(free_port)"
    # a client that connects and says nothing (a browser's pre-connect), again whenever closed
    (while :; do
        { exec 5<>"/dev/tcp/127.0.0.1/${addr##*:}"; } 2>/dev/null && cat <&5 >/dev/null
        sleep 0.1
    done) &
    local holder=$! kids
    TRY_OPTS=(--drain-timeout 1s)
    run -1 try_fixture "$addr" --model threads
    kids=$(pgrep -P "$holder" || true)
    kill -TERM "$holder" $kids 2>/dev/null || true
    [[ "$output" == *"at the drain timeout"* ]]
    [[ "$output" == *"--graceful-signal SIG (nginx QUIT, haproxy USR1, apache WINCH, most servers TERM)"* ]]
}

@test "try without an address or a command: one line, exit 64" {
    run -64 "$HOTSWAP" try -- "$FIXTURE"
    [ "$output" = "hotswap: try: give the address the server listens on: hotswap try ADDR -- COMMAND... (see hotswap --help)" ]
    run -64 "$HOTSWAP" try 127.0.0.1:1
    [ "$output" = "hotswap: try: no server command given: hotswap try 127.0.0.1:1 -- COMMAND... (see hotswap --help)" ]
}
