/* idleend.h: a draining generation's connections that nobody frames, ended once the kernel shows
 * them idle by turn (--idle-close turn; the rule: shim/common/idleturn.h). */
#ifndef HOTSWAP_IDLEEND_H
#define HOTSWAP_IDLEEND_H

struct generation;

/* How often a draining generation's connections are looked at, in ms. */
#define IDLE_END_LOOK_MS 50

/* One look, while the kernel shows the generation holding connections. On the seccomp route the
 * launcher judges each connection on a held listener's port itself, on a pidfd_getfd copy, and
 * shuts the reading side of each idle by turn (the same socket: the server reads the end of the
 * stream and closes it). On the preload route it asks each drained shim to look at its own
 * connections (HS_SIGVAL_TURN). Returns how many it ended itself. */
int idle_end_look(struct generation *g);

#endif
