/* quietwait.h: the drain signal never reaches the server as EINTR from a wait.
 *
 * The kernel returns EINTR from poll, select, epoll_wait and the sleeps when a handler runs,
 * SA_RESTART or not, and some servers take it for an error: varnish's cache child reads it as the
 * end of its command channel and exits, with connections in hand. A wait that comes back with
 * EINTR while the drain handler ran in its thread is made again, for what is left of its timeout,
 * so the server sees what it would have seen without the drain. Not when a handler of the
 * server's ran in that same wake-up too (sigwatch.h): the drain signal comes more than once in a
 * drain, and a stop that came with one must end the wait as it would have. */
#ifndef HOTSWAP_QUIETWAIT_H
#define HOTSWAP_QUIETWAIT_H

#include <stdbool.h>
#include <time.h>

#include "resume.h"
#include "sigwatch.h"

struct quiet_wait {
    unsigned mark;        /* drain handler runs in this thread when the wait began */
    unsigned served;      /* and the server's handlers' runs */
    struct timespec ends; /* CLOCK_MONOTONIC; meaningless without a timeout */
    bool timed;
};

/* The end of a wait with `timeout` from now, read from the clock. */
void quiet_wait_end_at(struct quiet_wait *w, const struct timespec *timeout);

/* Before a wait with `timeout` (NULL: none). Only a wait with a timeout reads the clock. */
static inline void quiet_wait_begin(struct quiet_wait *w, const struct timespec *timeout)
{
    w->mark = resume_mark();
    w->served = server_handler_runs;
    w->timed = timeout != NULL;
    w->ends = (struct timespec){0, 0};
    if (timeout && (timeout->tv_sec || timeout->tv_nsec))
        quiet_wait_end_at(w, timeout);
}

/* The drain's handler ran in this thread since `w` began, and none of the server's did. */
static inline bool quiet_wait_drain_alone(const struct quiet_wait *w)
{
    return resume_mark() != w->mark && server_handler_runs == w->served;
}

/* After it returned `rc` (errno as it left it): true if the drain alone cut it short; then
 * `left` is what remains of its timeout, and the caller waits again. */
bool quiet_wait_again(struct quiet_wait *w, int rc, struct timespec *left);

/* One wait of the poll family, as the server asked for it but with `timeout` (NULL: none). */
typedef int (*wait_once_fn)(void *args, const struct timespec *timeout);

/* The poll family's one sequence: the wait, made again for what is left of `timeout` while the
 * drain alone cut it short. */
int quiet_wait(wait_once_fn once, void *args, const struct timespec *timeout);

#endif
