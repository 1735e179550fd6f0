/* standalone.h: hot restart without the launcher, like nginx's binary upgrade.
 *
 * `LD_PRELOAD=libhotswap.so ./server`, then `kill -HUP <pid>`: the process starts its own binary
 * again (the file now at its path, so an upgraded one) with its listeners, waits until the new
 * process is ready, then drains; each of its processes stops itself (HOTSWAP_STOP_SIGNAL, default
 * TERM) once it has no connection left. A new process that exits before it is ready changes
 * nothing: the old one keeps serving. */
#ifndef HOTSWAP_STANDALONE_H
#define HOTSWAP_STANDALONE_H

#include <stdbool.h>
#include <sys/types.h>

/* May this process run standalone? Not if it was exec'd by a standalone server (a CGI child). */
bool standalone_eligible(void);

/* Installs the trigger handler and remembers how to start the binary again. */
void standalone_init(void);

/* The trigger signal, when standalone (0 otherwise). */
int standalone_trigger_signal(void);

/* A child was forked: it drains with us. In a child: forget the parent's children. */
void standalone_note_child(pid_t child);
void standalone_after_fork(void);

/* While draining, open connections fell to `left`: at zero the process stops itself. */
void standalone_note_drained(long left);

#endif
