/* conncount.h: a generation's open connections, counted by the launcher (the shim reports counts
 * only while a generation drains). A connection is a socket one of the generation's processes
 * holds an fd on (/proc/PID/fd), whose local address is a held listener's: TCP in a state a
 * socket with an fd can be in (a sock_diag dump, or /proc/net/tcp and tcp6), or a connected Unix
 * stream socket on a listener's path (/proc/net/unix). */
#ifndef HOTSWAP_CONNCOUNT_H
#define HOTSWAP_CONNCOUNT_H

#include <sys/types.h>

/* The connection sockets on held listeners, read once from /proc/net. */
struct conn_sockets;
struct conn_sockets *conncount_load(void);
void conncount_free(struct conn_sockets *sockets);

/* How many of those sockets the processes `pids` hold between them (each counted once, however
 * many processes or fds share it). -1 if /proc could not be read. */
long conncount_held_by(const struct conn_sockets *sockets, const pid_t *pids, int count);

#endif
