/* inherit.h: listeners handed over at fds 3.. (HOTSWAP_LISTEN_FDS for HOTSWAP_PID, or systemd's
 * LISTEN_FDS for LISTEN_PID), claimed when the server binds the same address itself. */
#ifndef HOTSWAP_INHERIT_H
#define HOTSWAP_INHERIT_H

#include <stdbool.h>
#include <sys/socket.h>

/* Reads the hand-over's variables and what each inherited fd is. Bad values: one line, none taken. */
void inherit_init(void);

/* If an unclaimed inherited listener is what bind(fd, addr) asks for, puts it on `fd` (keeping
 * fd's FD_CLOEXEC and O_NONBLOCK) and returns true: the bind has succeeded. */
bool inherit_claim(int fd, const struct sockaddr *addr, socklen_t addrlen);

/* The server uses an inherited listener directly, as a socket-activated server does (accept,
 * epoll, poll, listen, fcntl or dup on fd 3..): it is claimed where it is, and from then on is
 * the server's, like a listener it bound. Returns the fd's new kind. */
int inherit_claim_in_place(int fd);

/* fd_kind(), where a server's use of an inherited listener claims it. */
enum fd_kind fd_kind_claiming(int fd);

/* connect(fd, addr) by the process the listeners were handed to would reach one of them it has
 * not claimed yet (the launcher's held copy, or the old generation's): a plain start would find
 * nothing listening there. Callers check inherit_any_unclaimed() first; errno is kept. */
bool inherit_refuses_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);

/* Some inherited listener is still unclaimed. */
bool inherit_any_unclaimed(void);

/* An unclaimed inherited listener was moved from fd `from` to `to`. */
void inherit_moved(int from, int to);

/* Unclaimed inherited listeners survive exec() only by the process they were handed to. */
void inherit_keep_across_exec(bool keep);

/* Remembers the filesystem path of a Unix listener the launcher now holds. */
void inherit_protect_path_of(int fd);

/* True if `path` names a Unix listener being handed over: the server must not remove it. */
bool inherit_path_protected(const char *path);

/* fork(): the claim lock is taken before (pthread_atfork's prepare) and released after, in the
 * parent and the child, so no child starts with it held by a thread it does not have. */
void inherit_fork_prepare(void);
void inherit_fork_done(void);

#endif
