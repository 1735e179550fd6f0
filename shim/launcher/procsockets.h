/* procsockets.h: the sockets a process has open, each as a copy the launcher can look at
 * (pidfd_getfd), found through /proc/PID/fd. One walk for every caller: adopting a killed
 * launcher's listeners, ending idle connections and taking a draining Go program's listeners. */
#ifndef HOTSWAP_PROCSOCKETS_H
#define HOTSWAP_PROCSOCKETS_H

#include <stdbool.h>
#include <sys/types.h>

/* Called with a copy of the socket at the process's fd number `fd`; the copy is the callee's
 * (to keep or to close). Returns false to stop the walk. */
typedef bool (*proc_socket_fn)(int copy, int fd, void *ctx);

/* Walks the sockets open in process `pid`; `pidfd` is its pidfd, or -1 to open one for the walk.
 * False if the process could not be looked at (gone, or not the launcher's to look at). */
bool proc_sockets_each(pid_t pid, int pidfd, proc_socket_fn each, void *ctx);

#endif
