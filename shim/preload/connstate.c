/* connstate.c: where each accepted connection stands in its request/response cycle (conn.c moves
 * it along), which thread last answered on it, and whether it is idle now. */
#define _GNU_SOURCE
#include "connstate.h"

#include <linux/sockios.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "drainstate.h"
#include "fdslots.h"
#include "httpframe.h"
#include "idleturn.h"
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

void conn_note_writer(int fd)
{
    atomic_int *writer = last_writer_slot(fd, true);
    if (writer)
        atomic_store_explicit(writer, thread_id(), memory_order_relaxed);
}

void connstate_reset(int fd)
{
    _Atomic unsigned char *state = state_slot(fd, false);
    if (state)
        atomic_store_explicit(state, CONN_FRESH, memory_order_relaxed);
    atomic_int *writer = last_writer_slot(fd, false);
    if (writer)
        atomic_store_explicit(writer, 0, memory_order_relaxed);
}

/* Nothing unread in the kernel for `fd`: the client has not started its next request. */
static bool nothing_queued(int fd)
{
    int queued = 0;
    return real.ioctl(fd, FIONREAD, &queued) == 0 && queued == 0;
}

bool conn_still_accepted(int fd)
{
    struct sockaddr_storage mine;
    socklen_t len = sizeof mine;
    if (real.getsockname(fd, (struct sockaddr *)&mine, &len) < 0)
        return false;
    return listenaddr_is_listeners((struct sockaddr *)&mine, len);
}

bool conn_idle(int fd)
{
    return drain_idle_close() != IDLE_CLOSE_NEVER && conn_state(fd) == CONN_ANSWERED && frame_complete(fd) &&
           nothing_queued(fd) && conn_still_accepted(fd);
}

void conn_shut_idle(int fd)
{
    if (conn_transition(fd, CONN_ANSWERED, CONN_CLOSING))
        shutdown(fd, SHUT_RD);
}

/* Shuts the read side of an answered connection with nothing queued. */
void conn_close_if_idle(int fd)
{
    if (conn_idle(fd))
        conn_shut_idle(fd);
}
