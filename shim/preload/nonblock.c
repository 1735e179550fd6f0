/* nonblock.c: the per-process O_NONBLOCK view of shared listeners (see nonblock.h). */
#define _GNU_SOURCE
#include "nonblock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>

#include "fdtable.h"
#include "real.h"

static atomic_bool wants_nonblock[FDTABLE_SIZE];
static atomic_bool interrupting_handler_seen;

static void make_shared_nonblocking(int fd)
{
    int flags = real.fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK))
        real.fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void nonblock_adopt(int fd, bool wanted)
{
    if ((unsigned)fd >= FDTABLE_SIZE)
        return;
    atomic_store(&wants_nonblock[fd], wanted);
    make_shared_nonblocking(fd);
}

bool nonblock_wanted(int fd)
{
    return (unsigned)fd < FDTABLE_SIZE && atomic_load(&wants_nonblock[fd]);
}

void nonblock_copy(int from, int to)
{
    if ((unsigned)from < FDTABLE_SIZE && (unsigned)to < FDTABLE_SIZE)
        atomic_store(&wants_nonblock[to], atomic_load(&wants_nonblock[from]));
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
    if (rc == 0 && (unsigned)fd < FDTABLE_SIZE)
        atomic_store(&wants_nonblock[fd], (flags & O_NONBLOCK) != 0);
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
    if ((unsigned)fd < FDTABLE_SIZE)
        atomic_store(&wants_nonblock[fd], *on != 0);
    return 0;
}

int nonblock_wait(int fd)
{
    struct pollfd readable = {.fd = fd, .events = POLLIN};
    if (real.poll(&readable, 1, -1) >= 0)
        return 0;
    if (errno != EINTR)
        return 0; /* let accept() report whatever is wrong */
    /* Woken by a drain: the caller finds the dummy. Else EINTR only where a real blocking
     * accept() would have given it: a handler without SA_RESTART. */
    if (!fd_awaits_clients(fd_kind(fd)) || atomic_load(&interrupting_handler_seen))
        return -1;
    return 0;
}

void nonblock_note_handler(bool restarts)
{
    if (!restarts)
        atomic_store(&interrupting_handler_seen, true);
}
