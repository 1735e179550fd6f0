/* hooks_lock.c: the interposed lock calls (flock, lockf) and kill(pid, 0). A server that cannot
 * run beside its old generation shows it here: its lock on a data file fails because the old
 * generation holds it, or its pid file names a process that is alive. Each hook calls libc and
 * does nothing more unless the call failed on a lock (or probed a pid): one message to the
 * launcher, which asks the kernel whether an older generation is the holder (sequential.c).
 * fcntl's locks are reported from its own hook (hooks_fd.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include "export.h"
#include "hooks_lock.h"
#include "real.h"
#include "report.h"

/* The errors of a lock another holds: EWOULDBLOCK for flock, EAGAIN or EACCES for POSIX locks. */
static bool held_by_another(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EACCES;
}

void lockreport_fcntl_failed(int fd, int cmd)
{
    int saved = errno;
    bool setting = cmd == F_SETLK || cmd == F_OFD_SETLK
#ifdef F_SETLK64
                   || cmd == F_SETLK64
#endif
        ;
    if (setting && held_by_another(saved))
        report_lock_failed(fd);
    errno = saved;
}

HS_EXPORT int flock(int fd, int operation)
{
    int rc = real.flock(fd, operation);
    if (rc < 0 && (operation & LOCK_NB) && (operation & (LOCK_EX | LOCK_SH))) {
        int saved = errno;
        if (held_by_another(saved))
            report_lock_failed(fd);
        errno = saved;
    }
    return rc;
}

static void note_lockf(int rc, int fd, int cmd)
{
    if (rc < 0 && cmd == F_TLOCK) {
        int saved = errno;
        if (held_by_another(saved))
            report_lock_failed(fd);
        errno = saved;
    }
}

HS_EXPORT int lockf(int fd, int cmd, off_t len)
{
    int rc = real.lockf(fd, cmd, len);
    note_lockf(rc, fd, cmd);
    return rc;
}

HS_EXPORT int lockf64(int fd, int cmd, off64_t len)
{
    int rc = real.lockf64(fd, cmd, (long long)len);
    note_lockf(rc, fd, cmd);
    return rc;
}

/* kill(pid, 0) that finds another process alive: how a pid-file check asks "is the instance in
 * my pid file still running?". Rare (nobody sends signal 0 on a hot path), so reported always;
 * the launcher decides whether the pid is an older generation's. */
HS_EXPORT int kill(pid_t pid, int sig)
{
    int rc = real.kill(pid, sig);
    if (rc == 0 && sig == 0 && pid > 0 && report_active()) {
        int saved = errno;
        if (pid != getpid())
            report_send(HS_MSG_PID_PROBED, -1, pid);
        errno = saved;
    }
    return rc;
}
