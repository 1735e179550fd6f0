/* real.c: resolve libc's versions of the interposed functions with dlsym(RTLD_NEXT). */
#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

struct real_functions real;
int real_resolved;
static const char *first_missing;

/* What a function this libc lacks does: fails, never a call through NULL. Called through a
 * pointer of the missing function's type: every Linux ABI lets a callee ignore its arguments and
 * returns -1 (or SIG_ERR) where the caller expects an int, a long or a pointer. */
static long missing_function(void)
{
    errno = ENOSYS;
    return -1;
}

/* Optional: symbols newer than the oldest glibc the shim runs on (close_range and closefrom
 * came with 2.34, fcntl64 with 2.28); a program built for such a libc cannot call them. */
static void resolve(void **slot, const char *symbol, bool optional)
{
    void *function = dlsym(RTLD_NEXT, symbol);
#ifdef HS_PRETEND_MISSING /* tests/environment.bats builds a shim whose libc lacks this symbol */
    if (strcmp(symbol, HS_PRETEND_MISSING) == 0)
        function = NULL;
#endif
    if (!function) {
        function = (void *)missing_function;
        if (!optional && !first_missing)
            first_missing = symbol;
    }
    *slot = function;
}

#define RESOLVE(field, symbol) resolve((void **)&real.field, symbol, false)
#define RESOLVE_OPTIONAL(field, symbol) resolve((void **)&real.field, symbol, true)

const char *real_missing(void)
{
    return first_missing;
}

void real_resolve(void)
{
    RESOLVE(bind, "bind");
    RESOLVE(listen, "listen");
    RESOLVE(accept, "accept");
    RESOLVE(accept4, "accept4");
    RESOLVE(close, "close");
    RESOLVE(epoll_ctl, "epoll_ctl");
    RESOLVE(poll, "poll");
    RESOLVE(ppoll, "ppoll");
    RESOLVE(poll_chk, "__poll_chk");
    RESOLVE(ppoll_chk, "__ppoll_chk");
    RESOLVE(select, "select");
    RESOLVE(pselect, "pselect");
    RESOLVE(unlink, "unlink");
    RESOLVE(unlinkat, "unlinkat");
    RESOLVE(remove, "remove");
    RESOLVE(dup, "dup");
    RESOLVE(dup2, "dup2");
    RESOLVE(dup3, "dup3");
    RESOLVE(fcntl, "fcntl");
    RESOLVE_OPTIONAL(fcntl64, "fcntl64");
    RESOLVE(ioctl, "ioctl");
    RESOLVE_OPTIONAL(close_range, "close_range");
    RESOLVE_OPTIONAL(closefrom, "closefrom");
    RESOLVE(sigaction, "sigaction");
    RESOLVE(signal, "signal");
    RESOLVE(sysv_signal, "sysv_signal");
    RESOLVE(bsd_signal, "bsd_signal");
    RESOLVE(sigprocmask, "sigprocmask");
    RESOLVE(pthread_sigmask, "pthread_sigmask");
    RESOLVE(signalfd, "signalfd");
    RESOLVE(sigsuspend, "sigsuspend");
    RESOLVE(fork, "fork");
    RESOLVE(execve, "execve");
    RESOLVE(execv, "execv");
    RESOLVE(execvp, "execvp");
    RESOLVE(execvpe, "execvpe");
    RESOLVE(fexecve, "fexecve");
    RESOLVE(getsockname, "getsockname");
    RESOLVE(getsockopt, "getsockopt");
    RESOLVE(recv, "recv");
    RESOLVE(recvfrom, "recvfrom");
    RESOLVE(recvmsg, "recvmsg");
    RESOLVE(recvmmsg, "recvmmsg");
    RESOLVE(send, "send");
    RESOLVE(sendto, "sendto");
    RESOLVE(sendmsg, "sendmsg");
    RESOLVE(sendmmsg, "sendmmsg");
    RESOLVE(read, "read");
    RESOLVE(read_chk, "__read_chk");
    RESOLVE(readv, "readv");
    RESOLVE(recv_chk, "__recv_chk");
    RESOLVE(recvfrom_chk, "__recvfrom_chk");
    RESOLVE(write, "write");
    RESOLVE(writev, "writev");
    RESOLVE(sendfile, "sendfile");
    RESOLVE(sendfile64, "sendfile64");
    RESOLVE(splice, "splice");
    RESOLVE(epoll_wait, "epoll_wait");
    RESOLVE(epoll_pwait, "epoll_pwait");
    RESOLVE(nanosleep, "nanosleep");
    RESOLVE(clock_nanosleep, "clock_nanosleep");
    if (real.fcntl64 == (void *)missing_function)
        real.fcntl64 = real.fcntl;
    __atomic_store_n(&real_resolved, 1, __ATOMIC_RELEASE);
}
