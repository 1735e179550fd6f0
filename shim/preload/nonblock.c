/* nonblock.c: the per-process O_NONBLOCK view of shared listeners (see nonblock.h). */
#define _GNU_SOURCE
#include "nonblock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "drainstate.h"
#include "fdslots.h"
#include "fdtable.h"
#include "real.h"
#include "resume.h"

/* Per fd, for any fd number (fdslots.h); a record never made reads as false. */
static atomic_bool wants_nonblock[FDSLOTS_STATIC];
static struct fdslots wants_nonblock_above;
static atomic_bool interrupting_handler_seen;

static void make_shared_nonblocking(int fd)
{
    int flags = real.fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK))
        real.fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static atomic_bool *wanted_slot(int fd, bool make)
{
    if ((unsigned)fd < FDSLOTS_STATIC)
        return &wants_nonblock[fd];
    return fdslots_at(&wants_nonblock_above, fd, sizeof wants_nonblock[0], make);
}

static void set_wanted(int fd, bool wanted)
{
    atomic_bool *slot = wanted_slot(fd, wanted);
    if (slot)
        atomic_store(slot, wanted);
}

void nonblock_adopt(int fd, bool wanted)
{
    if (fd < 0)
        return;
    set_wanted(fd, wanted);
    make_shared_nonblocking(fd);
}

bool nonblock_wanted(int fd)
{
    atomic_bool *slot = wanted_slot(fd, false);
    return slot && atomic_load(slot);
}

void nonblock_copy(int from, int to)
{
    if (to >= 0)
        set_wanted(to, nonblock_wanted(from));
}

int nonblock_getfl(int fd, int real_flags)
{
    if (real_flags < 0)
        return real_flags;
    return (real_flags & ~O_NONBLOCK) | (nonblock_wanted(fd) ? O_NONBLOCK : 0);
}

int nonblock_setfl(int fd, int flags)
{
    int rc = real.fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (rc == 0)
        set_wanted(fd, (flags & O_NONBLOCK) != 0);
    return rc;
}

int nonblock_fionbio(int fd, const int *on)
{
    int probe = real.fcntl(fd, F_GETFD);
    if (probe < 0)
        return -1;
    if (!on) {
        errno = EFAULT;
        return -1;
    }
    set_wanted(fd, *on != 0);
    return 0;
}

/* The kernel's signal set: what rt_sigprocmask and ppoll take (glibc's sigset_t is larger). */
#define KERNEL_SIGSET_BYTES (_NSIG / 8)

int nonblock_wait(int fd)
{
    /* A drain that comes between the caller's look at the fd and the poll would find this thread
     * not yet waiting, and its signal would be spent before the poll: the thread would then wait
     * on a listener it may no longer take from. So the drain signal is blocked for the look, and
     * ppoll unblocks it atomically: one sent meanwhile is pending and ends the wait at once.
     * (Raw system calls: the shim's own sigprocmask hook keeps the drain signal from servers.) */
    int signo = drain_signal();
    sigset_t block, before;
    sigemptyset(&block);
    if (signo > 0)
        sigaddset(&block, signo);
    if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, &block, &before, KERNEL_SIGSET_BYTES) < 0)
        return -1;
    unsigned mark = resume_mark();
    int rc = 0;
    if (fd_awaits_clients(fd_kind(fd))) {
        struct pollfd readable = {.fd = fd, .events = POLLIN};
        rc = (int)syscall(SYS_ppoll, &readable, 1, NULL, &before, KERNEL_SIGSET_BYTES);
    } else {
        rc = -1;
        errno = EINTR; /* drained before the wait: as if woken by the drain */
    }
    int saved = errno;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &before, NULL, KERNEL_SIGSET_BYTES);
    errno = saved;
    if (rc >= 0)
        return 0;
    if (errno != EINTR)
        return 0; /* let accept() report whatever is wrong */
    /* Woken by a drain: the caller finds the dummy. Else EINTR only where a real blocking
     * accept() would have given it: a handler without SA_RESTART. The shim's own signal has
     * SA_RESTART: a wake-up after a re-arm (wake_every_thread) is never the server's EINTR. */
    if (!fd_awaits_clients(fd_kind(fd)))
        return -1;
    if (resume_mark() != mark)
        return 0;
    return atomic_load(&interrupting_handler_seen) ? -1 : 0;
}

void nonblock_note_handler(bool restarts)
{
    if (!restarts)
        atomic_store(&interrupting_handler_seen, true);
}
