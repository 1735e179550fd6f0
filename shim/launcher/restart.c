/* restart.c: the crash-restart policy and its exponential back-off. */
#define _GNU_SOURCE
#include "restart.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

const char *const restart_policy_names[RESTART_POLICIES] = {
    [RESTART_ON_FAILURE] = "on-failure",
    [RESTART_ALWAYS] = "always",
    [RESTART_NEVER] = "never",
};

const char *restart_policy_name(enum restart_policy policy)
{
    return restart_policy_names[policy];
}

bool restart_wanted(const struct restarter *r, bool clean_exit)
{
    switch (r->policy) {
    case RESTART_ALWAYS:
        return true;
    case RESTART_ON_FAILURE:
        return !clean_exit;
    case RESTART_NEVER:
    default:
        return false;
    }
}

int64_t restart_schedule(struct restarter *r, int64_t now, int64_t ready_for_ms)
{
    /* Stable: it served at least as long as the longest wait, so crashes that far apart are
     * not a loop worth slowing down. */
    int64_t stable_ms = r->max_backoff_ms > RESTART_STABLE_MIN_MS ? r->max_backoff_ms : RESTART_STABLE_MIN_MS;
    if (ready_for_ms >= stable_ms)
        r->streak = 0;
    int64_t delay = 0;
    if (r->streak > 0) {
        delay = RESTART_FIRST_BACKOFF_MS;
        for (int i = 1; i < r->streak && delay < r->max_backoff_ms; i++)
            delay *= 2;
        if (delay > r->max_backoff_ms)
            delay = r->max_backoff_ms;
    }
    r->streak++;
    r->total++;
    r->pending = true;
    r->due_ms = now + delay;
    return delay;
}

bool restart_due(const struct restarter *r, int64_t now)
{
    return r->pending && now >= r->due_ms;
}

int64_t restart_wait_ms(const struct restarter *r, int64_t now)
{
    if (!r->pending)
        return -1;
    return r->due_ms <= now ? 0 : r->due_ms - now;
}

void restart_cancel(struct restarter *r)
{
    r->pending = false;
}

void restart_note_reload(struct restarter *r)
{
    r->streak = 0;
}
