/* walkyield.h: a long walk over /proc (a process's fd table: thousands of readlinks, and on a
 * busy host as many chances to be preempted) gives the launcher's loop a turn every so often, so
 * that what cannot wait for the walk's end gets its answer: a thread of a generation on the
 * seccomp route waits in its trapped call (every signal handler's return, for a Go program)
 * until the launcher answers, and a Go program's stop-the-world collection waits for all of
 * them. The loop sets what a turn does; a turn never starts inside another. */
#ifndef HOTSWAP_WALKYIELD_H
#define HOTSWAP_WALKYIELD_H

/* How many entries a walk reads between turns. */
#define WALK_YIELD_EVERY 64

void walk_yield_set(void (*turn)(void *context), void *context);

/* A walk calls this every WALK_YIELD_EVERY entries: the loop's turn, unless one is under way. */
void walk_yield(void);

#endif
