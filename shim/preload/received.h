/* received.h: connections (and listeners) a process is handed rather than accepts (makes). A primary that accepts and
 * passes each connection to its workers over a Unix socket (SCM_RIGHTS; node's cluster module
 * does by default) leaves the workers holding connections no accept() of theirs returned. Each
 * one whose local address is a held listener's is tracked as if the worker had accepted it:
 * counted, framed, closed when idle in a drain. A worker the primary exec'd takes part from the
 * first such connection, or its first wait on a listener it was handed (mode.h, shim_take_part). */
#ifndef HOTSWAP_RECEIVED_H
#define HOTSWAP_RECEIVED_H

#include <sys/socket.h>

/* A receive filled `msg`: any connection in its SCM_RIGHTS data that is on a held listener's
 * address is tracked. The caller checks msg_controllen first (nothing else on the hot path). */
void received_note(const struct msghdr *msg);

/* At the start of a program a process of the generation exec'd (the channel dormant): each
 * listening socket it inherited is taken as its own listener, so that its first wait on one
 * makes it take part (einhorn-style workers, and --serve-fd3 in tests/fixtures). Costs a read
 * of /proc/self/fd and a getsockopt per fd, at most INHERITED_SCAN_MAX fds. */
void received_scan_inherited(void);

#endif
