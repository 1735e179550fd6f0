/* dgram.h: datagram (UDP) servers: a bound datagram socket is handed over like a listener. A
 * drain stops its receiving, not its sending: replies to requests already received still go
 * out, and the old generation is drained once it has answered them. */
#ifndef HOTSWAP_DGRAM_H
#define HOTSWAP_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* After a successful bind(fd, addr): a datagram socket bound to a chosen IPv4/IPv6 port is marked
 * FD_DGRAM_BOUND. Port 0 is a client's socket. */
void dgram_note_bound(int fd, const struct sockaddr *addr);

/* What the first use of an FD_DGRAM_BOUND socket says it is: a server's if it receives or waits
 * to read before it sends (then it becomes FD_DGRAM and the launcher holds it), a client's if it
 * sends first (then the shim forgets it: a resolver binding a random port must not be held).
 * Returns the fd's kind after. */
enum fd_kind dgram_settle(int fd, bool receives);

/* A receive on a datagram socket of ours. `receive` does the real call with the flags given;
 * returns its result, as a blocking or nonblocking receive would for this process. What it
 * returns is a number of datagrams if `returns_count` (recvmmsg), else the length of one. Each
 * datagram received counts as owed a reply (so does the receive while it is under way). */
typedef ssize_t (*receive_fn)(int fd, void *ctx, int flags);
ssize_t dgram_receive(int fd, int flags, receive_fn receive, void *ctx, bool returns_count);

/* `count` datagrams went out on a datagram socket of ours. */
void dgram_sent(long count);

/* poll()/select() while a drained datagram socket is in the set: it must not wake the caller
 * for reading (the shared socket stays readable, for the new generation). */
bool dgram_any_drained(void);
void dgram_note_drained(void);

#endif
