/* hooks_fd.c: the interposed fd calls: close, dup*, fcntl, ioctl, close_range, closefrom, and the
 * unlink family. Mechanisms in fdguard.c, nonblock.c, inherit.c and fdtable.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "countreport.h"
#include "drain.h"
#include "export.h"
#include "hooks_lock.h"
#include "fdguard.h"
#include "gate.h"
#include "fdtable.h"
#include "handover.h"
#include "inherit.h"
#include "nonblock.h"
#include "real.h"

/* ---- closing ----------------------------------------------------------------------------- */

HS_EXPORT int close(int fd)
{
    switch (fd_kind(fd)) {
    case FD_OTHER:
        return real.close(fd);
    case FD_CHANNEL:
    case FD_INHERITED:
        return 0; /* the shim's own: the server believes it closed it, and it stays usable */
    case FD_CONN: {
        /* Counted out before the number is free: another thread's accept() may reuse it at once. */
        int saved = errno;
        if (fdtable_forget_conn(fd))
            drain_note_conns();
        errno = saved;
        return real.close(fd);
    }
    case FD_HANDED:
        handover_forget(fd);
        fd_set_kind(fd, FD_OTHER);
        return real.close(fd);
    case FD_DUMMY:
    case FD_DUMMY_BLOCKING:
        drain_forget_identity(fd);
        drain_forget_kept(fd);
        fd_set_kind(fd, FD_OTHER);
        return real.close(fd);
    case FD_LISTENER:
        gate_forget(fd);
        fd_set_kind(fd, FD_OTHER);
        return real.close(fd);
    default:
        fd_set_kind(fd, FD_OTHER);
        return real.close(fd);
    }
}

/* ---- duplicating ----------------------------------------------------------------------- */

HS_EXPORT int dup(int fd)
{
    int copy = real.dup(fd);
    if (copy >= 0 && fd_kind(fd) != FD_OTHER) {
        int saved = errno;
        fdguard_copied(fd, copy);
        errno = saved;
    }
    return copy;
}

static int dup_onto(int fd, int target, int flags, bool is_dup3)
{
    if (fd == target || fd_kind(target) == FD_OTHER) {
        int rc = is_dup3 ? real.dup3(fd, target, flags) : real.dup2(fd, target);
        if (rc >= 0 && fd != target && fd_kind(fd) != FD_OTHER) {
            int saved = errno;
            fdguard_copied(fd, rc);
            errno = saved;
        }
        return rc;
    }
    int saved = errno;
    if (real.fcntl(fd, F_GETFD) < 0)
        return -1; /* EBADF, as dup2 would say; nothing touched */
    if (fdguard_before_overwrite(target) < 0) {
        errno = EBUSY; /* a shim fd that cannot move: better refused than destroyed */
        return -1;
    }
    errno = saved;
    int rc = is_dup3 ? real.dup3(fd, target, flags) : real.dup2(fd, target);
    if (rc >= 0) {
        saved = errno;
        fdguard_copied(fd, rc);
        errno = saved;
    }
    return rc;
}

HS_EXPORT int dup2(int fd, int target)
{
    return dup_onto(fd, target, 0, false);
}

HS_EXPORT int dup3(int fd, int target, int flags)
{
    return dup_onto(fd, target, flags, true);
}

/* ---- fcntl, ioctl: duplicates, and each process's own O_NONBLOCK on a listener ----------- */

static int fcntl_common(int (*libc_fcntl)(int, int, ...), int fd, int cmd, void *arg)
{
    enum fd_kind kind = cmd == F_GETFD || cmd == F_SETFD ? fd_kind(fd) : fd_kind_claiming(fd);
    if (kind == FD_OTHER && cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) {
        int rc = libc_fcntl(fd, cmd, arg);
        if (rc < 0) /* the only extra work: a failed call (a lock another holds is news) */
            lockreport_fcntl_failed(fd, cmd);
        return rc;
    }
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
        int copy = libc_fcntl(fd, cmd, arg);
        if (copy >= 0 && kind != FD_OTHER) {
            int saved = errno;
            fdguard_copied(fd, copy);
            errno = saved;
        }
        return copy;
    }
    case F_GETFL:
        if (fd_is_listening(kind))
            return nonblock_getfl(fd, libc_fcntl(fd, cmd));
        break;
    case F_SETFL:
        if (fd_is_listening(kind))
            return nonblock_setfl(fd, (int)(long)arg);
        break;
    default:
        break;
    }
    return libc_fcntl(fd, cmd, arg);
}

/* fcntl is variadic; its third argument, when there is one, is an int or a pointer, both
 * passed in a register that reading as void * does not disturb. */
HS_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list args;
    va_start(args, cmd);
    void *arg = va_arg(args, void *);
    va_end(args);
    return fcntl_common(real.fcntl, fd, cmd, arg);
}

HS_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list args;
    va_start(args, cmd);
    void *arg = va_arg(args, void *);
    va_end(args);
    return fcntl_common(real.fcntl64, fd, cmd, arg);
}

HS_EXPORT int ioctl(int fd, unsigned long request, ...)
{
    va_list args;
    va_start(args, request);
    void *arg = va_arg(args, void *);
    va_end(args);
    if (request == FIONBIO && fd_is_listening(fd_kind_claiming(fd)))
        return nonblock_fionbio(fd, arg);
    return real.ioctl(fd, request, arg);
}

/* ---- closing many ------------------------------------------------------------------------ */

HS_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    return fdguard_close_range(first, last, flags);
}

HS_EXPORT void closefrom(int lowest)
{
    int saved = errno;
    if (lowest >= 0)
        fdguard_close_range((unsigned)lowest, ~0U, 0);
    errno = saved;
}

/* ---- Unix socket paths: a handed-over listener's path stays on disk ------------------ */

HS_EXPORT int unlink(const char *path)
{
    if (inherit_path_protected(path))
        return 0;
    return real.unlink(path);
}

HS_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
    /* inherit_path_protected() first: it is what copes with a NULL path */
    if (!(flags & AT_REMOVEDIR) && inherit_path_protected(path) && (dirfd == AT_FDCWD || path[0] == '/'))
        return 0;
    return real.unlinkat(dirfd, path, flags);
}

HS_EXPORT int remove(const char *path)
{
    if (inherit_path_protected(path))
        return 0;
    return real.remove(path);
}
