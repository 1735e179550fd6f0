/* conn.c: the keep-alive cycle of each accepted connection, and ending idle ones in a drain.
 *
 * A connection is idle when the server has answered (written a complete answer, by the answer's
 * own framing, after reading a request: httpframe.c) and the kernel holds nothing unread for it. In a drain, the shim then shuts the connection's read side:
 * shutdown(SHUT_RD) wakes a thread blocked in read() with 0, makes poll/select/epoll report it
 * readable (level and edge triggered alike), and every read on it from then on returns 0: to the
 * server, exactly an ordinary client close, which it answers by closing. A request that races
 * the shutdown is never read (see conn_receive): it meets a closed connection with nothing of an
 * answer, which is the one failure RFC 9112 §9.3.1 lets a client retry.
 *
 * conn_drain_begin() runs in the drain signal handler: syscalls and atomics only. */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "drain.h"
#include "fdtable.h"
#include "handover.h"
#include "httpframe.h"
#include "listenaddr.h"
#include "real.h"
#include "threadid.h"

/* Per fd, for any fd number (fdslots.h). */
static _Atomic unsigned char states[FDSLOTS_STATIC];
static struct fdslots states_above;
static atomic_int last_writers[FDSLOTS_STATIC];
static struct fdslots last_writers_above;

/* Records are made only to write something other than zero: a record never made reads as
 * CONN_FRESH, written by nobody. */
static _Atomic unsigned char *state_slot(int fd, bool make)
{
    if ((unsigned)fd < FDSLOTS_STATIC)
        return &states[fd];
    return fdslots_at(&states_above, fd, sizeof states[0], make);
}

static atomic_int *last_writer_slot(int fd, bool make)
{
    if ((unsigned)fd < FDSLOTS_STATIC)
        return &last_writers[fd];
    return fdslots_at(&last_writers_above, fd, sizeof last_writers[0], make);
}

enum conn_state conn_state(int fd)
{
    _Atomic unsigned char *state = state_slot(fd, false);
    return state ? (enum conn_state)atomic_load_explicit(state, memory_order_relaxed) : CONN_FRESH;
}

bool conn_transition(int fd, enum conn_state from, enum conn_state to)
{
    _Atomic unsigned char *state = state_slot(fd, true);
    if (!state)
        return false;
    unsigned char expected = (unsigned char)from;
    return atomic_compare_exchange_strong(state, &expected, (unsigned char)to);
}

int conn_last_writer(int fd)
{
    atomic_int *writer = last_writer_slot(fd, false);
    return writer ? atomic_load_explicit(writer, memory_order_relaxed) : 0;
}

void conn_note_accepted(int fd)
{
    _Atomic unsigned char *state = state_slot(fd, false);
    if (state)
        atomic_store_explicit(state, CONN_FRESH, memory_order_relaxed);
    atomic_int *writer = last_writer_slot(fd, false);
    if (writer)
        atomic_store_explicit(writer, 0, memory_order_relaxed);
    frame_reset(fd);
    handover_note_accepted(fd);
}

/* Nothing unread in the kernel for `fd`: the client has not started its next request. */
static bool nothing_queued(int fd)
{
    int queued = 0;
    return real.ioctl(fd, FIONREAD, &queued) == 0 && queued == 0;
}

/* Still the connection accepted on this number: a server that closes with a raw system call
 * (libuv does) leaves the shim's record behind, and the number may now be a socket it opened
 * itself (an upstream connection). An accepted socket's local address is a listener's. */
static bool still_accepted(int fd)
{
    struct sockaddr_storage mine;
    socklen_t len = sizeof mine;
    if (real.getsockname(fd, (struct sockaddr *)&mine, &len) < 0)
        return false;
    return listenaddr_is_listeners((struct sockaddr *)&mine, len);
}

/* Shuts the read side of an answered connection with nothing queued. */
void conn_close_if_idle(int fd)
{
    if (conn_state(fd) != CONN_ANSWERED || !frame_complete(fd) || !nothing_queued(fd) || !still_accepted(fd))
        return;
    if (conn_transition(fd, CONN_ANSWERED, CONN_CLOSING))
        shutdown(fd, SHUT_RD);
}

static void note_read(int fd, enum conn_state before, ssize_t got, const void *head)
{
    if (got <= 0 || fd_kind(fd) != FD_CONN)
        return;
    if (before == CONN_FRESH || before == CONN_ANSWERED)
        frame_request_begins(fd, head, (size_t)got); /* the next request's first bytes */
    enum conn_state state = conn_state(fd);
    if (state == CONN_FRESH || state == CONN_ANSWERED)
        conn_transition(fd, state, CONN_BUSY);
}

ssize_t conn_receive(int fd, int flags, receive_fn receive, void *ctx, const void *head)
{
    enum conn_state before = conn_state(fd);
    /* Its read side is shut: to the server, the client has closed. A request that raced the
     * shutdown stays unread, and the server's close turns it into a reset: nothing of an answer
     * reached the client, which may retry it (RFC 9112 §9.3.1). Served instead, it would end in
     * an end-of-file the server could take for an abort in the middle of its answer (a server
     * watching for one, as a proxy does, cuts it). */
    if (before == CONN_CLOSING) {
        if (still_accepted(fd))
            return 0;
        fdtable_forget_conn(fd); /* closed behind our back; the number is another socket now */
        return receive(fd, ctx, flags);
    }
    ssize_t got = handover_enabled() ? handover_read(fd, flags, receive, ctx) : receive(fd, ctx, flags);
    int saved = errno;
    note_read(fd, before, got, head);
    errno = saved;
    return got;
}

/* After bytes went out: a complete answer makes the connection answered (and, in a drain, a
 * candidate for the clean close); an answer under way makes it busy. */
static void after_write(int fd)
{
    if (!frame_complete(fd)) {
        conn_transition(fd, CONN_ANSWERED, CONN_BUSY); /* the next answer (pipelined) has begun */
        return;
    }
    /* The writer is only asked for by --handover-idle. */
    if (conn_transition(fd, CONN_BUSY, CONN_ANSWERED) && handover_enabled()) {
        atomic_int *writer = last_writer_slot(fd, true);
        if (writer)
            atomic_store_explicit(writer, thread_id(), memory_order_relaxed);
    }
    if (drain_begun() && !handover_enabled())
        conn_close_if_idle(fd);
}

void conn_note_sent(int fd, const struct iovec *iov, int count, ssize_t sent)
{
    if (fd_kind(fd) != FD_CONN)
        return;
    int saved = errno;
    if (sent < 0 && (saved == EAGAIN || saved == EWOULDBLOCK))
        conn_transition(fd, CONN_ANSWERED, CONN_BUSY); /* an answer waits in the server's buffer */
    if (sent > 0) {
        frame_sent(fd, iov, count, (size_t)sent);
        after_write(fd);
    }
    errno = saved;
}

void conn_note_sent_unseen(int fd, ssize_t sent)
{
    if (fd_kind(fd) != FD_CONN)
        return;
    int saved = errno;
    if (sent < 0 && (saved == EAGAIN || saved == EWOULDBLOCK))
        conn_transition(fd, CONN_ANSWERED, CONN_BUSY);
    if (sent > 0) {
        frame_sent_unseen(fd, (size_t)sent);
        after_write(fd);
    }
    errno = saved;
}

void conn_drain_begin(void)
{
    if (handover_enabled())
        return; /* idle connections are moved at the server's next wait instead (handover.c) */
    int high = atomic_load(&fd_high_water);
    for (int fd = fd_walk_from(0); fd >= 0 && fd <= high; fd = fd_walk_from(fd + 1))
        if (fd_kind(fd) == FD_CONN)
            conn_close_if_idle(fd);
}
