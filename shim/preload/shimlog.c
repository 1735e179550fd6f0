/* shimlog.c: one-line messages on stderr, assembled without stdio so a signal handler may
 * use them too. */
#define _GNU_SOURCE
#include "shimlog.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "real.h"

void shim_say(const char *first, ...)
{
    int saved = errno;
    char line[512] = "libhotswap: ";
    size_t used = strlen(line);
    va_list parts;
    va_start(parts, first);
    for (const char *part = first; part; part = va_arg(parts, const char *)) {
        size_t n = strlen(part);
        if (n > sizeof line - 1 - used)
            n = sizeof line - 1 - used;
        memcpy(line + used, part, n);
        used += n;
    }
    va_end(parts);
    line[used++] = '\n';
    ssize_t ignored = real.write(STDERR_FILENO, line, used);
    (void)ignored;
    errno = saved;
}
