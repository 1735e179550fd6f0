/* main.c: `hotswap`, the launcher with a stable pid. It holds the listeners, starts each
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
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activation.h"
#include "adopt.h"
#include "check.h"
#include "ctl_command.h"
#include "envfile.h"
#include "channel.h"
#include "ctl_client.h"
#include "ctl_server.h"
#include "generation.h"
#include "intercept.h"
#include "listeners.h"
#include "log.h"
#include "metrics.h"
#include "members.h"
#include "options.h"
#include "relay.h"
#include "release.h"
#include "reloadproof.h"
#include "restart.h"
#include "sdnotify.h"
#include "status.h"
#include "textsafe.h"
#include "try.h"

#define GENERATIONS_MAX 16

/* A reload in progress: from the start of `next` until `previous` is gone (or `next` failed). */
struct reload {
    int id;
    struct generation *next, *previous;
    int64_t requested_ms;
    bool active;
    bool checking;         /* --check runs: `next` is not started yet */
    char **argv;           /* `hotswap reload -- COMMAND...`: the new command line (owned); NULL:
                              the current one */
    char **env;            /* --env-file as read for this reload (owned) */
    long shown_conns;      /* the old generation's open connections, as last told to the client */
    int64_t shown_ms;
    struct reload_proof proof; /* what the kernel saw meanwhile */
};

static struct {
    struct options opt;
    char **command;            /* the command line of the next start: the last one that served */
    char **env;                /* --env-file's variables for it (NULL: none) */
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
    char control_path[256];
    int64_t started_ms;
    struct restarter restarter;
    bool ever_ready;          /* a generation has been ready: from then on a death is a crash */
    bool serving_daemonized;  /* the serving generation's command exited 0, leaving its daemon */
    /* A reload whose new generation failed after the serving one had died (any status): the
     * dead one, and the failed one's number. Whatever --restart says, the last good command line
     * starts again, and keeps being restarted with back-off until a generation is ready. */
    const struct generation *orphaned_by_reload;
    int orphaning_gen;
    bool rescuing;
    int announced_gen;        /* the serving generation last told to the service manager */
    struct status_event last_reload, last_restart;
    struct metrics metrics;   /* status --prometheus */
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
#ifndef HS_MULTIARCH
#define HS_MULTIARCH ""
#endif
    /* beside it (the build tree), ../lib (make install), ../lib/<triplet> (Debian's package) */
    const char *candidates[] = {"%s/libhotswap.so", "%s/../lib/libhotswap.so", "%s/../lib/" HS_MULTIARCH "/libhotswap.so",
                                "%s/../lib/hotswap/libhotswap.so"};
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

static struct generation *start_generation(char **argv, char **env, struct gen_failure *failure)
{
    if (L.gen_count >= GENERATIONS_MAX) {
        errno = EAGAIN;
        *failure = (struct gen_failure){.launcher_side = true};
        snprintf(failure->why, sizeof failure->why, "%s", strerror(errno));
        return NULL;
    }
    struct generation *g = gen_start(L.next_generation, argv, env, L.shim_path, &L.settings, failure);
    if (!g)
        return NULL;
    L.next_generation++;
    L.gens[L.gen_count++] = g;
    return g;
}

/* A command line as one line of text, for the log and status. */
static void describe_command(char *const *argv, char *out, size_t size)
{
    size_t at = 0;
    out[0] = '\0';
    for (char *const *arg = argv; arg && *arg && at + 1 < size; arg++)
        at += (size_t)snprintf(out + at, size - at, "%s%s", arg == argv ? "" : " ", *arg);
}

static bool reload_starting(void)
{
    for (int i = 0; i < GENERATIONS_MAX; i++)
        if (L.reloads[i].active && L.reloads[i].checking)
            return true;
    for (int i = 0; i < L.gen_count; i++)
        if (L.gens[i]->state == GEN_STARTING && L.gens[i] != L.serving)
            return true;
    return false;
}

static const char *start_next(struct reload *r);
static void take_command_of(const struct generation *g);
static const char *reload_refusal(char *why, size_t size);
static void describe_command(char *const *argv, char *out, size_t size);
static void note_event(struct status_event *event, bool ok, const char *text);

/* Starts generation N+1 (after --check, if given); NULL on success, or why not. */
static const char *try_reload(int *reload_id, char **argv)
{
    static char why[560];
    const char *refused = reload_refusal(why, sizeof why);
    if (refused) {
        free(argv);
        return refused;
    }
    struct reload *r = NULL;
    for (int i = 0; i < GENERATIONS_MAX && !r; i++)
        if (!L.reloads[i].active)
            r = &L.reloads[i];
    if (!r) {
        free(argv);
        return "too many reloads in progress";
    }
    char **env = NULL;
    if (L.opt.env_file && envfile_read(L.opt.env_file, &env, why, sizeof why) < 0) {
        free(argv);
        hs_log("reload refused: %s", why);
        return why;
    }
    free(r->argv); /* a finished reload's, not taken */
    free(r->env);
    *r = (struct reload){.id = L.next_reload_id++, .previous = L.serving, .requested_ms = now_ms(),
                         .active = true, .shown_conns = -1, .argv = argv, .env = env};
    if (reload_id)
        *reload_id = r->id;
    if (argv) {
        char line[600];
        describe_command(argv, line, sizeof line);
        hs_log("reload: with a new command line: %s", line);
    }
    if (L.opt.check_command) {
        if (!check_start(L.opt.check_command, now_ms() + L.opt.ready_timeout_ms)) {
            snprintf(why, sizeof why, "cannot run the check (%s); gen %d keeps serving", strerror(errno),
                     L.serving->number);
            r->active = false;
            return why;
        }
        r->checking = true;
        hs_log("reload: checking first: %s", L.opt.check_command);
        return NULL;
    }
    const char *failed = start_next(r);
    if (failed)
        r->active = false;
    return failed;
}

/* A reload asked for (SIGHUP, hotswap reload): NULL once it has begun, else why not, counted. */
static const char *begin_reload(int *reload_id, char **argv)
{
    const char *refused = try_reload(reload_id, argv);
    if (refused)
        L.metrics.reloads[RELOAD_REFUSED]++;
    return refused;
}

/* Why a reload cannot begin now, or NULL. */
static const char *reload_refusal(char *why, size_t size)
{
    if (L.stopping)
        return "the launcher is stopping";
    if (!L.serving && L.restarter.pending)
        return "no generation is serving: a crash restart is pending";
    if (!L.serving || L.serving->state != GEN_READY) {
        const char *unseen = L.serving ? gen_unseen_listener(L.serving) : "";
        if (!unseen[0])
            return "the current generation is not ready yet";
        snprintf(why, size, "the current generation is not ready yet: %s", unseen);
        return why;
    }
    if (reload_starting())
        return "a reload is already in progress";
    return NULL;
}

/* The reload's new generation; NULL on success, or why not. */
static const char *start_next(struct reload *r)
{
    static char why[560];
    hs_log("reload: starting gen %d", L.next_generation);
    struct gen_failure failure;
    struct generation *next = start_generation(r->argv ? r->argv : L.command, r->env, &failure);
    if (!next) {
        snprintf(why, sizeof why, "cannot start gen %d: %s; gen %d keeps serving", L.next_generation,
                 failure.why, L.serving->number);
        hs_log("%s", why);
        return why;
    }
    r->next = next;
    /* Here, not before the start: the launcher reads the counters while the new generation
     * loads, not in its way; nothing can be dropped before it is ready. */
    proof_begin(&r->proof);
    sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading: gen %d starting, gen %d serving",
             sdnotify_monotonic_usec(), next->number, L.serving->number);
    return NULL;
}

/* A reload that ends before its generation started: refused, and nothing changed. */
static void refuse_reload(struct reload *r, const char *text)
{
    L.metrics.reloads[RELOAD_REFUSED]++;
    hs_log("reload refused: %s", text);
    ctl_server_finish(r->id, false, text);
    note_event(&L.last_reload, false, text);
    r->active = false;
}

/* The check of a reload has finished: its output goes to the log (and to the waiting client),
 * then the generation starts, or the reload is refused. */
static void after_check(struct reload *r)
{
    bool passed;
    char verdict[128], output[CHECK_OUTPUT_MAX], text[720];
    if (!check_finished(&passed, verdict, sizeof verdict, output, sizeof output))
        return;
    r->checking = false;
    char *save = NULL;
    for (char *line = strtok_r(output, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        hs_log("check: %s", line);
    if (!passed) {
        snprintf(text, sizeof text, "the check %s; gen %d keeps serving", verdict, r->previous->number);
        refuse_reload(r, text);
        return;
    }
    hs_log("reload: the check passed");
    const char *failed = L.stopping ? "the launcher is stopping" : !L.serving ? "no generation is serving" : start_next(r);
    if (failed) {
        L.metrics.reloads[RELOAD_REFUSED]++;
        ctl_server_finish(r->id, false, failed);
        note_event(&L.last_reload, false, failed);
        r->active = false;
    }
}

static const char *begin_stop(void)
{
    if (L.stopping)
        return NULL;
    L.stopping = true;
    relay_set_accepting(false); /* no next generation will take idle clients: they are closed */
    for (int i = 0; i < GENERATIONS_MAX; i++)
        if (L.reloads[i].active && L.reloads[i].checking) {
            check_cancel();
            refuse_reload(&L.reloads[i], "the launcher is stopping");
        }
    hs_log("stopping: draining every generation");
    sdnotify("STOPPING=1\nSTATUS=stopping: draining");
    if (L.restarter.pending)
        hs_log("stopping: the pending restart is cancelled");
    restart_cancel(&L.restarter);
    for (int i = 0; i < L.gen_count; i++) {
        struct generation *g = L.gens[i];
        if (g->state == GEN_STARTING && g != L.serving)
            gen_fail(g, "the launcher is stopping");
        else if (g->state == GEN_STARTING || g->state == GEN_READY)
            gen_drain(g);
        else if (g->state == GEN_PARKED)
            gen_stop(g);
    }
    return NULL;
}

/* The parked generation (--keep-old), if any: at most one, the last to drain. */
static struct generation *parked_generation(void)
{
    for (int i = 0; i < L.gen_count; i++)
        if (L.gens[i]->state == GEN_PARKED)
            return L.gens[i];
    return NULL;
}

/* Drained from serving: parked, in place of any older parked one, or stopped. */
static void park_or_stop(struct generation *g)
{
    if (L.stopping || !gen_can_park(g) || !L.serving || L.serving == g) {
        if (g->seccomp && L.settings.keep_old_ms > 0 && !L.stopping && !g->unparkable)
            hs_log("gen %d runs on the seccomp route, which cannot re-arm it: stopped, not parked", g->number);
        gen_stop(g);
        return;
    }
    struct generation *older = parked_generation();
    if (older) {
        hs_log("gen %d: gen %d is parked now: stopping this one", older->number, g->number);
        gen_stop(older);
    }
    gen_park(g);
}

/* The parked generation serves again and `from` (the one serving) drains to its stop. */
static void bring_back(struct generation *parked, struct generation *from)
{
    gen_rearm(parked);
    L.serving = parked;
    take_command_of(parked);
    L.serving_daemonized = false;
    if (from && (from->state == GEN_READY || from->state == GEN_STARTING)) {
        from->unparkable = true;
        gen_drain(from);
    }
}

static const char *begin_rollback(char *done, size_t size)
{
    struct generation *parked = parked_generation(), *from = L.serving;
    if (L.stopping)
        return "the launcher is stopping";
    if (!parked)
        return L.settings.keep_old_ms > 0 ? "no parked generation to roll back to (none has drained since "
                                            "the last reload, or its --keep-old time is up)"
                                          : "no parked generation to roll back to: run the launcher with "
                                            "--keep-old DUR to keep the old one after each reload";
    if (reload_starting())
        return "a reload is in progress";
    hs_log("rollback: gen %d serves again, gen %d drains", parked->number, from ? from->number : 0);
    L.metrics.rollbacks++;
    long long parked_for = (long long)(now_ms() - parked->park_ms);
    bring_back(parked, from);
    snprintf(done, size, "gen %d serves again (re-armed after %lld ms parked); gen %d %s", parked->number,
             parked_for, from ? from->number : 0, from && from->state == GEN_DRAINING ? "drains" : "was not serving");
    sdnotify("STATUS=rolled back to gen %d", parked->number);
    return NULL;
}

static void note_event(struct status_event *event, bool ok, const char *text)
{
    *event = (struct status_event){.happened = true, .ok = ok, .at_ms = now_ms()};
    snprintf(event->text, sizeof event->text, "%s", text);
}

/* Its command has exited and no process of it the shim knows of is left: it serves no more. */
static bool gen_dead(const struct generation *g)
{
    return g->leader_reaped && !gen_others_alive(g);
}

/* A waiting `hotswap reload` sees the old generation's connections fall while it drains (at
 * most one line per 100 ms; the log has the final figure). */
static void show_drain_progress(struct reload *r)
{
    struct generation *p = r->previous;
    if (p->state != GEN_DRAINING)
        return;
    long open = gen_open_conns(p);
    int64_t now = now_ms();
    if (open == r->shown_conns || open == 0 || (r->shown_conns >= 0 && now - r->shown_ms < 100))
        return;
    char line[96];
    snprintf(line, sizeof line, "gen %d draining: %ld connection%s open", p->number, open, open == 1 ? "" : "s");
    ctl_server_progress(r->id, line);
    r->shown_conns = open;
    r->shown_ms = now;
}

/* A reload that started a generation is over: its outcome, with what the kernel saw meanwhile,
 * to the log, the waiting client and the status. */
static void end_reload(struct reload *r, bool ok, const char *outcome)
{
    char kernel[400], text[sizeof L.last_reload.text];
    proof_end(&r->proof, kernel, sizeof kernel);
    snprintf(text, sizeof text, "%s; %s", outcome, kernel);
    if (ok)
        hs_log("reload done: %s", text);
    else
        hs_log("reload failed: %s", text);
    ctl_server_finish(r->id, ok, text);
    note_event(&L.last_reload, ok, text);
    L.last_reload.proof = r->proof;
    L.last_reload.has_proof = true;
    L.metrics.reloads[ok ? RELOAD_OK : RELOAD_FAILED]++;
    metrics_observe(&L.metrics.reload_seconds, (double)(now_ms() - r->requested_ms) / 1000);
    const struct generation *p = r->previous;
    int64_t drain_end = p->state == GEN_PARKED ? p->park_ms : p->stop_ms;
    if (ok && p->drain_ms && drain_end >= p->drain_ms)
        metrics_observe(&L.metrics.drain_seconds, (double)(drain_end - p->drain_ms) / 1000);
    if (r->proof.delta.read) {
        L.metrics.reload_listen_overflows += (uint64_t)(r->proof.delta.listen_overflows > 0 ? r->proof.delta.listen_overflows : 0);
        L.metrics.reload_listen_drops += (uint64_t)(r->proof.delta.listen_drops > 0 ? r->proof.delta.listen_drops : 0);
    }
    r->active = false;
}

/* A text for the service manager, escaped: a name in it (a program's path, a listener's) could
 * hold a newline, and each line of a notification is an assignment ("MAINPID=1"). */
static const char *notify_text(const char *text, char *safe, size_t size)
{
    textsafe_escape(safe, size, text, strlen(text), 0);
    return safe;
}

static void finish_reloads(void)
{
    for (int i = 0; i < GENERATIONS_MAX; i++) {
        struct reload *r = &L.reloads[i];
        if (!r->active)
            continue;
        if (r->checking) {
            after_check(r);
            continue;
        }
        char text[720], safe[4 * sizeof text];
        if (r->next->failed) {
            snprintf(text, sizeof text, "gen %d %s; gen %d %s", r->next->number, r->next->failure,
                     r->previous->number, gen_dead(r->previous) ? "has died meanwhile" : "keeps serving");
            if (gen_dead(r->previous) && r->previous == L.serving) {
                L.orphaned_by_reload = r->previous;
                L.orphaning_gen = r->next->number;
            }
            end_reload(r, false, text);
            sdnotify("READY=1\nSTATUS=reload failed: %s", notify_text(text, safe, sizeof safe));
        } else if (r->previous->state == GEN_GONE && !r->previous->stop_ms && r->next->ready_ms) {
            snprintf(text, sizeof text, "gen %d ready in %lld ms; gen %d %s", r->next->number,
                     (long long)(r->next->ready_ms - r->next->started_ms), r->previous->number,
                     r->previous->drain_ms ? "died while draining" : "had died before it could drain");
            end_reload(r, true, text);
        } else if (r->previous->state == GEN_PARKED && r->next->ready_ms) {
            struct generation *n = r->next, *p = r->previous;
            snprintf(text, sizeof text, "gen %d ready in %lld ms; gen %d drained %ld connection%s in %lld ms, parked "
                     "for %lld ms (hotswap rollback brings it back)", n->number,
                     (long long)(n->ready_ms - n->started_ms), p->number, p->drained_conns,
                     p->drained_conns == 1 ? "" : "s", (long long)(p->park_ms - p->drain_ms),
                     (long long)p->settings->keep_old_ms);
            end_reload(r, true, text);
        } else if (r->previous->state == GEN_GONE && r->next->ready_ms) {
            struct generation *n = r->next, *p = r->previous;
            snprintf(text, sizeof text,
                     "gen %d ready in %lld ms; gen %d drained %ld connection%s in %lld ms%s%s%s, exited %lld ms later",
                     n->number, (long long)(n->ready_ms - n->started_ms), p->number, p->drained_conns,
                     p->drained_conns == 1 ? "" : "s", (long long)(p->stop_ms - p->drain_ms),
                     p->cut ? " (" : "", p->cut ? p->cut_why : "", p->cut ? ": connections cut)" : "",
                     (long long)(p->gone_ms - p->stop_ms));
            end_reload(r, true, text);
        } else {
            show_drain_progress(r);
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

/* The dead serving generation `g` is being replaced: `line` says how, in the log, in status and to
 * the service manager, and what is left of `g` is stopped. */
static void replace_dead(struct generation *g, const char *line)
{
    hs_log("%s", line);
    note_event(&L.last_restart, true, line);
    char safe[4 * sizeof L.last_restart.text];
    sdnotify("STATUS=%s", notify_text(line, safe, sizeof safe));
    if (g->state == GEN_READY || g->state == GEN_STARTING)
        gen_stop(g);
}

/* The serving generation died during a reload whose new generation failed, or it is the
 * generation started in its place and died before it was ready: no generation serves, and the
 * listeners are held with clients queued. Whatever --restart says (it governs deaths outside a
 * reload only), the last good command line starts again, cold: at once the first time, then
 * with the crash restart's back-off until one is ready or a stop is asked. */
static void restart_after_failed_reload(struct generation *g)
{
    char how[sizeof g->failure], line[sizeof L.last_restart.text];
    if (g->failed)
        snprintf(how, sizeof how, "%s", g->failure);
    else
        describe_wait_status(g->leader_status, how, sizeof how);
    int64_t now = now_ms();
    if (!L.rescuing)
        L.restarter.streak = 0; /* it served until the reload: the first start is at once */
    int64_t delay = restart_schedule(&L.restarter, now, 0);
    if (!L.rescuing)
        snprintf(line, sizeof line, "gen %d failed and gen %d had died meanwhile (%s): starting gen %d from gen %d's "
                 "command line, cold, in %lld ms (whatever --restart says)", L.orphaning_gen, g->number, how,
                 L.next_generation, g->number, (long long)delay);
    else
        snprintf(line, sizeof line, "gen %d, started after a failed reload, %s before it was ready: restarting in "
                 "%lld ms (restart %ld)", g->number, how, (long long)delay, L.restarter.total);
    replace_dead(g, line);
    L.orphaned_by_reload = NULL;
    L.rescuing = true;
    L.serving = NULL;
    L.serving_daemonized = false;
}

/* The serving generation died outside a reload. If the policy wants it replaced (and the
 * service has been ready at all: before that, a death is a start-up error the launcher exits
 * with), the replacement is scheduled; otherwise the launcher exits with its status once it is
 * gone, as with --restart never. */
static void check_crash(void)
{
    struct generation *g = L.serving;
    if (!g || L.stopping || !gen_dead(g) || reload_starting())
        return; /* during a reload, its new generation takes over once ready */
    bool clean = !g->failed && !L.serving_daemonized && WIFEXITED(g->leader_status) &&
                 WEXITSTATUS(g->leader_status) == 0;
    struct generation *parked = parked_generation();
    if (parked && !clean) { /* the old one, kept: back at once instead of a cold restart */
        char how[sizeof g->failure], line[sizeof L.last_restart.text];
        if (g->failed)
            snprintf(how, sizeof how, "%s", g->failure);
        else
            describe_wait_status(g->leader_status, how, sizeof how);
        snprintf(line, sizeof line, "gen %d pid %d %s: gen %d, parked, serves again", g->number, (int)g->pid, how,
                 parked->number);
        replace_dead(g, line);
        bring_back(parked, NULL);
        L.metrics.rollbacks++;
        L.orphaned_by_reload = NULL; /* (a failed reload's too: the parked one serves, warm) */
        return;
    }
    if (L.orphaned_by_reload == g || L.rescuing) {
        restart_after_failed_reload(g);
        return;
    }
    if (!L.ever_ready || !restart_wanted(&L.restarter, clean))
        return;
    int64_t now = now_ms();
    int64_t delay = restart_schedule(&L.restarter, now, g->ready_ms ? now - g->ready_ms : 0);
    char how[sizeof g->failure], line[sizeof L.last_restart.text];
    if (g->failed)
        snprintf(how, sizeof how, "%s", g->failure);
    else
        describe_wait_status(g->leader_status, how, sizeof how);
    snprintf(line, sizeof line, "gen %d pid %d %s outside a reload: restarting in %lld ms (restart %ld, --restart %s)",
             g->number, (int)g->pid, how, (long long)delay, L.restarter.total,
             restart_policy_name(L.restarter.policy));
    hs_log("%s", line);
    note_event(&L.last_restart, true, line);
    char safe[4 * sizeof how];
    sdnotify("STATUS=gen %d died (%s): restarting in %lld ms", g->number, notify_text(how, safe, sizeof safe),
             (long long)delay);
    /* Not gone yet: processes without the shim (helpers in its group) outlived it; stop them. */
    if (g->state == GEN_READY || g->state == GEN_STARTING)
        gen_stop(g);
    L.serving = NULL;
    L.serving_daemonized = false;
}

static void restart_if_due(int64_t now)
{
    if (L.stopping || !restart_due(&L.restarter, now))
        return;
    restart_cancel(&L.restarter);
    struct gen_failure failure;
    struct generation *g = start_generation(L.command, L.env, &failure);
    if (!g) { /* (a NOTIFY_SOCKET the launcher could not make too: fds or memory may come back) */
        int64_t delay = restart_schedule(&L.restarter, now, 0);
        hs_log("restart: cannot start gen %d (%s): next try in %lld ms", L.next_generation, failure.why,
               (long long)delay);
        return;
    }
    L.serving = g; /* like generation 1: it serves from the held listeners as soon as it accepts */
    L.serving_daemonized = false;
}

/* The service manager hears when a new generation serves: the first (READY=1 with MAINPID=), a
 * restarted one, or a reload's. */
static void announce_serving(void)
{
    struct generation *g = L.serving;
    if (!g || g->state != GEN_READY)
        return;
    L.ever_ready = true;
    L.rescuing = false;
    if (g->number == L.announced_gen)
        return;
    char mainpid[32] = "";
    if (!L.announced_gen)
        snprintf(mainpid, sizeof mainpid, "MAINPID=%d\n", (int)getpid());
    sdnotify("READY=1\n%sSTATUS=gen %d serving, %d listener%s", mainpid, g->number, listeners_count(),
             listeners_count() == 1 ? "" : "s");
    L.announced_gen = g->number;
}

/* After any event: move every generation along, then settle the reloads. */
/* A reload's generation with a new command line serves: that command line is the one later
 * reloads and crash restarts run. */
static void take_command_of(const struct generation *g)
{
    for (int i = 0; i < GENERATIONS_MAX; i++) {
        struct reload *r = &L.reloads[i];
        if (r->active && r->next == g && r->argv) {
            free(L.command);
            L.command = r->argv;
            r->argv = NULL;
        }
        if (r->active && r->next == g && r->env) {
            free(L.env);
            L.env = r->env;
            r->env = NULL;
        }
    }
}

/* --max-draining: reloads back to back leave generations draining side by side, each holding
 * its processes and memory; past the bound the oldest is cut at once, as HAProxy's
 * mworker-max-reloads does. */
static void bound_draining(void)
{
    for (;;) {
        struct generation *oldest = NULL;
        int draining = 0;
        for (int i = 0; i < L.gen_count; i++)
            if (L.gens[i]->state == GEN_DRAINING) {
                draining++;
                if (!oldest || L.gens[i]->number < oldest->number)
                    oldest = L.gens[i];
            }
        if (draining <= L.opt.max_draining)
            return;
        char reason[96];
        snprintf(reason, sizeof reason, "is one draining generation too many (--max-draining %d)",
                 L.opt.max_draining);
        char why[48];
        snprintf(why, sizeof why, "--max-draining %d", L.opt.max_draining);
        gen_cut(oldest, why, reason);
    }
}

/* Once a reload is over and its generation has served a while, alone: when to look for the
 * listeners its configuration no longer binds (0: not now). */
static int64_t release_due(void)
{
    struct generation *g = L.serving;
    if (!g || L.stopping || L.gen_count != 1 || g->state != GEN_READY || g->number == 1 || g->adopted ||
        g->listeners_checked || L.opt.socket_activation || reload_starting())
        return 0;
    return g->ready_ms + RELEASE_AFTER_MS;
}

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
            take_command_of(g);
            restart_note_reload(&L.restarter); /* (a crash restart's generation serves at once) */
            L.serving_daemonized = false;
            if (old && (old->state == GEN_READY || old->state == GEN_STARTING))
                gen_drain(old);
            bound_draining();
        }
        if (gen_drained(g))
            park_or_stop(g);
        gen_stop_rest(g);
        gen_check_gone(g);
        gen_forget_exited(g);
    }
    if (L.serving && L.serving->leader_reaped && WIFEXITED(L.serving->leader_status) &&
        WEXITSTATUS(L.serving->leader_status) == 0 && gen_others_alive(L.serving))
        L.serving_daemonized = true;
    finish_reloads();
    announce_serving();
    check_crash();
    /* (while a reload's new generation starts, it may yet take over: wait for its outcome) */
    if (L.serving && L.serving->state == GEN_GONE && !reload_starting()) {
        if (!L.stopping)
            hs_log("gen %d is gone and no generation is left: exiting", L.serving->number);
        L.exit_status = gen_exit_status(L.serving);
        L.stopping = true;
        L.serving = NULL;
    }
    forget_gone();
    int64_t release_at = release_due();
    if (release_at && now_ms() >= release_at)
        release_unused_listeners(L.serving);
}

/* ---- signals and children --------------------------------------------------------------- */

static void reap_children(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < L.gen_count && !check_note_reaped(pid, status); i++)
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
                const char *why = begin_reload(NULL, NULL);
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

/* `at` (0: none) if it comes before *soonest (-1: nothing yet). */
static void sooner(int64_t *soonest, int64_t at)
{
    if (at && (*soonest < 0 || at < *soonest))
        *soonest = at;
}

static int next_timeout(void)
{
    int64_t now = now_ms(), soonest = -1;
    for (int i = 0; i < L.gen_count; i++) {
        struct generation *g = L.gens[i];
        sooner(&soonest, gen_next_wakeup(g));
        /* processes without the shim leave no pidfd: look at the group again now and then */
        if (g->state == GEN_STOPPING)
            sooner(&soonest, now + 100);
    }
    for (int i = 0; i < GENERATIONS_MAX; i++)
        if (L.reloads[i].active && !L.reloads[i].checking)
            sooner(&soonest, now + PROOF_SAMPLE_MS); /* its accept queues are sampled */
    sooner(&soonest, relay_next_deadline());
    sooner(&soonest, ctl_server_next_wakeup());
    sooner(&soonest, release_due());
    sooner(&soonest, check_deadline());
    int state_retry = adopt_retry_ms(); /* a state file write the disk refused */
    if (state_retry >= 0)
        sooner(&soonest, now + state_retry);
    int64_t restart_wait = restart_wait_ms(&L.restarter, now);
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

/* A notification to answer; or, once every process of the filter has gone, nothing more. */
static void notify_ready(struct generation *g, short revents)
{
    if (revents & POLLIN)
        intercept_answer(g);
    else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
        close(g->notify_fd);
        g->notify_fd = -1;
    }
}

/* The poll set: the signalfd, the control socket and its clients, each generation's channel, and
 * a pidfd per process the launcher has met. Grown as needed (a fork-per-connection server has as
 * many processes as connections). */
struct poll_set {
    struct pollfd *fds;
    struct { struct generation *g; int proc; } *owner;
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

static void run_loop(void)
{
    static struct poll_set set;
    while (!(L.stopping && L.gen_count == 0)) {
        int needed = 1 + CTL_CLIENTS_MAX + 1 + 1;
        for (int i = 0; i < L.gen_count; i++)
            needed += 3 + L.gens[i]->proc_count;
        if (!poll_set_room(&set, needed)) {
            errno = ENOMEM;
            poll_failed("the poll set");
            continue;
        }
        struct pollfd *fds = set.fds;
        int n = 0;
        fds[n++] = (struct pollfd){.fd = L.signal_fd, .events = POLLIN};
        int ctl_first = n;
        n += ctl_server_pollfds(fds + n, set.room - n);
        int ctl_count = n - ctl_first;
        for (int i = 0; i < L.gen_count; i++) {
            struct generation *g = L.gens[i];
            if (!g->channel_closed) {
                set.owner[n].g = g, set.owner[n].proc = -1;
                fds[n++] = (struct pollfd){.fd = g->channel_fd, .events = POLLIN};
            }
            if (g->notify_fd >= 0) {
                set.owner[n].g = g, set.owner[n].proc = OWNER_NOTIFY;
                fds[n++] = (struct pollfd){.fd = g->notify_fd, .events = POLLIN};
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
        int ready = poll_within_limit(fds, n, next_timeout());
        if (ready < 0 && errno != EINTR) {
            poll_failed("poll");
            continue;
        }
        if (ready > 0) {
            if (fds[0].revents)
                handle_signal();
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
            if (L.reloads[i].active && !L.reloads[i].checking)
                proof_sample(&L.reloads[i].proof);
        int64_t now = now_ms();
        for (int i = 0; i < L.gen_count; i++)
            gen_on_deadline(L.gens[i], now);
        check_on_deadline(now);
        restart_if_due(now);
        reconcile();
        adopt_save(L.gens, L.gen_count, L.serving);
    }
}

static void tap_log(const char *line)
{
    ctl_server_progress(-1, line);
}

static char *render_status(enum status_format format)
{
    struct status_view view = {
        .pid = getpid(), .started_ms = L.started_ms, .control_path = L.control_path, .stopping = L.stopping,
        .restarter = &L.restarter, .gens = L.gens, .gen_count = L.gen_count, .serving = L.serving,
        .last_reload = &L.last_reload, .last_restart = &L.last_restart, .metrics = &L.metrics,
    };
    return status_render(&view, format);
}

static int run(void)
{
    L.started_ms = now_ms();
    if (find_shim() < 0)
        return 1;
    /* Before anything opens an fd or starts a generation: fds 3.. may be the service manager's
     * sockets, and no generation may inherit NOTIFY_SOCKET or LISTEN_FDS meant for us. */
    activation_take();
    sdnotify_open();
    /* The control socket before anything else is made: a refusal leaves nothing behind. */
    char default_path[256], why[512];
    const char *control = L.opt.control_path ? L.opt.control_path
                                             : default_control_path(getpid(), default_path, sizeof default_path);
    snprintf(L.control_path, sizeof L.control_path, "%s", control);
    int opened = ctl_server_open(control, !L.opt.control_path, why, sizeof why);
    int control_err = errno;
    if (opened == -2) {
        fprintf(stderr, "hotswap: %s\n", why);
        return 1;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        hs_log("cannot become a child subreaper (%s): daemonizing servers will not be tracked", strerror(errno));
    if (members_init(L.opt.track) < 0) {
        ctl_server_close();
        return 1;
    }
    if (block_signals() < 0) {
        perror("hotswap: signalfd");
        ctl_server_close();
        return 1;
    }
    if (opened < 0)
        hs_log("cannot open the control socket %s (%s): reload with SIGHUP only", control,
               strerror(control_err));
    struct ctl_handlers handlers = {.reload = begin_reload, .stop = begin_stop, .rollback = begin_rollback,
                                    .status = render_status};
    ctl_server_set_handlers(&handlers);
    log_set_tap(tap_log);

    if (L.opt.handover_idle && relay_init() < 0)
        hs_log("--handover-idle: cannot share the handover table (%s): idle connections will be closed instead",
               strerror(errno));
    L.next_generation = 1;
    if (opened >= 0)
        adopt_init(control);
    /* A launcher killed with this control socket left its generations running: take them over. */
    struct generation *adopted[GENERATIONS_MAX], *first = NULL;
    struct gen_failure failure;
    int adopted_count = adopt_take(adopted, GENERATIONS_MAX, &L.settings, &L.next_generation, &first);
    for (int i = 0; i < adopted_count; i++)
        L.gens[L.gen_count++] = adopted[i];
    if (first) {
        L.ever_ready = true;
    } else if (!(first = start_generation(L.command, L.env, &failure))) {
        int err = errno;
        if (failure.launcher_side)
            fprintf(stderr, "hotswap: gen 1: %s\n", failure.why);
        else
            fprintf(stderr, "hotswap: %s: %s\n", L.opt.argv[0], err == ENOENT ? "command not found" : failure.why);
        ctl_server_close();
        return failure.launcher_side ? 1 : err == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
    }
    L.serving = first;
    hs_log("launcher pid %d, control socket %s", (int)getpid(), control);
    run_loop();
    adopt_forget(); /* every generation is gone: nothing is left to adopt */
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
    case CMD_ROLLBACK:
    case CMD_STATUS:
        return ctl_client_run(&L.opt);
    case CMD_TRY:
        return try_run(&L.opt, argc, argv);
    default:
        break;
    }
    if (!(L.command = argv_copy(L.opt.argv))) {
        perror("hotswap");
        return 1;
    }
    char why[300];
    if (L.opt.env_file && envfile_read(L.opt.env_file, &L.env, why, sizeof why) < 0) {
        hs_log("%s", why); /* escaped there: the path may hold any byte */
        return 1;
    }
    L.settings = (struct gen_settings){
        .ready_timeout_ms = L.opt.ready_timeout_ms, .drain_timeout_ms = L.opt.drain_timeout_ms,
        .kill_timeout_ms = L.opt.kill_timeout_ms, .stop_signal = L.opt.stop_signal,
        .drain_signal = L.opt.drain_signal, .handover_idle = L.opt.handover_idle,
        .socket_activation = L.opt.socket_activation, .stop_main_first = L.opt.kill_mode_mixed,
        .intercept = L.opt.intercept, .ready_notify = L.opt.ready_notify, .keep_old_ms = L.opt.keep_old_ms,
    };
    L.restarter = (struct restarter){.policy = L.opt.restart, .max_backoff_ms = L.opt.restart_max_backoff_ms};
    return run();
}
