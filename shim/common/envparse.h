/* envparse.h: the environment the shim reads, parsed strictly and without side effects (pure
 * functions, so they can be fuzzed on their own: see tests/fuzz/). */
#ifndef HOTSWAP_ENVPARSE_H
#define HOTSWAP_ENVPARSE_H

#include <stdbool.h>

#define FDNAME_MAX 64 /* longer LISTEN_FDNAMES entries are invalid (systemd allows 255) */

/* Decimal digits only (no sign, no spaces), value <= max. */
bool env_parse_count(const char *text, long max, long *out);

/* LISTEN_FDNAMES: `count` names separated by ':'. Each name is printable ASCII, no ':', at most
 * FDNAME_MAX-1 bytes; an empty name is allowed. Fills names[0..count-1]; false if malformed or
 * not exactly `count` names. */
bool env_parse_fdnames(const char *text, int count, char (*names)[FDNAME_MAX]);

/* Whether a server can be sent `sig` to drain, stop or upgrade: not one that cannot be caught
 * (KILL, STOP), that stops a process (TSTP, TTIN, TTOU), that servers ignore or use for their
 * children (PIPE, CHLD), or that means a crash (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS). */
bool signal_usable(int sig);

/* A signal number from 1 to `max` that signal_usable() accepts; -1 otherwise. */
int env_parse_signal(const char *text, int max);

#endif
