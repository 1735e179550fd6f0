/* crash.h: a generation that dies outside a reload is replaced from the held listeners, with
 * back-off (--restart); and a failed reload that left no generation serving starts the last good
 * command line again, whatever --restart says. */
#ifndef HOTSWAP_CRASH_H
#define HOTSWAP_CRASH_H

#include "launcher.h"

/* The serving generation died outside a reload. If the policy wants it replaced (and the
 * service has been ready at all: before that, a death is a start-up error the launcher exits
 * with), the replacement is scheduled; otherwise the launcher exits with its status once it is
 * gone, as with --restart never. */
void check_crash(struct launcher *l);

/* Starts the scheduled replacement once its back-off has passed. */
void restart_if_due(struct launcher *l, int64_t now);

#endif
