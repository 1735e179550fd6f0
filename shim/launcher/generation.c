/* generation.c: a generation's processes, messages and state transitions. */
#define _GNU_SOURCE
#include "generation.h"
#include "procstopped.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conncount.h"
#include "ctl_command.h"
#include "elfkind.h"
#include "gensignal.h"
#include "intercept.h"
#include "listeners.h"
#include "relay.h"
#include "log.h"
#include "spawn.h"

/* How long the shim and the kernel may disagree before the log says so and the kernel wins: an
 * accept or a close in flight settles well within it. */
#define KERNEL_MOMENT_MS 200
/* Looks at the kernel's tables while draining: this often, or ten times as long as a look took
 * (a host with a great many sockets), so the launcher stays light. */
#define LOOK_INTERVAL_MS 100
/* Draining: how long the looks wait for every signalled shim to report its count. */
#define SHIMS_REPORT_MS 1000
/* The last look's pause: how often to see whether the paused processes have stopped, and how
 * long to wait for a thread that does not (asleep in a system call it cannot leave). */
#define STOP_POLL_MS 2
#define STOP_WAIT_MS 5000
#define ENDED_SETTLE_MS 10 /* after the seccomp route ended idle connections: look again this soon */
/* Starting: the first look for a listener the shim never saw, then the interval. */
#define UNSEEN_FIRST_MS 300
#define UNSEEN_INTERVAL_MS 1000

static int open_pidfd(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

static struct gen_proc *find_proc(struct generation *g, pid_t pid)
{
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pid == pid)
            return &g->procs[i];
    return NULL;
}

/* A process of the generation, met by a message from it or in the kernel's tables. */
static struct gen_proc *add_proc(struct generation *g, pid_t pid)
{
    struct gen_proc *proc = find_proc(g, pid);
    if (proc)
        return proc;
    if (g->proc_count == g->proc_room) {
        int room = g->proc_room ? g->proc_room * 2 : 16;
        struct gen_proc *grown = realloc(g->procs, (size_t)room * sizeof *grown);
        if (!grown)
            return NULL;
        g->procs = grown;
        g->proc_room = room;
    }
    proc = &g->procs[g->proc_count++];
    *proc = (struct gen_proc){.pid = pid, .pidfd = open_pidfd(pid)};
    return proc;
}

struct generation *gen_start(int number, char **argv, char **env, const char *shim_path,
                             const struct gen_settings *settings, struct gen_failure *failure)
{
    *failure = (struct gen_failure){.launcher_side = true};
    struct generation *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(failure->why, sizeof failure->why, "%s", strerror(errno));
        return NULL;
    }
    g->ready = (struct ready_notify){.socket_fd = -1, .gate_fd = -1};
    /* Without its socket the generation would be ready at its first accept, warming up or not:
     * --ready notify is never quietly dropped. */
    if (settings->ready_notify && !ready_notify_open(&g->ready)) {
        int saved = errno;
        snprintf(failure->why, sizeof failure->why, "cannot make its NOTIFY_SOCKET for --ready notify: %s",
                 strerror(saved));
        free(g);
        errno = saved;
        return NULL;
    }
    if (!(g->members = members_new(number))) {
        ready_notify_close(&g->ready);
        free(g);
        errno = ENOMEM;
        snprintf(failure->why, sizeof failure->why, "%s", strerror(errno));
        return NULL;
    }
    enum elf_kind kind = elf_kind_of(argv[0]);
    bool seccomp = settings->intercept == INTERCEPT_SECCOMP ||
                   (settings->intercept == INTERCEPT_AUTO && (kind == ELF_GO || kind == ELF_STATIC) &&
                    intercept_available());
    struct spawn_request req = {
        .argv = argv, .env = env, .shim_path = shim_path, .generation = number, .drain_signal = settings->drain_signal,
        .handover_map_fd = settings->handover_idle ? relay_map_fd() : -1, .members = g->members,
        .socket_activation = settings->socket_activation, .seccomp = seccomp,
        .ready_gate_fd = g->ready.gate_fd, .notify_socket = g->ready.name,
        .keep_listeners = settings->keep_old_ms > 0 && !seccomp,
        /* (--socket-activation: a Go server that adopts LISTEN_FDS never calls listen, and is
         * ready at its first accept, as is one whose readiness is READY=1) */
        .signal_drain = seccomp && kind == ELF_GO && !settings->ready_notify && !settings->socket_activation,
    };
    struct spawned child;
    if (spawn_generation(&req, &child) < 0) {
        int saved = errno;
        failure->launcher_side = false;
        snprintf(failure->why, sizeof failure->why, "%s", strerror(saved));
        ready_notify_close(&g->ready);
        members_free(g->members);
        free(g);
        errno = saved;
        return NULL;
    }
    g->number = number;
    g->argv = argv_copy(argv);
    g->pid = child.pid;
    g->channel_fd = child.channel_fd;
    g->notify_fd = child.notify_fd;
    g->seccomp = child.notify_fd >= 0;
    g->signal_drain = g->seccomp && req.signal_drain;
    if (g->seccomp)
        intercept_wake_in_step(g->notify_fd);
    g->settings = settings;
    g->state = GEN_STARTING;
    g->started_ms = now_ms();
    g->next_look_ms = g->started_ms + UNSEEN_FIRST_MS;
    if (number > 1)
        g->deadline_ms = g->started_ms + settings->ready_timeout_ms;
    members_started(g->members, child.pid, child.joined);
    add_proc(g, child.pid);
    hs_log("gen %d pid %d starting (%d listener%s)", number, (int)child.pid, listeners_count(),
           listeners_count() == 1 ? "" : "s");
    if (g->notify_fd >= 0)
        hs_log("gen %d pid %d: %s, its socket calls come to the launcher (the seccomp route)", number,
               (int)child.pid, elf_kind_name(kind));
    else if (kind == ELF_GO || kind == ELF_STATIC)
        hs_log("gen %d pid %d: %s, which the preload shim cannot reach, and seccomp user notification "
               "is not available here: reloads cannot be zero-loss", number, (int)child.pid, elf_kind_name(kind));
    return g;
}

struct generation *gen_adopt(int number, pid_t leader, const char *group, const struct gen_settings *settings)
{
    struct generation *g = calloc(1, sizeof *g);
    if (!g || !(g->members = members_adopt(number, leader, group))) {
        free(g);
        return NULL;
    }
    g->number = number;
    g->pid = leader;
    g->adopted = true;
    g->channel_fd = g->notify_fd = -1;
    g->ready = (struct ready_notify){.socket_fd = -1, .gate_fd = -1};
    g->channel_closed = true; /* its end died with the launcher that made it */
    g->settings = settings;
    g->said_hello = true;
    g->state = GEN_READY;
    g->started_ms = g->ready_ms = now_ms();
    struct gen_proc *proc = add_proc(g, leader);
    if (proc)
        proc->said_hello = true;
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

/* A FORKED message names a child of its sender, or one the launcher inherited when the sender
 * exited since (it is the subreaper); a child that is gone already needs no watching. Anything
 * else is a lie a process could tell to make the launcher wait for, or count, a stranger. */
static bool forked_by(struct generation *g, pid_t child, pid_t sender)
{
    pid_t parent = members_parent_of(child);
    if (parent == 0 || parent == sender || parent == getpid())
        return parent != 0;
    if (!g->told_false_child)
        hs_log("gen %d pid %d: says pid %d is its child, which it is not: ignored", g->number,
               (int)sender, (int)child);
    g->told_false_child = true;
    return false;
}

static bool private_known(const struct generation *g, unsigned long inode)
{
    for (int i = 0; i < g->private_count; i++)
        if (g->private_listeners[i] == inode)
            return true;
    return false;
}

/* a + b, both counts >= 0, at most LONG_MAX: a sum of reports no process can make overflow */
static long add_counts(long a, long b)
{
    return a > LONG_MAX - b ? LONG_MAX : a + b;
}

/* DRAINING or CONNS with a count no process can have (channel.h, HS_COUNT_MAX). The process has
 * begun its drain (only a shim's drain sends these), but its counts are never believed again: it
 * is counted as holding nothing, and the kernel's tables alone say when it is drained. */
static void refuse_counts(struct generation *g, pid_t sender, const struct hs_msg *msg)
{
    if (!g->told_false_count)
        hs_log("gen %d pid %d: reported %lld connections and %lld datagrams, more than a process can hold "
               "(%d): not believed, the kernel's count decides its drain", g->number, (int)sender,
               (long long)msg->value, (long long)msg->datagrams, HS_COUNT_MAX);
    g->told_false_count = true;
    struct gen_proc *proc = add_proc(g, sender);
    if (!proc)
        return;
    proc->said_hello = true;
    proc->drain_reported = true;
    proc->counts_refused = true;
    proc->conns = proc->datagrams = 0;
}

static void handle_message(struct generation *g, const struct hs_msg *msg, int fd)
{
    struct gen_proc *proc = add_proc(g, msg->pid);
    if (proc)
        proc->said_hello = true; /* any message: the shim is in charge there */
    switch (msg->type) {
    case HS_MSG_HELLO:
        /* a new program in it (exec): a drain signal it was sent before was dropped across the
         * exec (ignored), so the next look sends it again */
        if (proc && !proc->drain_reported)
            proc->drain_sent = false;
        if (proc)
            proc->waited = false;
        if (!g->hello_ms)
            g->hello_ms = now_ms(); /* the shim's constructor ran: exec and loading are done */
        g->said_hello = true;
        break;
    case HS_MSG_READY:
        g->said_hello = true;
        if (proc)
            proc->waited = true;
        if (g->state == GEN_STARTING && !gen_waits_for_notify(g))
            gen_mark_ready(g);
        break;
    case HS_MSG_LISTENER:
        take_listener(g, msg, fd);
        fd = -1;
        break;
    case HS_MSG_FORKED:
        if (forked_by(g, (pid_t)msg->value, msg->pid))
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
    case HS_MSG_CLAIMED:
        if (msg->value >= 0 && msg->value < LISTENERS_MAX) /* a number from a shim: checked */
            g->claimed_listeners[msg->value / 64] |= 1ULL << (msg->value % 64);
        break;
    case HS_MSG_PRIVATE: /* once per listen(): a second one on the same socket takes no room */
        if (!private_known(g, (unsigned long)msg->value) &&
            g->private_count < (int)(sizeof g->private_listeners / sizeof g->private_listeners[0]))
            g->private_listeners[g->private_count++] = (unsigned long)msg->value;
        break;
    case HS_MSG_DRAINING:
    case HS_MSG_CONNS:
        if (proc) {
            proc->drain_reported = true;
            if (proc->counts_refused)
                break; /* it lied once: the kernel's count alone decides its drain */
            proc->conns = msg->value;
            proc->datagrams = msg->datagrams;
            if (msg->type == HS_MSG_DRAINING) /* (a shim says DRAINING again after an exec) */
                g->drained_conns = add_counts(g->drained_conns, msg->value + msg->datagrams);
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
            char buf[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(struct ucred))];
            struct cmsghdr align;
        } control;
        struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1,
                                .msg_control = control.buf, .msg_controllen = sizeof control.buf};
        ssize_t n = recvmsg(g->channel_fd, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno != EAGAIN))
            g->channel_closed = true;
        if (n <= 0)
            return;
        int fd = -1;
        pid_t sender = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof cred);
                sender = cred.pid;
            }
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
        int decoded = (header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || sender <= 0 ? HS_DECODE_MALFORMED
                                                                                   : hs_msg_decode(raw, (size_t)n, &msg);
        if (decoded == HS_DECODE_COUNT_RANGE) {
            refuse_counts(g, sender, &msg);
        } else if (decoded != HS_DECODE_OK && !g->told_malformed) {
            hs_log("gen %d: malformed channel message (%zd bytes) ignored, and any more after it", g->number, n);
            g->told_malformed = true;
        }
        if (decoded != HS_DECODE_OK) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        /* The sender is who the kernel says (a process in a pid namespace of its own also has
         * its pid as the launcher sees it), whoever the message claims to be from. */
        if (msg.pid != sender && !g->told_false_sender) {
            hs_log("gen %d pid %d: sent a message as pid %d: taken as its own", g->number, (int)sender,
                   (int)msg.pid);
            g->told_false_sender = true;
        }
        msg.pid = sender;
        handle_message(g, &msg, fd);
    }
}

int gen_processes(struct generation *g, const pid_t **pids)
{
    return members_list(g->members, g->pid, pids);
}

bool gen_waits_for_notify(const struct generation *g)
{
    return g->ready.gate_fd >= 0;
}

static bool is_member(void *ctx, pid_t pid)
{
    struct generation *g = ctx;
    if (find_proc(g, pid))
        return true;
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    for (int i = 0; i < count; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

void gen_read_notify(struct generation *g)
{
    pid_t refused = 0, ready = ready_notify_read(g->ready.socket_fd, is_member, g, &refused);
    if (refused && !g->told_stranger_ready) {
        hs_log("gen %d: READY=1 on its NOTIFY_SOCKET from pid %d, not one of its processes: ignored",
               g->number, (int)refused);
        g->told_stranger_ready = true;
    }
    if (ready && g->state == GEN_STARTING) {
        g->ready_by = ready;
        gen_mark_ready(g);
    }
}

static void send_signal(pid_t pid, int pidfd, int sig)
{
    if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
        kill(pid, sig);
}

/* A stop (or SIGKILL) reaches every process of the generation, wherever it went (setsid,
 * exec'd helpers), and no stranger that took a reaped pid (gensignal.h). */
static void gen_signal(struct generation *g, int sig)
{
    gen_signal_all(g, sig);
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
    if (gen_waits_for_notify(g)) { /* its listeners take connections from now on */
        ready_notify_open_gate(g->ready.gate_fd);
        if (g->seccomp)
            intercept_open_gate(g);
        hs_log("gen %d pid %d ready in %lld ms (READY=1 from pid %d)", g->number, (int)g->pid,
               (long long)(g->ready_ms - g->started_ms), (int)g->ready_by);
    } else if (g->hello_ms)
        hs_log("gen %d pid %d ready in %lld ms (%lld ms to the shim's hello, %lld ms of the server's own start-up)",
               g->number, (int)g->pid, (long long)(g->ready_ms - g->started_ms),
               (long long)(g->hello_ms - g->started_ms), (long long)(g->ready_ms - g->hello_ms));
    else
        hs_log("gen %d pid %d ready in %lld ms", g->number, (int)g->pid, (long long)(g->ready_ms - g->started_ms));
}

/* ---- the drain: whom to signal, and when it is over ---------------------------------------------- */

/* The process has a handler for `sig` (the kernel's SigCgt): the shim is in charge there. A
 * process without one (a CGI script, a helper the server exec'd) would be killed by it. */
static bool catches_signal(pid_t pid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    unsigned long long caught = 0;
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "SigCgt: %llx", &caught) == 1;
    fclose(f);
    return found && sig >= 1 && sig <= 64 && (caught >> (sig - 1)) & 1;
}

/* A process that holds a listener (it could still take connections) or a connection (its shim
 * ends the idle ones) gets the drain signal, once, if its shim can take it. Any other process is
 * left alone: the signal would only interrupt what it is doing. */
static void drain_process(struct generation *g, pid_t pid)
{
    struct gen_proc *proc = find_proc(g, pid);
    if (!proc && g->adopted && catches_signal(pid, g->settings->drain_signal) && (proc = add_proc(g, pid)))
        proc->said_hello = true; /* its shim spoke to the launcher that died */
    if (proc && (proc->drain_sent || proc->drain_reported || !proc->said_hello))
        return; /* done, or its shim has not spoken (yet): the next look sees it again */
    if (!proc || !catches_signal(pid, g->settings->drain_signal))
        return;
    proc->drain_sent = true;
    /* An adopted generation's shims cannot report (their channel is gone): the kernel's
     * tables alone say when it is drained. */
    proc->drain_reported = g->adopted;
    send_signal(pid, proc->pidfd, g->settings->drain_signal);
}

/* What the shim says: every process sent the drain has begun it, and its counts. */
static bool shim_counts(const struct generation *g, long *conns, long *datagrams)
{
    bool begun = true;
    *conns = *datagrams = 0;
    for (int i = 0; i < g->proc_count; i++) {
        const struct gen_proc *proc = &g->procs[i];
        if (proc->pidfd < 0)
            continue;
        if (proc->drain_sent && !proc->drain_reported)
            begun = false;
        if (proc->drain_reported) { /* (each at most HS_COUNT_MAX: the decoder's bound) */
            *conns = add_counts(*conns, proc->conns);
            *datagrams = add_counts(*datagrams, proc->datagrams);
        }
    }
    return begun;
}

/* What the processes `pids` hold, against `sockets`: the drain signal for those that need it,
 * and the connections between them (-1 if the tables could not be read). */
static long inspect_and_drain(struct generation *g, const pid_t *pids, int count, const struct conn_sockets *sockets)
{
    struct proc_sockets *each = calloc((size_t)count, sizeof *each);
    long conns = each ? conncount_inspect(sockets, pids, count, each) : -1;
    if (conns >= 0) {
        g->watch.listener_holders = 0;
        g->watch.scanned = false;
    }
    for (int i = 0; conns >= 0 && i < count; i++) {
        if (g->signal_drain && each[i].holds_listener) {
            /* Go catches SIGURG (its preemption signal) and returns through a trapped
             * rt_sigreturn, where the launcher takes the listeners from it (intercept.c) */
            g->watch.listener_holders++;
            kill(pids[i], SIGURG);
        }
        if (each[i].conns > 0 && !g->watch.holder)
            g->watch.holder = pids[i];
        if (each[i].holds_listener && g->watch.unshimmed_count < 32 && !g->watch.frozen &&
            !catches_signal(pids[i], g->settings->drain_signal))
            g->watch.unshimmed[g->watch.unshimmed_count++] = pids[i];
        if (each[i].holds_listener || each[i].conns > 0)
            drain_process(g, pids[i]);
    }
    free(each);
    return conns;
}

/* A worker the server exec'd (no shim in charge there) keeps accepting from the shared listener
 * through the drain: the kernel may show the generation holding nothing, and it takes a
 * connection just before the stop. So, when the drain looks over, such processes are stopped
 * (SIGSTOP: they take nothing more, and the other generation gets what queues) and the kernel is
 * looked at once more; a connection one took meanwhile lets them go on (SIGCONT) and the drain
 * waits for it. True while that last look is pending. */
static bool freeze_for_last_look(struct generation *g, int64_t now)
{
    struct drain_watch *w = &g->watch;
    if (w->frozen || g->seccomp || w->unshimmed_count == 0)
        return false;
    for (int i = 0; i < w->unshimmed_count; i++)
        kill(w->unshimmed[i], SIGSTOP);
    w->frozen = true;
    w->frozen_ms = now;
    w->all_stopped = false;
    w->zero_checks = 0;
    w->zero_since_ms = 0;
    w->checked_at_shim_zero = false;
    w->next_check_ms = now + STOP_POLL_MS;
    return true;
}

/* The last look counts only once every paused process has in fact stopped. SIGSTOP only asks:
 * a thread the host has not given a CPU yet may still finish an accept, and a look before that
 * missed the connection it took, which the stop then cut (about one in 12 reloads of exec'd
 * workers under load). A thread that does not stop within STOP_WAIT_MS gets the look anyway. */
static bool pause_settled(struct generation *g, int64_t now)
{
    struct drain_watch *w = &g->watch;
    if (!w->frozen || w->all_stopped)
        return true;
    int i = 0;
    while (i < w->unshimmed_count && proc_stopped(w->unshimmed[i]))
        i++;
    if (i < w->unshimmed_count && now - w->frozen_ms < STOP_WAIT_MS) {
        w->next_check_ms = now + STOP_POLL_MS;
        return false;
    }
    if (i < w->unshimmed_count)
        hs_log("gen %d: pid %d has not stopped %d ms after SIGSTOP: looking at the kernel anyway", g->number,
               (int)w->unshimmed[i], STOP_WAIT_MS);
    w->all_stopped = true;
    return true;
}

static void thaw(struct generation *g)
{
    struct drain_watch *w = &g->watch;
    if (!w->frozen)
        return;
    for (int i = 0; i < w->unshimmed_count; i++)
        kill(w->unshimmed[i], SIGCONT);
    w->frozen = false;
}

/* One look at the kernel's tables: the generation's processes, which of them need the drain
 * signal, and how many connections they hold between them. */
static void look_at_kernel(struct generation *g, int64_t now)
{
    struct drain_watch *w = &g->watch;
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    long conns = count == 0 ? 0 : -1;
    w->holder = 0;
    if (!w->frozen)
        w->unshimmed_count = 0;
    if (count > 0) {
        struct conn_sockets *sockets = conncount_load(true);
        conns = inspect_and_drain(g, pids, count, sockets);
        conncount_free(sockets);
    }
    if (conns < 0 && !w->told_disagreement) {
        hs_log("gen %d: cannot read the kernel's socket tables: draining by the shim's counts alone", g->number);
        w->told_disagreement = true;
    }
    w->kernel_conns = conns;
    if (w->at_start < 0)
        w->at_start = conns;
    if (conns != 0 && w->frozen)
        thaw(g); /* one took a connection before it stopped: it serves it, the drain waits */
    if (conns == 0) {
        if (!w->zero_since_ms)
            w->zero_since_ms = now;
        w->zero_checks++;
    } else {
        w->zero_since_ms = 0;
        w->zero_checks = 0;
    }
    long shim_conns, datagrams;
    w->checked_at_shim_zero = shim_counts(g, &shim_conns, &datagrams) && shim_conns == 0;
    int64_t took = now_ms() - now;
    w->next_check_ms = now + (took * 10 > LOOK_INTERVAL_MS ? took * 10 : LOOK_INTERVAL_MS);
    /* The shim counts none and the kernel still shows some: a close in flight, which settles in
     * a moment. A slow look (a loaded host) must not put the next one ten looks away: the drain
     * would wait seconds for a connection long gone. */
    if (w->checked_at_shim_zero && conns > 0 && w->next_check_ms > now + KERNEL_MOMENT_MS + took * 2)
        w->next_check_ms = now + KERNEL_MOMENT_MS + took * 2;
    /* The first look that shows nothing left: the one that confirms it ends the drain, so it
     * comes when the kernel's word can count, however slow the looks are on a busy host. */
    if (conns == 0 && w->zero_checks == 1 && w->next_check_ms > now + KERNEL_MOMENT_MS)
        w->next_check_ms = now + KERNEL_MOMENT_MS;
}

/* A drain's watch before its first look: nothing known of the kernel or of the shims' count. */
static const struct drain_watch no_look_yet = {.kernel_conns = -1, .at_start = -1, .shim_conns_seen = LONG_MAX};

/* The drain signal to each process not sent it yet that holds a listener, found by its fds
 * alone (a master, a helper: a few fds each); false if the kernel's tables cannot be read. */
static bool drain_listener_holders(struct generation *g)
{
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    if (count <= 0)
        return count == 0;
    pid_t *left = malloc((size_t)count * sizeof *left);
    if (!left)
        return false;
    int unsent = 0;
    for (int i = 0; i < count; i++) {
        const struct gen_proc *proc = find_proc(g, pids[i]);
        if (!proc || !proc->drain_sent)
            left[unsent++] = pids[i];
    }
    bool read = true;
    if (unsent > 0) {
        struct conn_sockets *listeners = conncount_load(false);
        read = inspect_and_drain(g, left, unsent, listeners) >= 0;
        conncount_free(listeners);
    }
    free(left);
    return read;
}

void gen_drain(struct generation *g)
{
    g->state = GEN_DRAINING;
    g->drain_ms = now_ms();
    g->deadline_ms = g->drain_ms + g->settings->drain_timeout_ms;
    g->drained_conns = 0;
    g->watch = no_look_yet;
    g->idle_look_ms = g->drain_ms;
    /* A process that waited on a listener holds one: the drain signal goes to it at once. The
     * other holders are found by their fds alone. The first whole look at the kernel, which
     * reads every fd of every process (at 50,000 connections closing, it took as long as the
     * drain), comes at the next check, or once the shims' count stops falling. */
    for (int i = 0; i < g->proc_count && !g->adopted; i++) {
        struct gen_proc *proc = &g->procs[i];
        if (proc->waited && proc->pidfd >= 0 && !proc->drain_sent) {
            proc->drain_sent = true;
            send_signal(proc->pid, proc->pidfd, g->settings->drain_signal);
        }
    }
    if (!drain_listener_holders(g)) {
        /* No view of the kernel: the whole process group, as the only reach left, while it is
         * the generation's own (a daemonized server's reaped command left its id free). */
        if (gen_group_is_own(g))
            kill(-g->pid, g->settings->drain_signal);
        for (int i = 0; i < g->proc_count; i++)
            g->procs[i].drain_sent = g->procs[i].said_hello;
    }
    g->watch.next_check_ms = g->drain_ms;
    hs_log("gen %d pid %d draining (timeout %lld ms)", g->number, (int)g->pid,
           (long long)g->settings->drain_timeout_ms);
}

/* The seccomp route: how long an accept let through may take to return with its connection
 * (a nonblocking accept4 takes microseconds; a thread on the CPU shows no system call in /proc). */
#define ACCEPT_SETTLE_MS 50

/* Would the drain be over, by the kernel's tables and the shim's counts? */
static bool drained_by_counts(struct generation *g, int64_t now)
{
    struct drain_watch *w = &g->watch;
    long shim_conns, datagrams;
    bool all_reported = shim_counts(g, &shim_conns, &datagrams);
    bool shim_zero = all_reported && shim_conns == 0;
    if (!shim_zero) {
        w->checked_at_shim_zero = false;
        w->shim_zero_since_ms = 0;
    } else if (!w->shim_zero_since_ms) {
        w->shim_zero_since_ms = now;
    }
    /* A Go program still holding a listener takes connections: not drained until it lets go. */
    if (g->signal_drain && w->listener_holders > 0) {
        if (now >= w->next_check_ms)
            look_at_kernel(g, now);
        w->checked_at_shim_zero = false;
        if (w->listener_holders > 0)
            return false;
    }
    /* While the shims' count falls, their drain is under way: a look at the kernel, which reads
     * every fd of every process (tens of milliseconds at 10,000 connections, more while they
     * close), waits until the count stops falling or reaches zero. Until every shim signalled
     * has said DRAINING the count is partial (0 before the first one speaks), so it is not
     * recorded: a count that "stopped falling" from there made a 50,000-connection drain look
     * while they closed. A shim that does not speak within a second has the looks back. */
    if (now >= w->next_check_ms && !all_reported && now - g->drain_ms < SHIMS_REPORT_MS) {
        w->next_check_ms = now + LOOK_INTERVAL_MS;
    } else if (now >= w->next_check_ms && !shim_zero && shim_conns < w->shim_conns_seen) {
        w->shim_conns_seen = shim_conns;
        w->next_check_ms = now + LOOK_INTERVAL_MS;
    }
    if (!pause_settled(g, now))
        return false;
    if (now >= w->next_check_ms || (shim_zero && !w->checked_at_shim_zero)) {
        look_at_kernel(g, now);
        w->shim_conns_seen = LONG_MAX;
    }
    bool begun = shim_counts(g, &shim_conns, &datagrams); /* the look may have sent the drain on */
    if (!begun || datagrams > 0)
        return false; /* datagrams owed a reply are work the kernel cannot show */
    if (w->kernel_conns < 0)
        return shim_conns == 0;
    if (w->kernel_conns > 0 && g->seccomp && now >= g->idle_look_ms) {
        /* the server closes an ended connection at once: look at the kernel again soon */
        if (intercept_end_idle(g) > 0 && w->next_check_ms > now + ENDED_SETTLE_MS)
            w->next_check_ms = now + ENDED_SETTLE_MS;
        g->idle_look_ms = now + intercept_idle_look_every(g);
    }
    if (w->kernel_conns > 0) {
        if (!g->seccomp && shim_conns == 0 && w->shim_zero_since_ms && now - w->shim_zero_since_ms >= KERNEL_MOMENT_MS &&
            !w->told_disagreement) {
            hs_log("gen %d: the shim counts no open connection, the kernel shows %ld (pid %d holds one): "
                   "waiting for them", g->number, w->kernel_conns, (int)w->holder);
            w->told_disagreement = true;
        }
        return false;
    }
    if (shim_conns == 0)
        return w->checked_at_shim_zero && !freeze_for_last_look(g, now);
    if (w->zero_checks >= 2 && now - w->zero_since_ms >= KERNEL_MOMENT_MS) {
        if (freeze_for_last_look(g, now))
            return false;
        hs_log("gen %d: the shim counts %ld open connection%s, the kernel shows none for %lld ms: the kernel wins",
               g->number, shim_conns, shim_conns == 1 ? "" : "s", (long long)(now - w->zero_since_ms));
        return true;
    }
    return false;
}

bool gen_drained(struct generation *g)
{
    if (g->state != GEN_DRAINING)
        return false;
    int64_t now = now_ms();
    if (!drained_by_counts(g, now))
        return false;
    /* The seccomp route: an accept let through (or begun before the stand-in) just before may be
     * about to hand its thread a connection the kernel does not show yet: the next look comes
     * once it has settled. Asked only when all else says drained: the walk over the threads in
     * /proc is not for every turn of the loop. */
    if (g->seccomp) {
        int64_t settled = g->accept_let_ms + ACCEPT_SETTLE_MS;
        if (now < settled || intercept_accepting(g)) {
            g->watch.next_check_ms = now < settled ? settled : now + ENDED_SETTLE_MS;
            return false;
        }
    }
    return true;
}

long gen_open_conns(const struct generation *g)
{
    long shim_conns, datagrams;
    shim_counts(g, &shim_conns, &datagrams);
    if (g->state == GEN_DRAINING && g->watch.kernel_conns >= 0)
        return g->watch.kernel_conns + datagrams;
    return shim_conns + datagrams;
}

void gen_stop(struct generation *g)
{
    int64_t now = now_ms();
    /* The kernel's figure at the start, or the shim's if higher (accepts it had in flight). */
    if (g->state == GEN_DRAINING && g->watch.at_start > g->drained_conns)
        g->drained_conns = g->watch.at_start;
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
    if (g->settings->stop_main_first && !g->leader_reaped) {
        kill(g->pid, g->settings->stop_signal); /* it stops the rest itself; gen_stop_rest for any left */
    } else {
        g->stop_spread = true;
        gen_signal(g, g->settings->stop_signal);
    }
    if (g->stop_spread)
        thaw(g); /* the stop signal is pending in them: it is the first thing they see */
    hs_log("gen %d pid %d sent signal %d to stop", g->number, (int)g->pid, g->settings->stop_signal);
}

void gen_stop_rest(struct generation *g)
{
    if (g->state != GEN_STOPPING || g->stop_spread || !g->leader_reaped)
        return;
    g->stop_spread = true;
    const pid_t *pids;
    if (gen_processes(g, &pids) > 0 || gen_group_is_own(g))
        gen_signal(g, g->settings->stop_signal);
    thaw(g);
}

bool gen_can_park(const struct generation *g)
{
    return g->settings->keep_old_ms > 0 && !g->seccomp && !g->adopted && !g->unparkable && !g->cut &&
           g->state == GEN_DRAINING;
}

void gen_park(struct generation *g)
{
    int64_t now = now_ms();
    if (g->watch.at_start > g->drained_conns)
        g->drained_conns = g->watch.at_start;
    hs_log("gen %d drained %ld connection%s in %lld ms: parked for %lld ms (hotswap rollback brings it back)",
           g->number, g->drained_conns, g->drained_conns == 1 ? "" : "s", (long long)(now - g->drain_ms),
           (long long)g->settings->keep_old_ms);
    g->state = GEN_PARKED;
    g->park_ms = now;
    g->deadline_ms = now + g->settings->keep_old_ms;
}

void gen_rearm(struct generation *g)
{
    union sigval rearm = {.sival_int = HS_SIGVAL_REARM};
    int sent = 0;
    for (int i = 0; i < g->proc_count; i++) {
        struct gen_proc *proc = &g->procs[i];
        if (proc->pidfd < 0 || !proc->said_hello)
            continue;
        if (sigqueue(proc->pid, g->settings->drain_signal, rearm) == 0)
            sent++;
        proc->drain_sent = proc->drain_reported = false; /* a later drain signals it again */
        proc->conns = proc->datagrams = 0;
    }
    g->state = GEN_READY;
    g->deadline_ms = 0;
    g->drain_ms = g->park_ms = 0;
    g->drained_conns = 0;
    g->watch = no_look_yet;
    hs_log("gen %d pid %d re-armed (%d process%s): it takes connections again", g->number, (int)g->pid, sent,
           sent == 1 ? "" : "es");
}

void gen_cut(struct generation *g, const char *why, const char *reason)
{
    long open = gen_open_conns(g);
    g->cut = true;
    snprintf(g->cut_why, sizeof g->cut_why, "%s", why);
    hs_log("gen %d %s: cutting %ld open connection%s", g->number, reason, open, open == 1 ? "" : "s");
    gen_stop(g);
}

void gen_fail(struct generation *g, const char *why)
{
    snprintf(g->failure, sizeof g->failure, "%s", why);
    g->failed = true;
    g->state = GEN_STOPPING;
    g->stop_ms = now_ms();
    g->deadline_ms = 0;
    g->stop_sent = true;
    g->stop_spread = true;
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
    /* an adopted command's process is not our child: its exit is all we learn of it */
    if (g->adopted && proc->pid == g->pid)
        g->leader_reaped = true;
}

void gen_forget_exited(struct generation *g)
{
    int kept = g->proc_count ? 1 : 0; /* [0], the command's own process, stays */
    for (int i = 1; i < g->proc_count; i++)
        if (g->procs[i].pidfd >= 0)
            g->procs[kept++] = g->procs[i];
    g->proc_count = kept;
}

/* The command caught our stop signal and exited with 128 + its number, as a shell and many
 * servers (socat) do: stopped as told, as much as one killed by the signal. */
static bool exited_on_stop(const struct generation *g)
{
    return g->stop_sent && WIFEXITED(g->leader_status) &&
           WEXITSTATUS(g->leader_status) == 128 + g->settings->stop_signal;
}

bool gen_check_gone(struct generation *g)
{
    if (g->state == GEN_GONE || !g->leader_reaped)
        return false;
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pidfd >= 0)
            return false;
    /* Processes without the shim (it never said hello for them) belong to it too: its members,
     * and its process group while that is still its own. A group of that id made since by a
     * stranger is not (kill(-pgid, 0) would wait for the stranger). */
    const pid_t *pids;
    if (gen_processes(g, &pids) > 0 || gen_group_is_own(g))
        return false;
    g->gone_ms = now_ms();
    char how[128];
    describe_wait_status(g->leader_status, how, sizeof how);
    if (g->adopted)
        snprintf(how, sizeof how, "exited (adopted: its parent has its exit status)");
    else if (exited_on_stop(g))
        snprintf(how + strlen(how), sizeof how - strlen(how), " (128 + %d: its own exit on the stop signal)",
                 g->settings->stop_signal);
    if (g->stop_ms)
        hs_log("gen %d pid %d %s, %lld ms after the stop", g->number, (int)g->pid, how,
               (long long)(g->gone_ms - g->stop_ms));
    else
        hs_log("gen %d pid %d %s", g->number, (int)g->pid, how);
    g->state = GEN_GONE;
    g->deadline_ms = 0;
    return true;
}

/* ---- a generation that is not ready: why -------------------------------------------------------- */

static void exe_of(pid_t pid, char *exe, size_t size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(link, exe, size - 1);
    if (n <= 0)
        snprintf(exe, size, "?");
    else
        exe[n] = '\0';
}

static bool shim_mapped_in(pid_t pid);

/* A holder of the socket that has no shim in charge explains it best (an exec'd worker that
 * listens on a socket its parent bound). */
static bool shim_not_in_charge(pid_t pid, void *ctx)
{
    const struct generation *g = ctx;
    return !catches_signal(pid, g->settings->drain_signal);
}

/* The kernel shows a listening socket in the generation that the launcher does not hold: the
 * server made it past the shim. Why, as far as the launcher can tell, said once. */
static void look_for_unseen_listener(struct generation *g)
{
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    pid_t holder;
    char name[80], exe[128];
    if (g->unseen_listener[0] || count <= 0 ||
        !conncount_unheld_listener(pids, count, g->private_listeners, g->private_count, shim_not_in_charge, g,
                                   &holder, name, sizeof name))
        return;
    exe_of(holder, exe, sizeof exe);
    const char *why;
    if (catches_signal(holder, g->settings->drain_signal)) /* the shim is in charge there now */
        why = "the server makes its own system calls (a Go or statically linked program?), which "
              "libhotswap.so cannot reach";
    else if (shim_mapped_in(holder))
        why = "that process is a program the server exec'd, where the shim is not in charge (only the "
              "process hotswap starts, and the processes it forks, hand over and drain)";
    else
        why = "the shim is not loaded in that process (statically linked? setuid? LD_PRELOAD cleared?)";
    snprintf(g->unseen_listener, sizeof g->unseen_listener,
             "gen %d pid %d (%.80s) listens on %s, but the shim never saw that socket: %s", g->number, (int)holder,
             exe, name, why);
    hs_log("%s; it will never count as ready", g->unseen_listener);
}

const char *gen_unseen_listener(struct generation *g)
{
    if (g->state == GEN_STARTING)
        look_for_unseen_listener(g);
    return g->unseen_listener;
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

static void explain_not_ready(struct generation *g, char *why, size_t size)
{
    long timeout = (long)g->settings->ready_timeout_ms;
    if (gen_unseen_listener(g)[0]) {
        snprintf(why, size, "not ready within %ld ms: %.360s", timeout, g->unseen_listener);
        return;
    }
    pid_t bare = proc_without_shim(g);
    if (!g->seccomp && (!g->said_hello || bare)) {
        char exe[256];
        exe_of(bare ? bare : g->pid, exe, sizeof exe);
        snprintf(why, size,
                 "never said hello within %ld ms: the shim is not loaded in it (pid %d, %s: "
                 "statically linked? setuid? LD_PRELOAD cleared?)",
                 timeout, (int)(bare ? bare : g->pid), exe);
    } else if (gen_waits_for_notify(g)) {
        snprintf(why, size, "not ready within %ld ms (--ready notify: it never sent READY=1 to NOTIFY_SOCKET)",
                 timeout);
    } else {
        snprintf(why, size, "not ready within %ld ms (it never waited for connections on a listener)", timeout);
    }
}

void gen_on_deadline(struct generation *g, int64_t now)
{
    if (g->state == GEN_STARTING && !g->unseen_listener[0] && now >= g->next_look_ms) {
        look_for_unseen_listener(g);
        g->next_look_ms = now + UNSEEN_INTERVAL_MS;
    }
    if (!g->deadline_ms || now < g->deadline_ms)
        return;
    char why[sizeof g->failure];
    switch (g->state) {
    case GEN_STARTING:
        explain_not_ready(g, why, sizeof why);
        gen_fail(g, why);
        break;
    case GEN_DRAINING: {
        char reason[64];
        snprintf(reason, sizeof reason, "drain timeout after %lld ms", (long long)(now - g->drain_ms));
        gen_cut(g, "drain timeout", reason);
        break;
    }
    case GEN_PARKED:
        hs_log("gen %d parked for %lld ms, and no rollback came: stopping it", g->number,
               (long long)(now - g->park_ms));
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

int64_t gen_next_wakeup(const struct generation *g)
{
    int64_t soonest = g->deadline_ms;
    int64_t other = 0;
    if (g->state == GEN_DRAINING) {
        other = g->watch.next_check_ms;
        if (g->seccomp && g->watch.kernel_conns > 0 && g->idle_look_ms < other)
            other = g->idle_look_ms;
    }
    else if (g->state == GEN_STARTING && !g->unseen_listener[0])
        other = g->next_look_ms;
    if (other && (!soonest || other < soonest))
        soonest = other;
    return soonest;
}

int gen_exit_status(const struct generation *g)
{
    int status = g->leader_status;
    if (exited_on_stop(g))
        return 0;
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
    close(g->channel_fd);
    if (g->notify_fd >= 0)
        close(g->notify_fd);
    ready_notify_close(&g->ready);
    members_free(g->members);
    free(g->procs);
    free(g->argv);
    free(g);
}
