/* main.c: `hotswap`, the launcher with a stable pid. It holds the listeners, starts each
 * generation, and runs reloads (reload.c: start N+1, wait until it is ready, drain N, stop N) and
 * crash restarts (crash.c) from one loop.
 *
 * Signals are blocked and read from a signalfd inside one poll() loop (as tini does), so no work
 * happens in an asynchronous handler. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activation.h"
#include "adopt.h"
#include "check.h"
#include "crash.h"
#include "ctl_client.h"
#include "ctl_command.h"
#include "ctl_server.h"
#include "envfile.h"
#include "intercept.h"
#include "log.h"
#include "relay.h"
#include "release.h"
#include "reload.h"
#include "sdnotify.h"
#include "try.h"
#include "walkyield.h"
/* ---- finding the shim ------------------------------------------------------------------ */

static int find_shim(struct launcher *l)
{
    if (l->opt.shim_path) {
        if (!realpath(l->opt.shim_path, l->shim_path)) {
            fprintf(stderr, "hotswap: --shim %s: %s\n", l->opt.shim_path, strerror(errno));
            return -1;
        }
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
#ifndef HS_MULTIARCH
#define HS_MULTIARCH ""
#endif
    /* beside it (the build tree), ../lib (make install), ../lib/<triplet> (Debian's package) */
    const char *candidates[] = {"%s/libhotswap.so", "%s/../lib/libhotswap.so",
                                "%s/../lib/" HS_MULTIARCH "/libhotswap.so", "%s/../lib/hotswap/libhotswap.so"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, candidates[i], self);
        if (access(path, R_OK) == 0 && realpath(path, l->shim_path))
            return 0;
    }
    fprintf(stderr, "hotswap: cannot find libhotswap.so beside %s or in %s/../lib (use --shim PATH)\n", self, self);
    return -1;
}

/* ---- generations ------------------------------------------------------------------------ */

/* The service manager hears when a new generation serves: the first (READY=1 with MAINPID=), a
 * restarted one, or a reload's. */
static void announce_serving(struct launcher *l)
{
    struct generation *g = l->serving;
    if (!g || g->state != GEN_READY)
        return;
    l->ever_ready = true;
    l->rescuing = false;
    if (g->number == l->announced_gen)
        return;
    char mainpid[32] = "";
    if (!l->announced_gen)
        snprintf(mainpid, sizeof mainpid, "MAINPID=%d\n", (int)getpid());
    sdnotify("READY=1\n%sSTATUS=gen %d serving, %d listener%s", mainpid, g->number, listeners_count(),
             listeners_count() == 1 ? "" : "s");
    l->announced_gen = g->number;
}

/* --max-draining: reloads back to back leave generations draining side by side, each holding
 * its processes and memory; past the bound the oldest is cut at once, as HAProxy's
 * mworker-max-reloads does. */
static void bound_draining(const struct launcher *l)
{
    for (;;) {
        struct generation *oldest = NULL;
        int draining = 0;
        for (int i = 0; i < l->gen_count; i++)
            if (l->gens[i]->state == GEN_DRAINING) {
                draining++;
                if (!oldest || l->gens[i]->number < oldest->number)
                    oldest = l->gens[i];
            }
        if (draining <= l->opt.max_draining)
            return;
        char reason[96];
        snprintf(reason, sizeof reason, "is one draining generation too many (--max-draining %d)", l->opt.max_draining);
        char why[48];
        snprintf(why, sizeof why, "--max-draining %d", l->opt.max_draining);
        gen_cut(oldest, why, reason);
    }
}

/* Once a reload is over and its generation has served a while, alone: when to look for the
 * listeners its configuration no longer binds (0: not now). */
static int64_t release_due(const struct launcher *l)
{
    struct generation *g = l->serving;
    if (!g || l->stopping || l->gen_count != 1 || g->state != GEN_READY || g->number == 1 || g->adopted ||
        g->listeners_checked || l->opt.gen.socket_activation || reload_starting(l))
        return 0;
    return g->ready_ms + RELEASE_AFTER_MS;
}

/* After any event: move every generation along, then settle the reloads. */
static void reconcile(struct launcher *l)
{
    for (int i = 0; i < l->gen_count; i++) {
        struct generation *g = l->gens[i];
        /* exiting 0 while a forked child lives on is daemonizing, not failing */
        bool daemonized = WIFEXITED(g->leader_status) && WEXITSTATUS(g->leader_status) == 0 && gen_others_alive(g);
        if (g->leader_reaped && g->state == GEN_STARTING && g != l->serving && !daemonized) {
            char why[160];
            snprintf(why, sizeof why, "exited before it was ready (%s %d)",
                     WIFEXITED(g->leader_status) ? "status" : "signal",
                     WIFEXITED(g->leader_status) ? WEXITSTATUS(g->leader_status) : WTERMSIG(g->leader_status));
            gen_fail(g, why);
        }
        if (g->state == GEN_READY && g != l->serving && !l->stopping && sequential_refuse_takeover(g, l->serving))
            continue; /* failed: the reload goes again in sequence (finish_reloads) */
        if (g->state == GEN_READY && g != l->serving) {
            /* a reload's new generation is ready: it serves, the one before drains */
            struct generation *old = l->serving;
            l->serving = g;
            take_command_of(l, g);
            restart_note_reload(&l->restarter); /* (a crash restart's generation serves at once) */
            l->serving_daemonized = false;
            if (old && (old->state == GEN_READY || old->state == GEN_STARTING))
                gen_drain(old);
            bound_draining(l);
        }
        if (gen_drained(g))
            park_or_stop(l, g);
        gen_stop_rest(g);
        gen_check_gone(g);
        gen_forget_exited(g);
    }
    if (l->serving && l->serving->leader_reaped && WIFEXITED(l->serving->leader_status) &&
        WEXITSTATUS(l->serving->leader_status) == 0 && gen_others_alive(l->serving))
        l->serving_daemonized = true;
    finish_reloads(l);
    announce_serving(l);
    check_crash(l);
    /* (while a reload's new generation starts, it may yet take over: wait for its outcome) */
    if (l->serving && l->serving->state == GEN_GONE && !reload_starting(l)) {
        if (!l->stopping)
            hs_log("gen %d is gone and no generation is left: exiting", l->serving->number);
        l->exit_status = gen_exit_status(l->serving);
        l->stopping = true;
        l->serving = NULL;
    }
    forget_gone(l);
    int64_t release_at = release_due(l);
    if (release_at && now_ms() >= release_at)
        release_unused_listeners(l->serving);
}

/* ---- signals and children --------------------------------------------------------------- */

static void reap_children(const struct launcher *l)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < l->gen_count && !check_note_reaped(pid, status); i++)
            if (gen_note_reaped(l->gens[i], pid, status))
                break;
}

static void handle_signal(struct launcher *l)
{
    struct signalfd_siginfo info;
    while (read(l->signal_fd, &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
        case SIGCHLD:
            reap_children(l);
            break;
        case SIGHUP:
            hs_log("SIGHUP: reload");
            {
                const char *why = begin_reload(l, NULL, NULL);
                if (why)
                    hs_log("reload refused: %s", why);
            }
            break;
        case SIGTERM:
        case SIGINT:
            if (l->stopping) {
                hs_log("signal %d again: stopping without waiting for the drain", info.ssi_signo);
                for (int i = 0; i < l->gen_count; i++)
                    if (l->gens[i]->state == GEN_DRAINING)
                        gen_stop(l->gens[i]);
            } else {
                hs_log("signal %d: graceful stop", info.ssi_signo);
                begin_stop(l);
            }
            break;
        default:
            break;
        }
    }
}

static int block_signals(struct launcher *l)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* A launcher started in the background by a non-interactive shell inherits SIGINT ignored;
     * an ignored signal never reaches the signalfd. We take these signals ourselves: default
     * disposition, blocked, read in the loop. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&set, sig) == 1 && sig != SIGCHLD)
            signal(sig, SIG_DFL);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    l->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return l->signal_fd;
}

/* ---- the loop ----------------------------------------------------------------------------- */

/* `at` (0: none) if it comes before *soonest (-1: nothing yet). */
static void sooner(int64_t *soonest, int64_t at)
{
    if (at && (*soonest < 0 || at < *soonest))
        *soonest = at;
}

static int next_timeout(const struct launcher *l)
{
    int64_t now = now_ms(), soonest = -1;
    for (int i = 0; i < l->gen_count; i++) {
        struct generation *g = l->gens[i];
        sooner(&soonest, gen_next_wakeup(g));
        /* processes without the shim leave no pidfd: look at the group again now and then */
        if (g->state == GEN_STOPPING)
            sooner(&soonest, now + 100);
    }
    for (int i = 0; i < GENERATIONS_MAX; i++)
        if (l->reloads[i].active && !l->reloads[i].checking)
            sooner(&soonest, now + PROOF_SAMPLE_MS); /* its accept queues are sampled */
    sooner(&soonest, relay_next_deadline());
    sooner(&soonest, ctl_server_next_wakeup());
    sooner(&soonest, release_due(l));
    sooner(&soonest, check_deadline());
    int state_retry = adopt_retry_ms(); /* a state file write the disk refused */
    if (state_retry >= 0)
        sooner(&soonest, now + state_retry);
    int64_t restart_wait = restart_wait_ms(&l->restarter, now);
    if (restart_wait >= 0)
        sooner(&soonest, now + restart_wait);
    if (soonest < 0)
        return -1;
    return soonest <= now ? 0 : (int)(soonest - now);
}

/* The seccomp route's notification fd in the poll set (proc -1 is the channel), and a
 * generation's own NOTIFY_SOCKET (--ready notify). */
#define OWNER_NOTIFY (-2)
#define OWNER_READY (-3)

/* Inside intercept_answer: a walk it makes (a stand-in's scan) gives no turn to the others. */
static bool answering;

static void answer_one(struct generation *g)
{
    answering = true;
    intercept_answer(g);
    answering = false;
}

/* Answers up to `most` of the notifications waiting on g's filter, no more than are there. */
static void answer_pending(struct generation *g, int most)
{
    for (int k = 0; k < most && intercept_fd(g) >= 0; k++) {
        struct pollfd p = {.fd = intercept_fd(g), .events = POLLIN};
        if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
            break;
        answer_one(g);
    }
}

/* A long walk's turn (walkyield.h): the notifications waiting on each generation's filter are
 * answered now, not once the walk is over (a few per generation a turn: the walk goes on). */
static void answer_waiting(void *context)
{
    const struct launcher *l = context;
    if (answering)
        return;
    for (int i = 0; i < l->gen_count; i++)
        answer_pending(l->gens[i], 8);
}

/* Notifications to answer: every one waiting, not one a turn (a stop-the-world collection
 * signals each thread of a Go program, and each waits in its trapped return until answered; at
 * one a turn, they waited a turn's slow work each, seconds in all). Or, once every process of
 * the filter has gone, nothing more. */
static void notify_ready(struct generation *g, short revents)
{
    if (revents & POLLIN) {
        answer_one(g);
        answer_pending(g, 64); /* bounded: a flood on one filter leaves the rest their turn */
    } else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
        intercept_close(g);
    }
}

/* The poll set: the signalfd, the control socket and its clients, each generation's channel, and
 * a pidfd per process the launcher has met. Grown as needed (a fork-per-connection server has as
 * many processes as connections). */
struct poll_set {
    struct pollfd *fds;
    struct {
        struct generation *g;
        int proc;
    } * owner;
    int count, room;
};

static bool poll_set_room(struct poll_set *set, int needed)
{
    if (needed <= set->room)
        return true;
    int room = set->room ? set->room : 64;
    while (room < needed)
        room *= 2;
    struct pollfd *fds = realloc(set->fds, (size_t)room * sizeof *fds);
    if (!fds)
        return false;
    set->fds = fds;
    void *owner = realloc(set->owner, (size_t)room * sizeof *set->owner);
    if (!owner)
        return false;
    set->owner = owner;
    set->room = room;
    return true;
}

/* poll(), and, where the set is larger than the fd limit lets poll() take (an operator's prlimit
 * on the running launcher), the first part of it only: signals and control clients come first, so
 * the launcher still hears SIGTERM and answers status and reload, instead of leaving its servers
 * orphaned. One line when that starts, one when the whole set fits again. */
static int poll_within_limit(struct pollfd *fds, int n, int timeout)
{
    static bool truncated;
    int ready = poll(fds, (nfds_t)n, timeout);
    if (ready >= 0 || errno != EINVAL) {
        if (ready >= 0 && truncated) {
            truncated = false;
            hs_log("the fd limit has room for every fd the launcher watches again");
        }
        return ready;
    }
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur >= (rlim_t)n) {
        errno = EINVAL;
        return -1;
    }
    int room = (int)limit.rlim_cur;
    if (!truncated) {
        truncated = true;
        hs_log("the fd limit (%d) is below the %d fds the launcher watches: watching only signals, the control "
               "socket and the first generations' fds until it is raised",
               room, n);
    }
    for (int i = room; i < n; i++)
        fds[i].revents = 0; /* not polled: nothing happened there, whatever the last poll said */
    return poll(fds, (nfds_t)room, timeout);
}

/* A poll that failed for another reason (ENOMEM): said once, tried again after a pause. Leaving
 * the loop would forget the state file and orphan the servers. */
static void poll_failed(const char *what)
{
    static bool said;
    if (!said)
        hs_log("%s: %s; trying again every 100 ms", what, strerror(errno));
    said = true;
    struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

static void run_loop(struct launcher *l)
{
    static struct poll_set set;
    while (!(l->stopping && l->gen_count == 0)) {
        int needed = 1 + CTL_CLIENTS_MAX + 1 + 1;
        for (int i = 0; i < l->gen_count; i++)
            needed += 3 + l->gens[i]->proc_count;
        if (!poll_set_room(&set, needed)) {
            errno = ENOMEM;
            poll_failed("the poll set");
            continue;
        }
        struct pollfd *fds = set.fds;
        int n = 0;
        fds[n++] = (struct pollfd){.fd = l->signal_fd, .events = POLLIN};
        int ctl_first = n;
        n += ctl_server_pollfds(fds + n, set.room - n);
        int ctl_count = n - ctl_first;
        for (int i = 0; i < l->gen_count; i++) {
            struct generation *g = l->gens[i];
            if (!g->channel_closed) {
                set.owner[n].g = g, set.owner[n].proc = -1;
                fds[n++] = (struct pollfd){.fd = g->channel_fd, .events = POLLIN};
            }
            if (intercept_fd(g) >= 0) {
                set.owner[n].g = g, set.owner[n].proc = OWNER_NOTIFY;
                fds[n++] = (struct pollfd){.fd = intercept_fd(g), .events = POLLIN};
            }
            if (g->ready.socket_fd >= 0) {
                set.owner[n].g = g, set.owner[n].proc = OWNER_READY;
                fds[n++] = (struct pollfd){.fd = g->ready.socket_fd, .events = POLLIN};
            }
            for (int p = 0; p < g->proc_count; p++)
                if (g->procs[p].pidfd >= 0) {
                    set.owner[n].g = g, set.owner[n].proc = p;
                    fds[n++] = (struct pollfd){.fd = g->procs[p].pidfd, .events = POLLIN};
                }
        }
        int gens_end = n;
        n += check_pollfd(fds + n);
        relay_expire(now_ms());
        int ready = poll_within_limit(fds, n, next_timeout(l));
        if (ready < 0 && errno != EINTR) {
            poll_failed("poll");
            continue;
        }
        if (ready > 0) {
            if (fds[0].revents)
                handle_signal(l);
            /* pidfds first: a message read below may add processes, and move none */
            for (int i = ctl_first + ctl_count; i < gens_end; i++)
                if (fds[i].revents && set.owner[i].proc >= 0)
                    gen_note_proc_exit(set.owner[i].g, set.owner[i].proc);
            if (n > gens_end && fds[gens_end].revents)
                check_read();
            for (int i = ctl_first + ctl_count; i < gens_end; i++) {
                if (fds[i].revents && set.owner[i].proc == OWNER_NOTIFY)
                    notify_ready(set.owner[i].g, fds[i].revents);
                else if (fds[i].revents && set.owner[i].proc == OWNER_READY)
                    gen_read_notify(set.owner[i].g);
                else if (fds[i].revents && set.owner[i].proc < 0)
                    gen_read_messages(set.owner[i].g);
            }
            ctl_server_handle(fds + ctl_first, ctl_count);
        }
        for (int i = 0; i < GENERATIONS_MAX; i++)
            if (l->reloads[i].active && !l->reloads[i].checking)
                proof_sample(&l->reloads[i].proof);
        int64_t now = now_ms();
        for (int i = 0; i < l->gen_count; i++)
            gen_on_deadline(l->gens[i], now);
        check_on_deadline(now);
        restart_if_due(l, now);
        reconcile(l);
        adopt_save(l->gens, l->gen_count, l->serving);
    }
}

static void tap_log(const char *line)
{
    ctl_server_progress(-1, line);
}

/* The control socket's requests (ctl_server.h), each handed the launcher as its context. */
static const char *ctl_reload(void *context, int *reload_id, char **argv)
{
    return begin_reload(context, reload_id, argv);
}

static const char *ctl_stop(void *context)
{
    return begin_stop(context);
}

static const char *ctl_rollback(void *context, char *done, size_t size)
{
    return begin_rollback(context, done, size);
}

static char *ctl_status(void *context, enum status_format format)
{
    const struct launcher *l = context;
    struct status_view view = {
        .pid = getpid(),
        .started_ms = l->started_ms,
        .control_path = l->control_path,
        .stopping = l->stopping,
        .restarter = &l->restarter,
        .gens = l->gens,
        .gen_count = l->gen_count,
        .serving = l->serving,
        .last_reload = &l->last_reload,
        .last_restart = &l->last_restart,
        .metrics = &l->metrics,
        .overlap = sequential_describe(),
    };
    return status_render(&view, format);
}

static int run(struct launcher *l)
{
    l->started_ms = now_ms();
    if (find_shim(l) < 0)
        return 1;
    /* Before anything opens an fd or starts a generation: fds 3.. may be the service manager's
     * sockets, and no generation may inherit NOTIFY_SOCKET or LISTEN_FDS meant for us. */
    activation_take();
    sdnotify_open();
    /* The control socket before anything else is made: a refusal leaves nothing behind. */
    char default_path[256], why[512];
    const char *control =
        l->opt.control_path ? l->opt.control_path : default_control_path(getpid(), default_path, sizeof default_path);
    snprintf(l->control_path, sizeof l->control_path, "%s", control);
    int opened = ctl_server_open(control, !l->opt.control_path, why, sizeof why);
    int control_err = errno;
    if (opened == -2) {
        fprintf(stderr, "hotswap: %s\n", why);
        return 1;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        hs_log("cannot become a child subreaper (%s): daemonizing servers will not be tracked", strerror(errno));
    if (members_init(l->opt.track) < 0) {
        ctl_server_close();
        return 1;
    }
    if (block_signals(l) < 0) {
        perror("hotswap: signalfd");
        ctl_server_close();
        return 1;
    }
    if (opened < 0)
        hs_log("cannot open the control socket %s (%s): reload with SIGHUP only", control, strerror(control_err));
    struct ctl_handlers handlers = {
        .context = l, .reload = ctl_reload, .stop = ctl_stop, .rollback = ctl_rollback, .status = ctl_status};
    ctl_server_set_handlers(&handlers);
    walk_yield_set(answer_waiting, l);
    log_set_tap(tap_log);
    l->opt.gen.newer_processes = newer_processes;
    l->opt.gen.newer_ctx = l;

    if (l->opt.gen.handover_idle && relay_init() < 0)
        hs_log("--handover-idle: cannot share the handover table (%s): idle connections will be closed instead",
               strerror(errno));
    l->next_generation = 1;
    if (opened >= 0)
        adopt_init(control);
    /* A launcher killed with this control socket left its generations running: take them over. */
    struct generation *adopted[GENERATIONS_MAX], *first = NULL;
    struct gen_failure failure;
    int adopted_count = adopt_take(adopted, GENERATIONS_MAX, &l->opt.gen, &l->next_generation, &first);
    for (int i = 0; i < adopted_count; i++)
        l->gens[l->gen_count++] = adopted[i];
    if (first) {
        l->ever_ready = true;
    } else if (!(first = start_generation(l, l->command, l->env, &failure))) {
        int err = errno;
        if (failure.launcher_side)
            fprintf(stderr, "hotswap: gen 1: %s\n", failure.why);
        else
            fprintf(stderr, "hotswap: %s: %s\n", l->opt.argv[0], err == ENOENT ? "command not found" : failure.why);
        ctl_server_close();
        return failure.launcher_side ? 1 : err == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
    }
    l->serving = first;
    hs_log("launcher pid %d, control socket %s", (int)getpid(), control);
    run_loop(l);
    adopt_forget(); /* every generation is gone: nothing is left to adopt */
    ctl_server_finish_all(true, "stopped");
    listeners_remove_paths();
    ctl_server_close();
    hs_log("exiting with status %d", l->exit_status);
    return l->exit_status;
}

int main(int argc, char **argv)
{
    /* The launcher's state, one for the process, handed to each function that reads or changes it
     * (static: it starts zeroed, and stays off the stack). */
    static struct launcher launcher;
    struct launcher *l = &launcher;
    options_parse(argc, argv, &l->opt);
    switch (l->opt.command) {
    case CMD_HELP:
        options_usage();
        return 0;
    case CMD_VERSION:
        printf("hotswap %s\n", HOTSWAP_VERSION);
        return 0;
    case CMD_RELOAD:
    case CMD_STOP:
    case CMD_ROLLBACK:
    case CMD_STATUS:
        return ctl_client_run(&l->opt);
    case CMD_TRY:
        return try_run(&l->opt, argc, argv);
    default:
        break;
    }
    if (!(l->command = argv_copy(l->opt.argv))) {
        perror("hotswap");
        return 1;
    }
    char why[300];
    if (l->opt.env_file && envfile_read(l->opt.env_file, &l->env, why, sizeof why) < 0) {
        hs_log("%s", why); /* escaped there: the path may hold any byte */
        return 1;
    }
    l->restarter = (struct restarter){.policy = l->opt.restart, .max_backoff_ms = l->opt.restart_max_backoff_ms};
    sequential_init(l->opt.overlap);
    return run(l);
}
