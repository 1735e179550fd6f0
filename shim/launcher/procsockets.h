/* procsockets.h: the fds a process has open, found through /proc/PID/fd, and its sockets, each as
 * a copy the launcher can look at (pidfd_getfd). One walk for every caller: counting a
 * generation's connections, adopting a killed launcher's listeners, ending idle connections,
 * taking a draining Go program's listeners and its epoll entries. */
#ifndef HOTSWAP_PROCSOCKETS_H
#define HOTSWAP_PROCSOCKETS_H

#include <stdbool.h>
#include <sys/types.h>

/* Called with each fd number and what its /proc link names ("socket:[123]", "anon_inode:[eventpoll]",
 * a path). Returns false to stop the walk. */
typedef bool (*proc_fd_fn)(int fd, const char *target, void *ctx);

/* Walks the fds open in process `pid`, giving the launcher's loop a turn every WALK_YIELD_EVERY of
 * them (walkyield.h). False if /proc/PID/fd could not be read (gone, or not the launcher's). */
bool proc_fds_each(pid_t pid, proc_fd_fn each, void *ctx);

/* Called with a copy of the socket at the process's fd number `fd`; the copy is the callee's
 * (to keep or to close). Returns false to stop the walk. */
typedef bool (*proc_socket_fn)(int copy, int fd, void *ctx);

/* Walks the sockets open in process `pid`; `pidfd` is its pidfd, or -1 to open one for the walk.
 * False if the process could not be looked at (gone, or not the launcher's to look at). */
bool proc_sockets_each(pid_t pid, int pidfd, proc_socket_fn each, void *ctx);

#endif
