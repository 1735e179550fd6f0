/* dgram.c: datagram sockets of ours: adopt, receive, count. */
#define _GNU_SOURCE
#include "dgram.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>

#include "acceptwait.h"
#include "countreport.h"
#include "fdtable.h"
#include "gate.h"
#include "mode.h"
#include "nonblock.h"
#include "real.h"
#include "report.h"
#include "wakeup.h"

static atomic_bool any_drained;

void dgram_note_bound(int fd, const struct sockaddr *addr)
{
    int type;
    socklen_t len = sizeof type;
    if (!addr || fd_kind(fd) != FD_OTHER || real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != SOCK_DGRAM)
        return;
    if (addr->sa_family == AF_INET) {
        if (((const struct sockaddr_in *)addr)->sin_port == 0)
            return;
    } else if (addr->sa_family == AF_INET6) {
        if (((const struct sockaddr_in6 *)addr)->sin6_port == 0)
            return;
    } else {
        return;
    }
    fd_set_kind(fd, FD_DGRAM_BOUND);
}

enum fd_kind dgram_settle(int fd, bool receives)
{
    if (fd_kind(fd) != FD_DGRAM_BOUND)
        return fd_kind(fd);
    int saved = errno;
    if (receives && shim_in_charge()) {
        int status = real.fcntl(fd, F_GETFL);
        nonblock_adopt(fd, status >= 0 && (status & O_NONBLOCK));
        fd_set_kind(fd, FD_DGRAM);
        report_listener(fd);
    } else {
        fd_set_kind(fd, FD_OTHER);
    }
    errno = saved;
    return fd_kind(fd);
}

/* Always received with MSG_DONTWAIT: a thread must never sit inside the kernel's receive on the
 * shared socket, where it would take a datagram after a drain. It waits in poll() instead, from
 * which the drain's signal gets it out.
 *
 * From before the look at the socket's kind until the datagram it takes is counted as owed a
 * reply, the receive itself counts as one datagram owed. A drain can come at any moment of it,
 * and on a busy machine the thread can be off the CPU for milliseconds between the kernel's
 * receive and that count. It used to count as an accept in flight, a connection, until after
 * the receive returned: a drain in that window reported one connection, then none before the
 * datagram was counted, and the launcher (which also lets the kernel's empty tables overrule a
 * connection count, and the kernel shows no work on a UDP socket) stopped the old generation
 * between its receive and its reply. One datagram in 3,957 went unanswered so (issue 14). */
ssize_t dgram_receive(int fd, int flags, receive_fn receive, void *ctx, bool returns_count)
{
    if (gate_closed()) { /* --ready notify, before READY=1: the old generation's datagrams */
        if ((flags & MSG_DONTWAIT) || nonblock_wanted(fd)) {
            errno = EAGAIN;
            return -1;
        }
        if (gate_wait_open() < 0)
            return -1;
    }
    int slot = drain_wake_register(); /* so a drain can wake this thread out of its wait */
    ssize_t got;
    for (;;) {
        fdtable_dgram_receive_begin(); /* before the look at the kind: a drain after it is seen */
        if (fd_kind(fd) == FD_DGRAM_DRAINED) {
            got = -1;
            errno = EAGAIN;
        } else {
            got = receive(fd, ctx, flags | MSG_DONTWAIT);
        }
        int saved = errno;
        fdtable_dgram_receive_end(got < 0 ? 0 : returns_count ? got : 1);
        drain_note_conns();
        errno = saved;
        bool wants_wait = !(flags & MSG_DONTWAIT) && !nonblock_wanted(fd);
        if (got >= 0 || errno != EAGAIN || !wants_wait)
            break;
        if (fd_kind(fd) == FD_DGRAM_DRAINED) {
            drain_wake_unregister(slot);
            return wait_for_a_signal();
        }
        if (nonblock_wait(fd) < 0 && fd_kind(fd) != FD_DGRAM_DRAINED)
            break; /* EINTR the server must see */
    }
    drain_wake_unregister(slot); /* an atomic store: errno stays the receive's */
    return got;
}

void dgram_sent(long count)
{
    if (count > 0) {
        fdtable_note_datagrams(0, count);
        drain_note_conns();
    }
}

bool dgram_any_drained(void)
{
    return atomic_load_explicit(&any_drained, memory_order_relaxed);
}

void dgram_note_drained(void)
{
    atomic_store(&any_drained, true);
}
