/* newercall.h: a newer generation's call to its own port, taken by an older one.
 *
 * A server that calls its own port once it serves (a gateway, a health check, a cache warming
 * itself) does so while the generation before it still accepts on the same listener, which may
 * take the call. That connection's client is the service itself, in the newer generation: it is
 * no client of the old one, and it ends only when that one does. So a drain that has gone on
 * for half a second looks, at most once a second, for the client ends of the connections left
 * that are open on this host among the newer generations' fds; such a connection does not hold
 * the drain while nothing is in flight on it (by the kernel: both ends' queues empty, and nothing
 * said on it, or the server spoke last and the client has been quiet since). It ends with the
 * old generation, as a client's connection to a server that went away. */
#ifndef HOTSWAP_NEWERCALL_H
#define HOTSWAP_NEWERCALL_H

#include <stdbool.h>
#include <stdint.h>

struct conn_sockets;
struct generation;

/* What newer_call_excused looks at: the draining generation and this look's tables. */
struct newer_look {
    struct generation *g;
    const struct conn_sockets *sockets;
};

/* conncount_inspect's `excused` (ctx: a struct newer_look): connection `inode` is a newer
 * generation's call with nothing in flight. One whose client is on this host but not looked for
 * yet is noted for newer_calls_look. */
bool newer_call_excused(void *ctx, unsigned long inode);

/* After a look that showed `kernel_conns`: the walk over the newer generations' fds, when it is
 * due. True if it found a call of theirs (the caller looks again at once). */
bool newer_calls_look(struct generation *g, long kernel_conns, int64_t now);

#endif
