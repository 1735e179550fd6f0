#!/usr/bin/env bats
# The manual pages: docs/hotswap.1 documents every option `hotswap --help` prints and no other,
# the two pages document every environment variable the sources read, both render without a
# warning, and `make install` puts them where man finds them. Needs groff and man (Debian:
# groff-base, man-db; .ci/run installs them).

load helpers
bats_require_minimum_version 1.5.0

MAN1="$ROOT/docs/hotswap.1"
MAN7="$ROOT/docs/libhotswap.7"

setup() {
    command -v groff >/dev/null && command -v man >/dev/null ||
        { echo "groff and man are needed: apt-get install groff-base man-db" >&2; return 1; }
    # man's own configuration stays out of it; C locale: plain ASCII output
    export LC_ALL=C MANWIDTH=80 MANPAGER=cat PAGER=cat MANOPT= MANROFFOPT=
}

# The long options `hotswap --help` prints, one a line.
help_options() { "$HOTSWAP" --help | grep -o -- '--[a-z][a-z-]*' | sort -u; }

# Tag lines (the line after each .TP) of section SECTION of a page, with roff's \- as -.
section_tags() {
    awk -v want="$2" '/^\.SH / { sub(/^\.SH +/, ""); gsub(/"/, ""); in_section = ($0 == want) }
                      in_section && previous == ".TP" { print }
                      { previous = $0 }' "$1" | sed 's/\\-/-/g'
}

# The long options documented in hotswap.1's OPTIONS section.
man_options() { section_tags "$MAN1" OPTIONS | grep -o -- '--[a-z][a-z-]*' | sort -u; }

# Environment variables the shim and the launcher read or set: getenv("NAME") in the sources and
# every HS_ENV_* name.
source_variables() {
    {
        grep -ohE 'getenv\("[A-Za-z_][A-Za-z0-9_]*"\)' "$ROOT"/shim/*/*.c | sed -E 's/getenv\("(.*)"\)/\1/'
        grep -ohE '#define +HS_ENV_[A-Z0-9_]+ +"[A-Z0-9_]+"' "$ROOT"/shim/*/*.c "$ROOT"/shim/*/*.h |
            sed -E 's/.*"(.*)"/\1/'
    } | sort -u
}

# Variables the two pages document: tags of their ENVIRONMENT sections.
documented_variables() {
    { section_tags "$MAN1" ENVIRONMENT; section_tags "$MAN7" ENVIRONMENT; } |
        sed -E 's/^\.[A-Za-z]+ //' | grep -oE '\b[A-Z][A-Z0-9_]+\b' | sort -u
}

@test "hotswap.1 documents every option that --help prints" {
    local missing
    missing=$(comm -23 <(help_options) <(man_options))
    [ -n "$(help_options)" ]
    [ -z "$missing" ] || { echo "in --help, missing from hotswap.1 OPTIONS:" $missing; false; }
}

@test "every option hotswap.1 documents is one --help prints" {
    local extra
    extra=$(comm -13 <(help_options) <(man_options))
    [ -n "$(man_options)" ]
    [ -z "$extra" ] || { echo "in hotswap.1 OPTIONS, not in --help:" $extra; false; }
}

@test "hotswap.1's synopsis has every command the usage shows" {
    local command commands
    commands=$("$HOTSWAP" --help | sed -nE 's/^(usage:)? +hotswap ([a-z]+) .*/\2/p')
    [[ "$commands" == *reload* && "$commands" == *stop* ]]
    for command in $commands; do
        grep -q "^\.B hotswap $command\$" "$MAN1" || { echo "hotswap $command: not in hotswap.1"; false; }
    done
}

@test "the pages document every environment variable the sources read" {
    local missing
    missing=$(comm -23 <(source_variables) <(documented_variables))
    [ "$(source_variables | grep -c '^HOTSWAP_')" -ge 8 ]
    [ -z "$missing" ] || { echo "read by shim/, not in an ENVIRONMENT section:" $missing; false; }
}

@test "every variable the pages document is one the sources use" {
    local name stale=()
    for name in $(documented_variables); do
        grep -q "\"$name\"" "$ROOT"/shim/*/*.c "$ROOT"/shim/*/*.h || stale+=("$name")
    done
    [ "${#stale[@]}" -eq 0 ] || { echo "documented, used nowhere in shim/: ${stale[*]}"; false; }
}

@test "groff renders both pages without a warning" {
    local page
    for page in "$MAN1" "$MAN7"; do
        run --separate-stderr groff -man -ww -z "$page"
        [ "$status" -eq 0 ]
        [ -z "$stderr" ] || { echo "$page: $stderr"; false; }
    done
}

@test "man -l shows hotswap.1 at 80 columns, without a warning" {
    run --separate-stderr man --warnings -l "$MAN1"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ] || { echo "$stderr"; false; }
    [[ "$output" == *$'\nNAME\n'* ]]
    [[ "$output" == *"hotswap - run a server with zero-downtime reloads"* ]]
    [ "$(wc -L <<<"$output")" -le 80 ]
}

@test "man -l shows libhotswap.7 at 80 columns, without a warning" {
    run --separate-stderr man --warnings -l "$MAN7"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ] || { echo "$stderr"; false; }
    [[ "$output" == *$'\nNAME\n'* ]]
    [[ "$output" == *"libhotswap - LD_PRELOAD shim"* ]]
    [ "$(wc -L <<<"$output")" -le 80 ]
}

@test "make install puts both pages where man -M finds them" {
    local prefix="$BATS_TEST_TMPDIR/prefix"
    make -s -C "$ROOT" BUILD="$BUILD" install PREFIX="$prefix" >/dev/null
    cmp "$MAN1" "$prefix/share/man/man1/hotswap.1"
    cmp "$MAN7" "$prefix/share/man/man7/libhotswap.7"
    run man -M "$prefix/share/man" -w hotswap
    [ "$status" -eq 0 ] && [ "$output" == "$prefix/share/man/man1/hotswap.1" ]
    run man -M "$prefix/share/man" hotswap
    [ "$status" -eq 0 ]
    [[ "$output" == *"hotswap - run a server with zero-downtime reloads"* ]]
    run man -M "$prefix/share/man" 7 libhotswap
    [ "$status" -eq 0 ]
    [[ "$output" == *"libhotswap - LD_PRELOAD shim"* ]]
}

@test "make install honours DESTDIR for the pages" {
    local dest="$BATS_TEST_TMPDIR/dest"
    make -s -C "$ROOT" BUILD="$BUILD" install DESTDIR="$dest" PREFIX=/usr/local >/dev/null
    [ -f "$dest/usr/local/share/man/man1/hotswap.1" ]
    [ -f "$dest/usr/local/share/man/man7/libhotswap.7" ]
    [ -x "$dest/usr/local/bin/hotswap" ]
}
