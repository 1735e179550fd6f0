/* restart.h: replacing a generation that dies outside a reload: the policy, and the back-off
 * that keeps a server crashing at start from being restarted in a tight loop. */
#ifndef HOTSWAP_RESTART_H
#define HOTSWAP_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum restart_policy { RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_NEVER, RESTART_POLICIES };

#define RESTART_FIRST_BACKOFF_MS 100         /* the second restart in a row waits this long... */
#define RESTART_DEFAULT_MAX_BACKOFF_MS 10000 /* ...doubling each time up to --restart-max-backoff */
#define RESTART_STABLE_MIN_MS \
    1000 /* a generation ready for the maximum back-off (at
                                                 least this) resets the back-off */

struct restarter {
    enum restart_policy policy;
    int64_t max_backoff_ms;
    int streak; /* restarts since a generation last stayed up (see restart_schedule) */
    long total; /* restarts in the launcher's life */
    bool pending;
    int64_t due_ms; /* when the pending restart starts (monotonic ms) */
};

/* "on-failure", "always", "never" -> policy, or -1. */
/* Each policy's name, as --restart takes it and status shows it. */
extern const char *const restart_policy_names[RESTART_POLICIES];
const char *restart_policy_name(enum restart_policy policy);

/* Whether a generation that ended this way is replaced. `clean_exit`: its command exited 0 and
 * nothing of it outlived that (a daemon that forked, then died, did not end cleanly). */
bool restart_wanted(const struct restarter *r, bool clean_exit);

/* Schedules the next restart and returns its delay: at once after a generation that had stayed
 * ready for the maximum back-off (at least RESTART_STABLE_MIN_MS), else
 * RESTART_FIRST_BACKOFF_MS doubling up to the maximum.
 * `ready_for_ms`: how long the dead generation had been ready (0 if it never was). */
int64_t restart_schedule(struct restarter *r, int64_t now, int64_t ready_for_ms);

/* The pending restart is due now. */
bool restart_due(const struct restarter *r, int64_t now);

/* Milliseconds until the pending restart (0: due), or -1 if none is pending. */
int64_t restart_wait_ms(const struct restarter *r, int64_t now);

void restart_cancel(struct restarter *r);

/* A reload's new generation serves: whatever died before, the server starts and serves now, so
 * the next crash is not part of a loop (the back-off starts again from nothing). */
void restart_note_reload(struct restarter *r);

#endif
