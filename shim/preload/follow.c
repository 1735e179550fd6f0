/* follow.c: a wrapper's exec of a Go or static program, followed onto the seccomp route. See
 * follow.h. The launcher chose the preload route from the command it started (a shell, say); the
 * program that will listen is only known here, at its exec, in the process the launcher started
 * (a program another process runs, a static helper at the server's start, is not the server). The same rule as the launcher's
 * (elfkind.h) picks the programs; the launcher, which checks that the asker is a process of the
 * generation, says yes and which filter; the filter is installed here, in the process that execs
 * (a filter can only be installed by the process it is to filter), and its notification fd goes
 * to the launcher before the exec. */
#define _GNU_SOURCE
#include "follow.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "elfkind.h"
#include "mode.h"
#include "real.h"
#include "report.h"
#include "seccompfilter.h"

/* How long the exec waits for the launcher's answer: then it goes ahead on the preload route. */
#define ANSWER_WAIT_MS 2000

/* The launcher's answer byte on `sock`, or HS_FOLLOW_NO if none came in time. */
static char answer_of(int sock)
{
    struct pollfd p = {.fd = sock, .events = POLLIN};
    int ready;
    do
        ready = real.poll(&p, 1, ANSWER_WAIT_MS);
    while (ready < 0 && errno == EINTR);
    char answer = HS_FOLLOW_NO;
    if (ready != 1 || real.recv(sock, &answer, 1, MSG_DONTWAIT) != 1)
        return HS_FOLLOW_NO;
    return answer;
}

/* The filter's notification fd (or, without it, why) to the launcher on `sock`. */
static void send_filter(int sock, int notify_fd, int error)
{
    struct iovec iov = {.iov_base = &error, .iov_len = sizeof error};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1};
    if (notify_fd >= 0) {
        memset(&control, 0, sizeof control);
        header.msg_control = control.buf;
        header.msg_controllen = sizeof control.buf;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &notify_fd, sizeof(int));
    }
    ssize_t sent;
    do
        sent = real.sendmsg(sock, &header, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
}

static void follow(const char *path, enum elf_kind kind)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return;
    size_t len = strnlen(path, PATH_MAX - 1);
    bool asked = real.send(pair[0], path, len ? len : 1, MSG_NOSIGNAL) >= 0 &&
                 report_pass(HS_MSG_FOLLOW, -1, kind == ELF_GO ? HS_FOLLOW_GO : HS_FOLLOW_STATIC, pair[1]);
    real.close(pair[1]);
    char answer = asked ? answer_of(pair[0]) : HS_FOLLOW_NO;
    if (answer == HS_FOLLOW_TRAP_ACCEPT || answer == HS_FOLLOW_TRAP_SIGRETURN) {
        /* No signal handler runs until the launcher holds the fd: with rt_sigreturn trapped, a
         * handler's return would wait for the launcher, which waits for the fd. The mask goes
         * back before the exec (the program inherits it), and what came meanwhile is handled
         * then, answered by the launcher. */
        sigset_t all, before;
        sigfillset(&all);
        real.pthread_sigmask(SIG_SETMASK, &all, &before);
        int notify_fd = seccomp_filter_install(answer == HS_FOLLOW_TRAP_ACCEPT);
        send_filter(pair[0], notify_fd, notify_fd < 0 ? errno : 0);
        if (notify_fd >= 0)
            real.close(notify_fd); /* the launcher's copy keeps the filter's listener */
        real.pthread_sigmask(SIG_SETMASK, &before, NULL);
    }
    real.close(pair[0]);
}

void follow_before_fexecve(int fd)
{
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    follow_before_exec(path, false);
}

void follow_before_exec(const char *file, bool search)
{
    /* the process the launcher started only: a wrapper execs the server in its place; a program
     * a server runs (a static helper at its start) is not the server */
    if (shim_mode != MODE_SUPERVISED || !file || !report_active() || report_dormant() || report_in_descendant())
        return;
    int saved = errno;
    enum elf_kind kind = search ? elf_kind_of(file) : elf_kind_of_file(file);
    if (kind == ELF_GO || kind == ELF_STATIC)
        follow(file, kind);
    errno = saved;
}
