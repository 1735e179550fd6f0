/* gendrain.c: a generation's drain: whom to signal and when, the looks at the kernel's tables
 * against the shims' counts, the last look's pause, and when the drain is over. */
#define _GNU_SOURCE
#include "gendrain.h"

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
#include "dgramowed.h"
#include "genproc.h"
#include "gensignal.h"
#include "idleend.h"
#include "intercept.h"
#include "log.h"
#include "newercall.h"
#include "procstopped.h"

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
/* Once a pause has waited STOP_WAIT_MS in vain (a thread that cannot stop: a vfork wait), the
 * next ones of the drain wait this long: each whole wait holds the requests the stopped threads
 * have in flight, and a client that gives up at 5 s saw its request time out. */
#define STOP_WAIT_AGAIN_MS 100
#define ENDED_SETTLE_MS 10 /* after the seccomp route ended idle connections: look again this soon */

/* The seccomp route: how long an accept let through may take to return with its connection
 * (a nonblocking accept4 takes microseconds; a thread on the CPU shows no system call in /proc). */
#define ACCEPT_SETTLE_MS 50

/* A drain's watch before its first look: nothing known of the kernel or of the shims' count. */
static const struct drain_watch no_look_yet = {.kernel_conns = -1, .at_start = -1, .shim_conns_seen = LONG_MAX};

/* A process that holds a listener (it could still take connections) or a connection (its shim
 * ends the idle ones) gets the drain signal, once, if its shim can take it. Any other process is
 * left alone: the signal would only interrupt what it is doing. */
static void drain_process(struct generation *g, pid_t pid)
{
    struct gen_proc *proc = gen_find_proc(g, pid);
    if (!proc && g->adopted && gen_catches_signal(pid, g->settings->drain_signal) && (proc = gen_add_proc(g, pid)))
        proc->said_hello = true; /* its shim spoke to the launcher that died */
    if (proc && (proc->drain_sent || proc->drain_reported || !proc->said_hello))
        return; /* done, or its shim has not spoken (yet): the next look sees it again */
    if (!proc || !gen_catches_signal(pid, g->settings->drain_signal))
        return;
    proc->drain_sent = true;
    /* An adopted generation's shims cannot report (their channel is gone): the kernel's
     * tables alone say when it is drained. */
    proc->drain_reported = g->adopted;
    gen_send_signal(pid, proc->pidfd, g->settings->drain_signal);
}

pid_t gen_silent_drainer(const struct generation *g)
{
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pidfd >= 0 && g->procs[i].drain_sent && !g->procs[i].drain_reported)
            return g->procs[i].pid;
    return 0;
}

/* What the shim says: every process sent the drain has begun it, and its counts. */
bool gen_shim_counts(const struct generation *g, long *conns, long *datagrams)
{
    bool begun = true;
    int64_t now = now_ms();
    *conns = *datagrams = 0;
    for (int i = 0; i < g->proc_count; i++) {
        const struct gen_proc *proc = &g->procs[i];
        if (proc->pidfd < 0)
            continue;
        if (proc->drain_sent && !proc->drain_reported)
            begun = false;
        if (proc->drain_reported) { /* (each at most HS_COUNT_MAX: the decoder's bound) */
            *conns = gen_add_counts(*conns, proc->conns);
            if (dgram_owed(g, proc, now)) /* (dgramowed.c: a bound on what is owed) */
                *datagrams = gen_add_counts(*datagrams, proc->datagrams);
        }
    }
    return begun;
}

/* A process sent the drain signal whose shim has not said DRAINING a second later, and which the
 * kernel shows holding no listener: its drain has begun (the shim put its stand-in on each
 * listener) or it could never take a connection. Its word was lost, not late: the channel keeps
 * only a few messages while the launcher is slow (10 by default, net.unix.max_dgram_qlen), the
 * shim never waits for room, and a shim says DRAINING once. Taken as said: the kernel's count of
 * its connections decides, as for everything else it holds. */
static void drain_word_lost(struct generation *g, struct gen_proc *proc, int64_t now)
{
    proc->drain_reported = true;
    if (g->watch.told_word_lost)
        return;
    g->watch.told_word_lost = true;
    hs_log("gen %d pid %d: its shim's word that its drain began never came (%lld ms; its channel was full?); "
           "it holds no listener: the kernel's count decides",
           g->number, (int)proc->pid, (long long)(now - g->drain_ms));
}

/* What the processes `pids` hold, against `sockets`: the drain signal for those that need it,
 * and the connections between them (-1 if the tables could not be read). */
static long inspect_and_drain(struct generation *g, const pid_t *pids, int count, const struct conn_sockets *sockets)
{
    struct proc_sockets *each = calloc((size_t)count, sizeof *each);
    struct newer_look newer = {.g = g, .sockets = sockets};
    long conns = each ? conncount_inspect(sockets, pids, count, each, newer_call_excused, &newer) : -1;
    if (conns >= 0) {
        g->watch.listener_holders = 0;
        g->watch.scanned = false;
    }
    for (int i = 0; conns >= 0 && i < count; i++) {
        if (intercept_signal_drain(g) && each[i].holds_listener) {
            /* Go catches SIGURG (its preemption signal) and returns through a trapped
             * rt_sigreturn, where the launcher takes the listeners from it (intercept.c) */
            g->watch.listener_holders++;
            kill(pids[i], SIGURG);
        }
        if (each[i].conns > 0 && !g->watch.holder)
            g->watch.holder = pids[i];
        if (each[i].holds_listener && g->watch.unshimmed_count < 32 && !g->watch.frozen &&
            !gen_catches_signal(pids[i], g->settings->drain_signal))
            g->watch.unshimmed[g->watch.unshimmed_count++] = pids[i];
        if (each[i].holds_listener || each[i].conns > 0)
            drain_process(g, pids[i]);
        struct gen_proc *proc = gen_find_proc(g, pids[i]);
        int64_t now = now_ms();
        if (proc && proc->drain_sent && !proc->drain_reported && !each[i].holds_listener &&
            now - g->drain_ms >= SHIMS_REPORT_MS)
            drain_word_lost(g, proc, now);
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
    w->next_peek_ms = now + LOOK_INTERVAL_MS;
    return true;
}

void gen_thaw(struct generation *g)
{
    struct drain_watch *w = &g->watch;
    intercept_continue_restarted(g);
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
    w->looks++;
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
        gen_thaw(g); /* one took a connection before it stopped: it serves it, the drain waits */
    if (conns == 0) {
        if (!w->zero_since_ms)
            w->zero_since_ms = now;
        w->zero_checks++;
    } else {
        w->zero_since_ms = 0;
        w->zero_checks = 0;
    }
    long shim_conns, datagrams;
    w->checked_at_shim_zero = gen_shim_counts(g, &shim_conns, &datagrams) && shim_conns == 0;
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
    if (newer_calls_look(g, conns, now))
        w->next_check_ms = now; /* what it found counts at the next look */
}

/* While a pause waits for a thread that does not stop, the kernel is looked at anyway, every
 * LOOK_INTERVAL_MS: a connection a paused process holds is a request stopped half-way (a client
 * that gives up at 5 s saw one time out), so such a look lets them run again at once. A look that
 * shows none does not count toward the drain's end: a thread still running may yet take one. */
static void look_while_pausing(struct generation *g, int64_t now)
{
    struct drain_watch *w = &g->watch;
    look_at_kernel(g, now);
    w->next_peek_ms = now + LOOK_INTERVAL_MS;
    if (w->frozen) {
        w->zero_checks = 0;
        w->zero_since_ms = 0;
        w->checked_at_shim_zero = false;
    }
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
    int wait_ms = w->stop_wait_spent ? STOP_WAIT_AGAIN_MS : STOP_WAIT_MS;
    if (i < w->unshimmed_count && now - w->frozen_ms < wait_ms) {
        if (now >= w->next_peek_ms)
            look_while_pausing(g, now);
        if (w->frozen) {
            w->next_check_ms = now + STOP_POLL_MS;
            return false;
        }
        return true; /* one held a connection: they run again, and the drain waits for it */
    }
    if (i < w->unshimmed_count && !w->stop_wait_spent) {
        hs_log("gen %d: pid %d has not stopped %d ms after SIGSTOP: looking at the kernel anyway", g->number,
               (int)w->unshimmed[i], STOP_WAIT_MS);
        w->stop_wait_spent = true;
    }
    w->all_stopped = true;
    return true;
}

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
        const struct gen_proc *proc = gen_find_proc(g, pids[i]);
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

/* --graceful-signal: the server's own graceful stop, sent once its listeners are the next
 * generation's (the drain signal went first), so it ends its connections with its protocol's
 * goodbye (TLS close_notify, HTTP/2 GOAWAY, a websocket's close) where the shim could only
 * wait for them to go idle. To the command's process, as a service manager's reload would; to
 * every process of the generation if that one is gone (a server that daemonized). The drain
 * still ends on the kernel's count, at --drain-timeout at the latest. */
static void send_graceful_signal(struct generation *g)
{
    int signo = g->settings->graceful_signal;
    if (!signo || g->adopted)
        return;
    if (!g->procs || g->proc_count <= 0)
        return; /* no process known to signal: its drain ends on the kernel's count alone */
    const struct gen_proc *leader = &g->procs[0];
    if (leader->pid == g->pid && leader->pidfd >= 0) {
        gen_send_signal(leader->pid, leader->pidfd, signo);
    } else {
        for (int i = 0; i < g->proc_count; i++)
            if (g->procs[i].pidfd >= 0)
                gen_send_signal(g->procs[i].pid, g->procs[i].pidfd, signo);
    }
    g->graceful_ms = now_ms();
    hs_log("gen %d pid %d sent signal %d (--graceful-signal): its own goodbye to its connections", g->number,
           (int)g->pid, signo);
}

void gen_drain(struct generation *g)
{
    g->state = GEN_DRAINING;
    g->drain_ms = now_ms();
    g->deadline_ms = g->drain_ms + g->settings->drain_timeout_ms;
    g->drained_conns = g->drained_datagrams = 0;
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
            gen_send_signal(proc->pid, proc->pidfd, g->settings->drain_signal);
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
    send_graceful_signal(g);
}

/* Would the drain be over, by the kernel's tables and the shim's counts? */
static bool drained_by_counts(struct generation *g, int64_t now)
{
    struct drain_watch *w = &g->watch;
    long shim_conns, datagrams;
    bool all_reported = gen_shim_counts(g, &shim_conns, &datagrams);
    bool shim_zero = all_reported && shim_conns == 0;
    if (!shim_zero) {
        w->checked_at_shim_zero = false;
        w->shim_zero_since_ms = 0;
    } else if (!w->shim_zero_since_ms) {
        w->shim_zero_since_ms = now;
    }
    /* A Go program still holding a listener takes connections: not drained until it lets go. */
    if (intercept_signal_drain(g) && w->listener_holders > 0) {
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
    bool begun = gen_shim_counts(g, &shim_conns, &datagrams); /* the look may have sent the drain on */
    if (!begun || datagrams > 0)
        return false; /* datagrams owed a reply are work the kernel cannot show */
    if (w->kernel_conns < 0)
        return shim_conns == 0;
    /* Not while a Go program still holds a listener (the first look finds out): an ended
     * session's client comes straight back, and would be accepted by the draining process. */
    bool takes_no_more = !(intercept_signal_drain(g) && w->listener_holders > 0);
    if (w->kernel_conns > 0 && g->settings->idle_close == IDLE_CLOSE_TURN && takes_no_more && now >= g->idle_look_ms) {
        /* the server closes an ended connection at once: look at the kernel again soon */
        if (idle_end_look(g) > 0 && w->next_check_ms > now + ENDED_SETTLE_MS)
            w->next_check_ms = now + ENDED_SETTLE_MS;
        g->idle_look_ms = now + IDLE_END_LOOK_MS;
    }
    if (w->kernel_conns > 0) {
        if (!g->seccomp && shim_conns == 0 && w->shim_zero_since_ms &&
            now - w->shim_zero_since_ms >= KERNEL_MOMENT_MS && !w->told_disagreement) {
            hs_log("gen %d: the shim counts no open connection, the kernel shows %ld (pid %d holds one): "
                   "waiting for them",
                   g->number, w->kernel_conns, (int)w->holder);
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
    struct drain_watch *w = &g->watch;
    if (!drained_by_counts(g, now)) {
        w->looks_at_quiet = 0;
        return false;
    }
    /* The seccomp route: an accept let through (or begun before the stand-in) just before may be
     * about to hand its thread a connection the kernel does not show yet: the next look comes
     * once it has settled. Asked only when all else says drained: the walk over the threads in
     * /proc is not for every turn of the loop. And the look that says drained must have begun
     * after no thread was inside accept: an accept that ended during a look put its connection
     * on an fd the walk had passed (a Go server, on a busy machine, was stopped with a response
     * half written). */
    if (g->seccomp) {
        int64_t settled = intercept_accept_let_ms(g) + ACCEPT_SETTLE_MS;
        if (now < settled || intercept_accepting(g)) {
            if (now >= settled)
                intercept_restart_accepts(g, now);
            w->next_check_ms = now < settled ? settled : now + ENDED_SETTLE_MS;
            w->looks_at_quiet = 0;
            return false;
        }
        if (!w->looks_at_quiet)
            w->looks_at_quiet = w->looks + 1;
        if (w->looks < w->looks_at_quiet) {
            w->next_check_ms = now; /* one more look, at once, begun after */
            return false;
        }
    }
    return true;
}

/* Open connections (the kernel's figure at the last look, else the shim's) and datagrams owed. */
void gen_open_counts(const struct generation *g, long *conns, long *datagrams)
{
    long shim_conns;
    gen_shim_counts(g, &shim_conns, datagrams);
    *conns = g->state == GEN_DRAINING && g->watch.kernel_conns >= 0 ? g->watch.kernel_conns : shim_conns;
}

long gen_open_conns(const struct generation *g)
{
    long conns, datagrams;
    gen_open_counts(g, &conns, &datagrams);
    return conns + datagrams;
}

void drain_watch_reset(struct generation *g)
{
    g->watch = no_look_yet;
}
