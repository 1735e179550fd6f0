/* sequential.h: the hand-over for a server that cannot run beside its old generation (it takes a
 * lock the old one holds, refuses to start while the pid in its pid file is alive, or loads a
 * data file the old one still writes).
 *
 * --overlap auto (default): generations overlap (start N+1, then drain N) until the evidence
 * (evidence.h) shows that a new generation failed because of its old one; then this reload is
 * tried again in sequence, and so is every later reload of this launcher. --overlap never: in
 * sequence from the first reload. --overlap always: never in sequence (the evidence is logged).
 *
 * In sequence: the old generation drains and stops while the launcher keeps every listener open
 * (the kernel queues new clients: none is refused), then the new generation starts and takes the
 * queue. If it fails, the last good command line starts again, cold (main.c's failed-reload
 * restart). Clients wait for the old generation's drain plus the new one's start. */
#ifndef HOTSWAP_SEQUENTIAL_H
#define HOTSWAP_SEQUENTIAL_H

#include <stdbool.h>
#include <stddef.h>

struct generation;

enum overlap { OVERLAP_AUTO, OVERLAP_NEVER, OVERLAP_ALWAYS };

void sequential_init(enum overlap mode);

/* Reloads go in sequence now (--overlap never, or switched on evidence). */
bool sequential_wanted(void);

/* For status: "auto (overlapping)", "never", "sequential since gen 2: gen 2 could not lock ..." */
const char *sequential_describe(void);

/* A reload's new generation `next`, overlapping `old`, is looked at on each pass of the loop.
 * A generation still starting that retries a lock `old` holds (twice, or blocked waiting on it),
 * or has loaded a file `old` holds open for writing, is failed at once (not after its 30 s of
 * retries; before it serves stale state). A generation that failed before it was ready
 * with evidence against `old` is diagnosed (one log line), and with --overlap auto the launcher
 * switches to sequence (logged once): true, and the caller tries the reload again in sequence. */
bool sequential_judge(struct generation *next, struct generation *old);

/* A reload's new generation `next` is ready and about to take over from `old`. If it loaded, while
 * starting, a file `old` holds open for writing (evidence.h), what it loaded may already be stale:
 * with --overlap auto it is failed here, before it serves (true), and sequential_judge() then
 * switches to sequence. Logged either way. */
bool sequential_refuse_takeover(struct generation *next, struct generation *old);

/* The old generation drains first: the line the waiting `hotswap reload` and the log show. */
void sequential_begin(struct generation *old, char *line, size_t size);

/* Every generation of the launcher is gone (the old one, and a failed attempt that overlapped
 * it): the new one may start. The failed attempt of a lock retrier would take the lock at once. */
bool sequential_may_start(struct generation *const *gens, int count);

#endif
