/* intercept.c: the seccomp route. See intercept.h. */
#define _GNU_SOURCE
#include "intercept.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "epollunwatch.h"
#include "genproc.h"
#include "genstate.h"
#include "listeners.h"
#include "log.h"
#include "procsockets.h"
#include "procstopped.h"
#include "procstat.h"
#include "seccompfilter.h"

/* The kernel's synchronous wake-up (Linux 6.6): a trapped call switches straight to the launcher
 * and back on the same CPU instead of two ordinary wake-ups through the scheduler, which is most
 * of an accept's cost when every core is busy. Older kernels say EINVAL: the route still works. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

void intercept_wake_in_step(int notify_fd)
{
    ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (__u64)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
}

bool intercept_available(void)
{
    static int known = -1;
    if (known >= 0)
        return known;
    pid_t pid = fork();
    if (pid == 0)
        _exit(seccomp_filter_install(true) >= 0 ? 0 : 1);
    int status = 1;
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    known = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return known;
}

/* ---- answering ------------------------------------------------------------------------------ */

/* The process of thread `tid` (0 if gone): a notification names the thread that made the call
 * (any thread of a Go program), and pidfd_open takes a process. */
static pid_t tgid_of(pid_t tid)
{
    char path[48], line[96];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    pid_t tgid = 0;
    if (!f)
        return 0;
    while (!tgid && fgets(line, sizeof line, f))
        if (sscanf(line, "Tgid: %d", &tgid) != 1)
            tgid = 0;
    fclose(f);
    return tgid;
}

static int pidfd_of(pid_t tid)
{
    pid_t tgid = tgid_of(tid);
    return tgid > 0 ? (int)syscall(SYS_pidfd_open, tgid, 0) : -1;
}

/* A copy of the target's fd `fd`, or -1. */
static int copy_of(int pidfd, long fd)
{
    if (fd < 0 || fd > INT32_MAX)
        return -1;
    return (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
}

/* Is the notification still the target's current system call? Everything read from the target
 * (its memory, its fds) is believed only after this says yes. */
static bool still_valid(int notify_fd, __u64 id)
{
    return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* The held listener that is this very socket (same open file), or NULL. */
static const struct held_listener *held_same_file(int fd)
{
    struct stat mine;
    if (fstat(fd, &mine) < 0)
        return NULL;
    for (int i = 0; i < listeners_count(); i++) {
        struct stat held;
        const struct held_listener *l = listeners_get(i);
        if (fstat(l->fd, &held) == 0 && held.st_ino == mine.st_ino && held.st_dev == mine.st_dev)
            return l;
    }
    return NULL;
}

static int int_option(int fd, int level, int name)
{
    int value = -1;
    socklen_t len = sizeof value;
    return getsockopt(fd, level, name, &value, &len) == 0 ? value : -1;
}

/* Same address and port, and the same kind of socket (family, type, IPV6_V6ONLY). */
static bool same_identity(int held, int socket_fd, const struct sockaddr_storage *addr, socklen_t len)
{
    struct sockaddr_storage have = {0};
    socklen_t have_len = sizeof have;
    if (getsockname(held, (struct sockaddr *)&have, &have_len) < 0 || have.ss_family != addr->ss_family)
        return false;
    if (int_option(held, SOL_SOCKET, SO_TYPE) != int_option(socket_fd, SOL_SOCKET, SO_TYPE) ||
        int_option(held, SOL_SOCKET, SO_DOMAIN) != int_option(socket_fd, SOL_SOCKET, SO_DOMAIN))
        return false;
    if (addr->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const void *)&have, *b = (const void *)addr;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (addr->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const void *)&have, *b = (const void *)addr;
        /* IPV6_V6ONLY tells two wildcard sockets apart; binding a specific address sets it */
        return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0 &&
               (!IN6_IS_ADDR_UNSPECIFIED(&b->sin6_addr) ||
                int_option(held, IPPROTO_IPV6, IPV6_V6ONLY) == int_option(socket_fd, IPPROTO_IPV6, IPV6_V6ONLY));
    }
    return false;
}

/* The target's fd `fd` was opened close-on-exec: what the fd put in its place must be too. */
static unsigned fd_flags_of(pid_t pid, long fd)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%ld", (int)pid, fd);
    FILE *f = fopen(path, "re");
    unsigned flags = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long value;
        if (sscanf(line, "flags: %lo", &value) == 1 && (value & O_CLOEXEC))
            flags = O_CLOEXEC;
    }
    fclose(f);
    return flags;
}

/* Puts `source` on the target's fd number `fd`, as dup2 would. */
static bool put_on(int notify_fd, const struct seccomp_notif *n, int source, long fd)
{
    struct seccomp_notif_addfd add = {
        .id = n->id,
        .flags = SECCOMP_ADDFD_FLAG_SETFD,
        .srcfd = (__u32)source,
        .newfd = (__u32)fd,
        .newfd_flags = fd_flags_of((pid_t)n->pid, fd),
    };
    return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &add) == fd;
}

static void answer_bind(struct generation *g, const struct seccomp_notif *n, struct seccomp_notif_resp *r, int pidfd)
{
    struct sockaddr_storage addr;
    socklen_t len = (socklen_t)n->data.args[2];
    if (len == 0 || len > sizeof addr)
        return;
    struct iovec local = {&addr, len}, remote = {(void *)(uintptr_t)n->data.args[1], len};
    if (process_vm_readv((pid_t)n->pid, &local, 1, &remote, 1, 0) != (ssize_t)len)
        return;
    int target = copy_of(pidfd, (long)n->data.args[0]);
    if (target < 0)
        return;
    for (int i = 0; i < listeners_count(); i++) {
        const struct held_listener *l = listeners_get(i);
        if (!same_identity(l->fd, target, &addr, len))
            continue;
        /* the server's socket says how it wants to accept: nonblocking for Go */
        int status = fcntl(target, F_GETFL);
        if (status >= 0 && (status & O_NONBLOCK))
            fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
        if (still_valid(g->trap.notify_fd, n->id) && put_on(g->trap.notify_fd, n, l->fd, (long)n->data.args[0]))
            r->flags = 0; /* bound: it is the held listener now */
        break;
    }
    close(target);
}

static void answer_listen(struct generation *g, const struct seccomp_notif *n, struct seccomp_notif_resp *r, int pidfd)
{
    int target = copy_of(pidfd, (long)n->data.args[0]);
    if (target < 0 || !still_valid(g->trap.notify_fd, n->id)) {
        if (target >= 0)
            close(target);
        return;
    }
    if (held_same_file(target)) { /* handed over at its bind: listening already */
        close(target);
        r->flags = 0;
        return;
    }
    struct sockaddr_storage addr = {0};
    socklen_t len = sizeof addr;
    bool named = getsockname(target, (struct sockaddr *)&addr, &len) == 0 &&
                 ((addr.ss_family == AF_INET && ((struct sockaddr_in *)&addr)->sin_port != 0) ||
                  (addr.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&addr)->sin6_port != 0));
    if (!named) { /* port 0 or never bound: the server's own business */
        close(target);
        return;
    }
    r->flags = 0;
    if (listen(target, (int)n->data.args[1]) < 0) {
        r->error = -errno;
        close(target);
        return;
    }
    if (listeners_add(target, g->number, (pid_t)n->pid) == 0)
        hs_log("gen %d pid %d listens on %s: held", g->number, (int)n->pid, listeners_get(listeners_count() - 1)->name);
}

static int stand_in(void);

static void (*mark_ready)(struct generation *g);

void intercept_on_ready(void (*fn)(struct generation *g))
{
    mark_ready = fn;
}

#define ACCEPT_SETTLE_GRACE_MS 60 /* past generation.c's ACCEPT_SETTLE_MS */

/* A Go program accepts as soon as it listens (net/http's Serve): with no accept trapped, its
 * first listen that does not fail is its readiness (on any socket: a Unix one is its own). */
static void ready_at_listen(struct generation *g, const struct seccomp_notif_resp *r)
{
    if (g->trap.signal_drain && g->state == GEN_STARTING && r->error == 0 && !gen_waits_for_notify(g))
        mark_ready(g);
}

/* A Go program of a draining generation returns from a signal handler (SIGURG, which the drain
 * sends it): each held listener open in it gets the stand-in on its fd number, so it takes no
 * connection from now on, and the listener leaves its netpoller's epoll set (epollunwatch.c). An
 * accept already inside the kernel may still return a connection. */
struct stand_in_walk {
    struct generation *g;
    const struct seccomp_notif *n;
    pid_t tgid;
    int pidfd, dummy;
    bool placed;
};

static bool stand_in_if_held(int copy, int fd, void *ctx)
{
    struct stand_in_walk *w = ctx;
    if (held_same_file(copy) && still_valid(w->g->trap.notify_fd, w->n->id) &&
        put_on(w->g->trap.notify_fd, w->n, w->dummy, fd)) {
        w->placed = true;
        epoll_unwatch(w->tgid, w->pidfd, fd, copy);
    }
    close(copy);
    return true;
}

static void stand_in_for_listeners(struct generation *g, const struct seccomp_notif *n)
{
    /* Only while the last look saw a process holding a listener, and once per look: a Go server
     * that runs a program per request returns from a SIGCHLD handler for each, and a scan of a
     * table of 20,000 fds for every one of them starved the launcher (webhook, on its first run). */
    if (g->watch.listener_holders == 0 || g->watch.scanned)
        return;
    g->watch.scanned = true;
    struct stand_in_walk walk = {.g = g, .n = n, .tgid = tgid_of((pid_t)n->pid), .dummy = stand_in()};
    walk.pidfd = walk.tgid > 0 ? (int)syscall(SYS_pidfd_open, walk.tgid, 0) : -1;
    if (walk.dummy >= 0 && walk.pidfd >= 0)
        proc_sockets_each(walk.tgid, walk.pidfd, stand_in_if_held, &walk);
    if (walk.pidfd >= 0)
        close(walk.pidfd);
    if (!walk.placed)
        return;
    g->trap.accept_let_ms = now_ms();
    /* the next look at the kernel finds it let go, once those accepts have returned */
    if (g->watch.next_check_ms > g->trap.accept_let_ms + ACCEPT_SETTLE_GRACE_MS)
        g->watch.next_check_ms = g->trap.accept_let_ms + ACCEPT_SETTLE_GRACE_MS;
}

/* A listening socket nobody can connect to: a drained listener's fd number gets one. */
static int stand_in(void)
{
    static int fd = -1;
    if (fd >= 0)
        return fd;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr autobind = {.sa_family = AF_UNIX};
    if (fd >= 0 && (bind(fd, &autobind, sizeof(sa_family_t)) < 0 || listen(fd, 1) < 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* A draining (or stopping) generation's accept. Returns false to leave the call unanswered: a
 * blocking accept waits there until the stop, as it would on a listener no client reaches. */
static bool answer_accept(struct generation *g, const struct seccomp_notif *n, struct seccomp_notif_resp *r, int pidfd)
{
    int target = copy_of(pidfd, (long)n->data.args[0]);
    if (target < 0) { /* cannot tell which socket: a draining generation takes no connection */
        r->flags = 0;
        r->error = -EAGAIN;
        return true;
    }
    bool held = held_same_file(target) != NULL;
    struct stat mine, dummy_stat;
    bool on_stand_in = stand_in() >= 0 && fstat(target, &mine) == 0 && fstat(stand_in(), &dummy_stat) == 0 &&
                       mine.st_ino == dummy_stat.st_ino && mine.st_dev == dummy_stat.st_dev;
    int status = fcntl(target, F_GETFL);
    if (on_stand_in) { /* woken by the shared listener (its epoll entry not yet taken out): nothing for it */
        close(target);
        r->flags = 0;
        r->error = -EAGAIN;
        return true;
    }
    if (!held || !still_valid(g->trap.notify_fd, n->id)) {
        if (!held)
            g->trap.accept_let_ms = now_ms(); /* its own socket: let through, and waited for */
        close(target);
        return true;
    }
    int dummy = stand_in();
    if (dummy >= 0 && put_on(g->trap.notify_fd, n, dummy, (long)n->data.args[0]))
        epoll_unwatch(tgid_of((pid_t)n->pid), pidfd, (int)n->data.args[0], target);
    close(target);
    if (status >= 0 && !(status & O_NONBLOCK))
        return false;
    r->flags = 0;
    r->error = -EAGAIN;
    return true;
}

static bool parked(const struct generation *g, pid_t tid)
{
    for (int i = 0; i < g->trap.parked_count; i++)
        if (g->trap.parked[i] == tid)
            return true;
    return false;
}

/* Is thread `tid` of process `pid` inside accept or accept4 (/proc/PID/task/TID/syscall) on a
 * held listener, and not one the launcher parked there? An accept on the server's own socket (an
 * admin port, a Unix path) takes nothing of the service's: a drain does not wait for it. Where the
 * socket cannot be looked at, it counts. */
static bool accepting_thread(pid_t pid, pid_t tid, void *g)
{
    char path[64], text[128] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
    if (!proc_read_text(path, text, sizeof text))
        return false;
    char *rest;
    long nr = strtol(text, &rest, 10);
    if ((nr != __NR_accept && nr != __NR_accept4) || parked(g, tid))
        return false;
    long fd = strtol(rest, NULL, 16); /* the first argument, as 0x… */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), copy = pidfd >= 0 ? copy_of(pidfd, fd) : -1;
    bool held = copy < 0 || held_same_file(copy);
    if (copy >= 0)
        close(copy);
    if (pidfd >= 0)
        close(pidfd);
    return held;
}

bool intercept_accepting(struct generation *g)
{
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    for (int i = 0; i < count; i++)
        if (proc_any_thread(pids[i], accepting_thread, g))
            return true;
    return false;
}

#define RESTART_WAIT_MS 100  /* a process stopped for a restart that has not stopped by then goes on */
#define RESTART_EVERY_MS 200 /* between two rounds of stops */

/* (Neither a handler nor SA_RESTART is involved: a stop and continue restarts any interrupted
 * call, and the restarted call enters the kernel, and so the filter, anew.) */
bool intercept_restart_accepts(struct generation *g, int64_t now)
{
    struct intercept_state *t = &g->trap;
    if (t->restarting_count > 0) {
        bool waited = now - t->restarted_ms >= RESTART_WAIT_MS;
        int left = 0;
        for (int i = 0; i < t->restarting_count; i++) {
            if (waited || proc_stopped(t->restarting[i]))
                kill(t->restarting[i], SIGCONT);
            else
                t->restarting[left++] = t->restarting[i];
        }
        t->restarting_count = left;
        return left > 0;
    }
    if (t->signal_drain || now - t->restarted_ms < RESTART_EVERY_MS)
        return false;
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    for (int i = 0; i < count && t->restarting_count < (int)(sizeof t->restarting / sizeof t->restarting[0]); i++) {
        if (proc_any_thread(pids[i], accepting_thread, g) && kill(pids[i], SIGSTOP) == 0)
            t->restarting[t->restarting_count++] = pids[i];
    }
    if (t->restarting_count > 0)
        t->restarted_ms = now;
    return t->restarting_count > 0;
}

void intercept_continue_restarted(struct generation *g)
{
    for (int i = 0; i < g->trap.restarting_count; i++)
        kill(g->trap.restarting[i], SIGCONT);
    g->trap.restarting_count = 0;
}

/* --ready notify, before READY=1: an accept takes nothing yet. On a nonblocking listener it says
 * EAGAIN (the server waits for the next connection's wake-up, then tries again); on a blocking
 * one it is held unanswered until the gate opens (intercept_open_gate). True: answer now. */
static bool answer_gated_accept(struct generation *g, const struct seccomp_notif *n, struct seccomp_notif_resp *r)
{
    int pidfd = pidfd_of((pid_t)n->pid), target = pidfd >= 0 ? copy_of(pidfd, (long)n->data.args[0]) : -1;
    int status = target >= 0 ? fcntl(target, F_GETFL) : -1;
    if (target >= 0)
        close(target);
    if (pidfd >= 0)
        close(pidfd);
    bool blocking = status >= 0 && !(status & O_NONBLOCK);
    if (blocking && g->trap.gated_count < (int)(sizeof g->trap.gated / sizeof g->trap.gated[0])) {
        g->trap.gated[g->trap.gated_count++] = n->id;
        return false;
    }
    if (!blocking) {
        r->flags = 0;
        r->error = -EAGAIN;
        g->trap.gate_refused = true;
    } /* (a blocking one past the table's room goes on: better served early than failed) */
    return true;
}

/* Where to connect to reach listener `fd`: its own address, loopback for a wildcard one. */
static socklen_t reach_of(int fd, struct sockaddr_storage *addr)
{
    socklen_t len = sizeof *addr;
    memset(addr, 0, sizeof *addr);
    if (getsockname(fd, (struct sockaddr *)addr, &len) < 0)
        return 0;
    if (addr->ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)addr;
        if (in->sin_addr.s_addr == htonl(INADDR_ANY))
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (addr->ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            in6->sin6_addr = in6addr_loopback;
    } else if (addr->ss_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path)) {
        return 0;
    }
    return len;
}

/* An accept the gate refused with EAGAIN waits, in an edge-triggered loop (Go's netpoller), for
 * the next connection's wake-up: a connection already queued when the gate opens would wait for
 * another to arrive. A connection of the launcher's own, closed at once, is that wake-up (the
 * server reads its end and closes it). Only where connections wait. */
static void wake_queued_listeners(void)
{
    for (int i = 0; i < listeners_count(); i++) {
        int fd = listeners_get(i)->fd;
        struct pollfd queued = {.fd = fd, .events = POLLIN};
        struct sockaddr_storage addr;
        socklen_t len;
        if (int_option(fd, SOL_SOCKET, SO_ACCEPTCONN) != 1 || poll(&queued, 1, 0) != 1 || !(len = reach_of(fd, &addr)))
            continue;
        int wake = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval brief = {.tv_usec = 100000}; /* a full backlog must not stall the launcher */
        if (wake < 0)
            continue;
        setsockopt(wake, SOL_SOCKET, SO_SNDTIMEO, &brief, sizeof brief);
        if (connect(wake, (struct sockaddr *)&addr, len) < 0)
            hs_log("--ready notify: cannot wake the server on %s (%s): a connection queued now waits "
                   "for the next one",
                   listeners_get(i)->name, strerror(errno));
        close(wake);
    }
}

/* Is a starting generation's accept on a listener: a held one, or a socket of its own that
 * listens (SO_ACCEPTCONN, as the kernel says of the caller's very fd)? Only that is readiness: an
 * accept on anything else (a plain socket, a pipe, a bad fd) fails, and a binary that then fails
 * its start must not have had the good generation drained for it. */
static bool accepts_on_listener(struct generation *g, const struct seccomp_notif *n)
{
    int pidfd = pidfd_of((pid_t)n->pid), target = pidfd >= 0 ? copy_of(pidfd, (long)n->data.args[0]) : -1;
    bool listening = target >= 0 && (held_same_file(target) || int_option(target, SOL_SOCKET, SO_ACCEPTCONN) == 1);
    if (target >= 0)
        close(target);
    if (pidfd >= 0)
        close(pidfd);
    /* the fd read is believed only while the call is still the one notified */
    return listening && still_valid(g->trap.notify_fd, n->id);
}

void intercept_open_gate(struct generation *g)
{
    for (int i = 0; i < g->trap.gated_count; i++) {
        struct seccomp_notif_resp r = {.id = g->trap.gated[i], .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
        ioctl(g->trap.notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &r); /* ENOENT: it went meanwhile */
    }
    g->trap.gated_count = 0;
    if (g->trap.gate_refused)
        wake_queued_listeners();
}

void intercept_answer(struct generation *g)
{
    struct seccomp_notif n;
    memset(&n, 0, sizeof n);
    if (ioctl(g->trap.notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0)
        return; /* ENOENT: the caller was interrupted, or is gone */
    /* By default the call goes on as the program made it. */
    struct seccomp_notif_resp r = {.id = n.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    bool answer = true;
    long nr = n.data.nr;
    bool held_back = false;
    if ((nr == __NR_accept || nr == __NR_accept4) && g->state == GEN_STARTING && gen_waits_for_notify(g)) {
        answer = answer_gated_accept(g, &n, &r);
        held_back = !answer;
    } else if (nr == __NR_accept || nr == __NR_accept4) {
        if (g->state == GEN_STARTING || g->state == GEN_READY) { /* the hot path: no pidfd once ready */
            if (g->state == GEN_STARTING && accepts_on_listener(g, &n))
                mark_ready(g);
            g->trap.accept_let_ms = now_ms();
        } else {
            int pidfd = pidfd_of((pid_t)n.pid);
            if (pidfd >= 0) {
                answer = answer_accept(g, &n, &r, pidfd);
                close(pidfd);
            } else { /* cannot look: a draining generation takes no connection */
                r.flags = 0;
                r.error = -EAGAIN;
            }
        }
    } else if (nr == __NR_rt_sigreturn) { /* a Go program's (signal_drain): hot only under CPU load */
        if (g->state == GEN_DRAINING)
            stand_in_for_listeners(g, &n);
    } else if (nr == __NR_bind || nr == __NR_listen) {
        int pidfd = pidfd_of((pid_t)n.pid);
        if (pidfd >= 0) {
            if (nr == __NR_bind) {
                answer_bind(g, &n, &r, pidfd);
            } else {
                answer_listen(g, &n, &r, pidfd);
                ready_at_listen(g, &r);
            }
            close(pidfd);
        }
    }
    if (answer)
        ioctl(g->trap.notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &r); /* ENOENT: it went meanwhile */
    else if (!held_back && g->trap.parked_count < (int)(sizeof g->trap.parked / sizeof g->trap.parked[0]))
        g->trap.parked[g->trap.parked_count++] = (pid_t)n.pid;
}

/* ---- the route's state of a generation ------------------------------------------------------- */

void intercept_init(struct generation *g)
{
    g->trap = (struct intercept_state){.notify_fd = -1};
}

void intercept_join(struct generation *g, int notify_fd, bool signal_drain, bool go_program)
{
    g->seccomp = true;
    g->trap.notify_fd = notify_fd;
    g->trap.signal_drain = signal_drain;
    g->trap.go_program = go_program;
    intercept_wake_in_step(notify_fd);
}

void intercept_close(struct generation *g)
{
    if (g->trap.notify_fd >= 0)
        close(g->trap.notify_fd);
    g->trap.notify_fd = -1;
}

int intercept_fd(const struct generation *g)
{
    return g->trap.notify_fd;
}

bool intercept_signal_drain(const struct generation *g)
{
    return g->trap.signal_drain;
}

bool intercept_go_program(const struct generation *g)
{
    return g->trap.go_program;
}

int64_t intercept_accept_let_ms(const struct generation *g)
{
    return g->trap.accept_let_ms;
}

void intercept_heard_http(struct generation *g)
{
    g->trap.speaks_http = true;
}

bool intercept_speaks_http(const struct generation *g)
{
    return g->trap.speaks_http;
}
