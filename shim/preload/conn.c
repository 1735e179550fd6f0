/* conn.c: the keep-alive cycle of each accepted connection, and ending idle ones in a drain.
 *
 * A connection is idle when the server has answered (written a complete answer, by the answer's
 * own framing, after reading a request: httpframe.c) and the kernel holds nothing unread for it.
 * In a drain, the shim then shuts the connection's read side, at the moment quietclose.c
 * decides (after an answer marked "Connection: close" by closemark.c, or once quiet):
 * shutdown(SHUT_RD) wakes a thread blocked in read() with 0, makes poll/select/epoll report it
 * readable (level and edge triggered alike), and every read on it from then on returns 0: to the
 * server, exactly an ordinary client close, which it answers by closing. A request that races
 * the shutdown is never read (see conn_receive): it meets a closed connection with nothing of an
 * answer, which is the one failure RFC 9112 §9.3.1 lets a client retry.
 *
 * A connection whose framing the shim does not know (TLS, another protocol: httpframe.c) is ended
 * instead when the kernel shows it idle by turn (idleturn.h), with --idle-close turn: at the
 * drain's start, and whenever the launcher asks (HS_SIGVAL_TURN), since the client's
 * acknowledgement that makes it idle wakes nothing in the server.
 *
 * conn_drain_begin() and conn_end_idle_by_turn() run in the drain signal handler: syscalls and
 * atomics only. */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "closemark.h"
#include "connstate.h"
#include "countreport.h"
#include "drainstate.h"
#include "fdtable.h"
#include "handover.h"
#include "httpframe.h"
#include "idleturn.h"
#include "quietclose.h"
#include "real.h"

/* Per fd, for any fd number (fdslots.h): who spoke last on each connection since the drain began
 * (enum turn_seen). Only a drain writes it, so outside one the read and write hooks pay nothing
 * for it. */
static _Atomic unsigned char turns[FDSLOTS_STATIC];
static struct fdslots turns_above;

static _Atomic unsigned char *turn_slot(int fd, bool make)
{
    if ((unsigned)fd < FDSLOTS_STATIC)
        return &turns[fd];
    return fdslots_at(&turns_above, fd, sizeof turns[0], make);
}

static enum turn_seen turn_seen(int fd)
{
    _Atomic unsigned char *turn = turn_slot(fd, false);
    return turn ? (enum turn_seen)atomic_load_explicit(turn, memory_order_relaxed) : TURN_UNSEEN;
}

/* In a drain: `who` spoke last on `fd`. */
static void note_turn(int fd, enum turn_seen who)
{
    _Atomic unsigned char *turn = turn_slot(fd, true);
    if (turn)
        atomic_store_explicit(turn, (unsigned char)who, memory_order_relaxed);
}

void conn_note_accepted(int fd)
{
    _Atomic unsigned char *turn = turn_slot(fd, false);
    if (turn)
        atomic_store_explicit(turn, TURN_UNSEEN, memory_order_relaxed);
    connstate_reset(fd);
    frame_reset(fd);
    closemark_reset(fd);
    handover_note_accepted(fd);
}

static void note_read(int fd, enum conn_state before, ssize_t got, const void *head)
{
    if (got <= 0 || fd_kind(fd) != FD_CONN)
        return;
    if (drain_begun())
        note_turn(fd, TURN_CLIENT);
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
        if (conn_still_accepted(fd))
            return 0;
        if (fdtable_forget_conn(fd)) /* closed behind our back; the number is another socket now */
            drain_note_conns();
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
    bool draining = drain_begun(); /* (read once: the one load this path had before) */
    if (draining)
        note_turn(fd, TURN_SERVER);
    if (!frame_complete(fd)) {
        conn_transition(fd, CONN_ANSWERED, CONN_BUSY); /* the next answer (pipelined) has begun */
        if (handover_enabled() && !frame_known(fd))
            conn_note_writer(fd); /* the thread to move it, once idle by turn (handover_offer) */
        return;
    }
    /* The writer is only asked for by --handover-idle. */
    if (conn_transition(fd, CONN_BUSY, CONN_ANSWERED) && handover_enabled())
        conn_note_writer(fd);
    if (draining && !handover_enabled())
        quietclose_after_answer(fd);
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

/* Idle by turn (idleturn.h), by the kernel and what this shim saw of the turn in the drain. */
static bool idle_by_turn_now(int fd)
{
    int unread = -1, unsent = -1;
    return real.ioctl(fd, SIOCINQ, &unread) == 0 && real.ioctl(fd, SIOCOUTQ, &unsent) == 0 &&
           idle_by_turn(fd, real.getsockopt, unread, unsent, turn_seen(fd));
}

/* A connection the framing does not know, idle by turn, still the accepted one: its read side is
 * shut, as for an idle HTTP connection; with --handover-idle it is offered to the next generation
 * first. One the framing knows is the framing's to judge: by turn, an answer streamed with pauses
 * would look idle in each pause. */
static void end_if_idle_by_turn(int fd)
{
    enum conn_state state = conn_state(fd);
    if ((state != CONN_FRESH && state != CONN_BUSY && state != CONN_ANSWERED) || frame_known(fd) ||
        !idle_by_turn_now(fd) || !conn_still_accepted(fd))
        return;
    if (handover_enabled() && handover_offer(fd, state))
        return;
    if (conn_transition(fd, state, CONN_CLOSING))
        shutdown(fd, SHUT_RD);
}

void conn_end_idle_by_turn(void)
{
    if (drain_idle_close() != IDLE_CLOSE_TURN)
        return;
    int saved = errno;
    int high = atomic_load(&fd_high_water);
    for (int fd = fd_walk_from(0); fd >= 0 && fd <= high; fd = fd_walk_from(fd + 1))
        if (fd_kind(fd) == FD_CONN)
            end_if_idle_by_turn(fd);
    errno = saved;
}

void conn_drain_begin(void)
{
    conn_end_idle_by_turn();
    if (handover_enabled())
        return;      /* idle connections are moved at the server's next wait instead (handover.c) */
    closemark_arm(); /* busy ones: their next answer says close */
    quietclose_sweep();
}
