/* quietwait.c: repeating a wait the drain signal cut short. See quietwait.h. */
#define _GNU_SOURCE
#include "quietwait.h"

#include <errno.h>

#include "resume.h"

static struct timespec now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

void quiet_wait_end_at(struct quiet_wait *w, const struct timespec *timeout)
{
    w->ends = now();
    w->ends.tv_sec += timeout->tv_sec;
    w->ends.tv_nsec += timeout->tv_nsec;
    if (w->ends.tv_nsec >= 1000000000) {
        w->ends.tv_sec++;
        w->ends.tv_nsec -= 1000000000;
    }
}

bool quiet_wait_again(struct quiet_wait *w, int rc, struct timespec *left)
{
    if (rc >= 0 || errno != EINTR || !quiet_wait_drain_alone(w))
        return false;
    w->mark = resume_mark();
    if (w->timed && !w->ends.tv_sec && !w->ends.tv_nsec) { /* a look, not a wait */
        *left = (struct timespec){0, 0};
    } else if (w->timed) {
        struct timespec t = now();
        left->tv_sec = w->ends.tv_sec - t.tv_sec;
        left->tv_nsec = w->ends.tv_nsec - t.tv_nsec;
        if (left->tv_nsec < 0) {
            left->tv_sec--;
            left->tv_nsec += 1000000000;
        }
        if (left->tv_sec < 0)
            *left = (struct timespec){0, 0}; /* due: one last look, as the timeout would have given */
    }
    return true;
}

int quiet_wait(wait_once_fn once, void *args, const struct timespec *timeout)
{
    struct quiet_wait w;
    quiet_wait_begin(&w, timeout);
    struct timespec left;
    int rc;
    while ((rc = once(args, timeout)) < 0 && quiet_wait_again(&w, rc, &left))
        if (timeout)
            timeout = &left;
    return rc;
}
