/* reload.c: a reload's life, from the request to its outcome (reload.h). */
#define _GNU_SOURCE
#include "reload.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ctl_server.h"
#include "draintext.h"
#include "envfile.h"
#include "log.h"
#include "relay.h"
#include "sdnotify.h"
static const char *reload_refusal(const struct launcher *l, char *why, size_t size);
static const char *start_next(struct launcher *l, struct reload *r);
static const char *start_next_generation(struct launcher *l, struct reload *r);

/* Starts generation N+1 (after --check, if given); NULL on success, or why not. */
static const char *try_reload(struct launcher *l, int *reload_id, char **argv)
{
    static char why[560];
    const char *refused = reload_refusal(l, why, sizeof why);
    if (refused) {
        free(argv);
        return refused;
    }
    struct reload *r = NULL;
    for (int i = 0; i < GENERATIONS_MAX && !r; i++)
        if (!l->reloads[i].active)
            r = &l->reloads[i];
    if (!r) {
        free(argv);
        return "too many reloads in progress";
    }
    char **env = NULL;
    if (l->opt.env_file && envfile_read(l->opt.env_file, &env, why, sizeof why) < 0) {
        free(argv);
        hs_log("reload refused: %s", why);
        return why;
    }
    free(r->argv); /* a finished reload's, not taken */
    free(r->env);
    *r = (struct reload){.id = l->next_reload_id++,
                         .previous = l->serving,
                         .requested_ms = now_ms(),
                         .active = true,
                         .shown_conns = -1,
                         .argv = argv,
                         .env = env};
    if (reload_id)
        *reload_id = r->id;
    if (argv) {
        char line[600];
        describe_command(argv, line, sizeof line);
        hs_log("reload: with a new command line: %s", line);
    }
    if (l->opt.check_command) {
        if (!check_start(l->opt.check_command, now_ms() + l->opt.gen.ready_timeout_ms)) {
            snprintf(why, sizeof why, "cannot run the check (%s); gen %d keeps serving", strerror(errno),
                     l->serving->number);
            r->active = false;
            return why;
        }
        r->checking = true;
        hs_log("reload: checking first: %s", l->opt.check_command);
        return NULL;
    }
    const char *failed = start_next(l, r);
    if (failed)
        r->active = false;
    return failed;
}

/* A reload asked for (SIGHUP, hotswap reload): NULL once it has begun, else why not, counted. */
const char *begin_reload(struct launcher *l, int *reload_id, char **argv)
{
    const char *refused = try_reload(l, reload_id, argv);
    if (refused)
        l->metrics.reloads[RELOAD_REFUSED]++;
    return refused;
}

/* Why a reload cannot begin now, or NULL. */
static const char *reload_refusal(const struct launcher *l, char *why, size_t size)
{
    if (l->stopping)
        return "the launcher is stopping";
    if (reload_starting(l))
        return "a reload is already in progress";
    if (!l->serving && l->restarter.pending)
        return "no generation is serving: a crash restart is pending";
    if (!l->serving || l->serving->state != GEN_READY) {
        const char *unseen = l->serving ? gen_unseen_listener(l->serving) : "";
        if (!unseen[0])
            return "the current generation is not ready yet";
        snprintf(why, size, "the current generation is not ready yet: %s", unseen);
        return why;
    }
    return NULL;
}

/* The reload's new generation, at once, or in sequence once the old one is gone; NULL on
 * success, or why not. */
static const char *start_next(struct launcher *l, struct reload *r)
{
    if (!sequential_wanted())
        return start_next_generation(l, r);
    char line[300];
    r->sequential = true;
    proof_begin(&r->proof); /* in sequence, the queue grows from the drain on: watched from here */
    sequential_begin(r->previous, line, sizeof line);
    ctl_server_progress(r->id, line);
    sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading in sequence: gen %d draining first",
             sdnotify_monotonic_usec(), r->previous->number);
    return NULL;
}

/* The reload's new generation is started; NULL on success, or why not. */
static const char *start_next_generation(struct launcher *l, struct reload *r)
{
    static char why[560];
    hs_log("reload: starting gen %d", l->next_generation);
    struct gen_failure failure;
    struct generation *next = start_generation(l, r->argv ? r->argv : l->command, r->env, &failure);
    if (!next) {
        snprintf(why, sizeof why, "cannot start gen %d: %s; gen %d keeps serving", l->next_generation, failure.why,
                 l->serving->number);
        hs_log("%s", why);
        return why;
    }
    r->next = next;
    if (r->sequential)
        return NULL;
    /* Here, not before the start: the launcher reads the counters while the new generation
     * loads, not in its way; nothing can be dropped before it is ready. */
    proof_begin(&r->proof);
    sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading: gen %d starting, gen %d serving",
             sdnotify_monotonic_usec(), next->number, l->serving->number);
    return NULL;
}

/* A reload that ends before its generation started: refused, and nothing changed. */
static void refuse_reload(struct launcher *l, struct reload *r, const char *text)
{
    l->metrics.reloads[RELOAD_REFUSED]++;
    hs_log("reload refused: %s", text);
    ctl_server_finish(r->id, false, text);
    note_event(&l->last_reload, false, text);
    r->active = false;
}

/* The check of a reload has finished: its output goes to the log (and to the waiting client),
 * then the generation starts, or the reload is refused. */
static void after_check(struct launcher *l, struct reload *r)
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
        refuse_reload(l, r, text);
        return;
    }
    hs_log("reload: the check passed");
    const char *failed = l->stopping   ? "the launcher is stopping"
                         : !l->serving ? "no generation is serving"
                                       : start_next(l, r);
    if (failed) {
        l->metrics.reloads[RELOAD_REFUSED]++;
        ctl_server_finish(r->id, false, failed);
        note_event(&l->last_reload, false, failed);
        r->active = false;
    }
}

const char *begin_stop(struct launcher *l)
{
    if (l->stopping)
        return NULL;
    l->stopping = true;
    relay_set_accepting(false); /* no next generation will take idle clients: they are closed */
    for (int i = 0; i < GENERATIONS_MAX; i++)
        if (l->reloads[i].active && l->reloads[i].checking) {
            check_cancel();
            refuse_reload(l, &l->reloads[i], "the launcher is stopping");
        }
    hs_log("stopping: draining every generation");
    sdnotify("STOPPING=1\nSTATUS=stopping: draining");
    if (l->restarter.pending)
        hs_log("stopping: the pending restart is cancelled");
    restart_cancel(&l->restarter);
    for (int i = 0; i < l->gen_count; i++) {
        struct generation *g = l->gens[i];
        if (g->state == GEN_STARTING && g != l->serving)
            gen_fail(g, "the launcher is stopping");
        else if (g->state == GEN_STARTING || g->state == GEN_READY)
            gen_drain(g);
        else if (g->state == GEN_PARKED)
            gen_stop(g);
    }
    return NULL;
}

/* Drained from serving: parked, in place of any older parked one, or stopped. */
void park_or_stop(struct launcher *l, struct generation *g)
{
    if (l->stopping || !gen_can_park(g) || !l->serving || l->serving == g) {
        if (g->seccomp && l->opt.gen.keep_old_ms > 0 && !l->stopping && !g->unparkable)
            hs_log("gen %d runs on the seccomp route, which cannot re-arm it: stopped, not parked", g->number);
        gen_stop(g);
        return;
    }
    struct generation *older = parked_generation(l);
    if (older) {
        hs_log("gen %d: gen %d is parked now: stopping this one", older->number, g->number);
        gen_stop(older);
    }
    gen_park(g);
}

const char *begin_rollback(struct launcher *l, char *done, size_t size)
{
    struct generation *parked = parked_generation(l), *from = l->serving;
    if (l->stopping)
        return "the launcher is stopping";
    if (!parked)
        return l->opt.gen.keep_old_ms > 0 ? "no parked generation to roll back to (none has drained since "
                                            "the last reload, or its --keep-old time is up)"
                                          : "no parked generation to roll back to: run the launcher with "
                                            "--keep-old DUR to keep the old one after each reload";
    if (reload_starting(l))
        return "a reload is in progress";
    hs_log("rollback: gen %d serves again, gen %d drains", parked->number, from ? from->number : 0);
    l->metrics.rollbacks++;
    long long parked_for = (long long)(now_ms() - parked->park_ms);
    bring_back(l, parked, from);
    snprintf(done, size, "gen %d serves again (re-armed after %lld ms parked); gen %d %s", parked->number, parked_for,
             from ? from->number : 0, from && from->state == GEN_DRAINING ? "drains" : "was not serving");
    sdnotify("STATUS=rolled back to gen %d", parked->number);
    return NULL;
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

/* `hotswap reload --wait ready`: its new generation serves and the old one drains; the client
 * goes, the drain goes on (its end is in the log and the status). */
static void tell_ready(struct reload *r)
{
    struct generation *n = r->next, *p = r->previous;
    if (r->ready_told || !n->ready_ms || !p->drain_ms)
        return;
    r->ready_told = true;
    char text[200];
    snprintf(text, sizeof text,
             "gen %d ready in %lld ms; gen %d draining: its end goes to the launcher's log and "
             "hotswap status",
             n->number, (long long)(n->ready_ms - n->started_ms), p->number);
    ctl_server_ready(r->id, text);
}

/* A reload that started a generation is over: its outcome, with what the kernel saw meanwhile,
 * to the log, the waiting client and the status. */
static void end_reload(struct launcher *l, struct reload *r, bool ok, const char *outcome)
{
    char kernel[400], text[sizeof l->last_reload.text];
    proof_end(&r->proof, kernel, sizeof kernel);
    snprintf(text, sizeof text, "%s; %s", outcome, kernel);
    if (ok)
        hs_log("reload done: %s", text);
    else
        hs_log("reload failed: %s", text);
    ctl_server_finish(r->id, ok, text);
    note_event(&l->last_reload, ok, text);
    l->last_reload.proof = r->proof;
    l->last_reload.has_proof = true;
    l->metrics.reloads[ok ? RELOAD_OK : RELOAD_FAILED]++;
    metrics_observe(&l->metrics.reload_seconds, (double)(now_ms() - r->requested_ms) / 1000);
    const struct generation *p = r->previous;
    int64_t drain_end = p->state == GEN_PARKED ? p->park_ms : p->stop_ms;
    if (ok && p->drain_ms && drain_end >= p->drain_ms)
        metrics_observe(&l->metrics.drain_seconds, (double)(drain_end - p->drain_ms) / 1000);
    if (r->proof.delta.read) {
        l->metrics.reload_listen_overflows +=
            (uint64_t)(r->proof.delta.listen_overflows > 0 ? r->proof.delta.listen_overflows : 0);
        l->metrics.reload_listen_drops += (uint64_t)(r->proof.delta.listen_drops > 0 ? r->proof.delta.listen_drops : 0);
    }
    r->active = false;
}

/* A reload in sequence whose old generation drains: once every generation is gone, the new one
 * starts, from the held listeners' queues. If it cannot, the last good command line starts
 * again, cold (check_crash). */
static void continue_in_sequence(struct launcher *l, struct reload *r)
{
    if (l->stopping) {
        end_reload(l, r, false, "the launcher is stopping: no new generation was started");
        return;
    }
    show_drain_progress(r);
    if (!sequential_may_start(l->gens, l->gen_count))
        return;
    const char *failed = start_next_generation(l, r);
    if (failed) {
        l->orphaned_by_reload = r->previous;
        l->orphaning_gen = l->next_generation;
        l->orphaned_in_sequence = true;
        end_reload(l, r, false, failed);
    }
}

/* A reload's new generation failed beside the old one, which the evidence blames: the same
 * reload goes again, in sequence (sequential.h). */
static bool retry_in_sequence(const struct launcher *l, struct reload *r)
{
    if (r->sequential || l->stopping || !sequential_judge(r->next, r->previous))
        return false;
    char line[300];
    r->next = NULL; /* failed: it stops, and is forgotten once gone */
    r->sequential = true;
    sequential_begin(r->previous, line, sizeof line);
    ctl_server_progress(r->id, line);
    return true;
}

void finish_reloads(struct launcher *l)
{
    for (int i = 0; i < GENERATIONS_MAX; i++) {
        struct reload *r = &l->reloads[i];
        if (!r->active)
            continue;
        if (r->checking) {
            after_check(l, r);
            continue;
        }
        if (r->sequential && !r->next) {
            continue_in_sequence(l, r);
            continue;
        }
        if (retry_in_sequence(l, r))
            continue;
        char text[720], safe[4 * sizeof text];
        if (r->next->failed) {
            snprintf(text, sizeof text, "gen %d %s; gen %d %s", r->next->number, r->next->failure, r->previous->number,
                     r->sequential           ? "had stopped first (in sequence)"
                     : gen_dead(r->previous) ? "has died meanwhile"
                                             : "keeps serving");
            if (gen_dead(r->previous) && r->previous == l->serving) {
                l->orphaned_by_reload = r->previous;
                l->orphaning_gen = r->next->number;
                l->orphaned_in_sequence = r->sequential;
            }
            end_reload(l, r, false, text);
            sdnotify("READY=1\nSTATUS=reload failed: %s", notify_text(text, safe, sizeof safe));
        } else if (r->previous->state == GEN_GONE && !r->previous->stop_ms && r->previous->graceful_ms &&
                   r->next->ready_ms) { /* it stopped itself, as --graceful-signal asked */
            struct generation *n = r->next, *p = r->previous;
            snprintf(text, sizeof text,
                     "gen %d ready in %lld ms; gen %d stopped itself on its graceful signal, "
                     "%lld ms into its drain (%ld connection%s open at its start)",
                     n->number, (long long)(n->ready_ms - n->started_ms), p->number,
                     (long long)(p->gone_ms - p->drain_ms), p->drained_conns, p->drained_conns == 1 ? "" : "s");
            end_reload(l, r, true, text);
        } else if (r->previous->state == GEN_GONE && !r->previous->stop_ms && r->next->ready_ms) {
            snprintf(text, sizeof text, "gen %d ready in %lld ms; gen %d %s", r->next->number,
                     (long long)(r->next->ready_ms - r->next->started_ms), r->previous->number,
                     r->previous->drain_ms ? "died while draining" : "had died before it could drain");
            end_reload(l, r, true, text);
        } else if (r->previous->state == GEN_PARKED && r->next->ready_ms) {
            struct generation *n = r->next, *p = r->previous;
            char counts[96];
            snprintf(text, sizeof text,
                     "gen %d ready in %lld ms; gen %d drained %s in %lld ms, parked "
                     "for %lld ms (hotswap rollback brings it back)",
                     n->number, (long long)(n->ready_ms - n->started_ms), p->number,
                     draintext_counts(counts, sizeof counts, p->drained_conns, p->drained_datagrams),
                     (long long)(p->park_ms - p->drain_ms), (long long)p->settings->keep_old_ms);
            end_reload(l, r, true, text);
        } else if (r->previous->state == GEN_GONE && r->next->ready_ms) {
            struct generation *n = r->next, *p = r->previous;
            char ended[200];
            snprintf(text, sizeof text, "%sgen %d ready in %lld ms; gen %d %s, exited %lld ms later",
                     r->sequential ? "in sequence: " : "", n->number, (long long)(n->ready_ms - n->started_ms),
                     p->number, draintext_ended(ended, sizeof ended, p), (long long)(p->gone_ms - p->stop_ms));
            end_reload(l, r, true, text);
        } else {
            tell_ready(r);
            show_drain_progress(r);
        }
    }
}
