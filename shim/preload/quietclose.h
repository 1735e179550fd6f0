/* quietclose.h: in a drain (default mode), when an idle keep-alive connection is ended. One whose
 * last answer said close (closemark.c) ends at once: its client sends nothing more. One answered
 * without the mark ends once it has been quiet a while: a busy client's next request is then
 * not on its way, and until then that request is answered with the mark instead. */
#ifndef HOTSWAP_QUIETCLOSE_H
#define HOTSWAP_QUIETCLOSE_H

#include <signal.h>
#include <stdbool.h>

/* Looks at every connection of the process: ends those idle and quiet, and looks again every
 * QUIET_EVERY_MS while some idle one is not quiet yet. In the drain handler too. */
void quietclose_sweep(void);

/* An answer on `fd` was completed during the drain. */
void quietclose_after_answer(int fd);

/* The drain signal came from the shim's own timer (the look again); `info` as the handler got it. */
bool quietclose_is_timer(const siginfo_t *info);

#endif
