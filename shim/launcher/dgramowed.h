/* dgramowed.h: how long a draining process's datagrams are owed a reply. The shim counts a UDP
 * server's datagrams received and not answered; a server that never answers some (a rate limit)
 * would hold every drain to --drain-timeout. What a process has not answered --datagram-timeout
 * after its drain began, and after its last reply, is no longer owed. */
#ifndef HOTSWAP_DGRAMOWED_H
#define HOTSWAP_DGRAMOWED_H

#include <stdbool.h>
#include <stdint.h>

#include "genstate.h"

/* A DRAINING or CONNS message from `proc` says it owes `datagrams` now. */
void dgram_owed_note(struct gen_proc *proc, int64_t datagrams, bool draining, int64_t now);

/* Are `proc`'s datagrams still owed at `now`? */
bool dgram_owed(const struct generation *g, const struct gen_proc *proc, int64_t now);

/* The datagrams g's processes left unanswered past the bound (no longer owed). */
long dgram_unanswered(const struct generation *g);

/* When the next of g's processes stops owing its datagrams (0: none will). */
int64_t dgram_unowed_at(const struct generation *g);

#endif
