/* tcpdiag.h: one TCP connection's state as the kernel holds it, asked of sock_diag by its
 * four-tuple: no fd of it needed, so the launcher can look at either end of a connection between
 * two processes of its own. */
#ifndef HOTSWAP_TCPDIAG_H
#define HOTSWAP_TCPDIAG_H

#include <linux/tcp.h> /* the kernel's tcp_info, whole */
#include <stdbool.h>

#include "conncount.h"

struct tcp_state {
    struct tcp_info info; /* as much as the kernel gave (the rest zero) */
    unsigned unread;      /* bytes received, not yet read by the socket's holder */
    unsigned unsent;      /* bytes written, not yet acknowledged by the other end */
};

/* The state of `tuple`'s server end (`server_end`), or of its client end; false if the kernel
 * has no such connection (it ended) or would not say. */
bool tcpdiag_read(const struct conn_tuple *tuple, bool server_end, struct tcp_state *state);

#endif
