/* sequential.c: when generations go in sequence instead of overlapping: the --overlap mode, the
 * switch on evidence (evidence.c), and the steps main.c's reload takes in sequence. */
#define _GNU_SOURCE
#include "sequential.h"

#include <stdio.h>
#include <string.h>

#include "evidence.h"
#include "generation.h"
#include "log.h"

/* A retrier's lock call failing this many times on a file the old generation holds is evidence
 * enough: one failure may be a server trying a lock it can do without. */
#define RETRIES_AS_EVIDENCE 2

/* How often a starting generation's locks are looked at in /proc/locks (a blocked waiter makes
 * no failed call the shim could see). */
#define WAITER_LOOK_MS 100

/* The seccomp route sees no lock call: a starting generation that keeps open a file the old one
 * holds locked, on this many looks in a row, retries that lock (one look may fall between an
 * open and a server's giving up on a lock it can do without). */
#define LOCKED_OPEN_LOOKS 3

static struct {
    enum overlap mode;
    bool switched;
    char why[400];         /* the evidence the switch was made on */
    int judged_gen;        /* the last generation diagnosed: one line each */
    int refused_gen;       /* failed: it loaded what the old one writes */
    unsigned reads_judged; /* evidence_reads_seen() at the last look at the old one's files */
    char refused_why[400];
    int64_t next_waiter_look_ms;
    int locked_open_gen, locked_open_looks; /* the seccomp route's retrier, seen on so many looks */
    char described[480];
} S;

void sequential_init(enum overlap mode)
{
    S.mode = mode;
}

bool sequential_wanted(void)
{
    return S.mode == OVERLAP_NEVER || S.switched;
}

const char *sequential_describe(void)
{
    if (S.mode == OVERLAP_NEVER)
        return "never (reloads in sequence: the old generation stops before the new one starts)";
    if (S.switched) {
        snprintf(S.described, sizeof S.described, "auto: reloads in sequence since %s", S.why);
        return S.described;
    }
    return S.mode == OVERLAP_ALWAYS ? "always" : "auto (generations overlap)";
}

/* Failed before it was ready: exited, or failed by the judge as a retrier. */
static bool failed_at_start(const struct generation *g)
{
    return g->failed && !g->ready_ms;
}

static bool evidence_against(struct generation *next, struct generation *old, char *why, size_t size)
{
    if (S.refused_gen == next->number && next->failed) {
        snprintf(why, size, "%s", S.refused_why);
        return true;
    }
    if (evidence_lock_held(next, old, 1, why, size) || evidence_pid_probed(next, old, why, size))
        return true;
    /* The seccomp route sees no lock call: the exit, and a lock the kernel shows the old holding. */
    return next->seccomp && evidence_old_holds_lock(next, old, why, size);
}

static void diagnose(const struct generation *next, const char *why)
{
    if (S.judged_gen == next->number)
        return;
    S.judged_gen = next->number;
    hs_log("%s", why);
}

/* `next` read a file `old` holds open for writing: failed, with --overlap auto (true). */
static bool refuse_stale_load(struct generation *next, struct generation *old)
{
    char why[sizeof S.why];
    if (!evidence_loaded_what_old_writes(next, old, why, sizeof why))
        return false;
    diagnose(next, why);
    if (S.mode != OVERLAP_AUTO)
        return false;
    snprintf(S.refused_why, sizeof S.refused_why, "%s", why);
    S.refused_gen = next->number;
    gen_fail(next, "loaded a file its old generation still writes: the two cannot overlap");
    return true;
}

/* The seccomp route: `next` kept open a file `old` holds locked, look after look. */
static bool locked_open_kept(struct generation *next, struct generation *old, char *why, size_t size)
{
    if (!next->seccomp)
        return false;
    if (S.locked_open_gen != next->number) {
        S.locked_open_gen = next->number;
        S.locked_open_looks = 0;
    }
    if (!evidence_open_on_held_lock(next, old, why, size)) {
        S.locked_open_looks = 0;
        return false;
    }
    return ++S.locked_open_looks >= LOCKED_OPEN_LOOKS;
}

bool sequential_judge(struct generation *next, struct generation *old)
{
    char why[sizeof S.why];
    if (next->state == GEN_STARTING && !sequential_wanted() && S.mode != OVERLAP_ALWAYS) {
        int64_t now = now_ms();
        bool retrying = evidence_lock_held(next, old, RETRIES_AS_EVIDENCE, why, sizeof why);
        if (!retrying && now >= S.next_waiter_look_ms) {
            S.next_waiter_look_ms = now + WAITER_LOOK_MS;
            retrying = evidence_lock_waited(next, old, why, sizeof why) || locked_open_kept(next, old, why, sizeof why);
        }
        if (retrying) {
            diagnose(next, why);
            snprintf(S.refused_why, sizeof S.refused_why, "%s", why); /* the switch's reason, as seen */
            S.refused_gen = next->number;
            gen_fail(next, "retries a lock its old generation holds: it cannot start beside it");
        } else if (evidence_reads_seen() != S.reads_judged) {
            S.reads_judged = evidence_reads_seen();
            if (!refuse_stale_load(next, old))
                return false;
        } else {
            return false;
        }
    }
    if (!(failed_at_start(next) || S.refused_gen == next->number) || !evidence_against(next, old, why, sizeof why))
        return false;
    diagnose(next, why);
    if (S.mode != OVERLAP_AUTO || S.switched)
        return false;
    S.switched = true;
    snprintf(S.why, sizeof S.why, "%s", why);
    hs_log("gen %d cannot run beside gen %d: this reload and every later one go in sequence (--overlap never): "
           "gen %d drains and stops first, the listeners held, then the new generation starts",
           next->number, old->number, old->number);
    return true;
}

void sequential_begin(struct generation *old, char *line, size_t size)
{
    snprintf(line, size,
             "reload in sequence: gen %d drains and stops first (its listeners held: new clients "
             "wait in the queue), then the new generation starts",
             old->number);
    hs_log("%s", line);
    if (old->state == GEN_READY || old->state == GEN_STARTING)
        gen_drain(old);
}

bool sequential_may_start(struct generation *const *gens, int count)
{
    for (int i = 0; i < count; i++)
        if (gens[i]->state != GEN_GONE)
            return false;
    return true;
}

bool sequential_refuse_takeover(struct generation *next, struct generation *old)
{
    if (!old || sequential_wanted() || evidence_reads_seen() == S.reads_judged)
        return false;
    S.reads_judged = evidence_reads_seen();
    return refuse_stale_load(next, old);
}
