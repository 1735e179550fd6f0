/* fdtable.h: what each fd number of this process is, as far as the shim cares, and the count of
 * accepted connections still open. One byte per fd, read without a lock on every hooked call. */
#ifndef HOTSWAP_FDTABLE_H
#define HOTSWAP_FDTABLE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "fdslots.h"

enum fd_kind {
    FD_OTHER = 0,      /* not ours: pass straight through */
    FD_LISTENER,       /* a listening socket the launcher holds a copy of */
    FD_CONN,           /* a connection accepted from a listener */
    FD_DUMMY,          /* the never-readable stand-in put on a listener's number by a drain */
    FD_DUMMY_BLOCKING, /* the same, where the server expects accept() to block */
    FD_CHANNEL,        /* the channel to the launcher: protected */
    FD_INHERITED,      /* a listener handed over by the launcher, not yet claimed by bind(): protected */
    FD_DGRAM,          /* a bound datagram socket the launcher holds a copy of (a UDP server's "listener") */
    FD_DGRAM_DRAINED,  /* the same after a drain: receives nothing more, still sends */
    FD_HANDED,         /* a connection passed to the next generation; its number holds a stand-in that
                      reads as the client's close (handover.c) */
    FD_PRIVATE,        /* bound to port 0 or autobound: a listener of the server's own, on whatever
                      address the kernel chose; never held, never handed over */
    FD_DGRAM_BOUND,    /* a datagram socket bound to a chosen port, nothing received or sent yet: a
                       server's (held at its first receive or wait for reading) or a client's
                       that picked its own port (its first send says so: a DNS resolver) */
    FD_GIVEN_BOUND,    /* a bound stream socket, neither listening nor connected, that this process
                       was handed (SCM_RIGHTS, or at its exec): its listen() makes a program the
                       generation exec'd take part (received.h) */
};

/* The kinds: fds below FDSLOTS_STATIC in the static array (the hot path), the rest in mapped
 * buckets (fdslots.h), so any fd number the process may have is tracked. */
extern _Atomic unsigned char fd_kinds[FDSLOTS_STATIC];
extern struct fdslots fd_kinds_above;
extern atomic_int fd_high_water; /* no fd above it has ever had a kind: walks stop there */

/* Where the kind of `fd` is kept; NULL if it was never written (it is FD_OTHER) or, with `make`,
 * there is no memory for it. */
static inline _Atomic unsigned char *fd_kind_slot(int fd, bool make)
{
    if ((unsigned)fd < FDSLOTS_STATIC)
        return &fd_kinds[fd];
    return fdslots_at(&fd_kinds_above, fd, sizeof fd_kinds[0], make);
}

static inline enum fd_kind fd_kind(int fd)
{
    _Atomic unsigned char *slot = fd_kind_slot(fd, false);
    return slot ? (enum fd_kind)atomic_load_explicit(slot, memory_order_relaxed) : FD_OTHER;
}

static inline void fd_raise_high_water(int fd)
{
    int high = atomic_load_explicit(&fd_high_water, memory_order_relaxed);
    while (fd > high && !atomic_compare_exchange_weak(&fd_high_water, &high, fd))
        ;
}

static inline void fd_set_kind(int fd, enum fd_kind kind)
{
    _Atomic unsigned char *slot = fd_kind_slot(fd, kind != FD_OTHER);
    if (!slot)
        return;
    if (kind != FD_OTHER)
        fd_raise_high_water(fd);
    atomic_store_explicit(slot, (unsigned char)kind, memory_order_relaxed);
}

/* Walks every fd that may have a kind, skipping buckets never made:
 *     for (int fd = fd_walk_from(0); fd >= 0 && fd <= high; fd = fd_walk_from(fd + 1)) */
static inline int fd_walk_from(int fd)
{
    return fd < FDSLOTS_STATIC ? fd : fdslots_next_made(&fd_kinds_above, fd);
}

static inline int fd_is_protected(enum fd_kind kind)
{
    return kind == FD_CHANNEL || kind == FD_INHERITED;
}

/* Kinds whose O_NONBLOCK is kept per process (nonblock.h). */
static inline int fd_is_listening(enum fd_kind kind)
{
    return kind == FD_LISTENER || kind == FD_DUMMY || kind == FD_DUMMY_BLOCKING || kind == FD_DGRAM ||
           kind == FD_DGRAM_DRAINED;
}

/* Kinds a server waits on for new clients: the first wait on one is readiness. */
static inline int fd_awaits_clients(enum fd_kind kind)
{
    return kind == FD_LISTENER || kind == FD_DGRAM;
}

/* A connection was accepted on `conn` (its caller also resets its state: conn_note_accepted). */
void fdtable_note_conn(int conn);

/* `fd`, a connection, is being closed: count it out. True if it was one: its caller then tells
 * the drain (drain_note_conns), as every changer of a count below does. */
bool fdtable_forget_conn(int fd);

/* `fd`, a connection, was handed to the next generation: counted out, marked FD_HANDED. */
bool fdtable_conn_handed(int fd);

/* A thread enters / leaves a real accept() on a listener. Until it leaves, the connection it
 * may be taking counts as open: the kernel can hand it one just as a drain begins. */
void fdtable_accept_begin(void);
void fdtable_accept_end(int conn);
/* In a forked child: no accept of the parent's other threads is in flight here. */
void fdtable_after_fork(void);

/* Datagrams received and sent on FD_DGRAM sockets: one received and not yet answered is work in
 * flight, like an open connection (a request/response protocol such as DNS is assumed). */
void fdtable_note_datagrams(long received, long sent);

/* Connections accepted and not yet closed by this process, plus accepts in flight. */
long fdtable_open_conns(void);

/* A thread enters / leaves a real receive on an FD_DGRAM socket, having received `received`
 * datagrams. Until it leaves, the datagram it may be taking counts as owed a reply: the kernel
 * may have handed it one as a drain begins, and shows nothing of it (unlike an accepted
 * connection), so only this count keeps its process from being stopped before it answers. */
void fdtable_dgram_receive_begin(void);
void fdtable_dgram_receive_end(long received);

/* Datagrams received on FD_DGRAM sockets and not answered, plus receives in flight. */
long fdtable_datagrams_owed(void);

#endif
