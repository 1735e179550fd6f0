/* mode.c: what the shim does in this process (init.c chooses it, once). */
#define _GNU_SOURCE
#include "mode.h"

#include <sys/auxv.h>

enum shim_mode shim_mode;

/* A setuid or setgid program, or one with file capabilities (the shim reached it through
 * /etc/ld.so.preload): its environment comes from a less trusted user, so nothing in it (a
 * pidfile path, fd numbers, signals) may steer what the shim does. Silently, as libc does. */
bool mode_secure_execution(void)
{
    return getauxval(AT_SECURE) != 0;
}
