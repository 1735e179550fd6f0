#!/usr/bin/env bats
# The tree shows the architecture (docs/design.md, "Where things are"): shim/preload/ is
# libhotswap.so, shim/launcher/ is hotswap, shim/common/ is what both share; the shim reaches
# libc only through real.*; the map in docs/design.md names every file.

load helpers

# includes_outside DIR ALLOWED...: each `#include "x"` in DIR's sources that is in none of the
# ALLOWED folders, as FILE: x.
includes_outside() {
    local dir=$1; shift
    local file name allowed found
    for file in "$ROOT/shim/$dir"/*.[ch]; do
        while read -r name; do
            found=
            for allowed in "$@"; do [[ -f "$ROOT/shim/$allowed/$name" ]] && found=1; done
            [[ -n "$found" ]] || echo "${file#"$ROOT"/}: $name"
        done < <(sed -nE 's/^#include "([^"]+)".*/\1/p' "$file")
    done
}

@test "each program includes only its own headers and common's; common includes only its own" {
    run includes_outside preload preload common
    [ -z "$output" ] || { echo "$output"; false; }
    run includes_outside launcher launcher common
    [ -z "$output" ] || { echo "$output"; false; }
    run includes_outside common common
    [ -z "$output" ] || { echo "$output"; false; }
}

# include_loops DIR: each include loop between the modules in DIR (a module is a .c and the .h of
# its stem; it includes another when its .c or .h has `#include "other.h"`), one line each, as
# include loop: a -> b -> a. A loop means neither module can be read, tested or moved alone.
include_loops() {
    local dir=$1 file stem name
    local -A edges=() state=()
    local -a path=()
    for file in "$dir"/*.[ch]; do
        stem=$(basename "${file%.[ch]}")
        edges[$stem]+=""
        while read -r name; do
            [[ "$name" != "$stem" && -f "$dir/$name.h" ]] && edges[$stem]+=" $name"
        done < <(sed -nE 's/^#include "([^"/]+)\.h".*/\1/p' "$file")
    done
    for stem in $(printf '%s\n' "${!edges[@]}" | sort); do
        [[ -n "${state[$stem]:-}" ]] || include_loops_from "$stem"
    done
}

# include_loops_from MODULE: include_loops' depth-first walk (edges, state and path are its
# locals); an include of a module still open on the path closes a loop.
include_loops_from() {
    local at=$1 next i
    state[$at]=open
    path+=("$at")
    for next in $(printf '%s\n' ${edges[$at]} | sort -u); do
        if [[ "${state[$next]:-}" == open ]]; then
            for i in "${!path[@]}"; do [[ "${path[$i]}" == "$next" ]] && break; done
            printf 'include loop:'
            printf ' %s ->' "${path[@]:i}"
            printf ' %s\n' "$next"
        elif [[ -z "${state[$next]:-}" ]]; then
            include_loops_from "$next"
        fi
    done
    state[$at]=done
    unset 'path[-1]'
}

@test "no include loop between the modules of either program, or of common" {
    local dir
    for dir in preload launcher common; do
        run include_loops "$ROOT/shim/$dir"
        [ -z "$output" ] || { echo "shim/$dir:"; echo "$output"; false; }
    done
}

@test "the include loop check names a loop" {
    # a copy of common with one include that closes a loop: the check must name it
    local copy="$BATS_TEST_TMPDIR/common"
    cp -r "$ROOT/shim/common" "$copy"
    printf '%s\n' '#include "idleturn.h"' >>"$copy/envparse.c"
    printf '%s\n' '#include "envparse.h"' >>"$copy/idleturn.h"
    run include_loops "$copy"
    [ "$output" = "include loop: envparse -> idleturn -> envparse" ]
}

@test "the shim calls no hooked function by name, except where a comment says the hook is wanted" {
    run "$ROOT/tests/libc-rule"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "the libc rule's check finds a hooked function called by name" {
    # a copy of the shim's sources with one call that bypasses real.*: the check must name it
    local copy="$BATS_TEST_TMPDIR/preload"
    cp -r "$ROOT/shim/preload" "$copy"
    printf '%s\n' 'static void stray(int fd) { close(fd); }' >>"$copy/sockid.c"
    printf '%s\n' 'static void fine(int fd) { close(fd); /* hook wanted: a test */ }' >>"$copy/sockid.c"
    run "$ROOT/tests/libc-rule" "$copy"
    [ "$status" -eq 1 ]
    [ "$output" = "$copy/sockid.c:$(wc -l <"$copy/sockid.c" | awk '{print $1 - 1}'): close" ]
}

@test "docs/design.md's map names every source file once, and no file that is not there" {
    # one row per .c (its .h goes with it) and per header that has no .c
    local design="$ROOT/docs/design.md" file missing=() stale=()
    for file in "$ROOT"/shim/*/*.[ch]; do
        [[ "$file" == *.h && -f "${file%.h}.c" ]] && continue
        file=${file#"$ROOT"/}
        [ "$(grep -c "^| \`$file\` |" "$design")" -eq 1 ] || missing+=("$file")
    done
    while read -r file; do
        [[ -f "$ROOT/$file" ]] || stale+=("$file")
    done < <(sed -nE 's/^\| `(shim\/[^`]+)` \|.*/\1/p' "$design")
    [ "${#missing[@]}" -eq 0 ] || { echo "not in the map (or more than once): ${missing[*]}"; false; }
    [ "${#stale[@]}" -eq 0 ] || { echo "in the map, not in the tree: ${stale[*]}"; false; }
}

@test "no test asserts with a bare '! COMMAND' (errexit ignores it mid-test): refute COMMAND instead" {
    run grep -nE '^\s*! ' "$ROOT"/tests/*.bats "$ROOT"/tests/servers/*.bats
    [ "$status" -eq 1 ] || { echo "$output"; false; }
}

@test "tests/README.md names every suite, and no suite that is not there" {
    local suite missing=() stale=()
    for suite in "$ROOT"/tests/*.bats "$ROOT"/tests/servers/*.bats; do
        grep -q "\`$(basename "$suite")\`" "$ROOT/tests/README.md" || missing+=("${suite#"$ROOT"/}")
    done
    while read -r suite; do
        [[ -f "$ROOT/tests/$suite" || -f "$ROOT/tests/servers/$suite" ]] || stale+=("$suite")
    done < <(grep -oE '`[a-z0-9-]+\.bats`' "$ROOT/tests/README.md" | tr -d '`' | sort -u)
    [ "${#missing[@]}" -eq 0 ] || { echo "not named in tests/README.md: ${missing[*]}"; false; }
    [ "${#stale[@]}" -eq 0 ] || { echo "named in tests/README.md, not in the tree: ${stale[*]}"; false; }
}
