/* conn.h: the keep-alive cycle of each accepted connection: what its reads and writes say of it
 * (connstate.h keeps where it stands), and ending idle ones in a drain. */
#ifndef HOTSWAP_CONN_H
#define HOTSWAP_CONN_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "dgram.h" /* receive_fn */

/* accept() returned `fd`. */
void conn_note_accepted(int fd);

/* The server wrote on connection `fd`: the first `sent` bytes of `iov` (or an error). */
void conn_note_sent(int fd, const struct iovec *iov, int count, ssize_t sent);

/* The same through sendfile or splice: `sent` bytes the shim does not see (or an error). */
void conn_note_sent_unseen(int fd, ssize_t sent);

/* A receive on connection `fd` through `receive` (with --handover-idle, through handover.c),
 * noted; `head` is where the bytes land (the start of a request says its method). Returns what
 * it returns, errno included. */
ssize_t conn_receive(int fd, int flags, receive_fn receive, void *ctx, const void *head);

/* The drain began (in the signal handler): end every connection that is idle now. */
void conn_drain_begin(void);

/* In a drain (--idle-close turn): end every connection the framing does not know that the kernel
 * shows idle by turn (idleturn.h). Async-signal-safe. */
void conn_end_idle_by_turn(void);

#endif
