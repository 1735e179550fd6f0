/* listenquery.h: whether the kernel shows a TCP listener at a socket's local address, in this
 * network namespace (sock_diag). For a process that was handed a connection and knows of no
 * listener there: a worker exec'd before its primary listened (node's cluster module forks its
 * workers first). */
#ifndef HOTSWAP_LISTENQUERY_H
#define HOTSWAP_LISTENQUERY_H

#include <stdbool.h>
#include <sys/socket.h>

/* `local` (an AF_INET or AF_INET6 socket's own address) is a TCP listener's, the wildcard
 * matching any address on its port: the listener's address is then noted (listenaddr_add) and
 * true returned. False for anything else, or if the kernel cannot be asked. One dump of the
 * listening sockets alone: a few, however many connections there are. */
bool listenquery_learn(const struct sockaddr *local, socklen_t len);

#endif
