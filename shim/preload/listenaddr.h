/* listenaddr.h: the local addresses of this process's listeners. A socket whose local address
 * is one of them was accepted from a listener; any other (an upstream connection the server
 * opened on a number a raw close() freed behind the shim's back) is none of the drain's business. */
#ifndef HOTSWAP_LISTENADDR_H
#define HOTSWAP_LISTENADDR_H

#include <stdbool.h>
#include <sys/socket.h>

/* `fd` is a listener of this process (bound, listening or claimed): remembers its local address.
 * (A process may bind what its child listens on: varnish's manager.) */
void listenaddr_note(int fd);

/* `local` (a socket's own address) is a listener's: the wildcard matches any address on its port.
 * Async-signal-safe. */
bool listenaddr_is_listeners(const struct sockaddr *local, socklen_t len);

/* The same for a listener known by its address alone (listenquery.h). */
void listenaddr_add(const struct sockaddr *listener, socklen_t len);

/* fork(): the writers' lock is held across it, as inherit_fork_prepare() does (taken after it). */
void listenaddr_fork_prepare(void);
void listenaddr_fork_done(void);

#endif
