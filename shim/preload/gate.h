/* gate.h: --ready notify, the shim's side. Until the server has said READY=1 (to the launcher,
 * through NOTIFY_SOCKET), its listeners take no connection and its datagram sockets no datagram,
 * so the generation before it serves alone (a DNS server would answer SERVFAIL before its zones
 * are loaded). The launcher opens the gate by making readable an eventfd the whole generation
 * shares (HOTSWAP_READY_GATE); until then a listener or datagram socket is out of every wait and
 * every epoll set, and accept() or a receive on it waits (blocking) or says EAGAIN. Without the variable the gate is
 * open from the start and every function here costs one load. */
#ifndef HOTSWAP_GATE_H
#define HOTSWAP_GATE_H

#include <poll.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/select.h>

void gate_init(void);

/* Is the gate still closed? Looks at the eventfd while it is, and opens this process's side
 * (its deferred epoll entries) the first time it finds it readable. */
bool gate_closed(void);

/* A blocking accept() on a closed gate: waits until it opens. 0, or -1 with errno EINTR when a
 * signal handler ran meanwhile (as the blocking accept() would have said). */
int gate_wait_open(void);

/* epoll_ctl() on a listener while the gate is closed: recorded here, made when it opens. True
 * when it handled the call (its result in *rc, errno set as epoll_ctl would). */
bool gate_defer_epoll(int epfd, int op, int fd, const struct epoll_event *event, int *rc);

/* Takes the gate's own event out of `events` (it opens the gate); returns how many are left. */
int gate_strip_events(struct epoll_event *events, int got);

/* The eventfd, for poll() and select() to watch beside the server's fds while the gate is
 * closed (its listeners hidden); -1 once open. */
int gate_fd(void);

/* The server closed listener `fd`: its deferred entries go. */
void gate_forget(int fd);

/* The eventfd moved off a number the server wanted (fdguard.c), or crosses an exec. */
void gate_moved(int from, int to);
void gate_keep_across_exec(bool keep);

#endif
