/* quietwait.h: the drain signal never reaches the server as EINTR from a wait.
 *
 * The kernel returns EINTR from poll, select, epoll_wait and the sleeps when a handler runs,
 * SA_RESTART or not, and some servers take it for an error: varnish's cache child reads it as the
 * end of its command channel and exits, with connections in hand. A wait that comes back with
 * EINTR while the drain handler ran in its thread is made again, for what is left of its timeout,
 * so the server sees what it would have seen without the drain. (Were the server's own handler to
 * run in that same wait, its EINTR would be hidden too, until the wait ends: the drain signal
 * comes once per process, so that takes two signals within the same instant.) */
#ifndef HOTSWAP_QUIETWAIT_H
#define HOTSWAP_QUIETWAIT_H

#include <stdbool.h>
#include <time.h>

struct quiet_wait {
    unsigned mark;          /* drain handler runs in this thread when the wait began */
    struct timespec ends;   /* CLOCK_MONOTONIC; meaningless without a timeout */
    bool timed;
};

/* Before a wait with `timeout` (NULL: none). */
void quiet_wait_begin(struct quiet_wait *w, const struct timespec *timeout);
void quiet_wait_begin_ms(struct quiet_wait *w, int timeout_ms);

/* After it returned `rc` (errno as it left it): true if the drain alone cut it short; then
 * `left` (or `left_ms`) is what remains of its timeout, and the caller waits again. */
bool quiet_wait_again(struct quiet_wait *w, int rc, struct timespec *left);
bool quiet_wait_again_ms(struct quiet_wait *w, int rc, int *left_ms);

#endif
