/* fdguard.c: dup*, close_range, closefrom against the fd table. */
#define _GNU_SOURCE
#include "fdguard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>

#include "conn.h"
#include "countreport.h"
#include "drain.h"
#include "fdtable.h"
#include "gate.h"
#include "handover.h"
#include "inherit.h"
#include "nonblock.h"
#include "real.h"
#include "report.h"

/* Moved shim fds go at least this high, out of the range servers tend to dup2 over. */
#define MOVE_FLOOR 512

void fdguard_copied(int from, int to)
{
    switch (fd_kind_claiming(from)) { /* a copy of fd 3.. is the server taking it */
    case FD_CONN:
        conn_note_accepted(to);
        fdtable_note_conn(to); /* counted per fd: the drain ends when the last copy closes */
        break;
    case FD_LISTENER:
    case FD_DUMMY:
    case FD_DUMMY_BLOCKING:
        nonblock_copy(from, to);
        fd_set_kind(to, fd_kind(from));
        break;
    case FD_PRIVATE:
        fd_set_kind(to, FD_PRIVATE);
        break;
    default:
        fd_set_kind(to, FD_OTHER);
        break;
    }
}

static int move_shim_fd(int fd, enum fd_kind kind)
{
    int fd_flags = real.fcntl(fd, F_GETFD);
    if (fd_flags < 0)
        return -1;
    int moved = real.fcntl(fd, (fd_flags & FD_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, MOVE_FLOOR);
    if (moved < 0)
        return -1;
    fd_set_kind(moved, kind);
    if (kind == FD_CHANNEL) {
        report_moved(fd, moved);
        handover_moved(fd, moved);
        gate_moved(fd, moved);
        drain_kept_moved(fd, moved);
    } else
        inherit_moved(fd, moved);
    fd_set_kind(fd, FD_OTHER);
    return 0;
}

int fdguard_before_overwrite(int fd)
{
    enum fd_kind kind = fd_kind(fd);
    if (fd_is_protected(kind))
        return move_shim_fd(fd, kind);
    if (kind == FD_CONN) {
        if (fdtable_forget_conn(fd))
            drain_note_conns();
    } else if (kind == FD_HANDED)
        handover_forget(fd); /* the stand-in's peer goes with it */
    if (kind != FD_OTHER && kind != FD_CONN)
        fd_set_kind(fd, FD_OTHER);
    return 0;
}

static int close_segment(unsigned first, unsigned last, int flags)
{
    if (first > last)
        return 0;
    return real.close_range(first, last, flags);
}

int fdguard_close_range(unsigned first, unsigned last, int flags)
{
    if (first > last) {
        errno = EINVAL;
        return -1;
    }
    unsigned high = (unsigned)atomic_load(&fd_high_water);
    unsigned walk_end = last < high ? last : high;
    bool closing = !(flags & CLOSE_RANGE_CLOEXEC);
    unsigned segment = first;
    int rc = 0;
    int fd = first <= walk_end ? fd_walk_from((int)first) : -1;
    for (; fd >= 0 && (unsigned)fd <= walk_end; fd = fd_walk_from(fd + 1)) {
        enum fd_kind kind = fd_kind(fd);
        if (fd_is_protected(kind)) {
            /* "closed" as far as the server knows; the shim keeps it */
            if ((unsigned)fd > segment && close_segment(segment, (unsigned)fd - 1, flags) < 0)
                rc = -1;
            segment = (unsigned)fd + 1;
        } else if (closing && kind == FD_CONN) {
            if (fdtable_forget_conn(fd))
                drain_note_conns();
        } else if (closing && kind != FD_OTHER) {
            if (kind == FD_HANDED)
                handover_forget(fd);
            fd_set_kind(fd, FD_OTHER);
        }
    }
    if (segment <= last && close_segment(segment, last, flags) < 0)
        rc = -1;
    return rc;
}
