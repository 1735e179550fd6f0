/* generation.c: a generation's processes, messages and state transitions. */
#define _GNU_SOURCE
#include "generation.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listeners.h"
#include "relay.h"
#include "log.h"
#include "spawn.h"

static int open_pidfd(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static struct gen_proc *find_proc(struct generation *g, pid_t pid)
{
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pid == pid)
            return &g->procs[i];
    return NULL;
}

/* A process of the generation, known from its hello or from any message it sends. */
static struct gen_proc *add_proc(struct generation *g, pid_t pid)
{
    struct gen_proc *proc = find_proc(g, pid);
    if (proc || g->proc_count >= GEN_PROCS_MAX)
        return proc;
    proc = &g->procs[g->proc_count++];
    *proc = (struct gen_proc){.pid = pid, .pidfd = open_pidfd(pid)};
    if (proc->pidfd >= 0)
        fcntl(proc->pidfd, F_SETFD, FD_CLOEXEC);
    return proc;
}

struct generation *gen_start(int number, char **argv, const char *shim_path, const struct gen_settings *settings)
{
    struct generation *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    struct spawn_request req = {
        .argv = argv, .shim_path = shim_path, .generation = number, .drain_signal = settings->drain_signal,
        .handover_map_fd = settings->handover_idle ? relay_map_fd() : -1,
    };
    struct spawned child;
    if (spawn_generation(&req, &child) < 0) {
        int saved = errno;
        free(g);
        errno = saved;
        return NULL;
    }
    g->number = number;
    g->pid = child.pid;
    g->control_fd = child.control_fd;
    g->settings = settings;
    g->state = GEN_STARTING;
    g->started_ms = now_ms();
    if (number > 1)
        g->deadline_ms = g->started_ms + settings->ready_timeout_ms;
    add_proc(g, child.pid);
    hs_log("gen %d pid %d starting (%d listener%s)", number, (int)child.pid, listeners_count(),
           listeners_count() == 1 ? "" : "s");
    return g;
}

static void take_listener(struct generation *g, const struct hs_msg *msg, int fd)
{
    if (fd < 0) {
        hs_log("gen %d pid %d announced a listener without its fd: ignored", g->number, msg->pid);
        return;
    }
    int added = listeners_add(fd, g->number);
    if (added < 0) {
        hs_log("gen %d pid %d: cannot hold its listener (fd %d): not a bound socket, or too many",
               g->number, msg->pid, msg->fd);
        return;
    }
    if (added > 0)
        return; /* a socket handed over to it, announced again: held already */
    const struct held_listener *held = listeners_get(listeners_count() - 1);
    hs_log("gen %d pid %d listens on %s: held", g->number, msg->pid, held->name);
}

static void handle_message(struct generation *g, const struct hs_msg *msg, int fd)
{
    struct gen_proc *proc = add_proc(g, msg->pid);
    switch (msg->type) {
    case HS_MSG_HELLO:
        if (!g->hello_ms)
            g->hello_ms = now_ms(); /* the shim's constructor ran: exec and loading are done */
        g->said_hello = true;
        break;
    case HS_MSG_READY:
        g->said_hello = true;
        if (g->state == GEN_STARTING)
            gen_mark_ready(g);
        break;
    case HS_MSG_LISTENER:
        take_listener(g, msg, fd);
        fd = -1;
        break;
    case HS_MSG_FORKED:
        add_proc(g, (pid_t)msg->value);
        break;
    case HS_MSG_HANDOVER:
        if (fd >= 0 && relay_take(fd))
            g->handed_over++;
        fd = -1;
        break;
    case HS_MSG_CLAIM:
        if (fd >= 0)
            relay_claim((int)msg->value, fd);
        fd = -1;
        break;
    case HS_MSG_DRAINING:
    case HS_MSG_CONNS:
        if (proc) {
            proc->drain_reported = true;
            proc->conns = msg->value;
            if (msg->type == HS_MSG_DRAINING)
                g->drained_conns += msg->value;
        }
        break;
    default:
        break;
    }
    if (fd >= 0)
        close(fd);
}

void gen_read_messages(struct generation *g)
{
    for (;;) {
        struct hs_msg msg;
        char raw[sizeof msg];
        struct iovec iov = {.iov_base = raw, .iov_len = sizeof raw};
        union {
            char buf[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } control;
        struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1,
                                .msg_control = control.buf, .msg_controllen = sizeof control.buf};
        ssize_t n = recvmsg(g->control_fd, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno != EAGAIN))
            g->control_closed = true;
        if (n <= 0)
            return;
        int fd = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < count; i++) {
                int passed;
                memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
                if (fd < 0)
                    fd = passed;
                else
                    close(passed); /* one fd per message: the rest are not ours to keep */
            }
        }
        if ((header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || hs_msg_decode(raw, (size_t)n, &msg) < 0) {
            hs_log("gen %d: malformed control message (%zd bytes) ignored", g->number, n);
            if (fd >= 0)
                close(fd);
            continue;
        }
        handle_message(g, &msg, fd);
    }
}

/* To the process group, and to every known process that left it (setsid: a daemon). */
static void gen_signal(struct generation *g, int sig)
{
    kill(-g->pid, sig);
    for (int i = 0; i < g->proc_count; i++) {
        struct gen_proc *proc = &g->procs[i];
        if (proc->pidfd >= 0 && getpgid(proc->pid) != g->pid)
            syscall(SYS_pidfd_send_signal, proc->pidfd, sig, NULL, 0);
    }
}

bool gen_others_alive(const struct generation *g)
{
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pid != g->pid && g->procs[i].pidfd >= 0)
            return true;
    return false;
}

void gen_mark_ready(struct generation *g)
{
    g->state = GEN_READY;
    g->ready_ms = now_ms();
    g->deadline_ms = 0;
    if (g->hello_ms)
        hs_log("gen %d pid %d ready in %lld ms (%lld ms to the shim's hello, %lld ms of the server's own start-up)",
               g->number, (int)g->pid, (long long)(g->ready_ms - g->started_ms),
               (long long)(g->hello_ms - g->started_ms), (long long)(g->ready_ms - g->hello_ms));
    else
        hs_log("gen %d pid %d ready in %lld ms", g->number, (int)g->pid, (long long)(g->ready_ms - g->started_ms));
}

void gen_drain(struct generation *g)
{
    g->state = GEN_DRAINING;
    g->drain_ms = now_ms();
    g->deadline_ms = g->drain_ms + g->settings->drain_timeout_ms;
    g->drained_conns = 0;
    gen_signal(g, g->settings->drain_signal);
    hs_log("gen %d pid %d draining (timeout %lld ms)", g->number, (int)g->pid,
           (long long)g->settings->drain_timeout_ms);
}

bool gen_drained(const struct generation *g)
{
    if (g->state != GEN_DRAINING)
        return false;
    for (int i = 0; i < g->proc_count; i++) {
        const struct gen_proc *proc = &g->procs[i];
        if (proc->pidfd >= 0 && (!proc->drain_reported || proc->conns > 0))
            return false;
    }
    return true;
}

static long open_conns(const struct generation *g)
{
    long total = 0;
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pidfd >= 0)
            total += g->procs[i].conns;
    return total;
}

void gen_stop(struct generation *g)
{
    int64_t now = now_ms();
    if (g->state == GEN_DRAINING && !g->cut) {
        char handed[64] = "";
        if (g->settings->handover_idle)
            snprintf(handed, sizeof handed, ", %ld idle handed over", g->handed_over);
        hs_log("gen %d drained %ld connection%s in %lld ms%s", g->number, g->drained_conns,
               g->drained_conns == 1 ? "" : "s", (long long)(now - g->drain_ms), handed);
    }
    g->state = GEN_STOPPING;
    g->stop_ms = now;
    g->deadline_ms = now + g->settings->kill_timeout_ms;
    g->stop_sent = true;
    gen_signal(g, g->settings->stop_signal);
    hs_log("gen %d pid %d sent signal %d to stop", g->number, (int)g->pid, g->settings->stop_signal);
}

void gen_fail(struct generation *g, const char *why)
{
    snprintf(g->failure, sizeof g->failure, "%s", why);
    g->failed = true;
    g->state = GEN_STOPPING;
    g->stop_ms = now_ms();
    g->deadline_ms = 0;
    g->stop_sent = true;
    gen_signal(g, SIGKILL);
    hs_log("gen %d pid %d failed: %s", g->number, (int)g->pid, why);
}

bool gen_note_reaped(struct generation *g, pid_t pid, int status)
{
    struct gen_proc *proc = find_proc(g, pid);
    if (proc && proc->pidfd >= 0) {
        close(proc->pidfd);
        proc->pidfd = -1;
    }
    if (pid != g->pid)
        return false;
    g->leader_reaped = true;
    g->leader_status = status;
    return true;
}

void gen_note_proc_exit(struct generation *g, int index)
{
    struct gen_proc *proc = &g->procs[index];
    if (proc->pidfd >= 0) {
        close(proc->pidfd);
        proc->pidfd = -1;
    }
}

bool gen_check_gone(struct generation *g)
{
    if (g->state == GEN_GONE || !g->leader_reaped)
        return false;
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pidfd >= 0)
            return false;
    /* Processes without the shim (it never said hello for them) still belong to the group. */
    if (kill(-g->pid, 0) == 0 || errno != ESRCH)
        return false;
    g->gone_ms = now_ms();
    char how[96];
    describe_wait_status(g->leader_status, how, sizeof how);
    if (g->stop_ms)
        hs_log("gen %d pid %d %s, %lld ms after the stop", g->number, (int)g->pid, how,
               (long long)(g->gone_ms - g->stop_ms));
    else
        hs_log("gen %d pid %d %s", g->number, (int)g->pid, how);
    g->state = GEN_GONE;
    g->deadline_ms = 0;
    return true;
}

/* Whether the shim is mapped in `pid` now: a wrapper may have said hello, then exec'd a
 * program the shim cannot enter (static, setuid, or LD_PRELOAD cleared). */
static bool shim_mapped_in(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "re");
    if (!maps)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, maps))
        found = strstr(line, "/libhotswap") != NULL;
    fclose(maps);
    return found;
}

/* The first live process of the generation without the shim, or 0. */
static pid_t proc_without_shim(const struct generation *g)
{
    bool any_with = false;
    pid_t without = 0;
    for (int i = 0; i < g->proc_count; i++) {
        if (g->procs[i].pidfd < 0)
            continue;
        if (shim_mapped_in(g->procs[i].pid))
            any_with = true;
        else if (!without)
            without = g->procs[i].pid;
    }
    return any_with ? 0 : without;
}

static void explain_not_ready(const struct generation *g, char *why, size_t size)
{
    pid_t bare = proc_without_shim(g);
    long timeout = (long)g->settings->ready_timeout_ms;
    if (!g->said_hello || bare) {
        char link[64], exe[256] = "?";
        snprintf(link, sizeof link, "/proc/%d/exe", (int)(bare ? bare : g->pid));
        ssize_t n = readlink(link, exe, sizeof exe - 1);
        exe[n > 0 ? n : 1] = '\0';
        snprintf(why, size,
                 "never said hello within %ld ms: the shim is not loaded in it (pid %d, %s: "
                 "statically linked? setuid? LD_PRELOAD cleared?)",
                 timeout, (int)(bare ? bare : g->pid), exe);
    } else {
        snprintf(why, size, "not ready within %ld ms (it never waited for connections on a listener)", timeout);
    }
}

void gen_on_deadline(struct generation *g, int64_t now)
{
    if (!g->deadline_ms || now < g->deadline_ms)
        return;
    char why[400];
    switch (g->state) {
    case GEN_STARTING:
        explain_not_ready(g, why, sizeof why);
        gen_fail(g, why);
        break;
    case GEN_DRAINING:
        g->cut = true;
        hs_log("gen %d drain timeout after %lld ms: cutting %ld open connection%s", g->number,
               (long long)(now - g->drain_ms), open_conns(g), open_conns(g) == 1 ? "" : "s");
        gen_stop(g);
        break;
    case GEN_STOPPING:
        hs_log("gen %d pid %d still running %lld ms after its stop signal: SIGKILL", g->number,
               (int)g->pid, (long long)(now - g->stop_ms));
        gen_signal(g, SIGKILL);
        g->deadline_ms = 0;
        break;
    default:
        g->deadline_ms = 0;
        break;
    }
}

int gen_exit_status(const struct generation *g)
{
    int status = g->leader_status;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (g->stop_sent && sig == g->settings->stop_signal)
            return 0;
        return 128 + sig;
    }
    return 1;
}

void gen_free(struct generation *g)
{
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pidfd >= 0)
            close(g->procs[i].pidfd);
    close(g->control_fd);
    free(g);
}
