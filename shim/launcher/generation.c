/* generation.c: a generation's state transitions: started, adopted, ready, stopped, parked and
 * re-armed, cut, failed, gone. Its processes (genproc.c), its messages (genmsg.c), its drain
 * (gendrain.c) and why it is not ready (notready.c) have files of their own. */
#define _GNU_SOURCE
#include "generation.h"

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

#include "ctl_command.h"
#include "dgramowed.h"
#include "draintext.h"
#include "elfkind.h"
#include "gendrain.h"
#include "genproc.h"
#include "gensignal.h"
#include "intercept.h"
#include "listeners.h"
#include "log.h"
#include "notready.h"
#include "relay.h"
#include "spawn.h"

/* Starting: the first look for a listener the shim never saw, then the interval. */
#define UNSEEN_FIRST_MS 300
#define UNSEEN_INTERVAL_MS 1000

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
    bool seccomp =
        settings->intercept == INTERCEPT_SECCOMP ||
        (settings->intercept == INTERCEPT_AUTO && (kind == ELF_GO || kind == ELF_STATIC) && intercept_available());
    struct spawn_request req = {
        .argv = argv,
        .env = env,
        .shim_path = shim_path,
        .generation = number,
        .drain_signal = settings->drain_signal,
        .handover_map_fd = settings->handover_idle ? relay_map_fd() : -1,
        .members = g->members,
        .idle_close = idle_close_names[settings->idle_close],
        .socket_activation = settings->socket_activation,
        .seccomp = seccomp,
        .ready_gate_fd = g->ready.gate_fd,
        .notify_socket = g->ready.name,
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
    intercept_init(g);
    if (child.notify_fd >= 0)
        intercept_join(g, child.notify_fd, req.signal_drain, kind == ELF_GO);
    intercept_on_ready(gen_mark_ready); /* (seccomp: a trapped accept or listen is its readiness) */
    g->settings = settings;
    g->state = GEN_STARTING;
    g->started_ms = now_ms();
    g->next_look_ms = g->started_ms + UNSEEN_FIRST_MS;
    if (number > 1)
        g->deadline_ms = g->started_ms + settings->ready_timeout_ms;
    members_started(g->members, child.pid, child.joined);
    gen_add_proc(g, child.pid);
    hs_log("gen %d pid %d starting (%d listener%s)", number, (int)child.pid, listeners_count(),
           listeners_count() == 1 ? "" : "s");
    if (g->seccomp) {
        hs_log("gen %d pid %d: %s, its socket calls come to the launcher (the seccomp route)", number, (int)child.pid,
               elf_kind_name(kind));
        /* (the move needs the shim in the server: its epoll entry and fd number change hands) */
        static bool told_handover;
        if (settings->handover_idle && !told_handover) {
            told_handover = true;
            hs_log("--handover-idle: not on the seccomp route: its idle connections are ended as --idle-close "
                   "says, not moved");
        }
    } else if (kind == ELF_GO || kind == ELF_STATIC)
        hs_log("gen %d pid %d: %s, which the preload shim cannot reach, and seccomp user notification "
               "is not available here: reloads cannot be zero-loss",
               number, (int)child.pid, elf_kind_name(kind));
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
    g->channel_fd = -1;
    intercept_init(g);
    g->ready = (struct ready_notify){.socket_fd = -1, .gate_fd = -1};
    g->channel_closed = true; /* its end died with the launcher that made it */
    g->settings = settings;
    g->said_hello = true;
    g->state = GEN_READY;
    g->started_ms = g->ready_ms = now_ms();
    struct gen_proc *proc = gen_add_proc(g, leader);
    if (proc)
        proc->said_hello = true;
    return g;
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

void gen_stop(struct generation *g)
{
    int64_t now = now_ms();
    /* The kernel's figure at the start, or the shim's if higher (accepts it had in flight). */
    if (g->state == GEN_DRAINING && g->watch.at_start > g->drained_conns)
        g->drained_conns = g->watch.at_start;
    if (g->state == GEN_DRAINING && !g->cut) {
        char handed[64] = "", counts[96], unanswered[128] = "";
        if (g->settings->handover_idle)
            snprintf(handed, sizeof handed, ", %ld idle handed over", g->handed_over);
        long left = dgram_unanswered(g);
        if (left > 0)
            snprintf(unanswered, sizeof unanswered,
                     " (%ld unanswered after --datagram-timeout %lld ms: no longer owed)", left,
                     (long long)g->settings->datagram_timeout_ms);
        hs_log("gen %d drained %s in %lld ms%s%s", g->number,
               draintext_counts(counts, sizeof counts, g->drained_conns, g->drained_datagrams),
               (long long)(now - g->drain_ms), unanswered, handed);
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
        gen_thaw(g); /* the stop signal is pending in them: it is the first thing they see */
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
    gen_thaw(g);
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
    char counts[96];
    hs_log("gen %d drained %s in %lld ms: parked for %lld ms (hotswap rollback brings it back)", g->number,
           draintext_counts(counts, sizeof counts, g->drained_conns, g->drained_datagrams),
           (long long)(now - g->drain_ms), (long long)g->settings->keep_old_ms);
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
        proc->drain_said_ms = proc->datagrams_moved_ms = 0;
    }
    g->state = GEN_READY;
    g->deadline_ms = 0;
    g->drain_ms = g->park_ms = 0;
    g->drained_conns = g->drained_datagrams = 0;
    drain_watch_reset(g);
    hs_log("gen %d pid %d re-armed (%d process%s): it takes connections again", g->number, (int)g->pid, sent,
           sent == 1 ? "" : "es");
}

static long cut_conns_total, cut_datagrams_total;

void gen_cut_totals(long *conns, long *datagrams)
{
    *conns = cut_conns_total;
    *datagrams = cut_datagrams_total;
}

void gen_cut(struct generation *g, const char *why, const char *reason)
{
    long conns, datagrams;
    gen_open_counts(g, &conns, &datagrams);
    g->cut = true;
    g->cut_conns = conns;
    g->cut_datagrams = datagrams;
    cut_conns_total = gen_add_counts(cut_conns_total, conns);
    cut_datagrams_total = gen_add_counts(cut_datagrams_total, datagrams);
    snprintf(g->cut_why, sizeof g->cut_why, "%s", why);
    long shim_conns, owed;
    gen_shim_counts(g, &shim_conns, &owed);
    char text[256];
    draintext_cut(text, sizeof text, reason, conns, datagrams, now_ms() - g->drain_ms,
                  g->watch.kernel_conns > 0 ? g->watch.holder : 0, shim_conns);
    /* what held a drain the kernel showed empty: a shim sent the drain that never said it began */
    pid_t silent = reason ? 0 : gen_silent_drainer(g);
    if (silent > 0)
        hs_log("gen %d %s; pid %d was sent the drain signal and never said it began", g->number, text, (int)silent);
    else
        hs_log("gen %d %s", g->number, text);
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
    struct gen_proc *proc = gen_find_proc(g, pid);
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

void gen_on_deadline(struct generation *g, int64_t now)
{
    if (g->state == GEN_STARTING && !g->unseen_listener[0] && now >= g->next_look_ms) {
        gen_unseen_listener(g);
        g->next_look_ms = now + UNSEEN_INTERVAL_MS;
    }
    if (!g->deadline_ms || now < g->deadline_ms)
        return;
    char why[sizeof g->failure];
    switch (g->state) {
    case GEN_STARTING:
        gen_explain_not_ready(g, why, sizeof why);
        gen_fail(g, why);
        break;
    case GEN_DRAINING:
        gen_cut(g, "drain timeout", NULL);
        break;
    case GEN_PARKED:
        hs_log("gen %d parked for %lld ms, and no rollback came: stopping it", g->number,
               (long long)(now - g->park_ms));
        gen_stop(g);
        break;
    case GEN_STOPPING:
        hs_log("gen %d pid %d still running %lld ms after its stop signal: SIGKILL", g->number, (int)g->pid,
               (long long)(now - g->stop_ms));
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
        if (g->settings->idle_close == IDLE_CLOSE_TURN && g->watch.kernel_conns > 0 && g->idle_look_ms < other)
            other = g->idle_look_ms;
        int64_t unowed = dgram_unowed_at(g);
        if (unowed && (!other || unowed < other))
            other = unowed;
    } else if (g->state == GEN_STARTING && !g->unseen_listener[0])
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
    intercept_close(g);
    ready_notify_close(&g->ready);
    members_free(g->members);
    free(g->procs);
    free(g->argv);
    free(g);
}
