/* hooks_sleep.c: the interposed sleeps. A sleep the drain signal cut short goes on for the time
 * it had left, as if the signal had not come (quietwait.h); any other interruption is returned as
 * it was. */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>

#include "export.h"
#include "real.h"
#include "resume.h"

HS_EXPORT int nanosleep(const struct timespec *request, struct timespec *remaining)
{
    real_ready();
    struct timespec left;
    for (;;) {
        unsigned mark = resume_mark();
        int rc = real.nanosleep(request, &left);
        if (rc == 0 || errno != EINTR || resume_mark() == mark) {
            if (rc < 0 && errno == EINTR && remaining)
                *remaining = left;
            return rc;
        }
        request = &left; /* interrupted by the drain alone: the rest of the sleep */
    }
}

/* Returns the error number itself, not -1 and errno. */
HS_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remaining)
{
    real_ready();
    struct timespec left;
    for (;;) {
        unsigned mark = resume_mark();
        int rc = real.clock_nanosleep(clock, flags, request, &left);
        if (rc != EINTR || resume_mark() == mark) {
            if (rc == EINTR && remaining && !(flags & TIMER_ABSTIME))
                *remaining = left;
            return rc;
        }
        if (!(flags & TIMER_ABSTIME)) /* an absolute end stays where it was */
            request = &left;
    }
}
