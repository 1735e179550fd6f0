/* nonblock.h: each process's own view of O_NONBLOCK on a shared listener.
 *
 * O_NONBLOCK lives on the open file description, which the old generation, the new one and the
 * launcher share: if one generation made it nonblocking, a blocking accept() in the other would
 * fail with EAGAIN. So the shared description is always nonblocking, each process remembers what
 * it asked for, and the shim makes accept() block for a process that wants blocking. */
#ifndef HOTSWAP_NONBLOCK_H
#define HOTSWAP_NONBLOCK_H

#include <stdbool.h>

/* `fd` became a listener of ours; `wanted` is what the server asked for. */
void nonblock_adopt(int fd, bool wanted);

bool nonblock_wanted(int fd);
void nonblock_copy(int from, int to);

/* F_GETFL as the server should see it; F_SETFL recording what it wants. */
int nonblock_getfl(int fd, int real_flags);
int nonblock_setfl(int fd, int flags);
/* ioctl(FIONBIO) */
int nonblock_fionbio(int fd, const int *on);

/* Blocking accept on a nonblocking description: wait until `fd` is readable. 0: try accept()
 * again; -1 (errno EINTR): a signal the server must see interrupted the wait. */
int nonblock_wait(int fd);

/* The server installed a handler without SA_RESTART: a blocking accept() would have returned
 * EINTR for it, so the emulated one does too. */
void nonblock_note_handler(bool restarts);

#endif
