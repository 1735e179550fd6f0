/* epollunwatch.h: a drained listener taken out of a process's epoll sets. On the seccomp route a
 * draining process's listener fd gets a stand-in (intercept.c), but an epoll set knows a socket by
 * its file and fd number together: the shared listener stays in the set, every connection that
 * reaches it wakes the draining process, and a level-triggered loop wakes again at once, finds
 * EAGAIN on the stand-in and goes round (a busy loop for as long as the listener's queue is not
 * empty, which under load is the whole drain). */
#ifndef HOTSWAP_EPOLLUNWATCH_H
#define HOTSWAP_EPOLLUNWATCH_H

#include <sys/types.h>

/* Removes, from every epoll set open in process `pid` (pidfd `pidfd`), the entry for its fd
 * number `fd` that watches the socket `listener` (the launcher's copy). Returns how many it
 * removed. */
int epoll_unwatch(pid_t pid, int pidfd, int fd, int listener);

#endif
