/* real.c: resolve libc's versions of the interposed functions with dlsym(RTLD_NEXT). */
#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>

struct real_functions real;
int real_resolved;

#define RESOLVE(field, symbol) (*(void **)&real.field = dlsym(RTLD_NEXT, symbol))

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
    RESOLVE(fcntl64, "fcntl64");
    RESOLVE(ioctl, "ioctl");
    RESOLVE(close_range, "close_range");
    RESOLVE(closefrom, "closefrom");
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
    if (!real.fcntl64)
        real.fcntl64 = real.fcntl;
    __atomic_store_n(&real_resolved, 1, __ATOMIC_RELEASE);
}
