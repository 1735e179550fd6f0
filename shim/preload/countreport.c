/* countreport.c: the counts told while draining. Safe in a signal handler: atomics, a clock read
 * and a send on the channel. */
#include "countreport.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "channel.h"
#include "drainstate.h"
#include "fdtable.h"
#include "report.h"
#include "standalone.h"

/* Reports of the count asked for and not yet covered by a send. The first asker sends, and sends
 * again while others asked meanwhile, so the last message the launcher gets carries a count read
 * after the last change. No one waits for another: a signal handler that closes a connection
 * while its thread is sending only adds its request, which the interrupted send then covers (a
 * lock taken there would spin forever). */
static atomic_int count_requests;
static atomic_bool draining_owed; /* the next send says DRAINING, not CONNS */

/* A count other than 0 goes to the launcher at most every COUNT_EVERY_NS: 300 threads leaving a
 * drained accept at once would otherwise fill the channel (its messages are never waited for, so
 * the one that said 0 could be the one dropped). The launcher needs the 0 (it then looks at the
 * kernel at once) and progress for a waiting `hotswap reload`; what decides is the kernel. */
#define COUNT_EVERY_NS 20000000L
static atomic_long last_count_sent_ns;

static bool count_send_due(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* async-signal-safe */
    long ns = (long)now.tv_sec * 1000000000L + now.tv_nsec, last = atomic_load(&last_count_sent_ns);
    return ns - last >= COUNT_EVERY_NS && atomic_compare_exchange_strong(&last_count_sent_ns, &last, ns);
}

static void report_count(enum hs_msg_type type)
{
    if (type == HS_MSG_DRAINING)
        atomic_store(&draining_owed, true);
    if (atomic_fetch_add(&count_requests, 1) == 0) {
        int covered;
        do {
            covered = atomic_load(&count_requests);
            long open_conns = fdtable_open_conns(), datagrams = fdtable_datagrams_owed();
            bool draining_now = atomic_exchange(&draining_owed, false);
            if ((draining_now || open_conns + datagrams == 0 || count_send_due()) &&
                !report_counts(draining_now ? HS_MSG_DRAINING : HS_MSG_CONNS, open_conns, datagrams) && draining_now)
                atomic_store(&draining_owed, true); /* no room: the next count says DRAINING */
        } while (!atomic_compare_exchange_strong(&count_requests, &covered, 0));
    }
    standalone_note_drained(fdtable_open_conns() + fdtable_datagrams_owed());
}

void drain_note_conns(void)
{
    if (drain_begun())
        report_count(HS_MSG_CONNS);
}

void countreport_draining(void)
{
    report_count(HS_MSG_DRAINING);
}

void countreport_after_fork(void)
{
    atomic_store(&count_requests, 0); /* a send in flight was another thread's, not the child's */
}
