/* countreport.h: the open-connection and datagram counts, told while draining: to the launcher
 * on the channel, or to standalone mode's exit. */
#ifndef HOTSWAP_COUNTREPORT_H
#define HOTSWAP_COUNTREPORT_H

/* The open-connection count changed (fdtable.h); reported while draining. Its changer calls it. */
void drain_note_conns(void);

/* The drain began (or goes on in a forked child): DRAINING with the counts. */
void countreport_draining(void);

/* In a child after fork(): a send in flight was another thread's, not the child's. */
void countreport_after_fork(void);

#endif
