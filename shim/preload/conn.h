/* conn.h: where each accepted connection stands in its request/response cycle, so a drain can
 * end keep-alive connections at the one moment that is safe: answered, and nothing buffered. */
#ifndef HOTSWAP_CONN_H
#define HOTSWAP_CONN_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "dgram.h" /* receive_fn */

enum conn_state {
    CONN_FRESH = 0, /* accepted; no request read yet (a greeting written now changes nothing) */
    CONN_BUSY,      /* request bytes read since the last write */
    CONN_ANSWERED,  /* a complete answer written since the last read of request bytes */
    CONN_CLOSING,   /* drained: its read side is shut; every read returns 0, the client's close */
    CONN_MOVING,    /* being handed to the next generation (handover.c) */
};

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

enum conn_state conn_state(int fd);

/* Shuts the read side of `fd` if it is answered with nothing queued and still the connection
 * accepted there (the default's clean close). */
void conn_close_if_idle(int fd);

/* The state of `fd` becomes `to` if it is `from`. */
bool conn_transition(int fd, enum conn_state from, enum conn_state to);

/* The thread that last wrote a complete answer on `fd` (0: none). */
int conn_last_writer(int fd);

#endif
