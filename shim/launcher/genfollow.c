/* genfollow.c: a process of a generation on the preload route that execs a Go or static program
 * (a wrapper's `exec`), followed onto the seccomp route: the generation is then answered as if
 * it had been started so (intercept.h), its readiness, claims and drain included.
 *
 * The asker is believed only as far as the kernel agrees: it must be the command's own process,
 * alive in the generation (its cgroup, or its process tree), as the kernel names the sender; the fd
 * it sends must be a seccomp notification fd. A generation is followed once, while starting, and
 * only under --intercept auto, where the seccomp route is available. */
#define _GNU_SOURCE
#include "generation.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "elfkind.h"
#include "fdpass.h"
#include "genproc.h"
#include "intercept.h"
#include "log.h"
#include "members.h"
#include "textsafe.h"

/* After its yes, how long the launcher waits for the asker's filter: one system call away. */
#define FILTER_WAIT_MS 1000

/* Why the generation cannot follow the exec, or NULL. */
static const char *refusal(struct generation *g, pid_t sender)
{
    if (g->settings->intercept != INTERCEPT_AUTO)
        return "--intercept";
    if (g->seccomp)
        return "the generation is on the seccomp route already";
    if (g->state != GEN_STARTING)
        return "the generation is past its start";
    /* the command's own process (a wrapper execs the server in its place: a static helper some
     * other process runs is not the server), alive and in the generation now */
    if (sender != g->pid || !members_include(g->members, g->pid, sender))
        return "not the command's own process";
    if (!intercept_available())
        return "seccomp user notification is not available here";
    return NULL;
}

/* The asker's answer after a yes: the notification fd, or -1 and *error (its errno, or 0 if it
 * said nothing in time, or sent what is not a notification fd). */
static int filter_of(int reply, int *error)
{
    *error = 0;
    struct pollfd p = {.fd = reply, .events = POLLIN};
    int ready;
    do
        ready = poll(&p, 1, FILTER_WAIT_MS);
    while (ready < 0 && errno == EINTR);
    if (ready != 1)
        return -1;
    int said = 0, fd = -1;
    struct iovec iov = {.iov_base = &said, .iov_len = sizeof said};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } control;
    struct msghdr header = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    ssize_t n = recvmsg(reply, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n != sizeof said)
        return -1;
    fd = fdpass_first(&header);
    char link[64] = "", path[48];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t len = fd >= 0 ? readlink(path, link, sizeof link - 1) : -1;
    if (len > 0)
        link[len] = '\0';
    if (fd >= 0 && strcmp(link, "anon_inode:seccomp notify") != 0) {
        close(fd);
        fd = -1;
    }
    if (fd < 0 && said > 0)
        *error = said;
    return fd;
}

void gen_follow(struct generation *g, pid_t sender, int64_t kind_said, int reply)
{
    char raw[PATH_MAX], path[256];
    ssize_t n = recv(reply, raw, sizeof raw, MSG_DONTWAIT);
    textsafe_escape(path, sizeof path, raw, n > 0 ? (size_t)n : 0, 0);
    enum elf_kind kind = kind_said == HS_FOLLOW_GO ? ELF_GO : ELF_STATIC;
    const char *why = refusal(g, sender);
    if (why) {
        char no = HS_FOLLOW_NO;
        send(reply, &no, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (!g->told_follow && g->settings->intercept == INTERCEPT_AUTO)
            hs_log("gen %d: pid %d execs %s (%s): not followed onto the seccomp route: %s", g->number, (int)sender,
                   path, elf_kind_name(kind), why);
        g->told_follow = true;
        return;
    }
    /* the same rule as at a spawn (generation.c): a Go program's drain is a signal, unless its
     * readiness is READY=1 or an adopted listener's first accept */
    bool signal_drain = kind == ELF_GO && !g->settings->ready_notify && !g->settings->socket_activation;
    char yes = signal_drain ? HS_FOLLOW_TRAP_SIGRETURN : HS_FOLLOW_TRAP_ACCEPT;
    int error = 0, fd = -1;
    if (send(reply, &yes, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
        fd = filter_of(reply, &error);
    if (fd < 0) {
        hs_log("gen %d: pid %d execs %s (%s): cannot follow it onto the seccomp route (%s): it runs "
               "as started",
               g->number, (int)sender, path, elf_kind_name(kind), error ? strerror(error) : "no filter came back");
        g->told_follow = true;
        return;
    }
    intercept_join(g, fd, signal_drain, kind == ELF_GO);
    /* its shim is gone with the exec: nothing there will say DRAINING (the drain signal is not
     * for it), as in a process started on the seccomp route */
    struct gen_proc *proc = gen_add_proc(g, sender);
    if (proc)
        proc->said_hello = proc->waited = false;
    hs_log("gen %d: pid %d execs %s (%s): following it on the seccomp route", g->number, (int)sender, path,
           elf_kind_name(kind));
}
