/* connstate.h: where each accepted connection stands in its request/response cycle, so a drain
 * can end keep-alive connections at the one moment that is safe: answered, and nothing buffered.
 * conn.c moves a connection along; closemark.c, quietclose.c and handover.c read it. */
#ifndef HOTSWAP_CONNSTATE_H
#define HOTSWAP_CONNSTATE_H

#include <stdbool.h>

enum conn_state {
    CONN_FRESH = 0, /* accepted; no request read yet (a greeting written now changes nothing) */
    CONN_BUSY,      /* request bytes read since the last write */
    CONN_ANSWERED,  /* a complete answer written since the last read of request bytes */
    CONN_CLOSING,   /* drained: its read side is shut; every read returns 0, the client's close */
    CONN_MOVING,    /* being handed to the next generation (handover.c) */
};

enum conn_state conn_state(int fd);

/* `fd` is answered, with nothing queued, and still the connection accepted there. */
bool conn_idle(int fd);

/* Shuts the read side of an answered `fd` (the clean close: to the server, the client closed). */
void conn_shut_idle(int fd);

/* Shuts the read side of `fd` if it is answered with nothing queued and still the connection
 * accepted there (the default's clean close). */
void conn_close_if_idle(int fd);

/* The state of `fd` becomes `to` if it is `from`. */
bool conn_transition(int fd, enum conn_state from, enum conn_state to);

/* The thread that last wrote a complete answer on `fd` (0: none). */
int conn_last_writer(int fd);

/* The calling thread wrote a complete answer on `fd` (asked for only by --handover-idle). */
void conn_note_writer(int fd);

/* accept() returned `fd`: fresh, written by nobody. */
void connstate_reset(int fd);

/* Still the connection accepted on this number: a server that closes with a raw system call
 * (libuv does) leaves the shim's record behind, and the number may now be a socket it opened
 * itself (an upstream connection). An accepted socket's local address is a listener's. */
bool conn_still_accepted(int fd);

#endif
