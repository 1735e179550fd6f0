/* relay.h: --handover-idle, the launcher's side. An idle client handed over by a draining
 * generation waits here until the next generation's server accepts the wake-up connection the
 * relay makes to the listener; the shim there then claims the client (channel.h). */
#ifndef HOTSWAP_RELAY_H
#define HOTSWAP_RELAY_H

#include <stdbool.h>
#include <stdint.h>

/* Creates the shared table; -1 with errno when it cannot. */
int relay_init(void);

/* The table's fd for the generations to inherit, or -1 when --handover-idle is off. */
int relay_map_fd(void);

/* Clients are taken during a reload's drain, not a stop's (nobody would take them over). */
void relay_set_accepting(bool accepting);

/* A draining generation handed over `client`. Returns true if it waits for the next one. */
bool relay_take(int client);

/* The next generation claims slot `slot`: the client goes back on `reply`. */
void relay_claim(int slot, int reply);

/* Clients nobody claimed in time are closed (to them, an idle keep-alive close); wake-ups
 * connected since the last call shut their writing side (relay.c, nudge()). */
void relay_expire(int64_t now);

/* When relay_expire() has work next, or 0. */
int64_t relay_next_deadline(void);

#endif
