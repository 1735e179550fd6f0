/* drain.h: stop accepting on a signal, and count the connections down. */
#ifndef HOTSWAP_DRAIN_H
#define HOTSWAP_DRAIN_H

#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* Installs the drain handler for HOTSWAP_DRAIN_SIGNAL (default SIGRTMIN+10). */
void drain_init(void);

/* `fd` (a listener) was added to epoll set `epfd`: a drain must take it out again. */
void drain_note_epoll(int epfd, int fd, const struct epoll_event *event);
void drain_forget_epoll(int epfd, int fd);
/* The server changed drained `fd`'s events in `epfd` (the drain had taken it out): a re-arm puts
 * it back with these. */
void drain_note_epoll_change(int epfd, int fd, const struct epoll_event *event);

/* Brackets a real accept() on a listener: drain_wake_register, and counts the connection it may
 * be taking (fdtable_accept_begin). */
int accept_enter(void);
void accept_leave(int slot, int conn);

/* The identity of the listener drained from `fd` (now a dummy): 0, or -1 if none. */
int drain_identity(int fd, struct sockaddr *addr, socklen_t *addrlen, int *domain, int *protocol);
void drain_forget_identity(int fd);

/* --keep-old: the server closed the dummy on `fd`; the listener kept for it goes too. */
void drain_forget_kept(int fd);
/* A kept listener's number moved (fdguard.c). */
void drain_kept_moved(int from, int to);

/* Around an exec: the drain signal is ignored across it (never the default action, which would
 * kill the new program), and handled again if the exec failed. */
void drain_before_exec(void);
void drain_after_failed_exec(void);

/* In a child after fork(): other threads are gone, locks are free. */
void drain_after_fork(void);

#endif
