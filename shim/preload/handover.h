/* handover.h: --handover-idle. In a drain, an idle keep-alive connection is passed to the next
 * generation (through the launcher) instead of being closed; the old server sees its client
 * leave, the client sees nothing at all. */
#ifndef HOTSWAP_HANDOVER_H
#define HOTSWAP_HANDOVER_H

#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>

#include "connstate.h"
#include "dgram.h" /* receive_fn */

/* HOTSWAP_HANDOVER_IDLE=1 in a supervised generation. */
void handover_init(void);
bool handover_enabled(void);

/* A read on connection `fd`: moves the connection first when it is idle in a drain (the read
 * then sees the client's close), and where the server expects a blocking read, waits in a way a
 * drain can interrupt. Returns what the read returns. */
ssize_t handover_read(int fd, int flags, receive_fn receive, void *ctx);

/* A thread is about to wait (epoll, poll, select): in a drain, it moves the idle connections it
 * answered last. */
void handover_at_wait(void);

/* In a drain, connection `fd` (in `state`), which the framing does not know, is idle by turn
 * (conn.c): it is offered to the next generation (ANSWERED now, as an answered HTTP connection
 * is) and the thread that last wrote on it is woken, to move it at its wait. True while the
 * offer stands; false if it cannot move (nobody wrote on it, no next generation) or was offered
 * OFFER_PATIENCE_MS ago and is still here: the caller ends it instead. Async-signal-safe. */
bool handover_offer(int fd, enum conn_state state);

/* epoll_ctl() on a connection succeeded: remembered, so a move can put the stand-in in its place. */
void handover_note_epoll(int epfd, int op, int fd, const struct epoll_event *event);

/* The drain began (signal handler): wake the threads waiting, so each moves its own. */
/* A re-arm (hotswap rollback) undid the drain: the eventfd is reset. Signal handler. */
void handover_after_rearm(void);
void handover_drain_begin(void);

/* The server closes `fd`, a connection that was handed over: closes the stand-in's peer too. */
void handover_forget(int fd);

/* accept() returned `conn` (accept4 `flags`) in the new generation: if it is the launcher's
 * wake-up connection for a handed-over client, that client takes its number (and `addr`, of
 * which the caller's buffer holds `room` bytes). */
int handover_claim(int conn, struct sockaddr *addr, socklen_t *addrlen, socklen_t room, int flags);

/* The waits, while --handover-idle is on: the drain wakes them (see handover.c). */
int handover_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *mask);
int handover_ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask);
int handover_pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, const struct timespec *timeout,
                     const sigset_t *mask);

/* Bookkeeping: a new connection on `fd`; the shim's fds moved out of the
 * server's way (fdguard.c) or kept across the started process's exec. */
void handover_note_accepted(int fd);
void handover_moved(int from, int to);
void handover_keep_across_exec(bool keep);

#endif
