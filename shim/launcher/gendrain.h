/* gendrain.h: a generation's drain: the transition to it, its end, and the parts its other
 * files use. */
#ifndef HOTSWAP_GENDRAIN_H
#define HOTSWAP_GENDRAIN_H

#include "genstate.h"

/* The transition READY -> DRAINING (generation.h has the others). */
void gen_drain(struct generation *g);

/* Draining: signals any process that now needs the drain, and says whether none of the
 * generation's processes holds a connection any more (the kernel decides). */
bool gen_drained(struct generation *g);

/* Open connections now: the kernel's figure at the last look, else the shim's. */
long gen_open_conns(const struct generation *g);

/* Open connections (the kernel's figure at the last look, else the shim's) and datagrams owed. */
void gen_open_counts(const struct generation *g, long *conns, long *datagrams);

/* The shims' own counts of open connections and datagrams owed; true if every process sent the
 * drain signal has begun its drain (said DRAINING). */
bool gen_shim_counts(const struct generation *g, long *conns, long *datagrams);

/* A live process sent the drain signal whose shim has not said DRAINING (what holds a drain
 * the kernel shows empty); 0 if none. */
pid_t gen_silent_drainer(const struct generation *g);

/* Lets the processes the last look paused (SIGSTOP) run again. */
void gen_thaw(struct generation *g);

/* The drain's watch as before any look (a re-armed generation drains afresh). */
void drain_watch_reset(struct generation *g);

#endif
