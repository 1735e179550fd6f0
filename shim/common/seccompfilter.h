/* seccompfilter.h: the seccomp route's filter (the launcher's intercept.h says what it traps and
 * how each call is answered). The launcher's child installs it just before the exec of a Go or
 * static command; the shim, in a process of a generation on the preload route that execs one (a
 * wrapper's `exec`), once the launcher has said it follows. */
#ifndef HOTSWAP_SECCOMPFILTER_H
#define HOTSWAP_SECCOMPFILTER_H

#include <stdbool.h>

/* Installs the filter on the calling thread (and what it execs): bind, listen, and either accept
 * and accept4 (trap_accept) or rt_sigreturn (a Go program's drain, intercept.h) go to the
 * launcher. Returns the notification fd (close-on-exec), or -1 with errno set (ENOSYS, EINVAL:
 * the kernel has no user notification; EACCES: not allowed here). */
int seccomp_filter_install(bool trap_accept);

#endif
