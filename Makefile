# hotswap: zero-downtime hot restart for unmodified server binaries.
# make | make test | make demo | make test-asan | make test-servers | make test-mutants | make fuzz
# make soak | make install PREFIX=/usr/local

CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE    := -std=gnu11 -pthread $(WARN) $(EXTRA_CFLAGS)
BUILD   ?= build
PREFIX  ?= /usr/local
# The installed launcher also looks for the shim in ../lib/MULTIARCH/ (Debian's package puts it
# in /usr/lib/x86_64-linux-gnu/).
MULTIARCH ?= $(shell $(CC) -print-multiarch 2>/dev/null)
VERSION := $(shell sed -n 's/^\#define HOTSWAP_VERSION "\(.*\)"/\1/p' shim/common/channel.h)

# Each program is its own folder plus shim/common/ (the channel protocol, the env names, the
# parsers both use); each sees only its own headers and common's.
COMMON_SRC   := $(wildcard shim/common/*.c)
COMMON_H     := $(wildcard shim/common/*.h)
PRELOAD_SRC  := $(wildcard shim/preload/*.c) $(COMMON_SRC)
PRELOAD_H    := $(wildcard shim/preload/*.h) $(COMMON_H)
LAUNCHER_SRC := $(wildcard shim/launcher/*.c) $(COMMON_SRC)
LAUNCHER_H   := $(wildcard shim/launcher/*.h) $(COMMON_H)
FIXTURES     := $(BUILD)/fixture-server $(BUILD)/pattern-server $(BUILD)/loadclient $(BUILD)/udp-server \
                $(BUILD)/notify-socket $(BUILD)/libstallrecv.so $(BUILD)/probe-server $(BUILD)/blocking-acceptor \
                $(BUILD)/libshortclose.so $(BUILD)/pass-primary $(BUILD)/lock-server $(BUILD)/push-server
# Fixtures only the tests build: they link what the product never does (OpenSSL).
TEST_FIXTURES := $(BUILD)/tls-keepalive
FIXTURES_COMMON := tests/fixtures/common.c tests/fixtures/common.h

all: $(BUILD)/libhotswap.so $(BUILD)/hotswap $(FIXTURES) $(BUILD)/acceptloop $(BUILD)/libraise-on-count.so \
     $(BUILD)/libslow-claim.so $(BUILD)/libslow-upgrade.so $(BUILD)/libforge-count.so

$(BUILD):
	mkdir -p $@

# The product alone: what a package builds.
product: $(BUILD)/libhotswap.so $(BUILD)/hotswap

$(BUILD)/libhotswap.so: $(PRELOAD_SRC) $(PRELOAD_H) Makefile | $(BUILD)
	$(CC) $(BASE) $(CPPFLAGS) $(CFLAGS) -Ishim/common -fPIC -shared -fvisibility=hidden -Wl,-z,defs -Wl,-soname,libhotswap.so $(LDFLAGS) \
	    -o $@ $(PRELOAD_SRC) -ldl

# The launcher is linked statically against musl where musl-gcc is installed (Debian's
# musl-tools): its resident memory is then its own (320 to 350 KiB), not the 1.5 MiB of glibc's
# pages every dynamic program maps; and it runs where no libc is installed. Elsewhere, or with
# STATIC_LAUNCHER=no (the sanitizer builds), it is built with $(CC) like the shim. musl has no
# kernel headers of its own: the system's linux/, asm/ and asm-generic/ are linked in alone.
#
# Either way it is a position-independent executable: the launcher often runs as root and parses
# what generations send it (channel, NOTIFY_SOCKET, seccomp notifications), so its code and data
# must not sit at one address known in advance (ASLR). With musl, a static PIE (-static-pie:
# no interpreter, relocated by itself at start, musl's rcrt1.o). musl-gcc's specs file knows only
# -static (its link line always names musl's dynamic loader, its start file does not relocate):
# a copy in $(BUILD) also knows -static-pie, and the compiler musl-gcc wraps is given that one.
STATIC_LAUNCHER ?= $(if $(shell command -v musl-gcc 2>/dev/null),yes,no)
ifeq ($(STATIC_LAUNCHER),yes)
MUSL_GCC         := $(shell command -v musl-gcc)
MUSL_SPECS       := $(shell sed -n 's/.*-specs "\([^"]*\)".*/\1/p' $(MUSL_GCC))
MUSL_REALGCC     := $(or $(REALGCC),$(shell sed -n 's/.*REALGCC:-\([^}]*\)}.*/\1/p' $(MUSL_GCC)),gcc)
LAUNCHER_CC      := $(MUSL_REALGCC) -specs $(BUILD)/musl-static-pie.specs -fPIE -static-pie
LAUNCHER_DEPS    := $(BUILD)/kernel-headers/linux $(BUILD)/musl-static-pie.specs
LAUNCHER_INCLUDE := -isystem $(BUILD)/kernel-headers
else
LAUNCHER_CC      := $(CC) -fPIE -pie
endif

$(BUILD)/kernel-headers/linux: | $(BUILD)
	mkdir -p $(BUILD)/kernel-headers
	ln -sfn /usr/include/$(MULTIARCH)/asm $(BUILD)/kernel-headers/asm
	ln -sfn /usr/include/asm-generic $(BUILD)/kernel-headers/asm-generic
	ln -sfn /usr/include/linux $@

# musl-gcc's specs, plus -static-pie: rcrt1.o for Scrt1.o, and -static -pie --no-dynamic-linker
# -z text (what gcc's own specs give -static-pie) for the loader's name.
$(BUILD)/musl-static-pie.specs: $(MUSL_SPECS) Makefile | $(BUILD)
	sed -e 's|%{!shared: \([^ ]*\)/Scrt1.o}|%{static-pie: \1/rcrt1.o;!shared: \1/Scrt1.o}|' \
	    -e 's|^-dynamic-linker \([^ ]*\) |%{static-pie:-static -pie --no-dynamic-linker -z text;:-dynamic-linker \1} |' \
	    $(MUSL_SPECS) >$@.tmp
	grep -q 'rcrt1.o' $@.tmp && grep -q 'no-dynamic-linker' $@.tmp || \
	    { echo "$(MUSL_SPECS): not the specs file this Makefile knows how to extend" >&2; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

$(BUILD)/hotswap: $(LAUNCHER_SRC) $(LAUNCHER_H) Makefile $(LAUNCHER_DEPS) | $(BUILD)
	$(LAUNCHER_CC) $(BASE) $(CPPFLAGS) $(CFLAGS) $(LAUNCHER_INCLUDE) -Ishim/common -DHS_MULTIARCH='"$(MULTIARCH)"' \
	    $(LDFLAGS) -o $@ $(LAUNCHER_SRC)

# fixture-server: the server and its --quirk behaviours.
$(BUILD)/fixture-server: tests/fixtures/fixture-server.c tests/fixtures/quirks.c tests/fixtures/quirks.h \
                         $(FIXTURES_COMMON) | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -o $@ tests/fixtures/fixture-server.c tests/fixtures/quirks.c tests/fixtures/common.c

# A second preload library for drain.bats: a signal in the middle of the shim's count.
$(BUILD)/libraise-on-count.so: tests/fixtures/raise-on-count.c shim/common/channel.h | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

# ... and one for trust-input.bats: a generation reporting counts no process can have.
$(BUILD)/libforge-count.so: tests/fixtures/forge-count.c shim/common/channel.h | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

# ... and one for survive.bats: a fork while the shim holds its claim lock.
$(BUILD)/libslow-claim.so: tests/fixtures/slow-claim.c | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

# ... and one for standalone.bats: the old process slow to record the new one's pid, until READY.
$(BUILD)/libslow-upgrade.so: tests/fixtures/slow-upgrade.c shim/common/channel.h | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -Ishim/common -fPIC -shared -o $@ $< -ldl

$(BUILD)/acceptloop: bench/acceptloop.c | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -o $@ $<

# libstallrecv.so: preloaded after the shim by the UDP tests, it stalls a receive (stallrecv.c).
$(BUILD)/libstallrecv.so: tests/fixtures/stallrecv.c | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

# libshortclose.so: preloaded after the shim by closemark.bats, it cuts a marked head short (shortclose.c).
$(BUILD)/libshortclose.so: tests/fixtures/shortclose.c | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

$(BUILD)/tls-keepalive: tests/fixtures/tls-keepalive.c $(FIXTURES_COMMON) | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -o $@ $< tests/fixtures/common.c -lssl -lcrypto

test-fixtures: $(TEST_FIXTURES)

# The other fixtures: one file each, plus what the fixtures share (tests/fixtures/common.c).
$(BUILD)/%: tests/fixtures/%.c $(FIXTURES_COMMON) | $(BUILD)
	$(CC) $(BASE) $(CFLAGS) -o $@ $< tests/fixtures/common.c

# Every suite on build/.
test: all test-fixtures
	tests/run

# The core suites again with the shim, the launcher and the fixtures built with AddressSanitizer
# and UBSan (build-asan/); CI runs it before make test. (tests/run --asan tests/*.bats: every suite.)
test-asan: asan
	tests/run --asan

asan:
	$(MAKE) BUILD=build-asan CC=gcc STATIC_LAUNCHER=no CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" all test-fixtures

# Real servers from Debian's packages (installed by tests/servers/install), reloaded under load.
test-servers: all test-fixtures
	tests/servers/install
	TEST_JOBS=$${TEST_JOBS:-3} tests/run tests/servers/*.bats

# The product's layout (clang-format), cppcheck and the clang static analyzer, each finding
# reported, and the mutant list checked (tests/lint; needs clang-format, cppcheck and
# clang-tools). CI runs it.
lint:
	tests/lint

# Each mechanism disabled in turn, on a scratch copy of the tree (tests/mutants/list): its test
# must then fail. CI runs it.
test-mutants:
	tests/mutants/run

# Benchmarks (a few minutes): writes docs/bench.md and docs/reload-timeline.png; needs gnuplot
# for the picture and gawk for the latency windows (installed if missing).
# Many reloads under load with faults mixed in (tests/soak; SOAK_RELOADS, default 1000): minutes.
soak: all
	tests/soak

bench: all
	command -v gnuplot >/dev/null && command -v gawk >/dev/null || \
	    { apt-get update -qq && apt-get install -y -qq --no-install-recommends gnuplot-nox gawk; }
	bench/run

demo: all
	tests/demo

# libFuzzer on the shim's env parsers and the channel's message decoder (clang; FUZZ_SECONDS per target, default 30).
FUZZ_SECONDS ?= 30
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run

install: $(BUILD)/libhotswap.so $(BUILD)/hotswap
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	           $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7 \
	           $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(BUILD)/hotswap $(DESTDIR)$(PREFIX)/bin/hotswap
	install -m 644 $(BUILD)/libhotswap.so $(DESTDIR)$(PREFIX)/lib/libhotswap.so
	install -m 644 docs/hotswap.1 $(DESTDIR)$(PREFIX)/share/man/man1/hotswap.1
	install -m 644 docs/libhotswap.7 $(DESTDIR)$(PREFIX)/share/man/man7/libhotswap.7
	install -m 644 shim/launcher/hotswap.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/hotswap

# make deb: the Debian package, built by dpkg-buildpackage from debian/ in a copy of the tree
# (its output would otherwise land beside the repository): build/hotswap_VERSION_ARCH.deb.
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/hotswap-$(VERSION)
	{ git ls-files -co --exclude-standard 2>/dev/null || find . -path ./build -prune -o -type f -print; } | \
	    grep -v '^build' | tar -cf - -T - | tar -xf - -C $(BUILD)/deb/hotswap-$(VERSION)
	cd $(BUILD)/deb/hotswap-$(VERSION) && dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
	    { tail -30 ../build.log; exit 1; }
	cp $(BUILD)/deb/hotswap_$(VERSION)_*.deb $(BUILD)/
	@ls $(BUILD)/hotswap_$(VERSION)_*.deb

# make test-package: build the package, lint it, install it, run the demo and nginx with the
# installed launcher, remove it, check nothing is left (root; tests/package/run).
test-package: all
	tests/package/run

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all test-fixtures product deb lint test-package test test-asan asan test-servers test-mutants bench demo fuzz soak install clean
