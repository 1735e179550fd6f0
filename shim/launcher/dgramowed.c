/* dgramowed.c: how long a draining process's datagrams are owed a reply (dgramowed.h).
 *
 * Each datagram was received before the drain (a drained process receives nothing), so each had
 * at least the bound; a server still answering a backlog, or slowed down by a busy machine,
 * keeps what it owes, since each reply moves the clock. */
#include "dgramowed.h"

#include <limits.h>

#include "log.h"

void dgram_owed_note(struct gen_proc *proc, int64_t datagrams, bool draining, int64_t now)
{
    if (proc->datagrams != datagrams || !proc->drain_said_ms)
        proc->datagrams_moved_ms = now;
    if (draining && !proc->drain_said_ms)
        proc->drain_said_ms = now;
}

bool dgram_owed(const struct generation *g, const struct gen_proc *proc, int64_t now)
{
    return proc->datagrams > 0 &&
           (!proc->drain_said_ms || now < proc->datagrams_moved_ms + g->settings->datagram_timeout_ms);
}

long dgram_unanswered(const struct generation *g)
{
    long unanswered = 0;
    int64_t now = now_ms();
    for (int i = 0; i < g->proc_count; i++) {
        const struct gen_proc *proc = &g->procs[i];
        if (proc->drain_reported && proc->datagrams > 0 && !dgram_owed(g, proc, now) &&
            unanswered <= LONG_MAX - proc->datagrams)
            unanswered += proc->datagrams;
    }
    return unanswered;
}

int64_t dgram_unowed_at(const struct generation *g)
{
    int64_t due = 0, now = now_ms();
    for (int i = 0; i < g->proc_count; i++) {
        const struct gen_proc *proc = &g->procs[i];
        int64_t at = proc->datagrams_moved_ms + g->settings->datagram_timeout_ms;
        if (proc->pidfd >= 0 && proc->drain_said_ms && dgram_owed(g, proc, now) && (!due || at < due))
            due = at;
    }
    return due;
}
