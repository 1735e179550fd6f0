/* follow.h: a process of a generation on the preload route that execs a program the shim cannot
 * reach (a Go or statically linked server behind a wrapper's `exec`): the launcher is asked to
 * follow it onto the seccomp route, and on its yes the filter goes on just before the exec. */
#ifndef HOTSWAP_FOLLOW_H
#define HOTSWAP_FOLLOW_H

#include <stdbool.h>

/* Before an exec of `file` (looked up in PATH, as execvp would, if `search`) by the process the
 * launcher started: a Go or static program is followed if the launcher says so. Anything that fails on the way
 * leaves the exec as it would have been; errno is kept. */
void follow_before_exec(const char *file, bool search);

/* The same, before fexecve(fd). */
void follow_before_fexecve(int fd);

#endif
