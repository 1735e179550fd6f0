/* launcher.c: `hotswap`, the launcher with a stable pid. It holds the listeners, starts each
 * generation, and runs reloads: start N+1, wait until it is ready, drain N, stop N.
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
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "ctl_client.h"
#include "ctl_server.h"
#include "generation.h"
#include "listeners.h"
#include "log.h"
#include "options.h"

#define GENERATIONS_MAX 16
#define POLL_MAX (2 + CTL_CLIENTS_MAX + GENERATIONS_MAX * (1 + GEN_PROCS_MAX))

/* A reload in progress: from the start of `next` until `previous` is gone (or `next` failed). */
struct reload {
    int id;
    struct generation *next, *previous;
    int64_t requested_ms;
    bool active;
};

static struct {
    struct options opt;
    struct gen_settings settings;
    char shim_path[PATH_MAX];
    struct generation *gens[GENERATIONS_MAX];
    int gen_count;
    struct generation *serving; /* the newest ready generation (or generation 1 while starting) */
    struct reload reloads[GENERATIONS_MAX];
    int next_generation, next_reload_id;
    bool stopping;
    int exit_status;
    int signal_fd;
} L;

/* ---- finding the shim ------------------------------------------------------------------ */

static int find_shim(void)
{
    if (L.opt.shim_path) {
        if (!realpath(L.opt.shim_path, L.shim_path)) {
            fprintf(stderr, "hotswap: --shim %s: %s\n", L.opt.shim_path, strerror(errno));
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
    const char *candidates[] = {"%s/libhotswap.so", "%s/../lib/libhotswap.so", "%s/../lib/hotswap/libhotswap.so"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, candidates[i], self);
        if (access(path, R_OK) == 0 && realpath(path, L.shim_path))
            return 0;
    }
    fprintf(stderr, "hotswap: cannot find libhotswap.so beside %s or in %s/../lib (use --shim PATH)\n", self, self);
    return -1;
}

/* ---- generations ------------------------------------------------------------------------ */

static struct generation *start_generation(void)
{
    if (L.gen_count >= GENERATIONS_MAX) {
        errno = EAGAIN;
        return NULL;
    }
    struct generation *g = gen_start(L.next_generation, L.opt.argv, L.shim_path, &L.settings);
    if (!g)
        return NULL;
    L.next_generation++;
    L.gens[L.gen_count++] = g;
    return g;
}

static bool reload_starting(void)
{
    for (int i = 0; i < L.gen_count; i++)
        if (L.gens[i]->state == GEN_STARTING && L.gens[i] != L.serving)
            return true;
    return false;
}

/* Starts generation N+1; NULL on success, or why not. */
static const char *begin_reload(int *reload_id)
{
    static char why[160];
    if (L.stopping)
        return "the launcher is stopping";
    if (!L.serving || L.serving->state != GEN_READY)
        return "the current generation is not ready yet";
    if (reload_starting())
        return "a reload is already in progress";
    struct reload *r = NULL;
    for (int i = 0; i < GENERATIONS_MAX && !r; i++)
        if (!L.reloads[i].active)
            r = &L.reloads[i];
    if (!r)
        return "too many reloads in progress";
    hs_log("reload: starting gen %d", L.next_generation);
    struct generation *next = start_generation();
    if (!next) {
        snprintf(why, sizeof why, "cannot start gen %d: %s; gen %d keeps serving", L.next_generation,
                 strerror(errno), L.serving->number);
        hs_log("%s", why);
        return why;
    }
    *r = (struct reload){.id = L.next_reload_id++, .next = next, .previous = L.serving,
                         .requested_ms = now_ms(), .active = true};
    if (reload_id)
        *reload_id = r->id;
    return NULL;
}

static const char *begin_stop(void)
{
    if (L.stopping)
        return NULL;
    L.stopping = true;
    hs_log("stopping: draining every generation");
    for (int i = 0; i < L.gen_count; i++) {
        struct generation *g = L.gens[i];
        if (g->state == GEN_STARTING && g != L.serving)
            gen_fail(g, "the launcher is stopping");
        else if (g->state == GEN_STARTING || g->state == GEN_READY)
            gen_drain(g);
    }
    return NULL;
}

static void finish_reloads(void)
{
    for (int i = 0; i < GENERATIONS_MAX; i++) {
        struct reload *r = &L.reloads[i];
        if (!r->active)
            continue;
        char text[600];
        if (r->next->failed) {
            snprintf(text, sizeof text, "gen %d %s; gen %d keeps serving", r->next->number, r->next->failure,
                     r->previous->number);
            ctl_server_finish(r->id, false, text);
            r->active = false;
        } else if (r->previous->state == GEN_GONE) {
            struct generation *n = r->next, *p = r->previous;
            snprintf(text, sizeof text,
                     "gen %d ready in %lld ms; gen %d drained %ld connection%s in %lld ms%s, exited %lld ms later",
                     n->number, (long long)(n->ready_ms - n->started_ms), p->number, p->drained_conns,
                     p->drained_conns == 1 ? "" : "s", (long long)(p->stop_ms - p->drain_ms),
                     p->cut ? " (drain timeout: connections cut)" : "", (long long)(p->gone_ms - p->stop_ms));
            hs_log("reload done: %s", text);
            ctl_server_finish(r->id, true, text);
            r->active = false;
        }
    }
}

static void forget_gone(void)
{
    for (int i = 0; i < L.gen_count;) {
        struct generation *g = L.gens[i];
        bool in_reload = false;
        for (int r = 0; r < GENERATIONS_MAX; r++)
            if (L.reloads[r].active && (L.reloads[r].next == g || L.reloads[r].previous == g))
                in_reload = true;
        if (g->state != GEN_GONE || in_reload || g == L.serving) {
            i++;
            continue;
        }
        if (g->failed)
            listeners_drop_from(g->number);
        gen_free(g);
        L.gens[i] = L.gens[--L.gen_count];
    }
}

/* After any event: move every generation along, then settle the reloads. */
static void reconcile(void)
{
    for (int i = 0; i < L.gen_count; i++) {
        struct generation *g = L.gens[i];
        /* exiting 0 while a forked child lives on is daemonizing, not failing */
        bool daemonized = WIFEXITED(g->leader_status) && WEXITSTATUS(g->leader_status) == 0 &&
                          gen_others_alive(g);
        if (g->leader_reaped && g->state == GEN_STARTING && g != L.serving && !daemonized) {
            char why[160];
            snprintf(why, sizeof why, "exited before it was ready (%s %d)",
                     WIFEXITED(g->leader_status) ? "status" : "signal",
                     WIFEXITED(g->leader_status) ? WEXITSTATUS(g->leader_status) : WTERMSIG(g->leader_status));
            gen_fail(g, why);
        }
        if (g->state == GEN_READY && g != L.serving) {
            /* a reload's new generation is ready: it serves, the one before drains */
            struct generation *old = L.serving;
            L.serving = g;
            if (old && (old->state == GEN_READY || old->state == GEN_STARTING))
                gen_drain(old);
        }
        if (gen_drained(g))
            gen_stop(g);
        gen_check_gone(g);
    }
    finish_reloads();
    if (L.serving && L.serving->state == GEN_GONE) {
        if (!L.stopping)
            hs_log("gen %d is gone and no generation is left: exiting", L.serving->number);
        L.exit_status = gen_exit_status(L.serving);
        L.stopping = true;
        L.serving = NULL;
    }
    forget_gone();
}

/* ---- signals and children --------------------------------------------------------------- */

static void reap_children(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < L.gen_count; i++)
            if (gen_note_reaped(L.gens[i], pid, status))
                break;
}

static void handle_signal(void)
{
    struct signalfd_siginfo info;
    while (read(L.signal_fd, &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
        case SIGCHLD:
            reap_children();
            break;
        case SIGHUP:
            hs_log("SIGHUP: reload");
            {
                const char *why = begin_reload(NULL);
                if (why)
                    hs_log("reload refused: %s", why);
            }
            break;
        case SIGTERM:
        case SIGINT:
            if (L.stopping) {
                hs_log("signal %d again: stopping without waiting for the drain", info.ssi_signo);
                for (int i = 0; i < L.gen_count; i++)
                    if (L.gens[i]->state == GEN_DRAINING)
                        gen_stop(L.gens[i]);
            } else {
                hs_log("signal %d: graceful stop", info.ssi_signo);
                begin_stop();
            }
            break;
        default:
            break;
        }
    }
}

static int block_signals(void)
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
    L.signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return L.signal_fd;
}

/* ---- the loop ----------------------------------------------------------------------------- */

static int next_timeout(void)
{
    int64_t now = now_ms(), soonest = -1;
    for (int i = 0; i < L.gen_count; i++) {
        struct generation *g = L.gens[i];
        if (g->deadline_ms && (soonest < 0 || g->deadline_ms < soonest))
            soonest = g->deadline_ms;
        /* processes without the shim leave no pidfd: look at the group again now and then */
        if (g->state == GEN_STOPPING && (soonest < 0 || now + 100 < soonest))
            soonest = now + 100;
    }
    if (soonest < 0)
        return -1;
    return soonest <= now ? 0 : (int)(soonest - now);
}

static void run_loop(void)
{
    static struct pollfd fds[POLL_MAX];
    static struct { struct generation *g; int proc; } owner[POLL_MAX];
    while (!(L.stopping && L.gen_count == 0)) {
        int n = 0;
        fds[n++] = (struct pollfd){.fd = L.signal_fd, .events = POLLIN};
        int ctl_first = n;
        n += ctl_server_pollfds(fds + n, POLL_MAX - n);
        int ctl_count = n - ctl_first;
        for (int i = 0; i < L.gen_count; i++) {
            struct generation *g = L.gens[i];
            if (!g->control_closed) {
                owner[n].g = g, owner[n].proc = -1;
                fds[n++] = (struct pollfd){.fd = g->control_fd, .events = POLLIN};
            }
            for (int p = 0; p < g->proc_count && n < POLL_MAX; p++)
                if (g->procs[p].pidfd >= 0) {
                    owner[n].g = g, owner[n].proc = p;
                    fds[n++] = (struct pollfd){.fd = g->procs[p].pidfd, .events = POLLIN};
                }
        }
        int ready = poll(fds, (nfds_t)n, next_timeout());
        if (ready < 0 && errno != EINTR)
            break;
        if (ready > 0) {
            if (fds[0].revents)
                handle_signal();
            for (int i = ctl_first + ctl_count; i < n; i++) {
                if (!fds[i].revents)
                    continue;
                if (owner[i].proc < 0)
                    gen_read_messages(owner[i].g);
                else
                    gen_note_proc_exit(owner[i].g, owner[i].proc);
            }
            ctl_server_handle(fds + ctl_first, ctl_count);
        }
        int64_t now = now_ms();
        for (int i = 0; i < L.gen_count; i++)
            gen_on_deadline(L.gens[i], now);
        reconcile();
    }
}

static void tap_log(const char *line)
{
    ctl_server_progress(-1, line);
}

static int run(void)
{
    if (find_shim() < 0)
        return 1;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        hs_log("cannot become a child subreaper (%s): daemonizing servers will not be tracked", strerror(errno));
    if (block_signals() < 0) {
        perror("hotswap: signalfd");
        return 1;
    }
    char default_path[256];
    const char *control = L.opt.control_path ? L.opt.control_path
                                             : default_control_path(getpid(), default_path, sizeof default_path);
    if (ctl_server_open(control) < 0)
        hs_log("cannot open the control socket %s (%s): reload with SIGHUP only", control, strerror(errno));
    struct ctl_handlers handlers = {.reload = begin_reload, .stop = begin_stop};
    ctl_server_set_handlers(&handlers);
    log_set_tap(tap_log);

    L.next_generation = 1;
    struct generation *first = start_generation();
    if (!first) {
        int err = errno;
        fprintf(stderr, "hotswap: %s: %s\n", L.opt.argv[0], err == ENOENT ? "command not found" : strerror(err));
        ctl_server_close();
        return err == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
    }
    L.serving = first;
    hs_log("launcher pid %d, control socket %s", (int)getpid(), control);
    run_loop();
    ctl_server_finish_all(true, "stopped");
    listeners_remove_paths();
    ctl_server_close();
    hs_log("exiting with status %d", L.exit_status);
    return L.exit_status;
}

int main(int argc, char **argv)
{
    options_parse(argc, argv, &L.opt);
    switch (L.opt.command) {
    case CMD_HELP:
        options_usage();
        return 0;
    case CMD_VERSION:
        printf("hotswap %s\n", HOTSWAP_VERSION);
        return 0;
    case CMD_RELOAD:
    case CMD_STOP:
        return ctl_client_run(&L.opt);
    default:
        break;
    }
    L.settings = (struct gen_settings){
        .ready_timeout_ms = L.opt.ready_timeout_ms, .drain_timeout_ms = L.opt.drain_timeout_ms,
        .kill_timeout_ms = L.opt.kill_timeout_ms, .stop_signal = L.opt.stop_signal,
        .drain_signal = L.opt.drain_signal, .handover_idle = L.opt.handover_idle,
    };
    return run();
}
