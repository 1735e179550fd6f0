/* conn.c: the keep-alive cycle of each accepted connection, and ending idle ones in a drain.
 *
 * A connection is idle when the server has answered (written after reading a request) and the
 * kernel holds nothing unread for it. In a drain, the shim then shuts the connection's read side:
 * shutdown(SHUT_RD) wakes a thread blocked in read() with 0, makes poll/select/epoll report it
 * readable (level and edge triggered alike), and the next read() return 0 once the queue is
 * empty: to the server, exactly an ordinary client close, which it answers by closing. Bytes
 * that do arrive after the shutdown are still read first (Linux queues them), so a request that
 * races the shutdown is served, not lost; only one arriving after the server's empty read meets
 * a closed connection, which is the one failure RFC 9112 §9.3.1 lets a client retry.
 *
 * conn_drain_begin() runs in the drain signal handler: syscalls and atomics only. */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drain.h"
#include "fdtable.h"
#include "handover.h"
#include "real.h"

static _Atomic unsigned char states[FDTABLE_SIZE];
static atomic_int last_writers[FDTABLE_SIZE];

enum conn_state conn_state(int fd)
{
    if ((unsigned)fd >= FDTABLE_SIZE)
        return CONN_FRESH;
    return (enum conn_state)atomic_load_explicit(&states[fd], memory_order_relaxed);
}

bool conn_transition(int fd, enum conn_state from, enum conn_state to)
{
    if ((unsigned)fd >= FDTABLE_SIZE)
        return false;
    unsigned char expected = (unsigned char)from;
    return atomic_compare_exchange_strong(&states[fd], &expected, (unsigned char)to);
}

int conn_last_writer(int fd)
{
    if ((unsigned)fd >= FDTABLE_SIZE)
        return 0;
    return atomic_load_explicit(&last_writers[fd], memory_order_relaxed);
}

void conn_note_accepted(int fd)
{
    if ((unsigned)fd >= FDTABLE_SIZE)
        return;
    atomic_store_explicit(&states[fd], CONN_FRESH, memory_order_relaxed);
    atomic_store_explicit(&last_writers[fd], 0, memory_order_relaxed);
    handover_note_accepted(fd);
}

/* Nothing unread in the kernel for `fd`: the client has not started its next request. */
static bool nothing_queued(int fd)
{
    int queued = 0;
    return real.ioctl(fd, FIONREAD, &queued) == 0 && queued == 0;
}

/* Shuts the read side of an answered connection with nothing queued. */
void conn_close_if_idle(int fd)
{
    if (conn_state(fd) != CONN_ANSWERED || !nothing_queued(fd))
        return;
    if (conn_transition(fd, CONN_ANSWERED, CONN_CLOSING))
        shutdown(fd, SHUT_RD);
}

void conn_note_read(int fd, ssize_t got)
{
    if (got <= 0 || fd_kind(fd) != FD_CONN)
        return;
    enum conn_state state = conn_state(fd);
    if (state == CONN_FRESH || state == CONN_ANSWERED || state == CONN_CLOSING)
        conn_transition(fd, state, CONN_BUSY);
}

ssize_t conn_receive(int fd, int flags, receive_fn receive, void *ctx)
{
    ssize_t got = handover_enabled() ? handover_read(fd, flags, receive, ctx) : receive(fd, ctx, flags);
    conn_note_read(fd, got); /* atomics only: errno stays the call's */
    return got;
}

void conn_note_written(int fd, ssize_t sent, size_t wanted)
{
    if (fd_kind(fd) != FD_CONN)
        return;
    int saved = errno;
    /* A partial write (or one that would block) leaves the rest of the answer in the server's
     * buffer: not idle, even if an earlier write (the headers) was complete. */
    if ((sent < 0 && (saved == EAGAIN || saved == EWOULDBLOCK)) || (sent >= 0 && (size_t)sent < wanted)) {
        conn_transition(fd, CONN_ANSWERED, CONN_BUSY);
        errno = saved;
        return;
    }
    if (sent <= 0) {
        errno = saved;
        return;
    }
    /* The writer is only asked for by --handover-idle; gettid() is a syscall on every answer. */
    if (conn_transition(fd, CONN_BUSY, CONN_ANSWERED) && handover_enabled())
        atomic_store_explicit(&last_writers[fd], gettid(), memory_order_relaxed);
    if (drain_begun() && !handover_enabled())
        conn_close_if_idle(fd);
    errno = saved;
}

void conn_drain_begin(void)
{
    if (handover_enabled())
        return; /* idle connections are moved at the server's next wait instead (handover.c) */
    int high = atomic_load(&fd_high_water);
    for (int fd = 0; fd <= high && fd < FDTABLE_SIZE; fd++)
        if (fd_kind(fd) == FD_CONN)
            conn_close_if_idle(fd);
}
