/* real.c: libc's versions of the interposed functions, each looked up with dlsym(RTLD_NEXT) at
 * its first call (or all at once by real_missing()). */
#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

static const char *first_missing;

/* What a function this libc lacks does: fails, never a call through NULL. Called through a
 * pointer of the missing function's type: every Linux ABI lets a callee ignore its arguments and
 * returns -1 (or SIG_ERR) where the caller expects an int, a long or a pointer. */
static long missing_function(void)
{
    errno = ENOSYS;
    return -1;
}

/* Stores libc's `symbol` in *slot. Two threads making a first call at once both look it up and
 * store the same address. */
static void resolve(void **slot, const char *symbol, bool optional)
{
    void *function = dlsym(RTLD_NEXT, symbol);
#ifdef HS_PRETEND_MISSING /* tests/environment.bats builds a shim whose libc lacks this symbol */
    if (strcmp(symbol, HS_PRETEND_MISSING) == 0)
        function = NULL;
#endif
    if (!function) {
        function = (void *)missing_function;
        if (!optional && !first_missing)
            first_missing = symbol;
    }
    __atomic_store_n(slot, function, __ATOMIC_RELAXED);
}

#define FIRST_CALL(type, field, symbol, optional, parameters, arguments) \
    static type first_##field parameters                                 \
    {                                                                    \
        resolve((void **)&real.field, symbol, optional);                 \
        return real.field arguments;                                     \
    }
REAL_FIXED_FUNCTIONS(FIRST_CALL)

/* The variadic ones pass their one optional argument on as a pointer, as the hooks do. */
static int first_fcntl(int fd, int cmd, ...)
{
    va_list args;
    va_start(args, cmd);
    void *arg = va_arg(args, void *);
    va_end(args);
    resolve((void **)&real.fcntl, "fcntl", false);
    return real.fcntl(fd, cmd, arg);
}

static void resolve_fcntl64(void)
{
    resolve((void **)&real.fcntl64, "fcntl64", true);
    if (real.fcntl64 == (void *)missing_function) {
        if (real.fcntl == first_fcntl)
            resolve((void **)&real.fcntl, "fcntl", false);
        real.fcntl64 = real.fcntl;
    }
}

static int first_fcntl64(int fd, int cmd, ...)
{
    va_list args;
    va_start(args, cmd);
    void *arg = va_arg(args, void *);
    va_end(args);
    resolve_fcntl64();
    return real.fcntl64(fd, cmd, arg);
}

static int first_ioctl(int fd, unsigned long request, ...)
{
    va_list args;
    va_start(args, request);
    void *arg = va_arg(args, void *);
    va_end(args);
    resolve((void **)&real.ioctl, "ioctl", false);
    return real.ioctl(fd, request, arg);
}

static void first_closefrom(int lowest)
{
    resolve((void **)&real.closefrom, "closefrom", true);
    real.closefrom(lowest);
}

#define INITIAL(type, field, symbol, optional, parameters, arguments) .field = first_##field,
struct real_functions real = {
    REAL_FIXED_FUNCTIONS(INITIAL).fcntl = first_fcntl,
    .fcntl64 = first_fcntl64,
    .ioctl = first_ioctl,
    .closefrom = first_closefrom,
};

#define RESOLVE_NOW(type, field, symbol, optional, parameters, arguments) \
    if (real.field == first_##field)                                      \
        resolve((void **)&real.field, symbol, optional);

const char *real_missing(void)
{
    REAL_FIXED_FUNCTIONS(RESOLVE_NOW)
    if (real.fcntl == first_fcntl)
        resolve((void **)&real.fcntl, "fcntl", false);
    if (real.fcntl64 == first_fcntl64)
        resolve_fcntl64();
    if (real.ioctl == first_ioctl)
        resolve((void **)&real.ioctl, "ioctl", false);
    if (real.closefrom == first_closefrom)
        resolve((void **)&real.closefrom, "closefrom", true);
    return first_missing;
}
