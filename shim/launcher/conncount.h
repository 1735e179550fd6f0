/* conncount.h: what the kernel shows of a generation's sockets, counted by the launcher itself.
 * A connection is a socket one of the generation's processes holds an fd on (/proc/PID/fd),
 * whose local address is a held listener's: TCP in a state a socket with an fd can be in (a
 * sock_diag dump, or /proc/net/tcp and tcp6), or a connected Unix stream socket on a listener's
 * path (/proc/net/unix), unless its peer is open in one of the same processes too (the server
 * talking to itself: a master and its helpers over a Unix socket, a gateway calling its own TCP
 * port). */
#ifndef HOTSWAP_CONNCOUNT_H
#define HOTSWAP_CONNCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The held listeners and, with `connections`, the connection sockets on their addresses, read
 * once from the kernel. The listeners alone are cheap (an fstat each); the connections take a walk
 * over the host's socket tables (10 ms with 50,000 sockets in TIME_WAIT). */
struct conn_sockets;
struct conn_sockets *conncount_load(bool connections);
void conncount_free(struct conn_sockets *sockets);

/* What one process holds. */
struct proc_sockets {
    bool readable;       /* its /proc/PID/fd could be read (it is alive and ours to look at) */
    bool holds_listener; /* one of the held listening sockets is open in it */
    long conns;          /* connections on held listeners' addresses open in it */
};

/* A connection the caller does not count (`excused` says yes), with `ctx`. */
typedef bool conn_excused_fn(void *ctx, unsigned long inode);

/* How many of those connection sockets the processes `pids` hold between them (each counted
 * once, however many processes or fds share it), less those `excused` (if not NULL) lets go;
 * with `each`, what each of them holds. -1 if the kernel's tables could not be read. */
long conncount_inspect(const struct conn_sockets *sockets, const pid_t *pids, int count, struct proc_sockets *each,
                       conn_excused_fn *excused, void *ctx);
long conncount_held_by(const struct conn_sockets *sockets, const pid_t *pids, int count);

/* A TCP connection's two ends, as the kernel names them (ports in host order). */
struct conn_tuple {
    int family;
    unsigned char client_addr[16], server_addr[16];
    unsigned client_port, server_port;
};

/* The client end of TCP connection `inode` (a socket of this host: the server calling itself, a
 * local client), and the connection's `tuple`; 0 if its client is elsewhere. */
unsigned long conncount_tcp_peer(const struct conn_sockets *sockets, unsigned long inode, struct conn_tuple *tuple);

/* Which of the socket `inodes` the processes `pids` hold open: held[i] for inodes[i] (a walk over
 * their fd tables). */
void conncount_held_among(const pid_t *pids, int count, const unsigned long *inodes, int n, bool *held);

/* A TCP listening socket open in one of `pids` that the launcher does not hold, nor is among the
 * `known` inodes (listeners the shim saw and left to the server): the server made it without the
 * shim seeing. Its holder (the first one `prefer` says yes to, if any) and "ADDR:PORT" in `name`. */
bool conncount_unheld_listener(const pid_t *pids, int count, const unsigned long *known, int known_count,
                               bool (*prefer)(pid_t pid, void *ctx), void *ctx, pid_t *holder, char *name, size_t size);

#endif
