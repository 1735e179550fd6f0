/* hooks_open.c: the interposed open calls. Until its process is ready (with --ready notify, until
 * the launcher has heard READY=1: redis waits for connections while it still loads its
 * append-only file, and says READY=1 after), a regular file it opens read-only (a loader's open;
 * a log is appended to, not loaded) is told to the launcher: if
 * the old generation holds that file open for writing, the new one has loaded state the old one
 * still changes (an append-only file), and the two cannot overlap (sequential.c). Once ready,
 * each call costs two loads and a branch. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "export.h"
#include "gate.h"
#include "real.h"
#include "report.h"

/* Read-only: a loader's open. A file opened for writing too is a lock file or a database, whose
 * own locks (or their failure) speak for it; one opened to append is a log. */
static bool loads_state(int flags)
{
    return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_APPEND | O_DIRECTORY | O_PATH));
}

/* Still starting: not yet waiting for connections, or, with --ready notify, not yet heard. */
static bool starting(void)
{
    return !report_ready_done() || gate_closed();
}

static void note_opened(int fd, int flags)
{
    if (fd < 0 || !starting() || !report_active() || !loads_state(flags))
        return;
    int saved = errno;
    report_read_opened(fd);
    errno = saved;
}

/* The mode is there only with O_CREAT or O_TMPFILE (open(2)); reading it otherwise would take
 * whatever the register holds, harmlessly, but not passing it keeps the call as the caller made it. */
#define MODE_OF(flags, last)               \
    unsigned mode = 0;                     \
    if ((flags) & (O_CREAT | O_TMPFILE)) { \
        va_list args;                      \
        va_start(args, last);              \
        mode = va_arg(args, unsigned);     \
        va_end(args);                      \
    }

HS_EXPORT int open(const char *path, int flags, ...)
{
    MODE_OF(flags, flags);
    int fd = real.open(path, flags, mode);
    note_opened(fd, flags);
    return fd;
}

HS_EXPORT int open64(const char *path, int flags, ...)
{
    MODE_OF(flags, flags);
    int fd = real.open64(path, flags, mode);
    note_opened(fd, flags);
    return fd;
}

HS_EXPORT int openat(int dir, const char *path, int flags, ...)
{
    MODE_OF(flags, flags);
    int fd = real.openat(dir, path, flags, mode);
    note_opened(fd, flags);
    return fd;
}

HS_EXPORT int openat64(int dir, const char *path, int flags, ...)
{
    MODE_OF(flags, flags);
    int fd = real.openat64(dir, path, flags, mode);
    note_opened(fd, flags);
    return fd;
}

/* fopen's mode: "r" and any "+" read; "a" appends. */
static int flags_of_mode(const char *mode)
{
    if (!mode)
        return O_WRONLY;
    bool plus = strchr(mode, '+') != NULL;
    if (mode[0] == 'a')
        return O_APPEND | (plus ? O_RDWR : O_WRONLY);
    if (mode[0] == 'r')
        return plus ? O_RDWR : O_RDONLY;
    return plus ? O_RDWR : O_WRONLY;
}

static FILE *note_fopened(FILE *f, const char *mode)
{
    if (f && starting() && report_active()) {
        int saved = errno;
        int fd = fileno(f);
        if (fd >= 0 && loads_state(flags_of_mode(mode)))
            report_read_opened(fd);
        errno = saved;
    }
    return f;
}

HS_EXPORT FILE *fopen(const char *path, const char *mode)
{
    return note_fopened(real.fopen(path, mode), mode);
}

HS_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    return note_fopened(real.fopen64(path, mode), mode);
}
