/* reload.h: a reload's life: asked (SIGHUP, the control socket), checked, the new generation
 * started beside the old one or in sequence, ready, the old one drained, parked or stopped, and
 * the outcome said to whoever asked; a stop and a rollback too. */
#ifndef HOTSWAP_RELOAD_H
#define HOTSWAP_RELOAD_H

#include "launcher.h"

/* A reload asked for (SIGHUP, hotswap reload): NULL once it has begun, else why not, counted. */
const char *begin_reload(struct launcher *l, int *reload_id, char **argv);

/* A graceful stop asked for (SIGTERM, hotswap stop): every generation drains, then the launcher
 * exits; NULL, or why not. */
const char *begin_stop(struct launcher *l);

/* Drained from serving: parked, in place of any older parked one, or stopped. */
void park_or_stop(struct launcher *l, struct generation *g);

/* hotswap rollback: the parked generation serves again (`done` says so); NULL, or why not. */
const char *begin_rollback(struct launcher *l, char *done, size_t size);

/* Each reload under way moves on as its generations did: ready, drained, failed, gone; the
 * outcome goes to whoever asked, to systemd and to status. */
void finish_reloads(struct launcher *l);

#endif
