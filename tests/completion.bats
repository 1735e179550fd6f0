#!/usr/bin/env bats
# Bash completion (shim/launcher/hotswap.bash-completion): subcommands, options and their values,
# --pid from the launchers running here, the server command after `--`; and its option list in
# step with `hotswap --help`.

load helpers
bats_require_minimum_version 1.5.0

COMPLETION="$ROOT/shim/launcher/hotswap.bash-completion"

teardown() { teardown_hotswap; }

# complete WORDS...: what completing the last word offers, one per line, sorted
complete_words() {
    bash -c 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _hotswap; printf "%s\n" "${COMPREPLY[@]}" | sort' \
        "$COMPLETION" "$@"
}

@test "completion: subcommands first, then the options a run takes; each subcommand's own options" {
    run -0 complete_words hotswap ""
    [[ "$output" == *reload*rollback*status*stop*try* ]]
    run -0 complete_words hotswap --ke
    [ "$output" = "--keep-old" ]
    run -0 complete_words hotswap status --
    [ "$output" = "$(printf '%s\n' --control --json --pid --prometheus)" ]
    run -0 complete_words hotswap rollback ""
    [ "$output" = "$(printf '%s\n' --control --pid)" ]
}

@test "completion: option values: signal names, routes, policies, readiness" {
    run -0 complete_words hotswap --stop-signal T
    [ "$output" = "$(printf '%s\n' TERM TSTP)" ]
    run -0 complete_words hotswap --intercept ""
    [ "$output" = "$(printf '%s\n' auto preload seccomp)" ]
    run -0 complete_words hotswap --restart o
    [ "$output" = "on-failure" ]
    run -0 complete_words hotswap --ready n
    [ "$output" = "notify" ]
}

@test "completion: --pid offers the launchers running here, found by their control sockets" {
    local addr="127.0.0.1:$(free_port)"
    # a launcher on its default control socket (no --control), as an operator runs it
    "$HOTSWAP" -- "$FIXTURE" --listen "$addr" --model epoll 2>"$BATS_TEST_TMPDIR/hotswap.log" &
    HS_PID=$!
    HS_LOG="$BATS_TEST_TMPDIR/hotswap.log"
    wait_until 10 answers_with_gen "$addr" 1
    run -0 complete_words hotswap status --pid ""
    [[ $'\n'"$output"$'\n' == *$'\n'"$HS_PID"$'\n'* ]]
}

@test "completion: after -- the server command, then files" {
    run -0 complete_words hotswap --drain-timeout 5s -- bas
    [[ $'\n'"$output"$'\n' == *$'\n'bash$'\n'* ]]   # a command on PATH
    cd "$BATS_TEST_TMPDIR" && touch server.conf
    run -0 complete_words hotswap -- ./server --config server.c
    [ "$output" = "server.conf" ]
}

@test "completion: its option list is --help's" {
    local listed helped
    listed=$(sed -n '/^_hotswap_run_options=/,/"$/p; /^_hotswap_client_options=/p; /^_hotswap_try_options=/p; /^_hotswap_reload_options=/p' "$COMPLETION" |
        grep -o -- '--[a-z-]*' | sort -u)
    helped=$("$HOTSWAP" --help | grep -o -- '--[a-z-]*' | grep -v -- '^--$' | grep -v -- '--json\|--prometheus' | sort -u)
    [ "$listed" = "$helped" ] || { diff <(echo "$listed") <(echo "$helped"); false; }
}
