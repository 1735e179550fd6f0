/* real.h: libc's own versions of every function the shim interposes. */
#ifndef HOTSWAP_REAL_H
#define HOTSWAP_REAL_H

#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

/* X(return type, field, libc's symbol, optional, parameters, arguments): every interposed
 * function with a fixed argument list (and open/openat, whose one optional argument, the mode,
 * is passed as a fixed one: in the same register, which the hooks fill only with O_CREAT or
 * O_TMPFILE, as libc reads it). Optional: newer than the oldest glibc the shim runs on
 * (close_range came with 2.34); a program built for such a libc cannot call it.
 * sendfile64 takes an off64_t * and splice a loff_t *, which need _GNU_SOURCE, unlike this
 * header: void * here. */
/* (Unformatted: one function a line, however long.) */
/* clang-format off */
#define REAL_FIXED_FUNCTIONS(X) \
    X(int, bind, "bind", false, (int a, const struct sockaddr *b, socklen_t c), (a, b, c)) \
    X(int, listen, "listen", false, (int a, int b), (a, b)) \
    X(int, connect, "connect", false, (int a, const struct sockaddr *b, socklen_t c), (a, b, c)) \
    X(int, accept, "accept", false, (int a, struct sockaddr *b, socklen_t *c), (a, b, c)) \
    X(int, accept4, "accept4", false, (int a, struct sockaddr *b, socklen_t *c, int d), (a, b, c, d)) \
    X(int, close, "close", false, (int a), (a)) \
    X(int, epoll_ctl, "epoll_ctl", false, (int a, int b, int c, struct epoll_event *d), (a, b, c, d)) \
    X(int, poll, "poll", false, (struct pollfd *a, nfds_t b, int c), (a, b, c)) \
    X(int, ppoll, "ppoll", false, (struct pollfd *a, nfds_t b, const struct timespec *c, const sigset_t *d), (a, b, c, d)) \
    X(int, poll_chk, "__poll_chk", false, (struct pollfd *a, nfds_t b, int c, size_t d), (a, b, c, d)) \
    X(int, ppoll_chk, "__ppoll_chk", false, (struct pollfd *a, nfds_t b, const struct timespec *c, const sigset_t *d, size_t e), (a, b, c, d, e)) \
    X(int, select, "select", false, (int a, fd_set *b, fd_set *c, fd_set *d, struct timeval *e), (a, b, c, d, e)) \
    X(int, pselect, "pselect", false, (int a, fd_set *b, fd_set *c, fd_set *d, const struct timespec *e, const sigset_t *f), (a, b, c, d, e, f)) \
    X(int, unlink, "unlink", false, (const char *a), (a)) \
    X(int, unlinkat, "unlinkat", false, (int a, const char *b, int c), (a, b, c)) \
    X(int, remove, "remove", false, (const char *a), (a)) \
    X(int, dup, "dup", false, (int a), (a)) \
    X(int, dup2, "dup2", false, (int a, int b), (a, b)) \
    X(int, dup3, "dup3", false, (int a, int b, int c), (a, b, c)) \
    X(int, close_range, "close_range", true, (unsigned a, unsigned b, int c), (a, b, c)) \
    X(int, sigaction, "sigaction", false, (int a, const struct sigaction *b, struct sigaction *c), (a, b, c)) \
    X(sighandler_t, signal, "signal", false, (int a, sighandler_t b), (a, b)) \
    X(sighandler_t, sysv_signal, "sysv_signal", false, (int a, sighandler_t b), (a, b)) \
    X(sighandler_t, bsd_signal, "bsd_signal", false, (int a, sighandler_t b), (a, b)) \
    X(int, sigprocmask, "sigprocmask", false, (int a, const sigset_t *b, sigset_t *c), (a, b, c)) \
    X(int, pthread_sigmask, "pthread_sigmask", false, (int a, const sigset_t *b, sigset_t *c), (a, b, c)) \
    X(int, signalfd, "signalfd", false, (int a, const sigset_t *b, int c), (a, b, c)) \
    X(int, sigsuspend, "sigsuspend", false, (const sigset_t *a), (a)) \
    X(pid_t, fork, "fork", false, (void), ()) \
    X(int, execve, "execve", false, (const char *a, char *const b[], char *const c[]), (a, b, c)) \
    X(int, execv, "execv", false, (const char *a, char *const b[]), (a, b)) \
    X(int, execvp, "execvp", false, (const char *a, char *const b[]), (a, b)) \
    X(int, execvpe, "execvpe", false, (const char *a, char *const b[], char *const c[]), (a, b, c)) \
    X(int, fexecve, "fexecve", false, (int a, char *const b[], char *const c[]), (a, b, c)) \
    X(int, getsockname, "getsockname", false, (int a, struct sockaddr *b, socklen_t *c), (a, b, c)) \
    X(int, getsockopt, "getsockopt", false, (int a, int b, int c, void *d, socklen_t *e), (a, b, c, d, e)) \
    X(ssize_t, recv, "recv", false, (int a, void *b, size_t c, int d), (a, b, c, d)) \
    X(ssize_t, recvfrom, "recvfrom", false, (int a, void *b, size_t c, int d, struct sockaddr *e, socklen_t *f), (a, b, c, d, e, f)) \
    X(ssize_t, recvmsg, "recvmsg", false, (int a, struct msghdr *b, int c), (a, b, c)) \
    X(int, recvmmsg, "recvmmsg", false, (int a, struct mmsghdr *b, unsigned int c, int d, struct timespec *e), (a, b, c, d, e)) \
    X(ssize_t, send, "send", false, (int a, const void *b, size_t c, int d), (a, b, c, d)) \
    X(ssize_t, sendto, "sendto", false, (int a, const void *b, size_t c, int d, const struct sockaddr *e, socklen_t f), (a, b, c, d, e, f)) \
    X(ssize_t, sendmsg, "sendmsg", false, (int a, const struct msghdr *b, int c), (a, b, c)) \
    X(int, sendmmsg, "sendmmsg", false, (int a, struct mmsghdr *b, unsigned int c, int d), (a, b, c, d)) \
    X(ssize_t, read, "read", false, (int a, void *b, size_t c), (a, b, c)) \
    X(ssize_t, read_chk, "__read_chk", false, (int a, void *b, size_t c, size_t d), (a, b, c, d)) \
    X(ssize_t, readv, "readv", false, (int a, const struct iovec *b, int c), (a, b, c)) \
    X(ssize_t, recv_chk, "__recv_chk", false, (int a, void *b, size_t c, size_t d, int e), (a, b, c, d, e)) \
    X(ssize_t, recvfrom_chk, "__recvfrom_chk", false, (int a, void *b, size_t c, size_t d, int e, struct sockaddr *f, socklen_t *g), (a, b, c, d, e, f, g)) \
    X(ssize_t, write, "write", false, (int a, const void *b, size_t c), (a, b, c)) \
    X(ssize_t, writev, "writev", false, (int a, const struct iovec *b, int c), (a, b, c)) \
    X(ssize_t, sendfile, "sendfile", false, (int a, int b, off_t *c, size_t d), (a, b, c, d)) \
    X(ssize_t, sendfile64, "sendfile64", false, (int a, int b, void *c, size_t d), (a, b, c, d)) \
    X(ssize_t, splice, "splice", false, (int a, void *b, int c, void *d, size_t e, unsigned int f), (a, b, c, d, e, f)) \
    X(int, epoll_wait, "epoll_wait", false, (int a, struct epoll_event *b, int c, int d), (a, b, c, d)) \
    X(int, epoll_pwait, "epoll_pwait", false, (int a, struct epoll_event *b, int c, int d, const sigset_t *e), (a, b, c, d, e)) \
    X(int, nanosleep, "nanosleep", false, (const struct timespec *a, struct timespec *b), (a, b)) \
    X(int, clock_nanosleep, "clock_nanosleep", false, (clockid_t a, int b, const struct timespec *c, struct timespec *d), (a, b, c, d)) \
    X(int, flock, "flock", false, (int a, int b), (a, b)) \
    X(int, lockf, "lockf", false, (int a, int b, off_t c), (a, b, c)) \
    X(int, lockf64, "lockf64", true, (int a, int b, long long c), (a, b, c)) \
    X(int, kill, "kill", false, (pid_t a, int b), (a, b)) \
    X(int, open, "open", false, (const char *a, int b, unsigned c), (a, b, c)) \
    X(int, open64, "open64", true, (const char *a, int b, unsigned c), (a, b, c)) \
    X(int, openat, "openat", false, (int a, const char *b, int c, unsigned d), (a, b, c, d)) \
    X(int, openat64, "openat64", true, (int a, const char *b, int c, unsigned d), (a, b, c, d)) \
    X(void *, fopen, "fopen", false, (const char *a, const char *b), (a, b)) \
    X(void *, fopen64, "fopen64", true, (const char *a, const char *b), (a, b))
/* clang-format on */

#define REAL_FIELD(type, field, symbol, optional, parameters, arguments) type(*field) parameters;

struct real_functions {
    REAL_FIXED_FUNCTIONS(REAL_FIELD)
    /* variadic, or returning nothing: their first calls are written out in real.c */
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...); /* glibc 2.28; fcntl where libc lacks it */
    int (*ioctl)(int, unsigned long, ...);
    void (*closefrom)(int); /* glibc 2.34; optional */
};

/* Each field starts as a function of the shim's own that looks libc's version up at its first
 * call, stores it in the field and calls it: a program the server execs (a CGI script, a
 * /bin/true) pays only for the functions it calls, and a hook called by another library's
 * constructor before the shim's has run still finds its function. */
extern struct real_functions real;

/* Looks every function up now, and returns the first mandatory symbol libc lacks, or NULL.
 * A process the shim takes charge of asks once, at start (mode.c): with one missing, the shim
 * passes every call through; a function that is missing fails with ENOSYS. */
const char *real_missing(void);

#endif
