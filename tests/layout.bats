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
