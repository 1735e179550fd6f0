/* fdpass.h: one fd over a Unix socket (SCM_RIGHTS) with a one-byte message. */
#ifndef HOTSWAP_FDPASS_H
#define HOTSWAP_FDPASS_H

#include <stdbool.h>
#include <sys/socket.h>

/* Sends a copy of `fd` on `sock` (flags: sendmsg's, MSG_NOSIGNAL added). */
bool fdpass_send(int sock, int fd, int flags);

/* Receives one fd (close-on-exec), or -1: none came, the peer closed, or the message was not one. */
int fdpass_receive(int sock);

/* The first fd a received message carried (SCM_RIGHTS), or -1; any others are closed: one fd
 * per message, the rest are not ours to keep. */
int fdpass_first(struct msghdr *header);

#endif
