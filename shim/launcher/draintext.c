/* draintext.c: the words a drain's outcome is told in (draintext.h). A UDP server has no
 * connections: "drained 20 connections" for its datagrams sent operators looking for TCP
 * clients that never were. */
#include "draintext.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "genstate.h"
#include "listeners.h"

const char *draintext_counts(char *buf, size_t size, long conns, long datagrams)
{
    bool stream = false, dgram = false;
    for (int i = 0; i < listeners_count(); i++) {
        if (strncmp(listeners_get(i)->name, "udp:", 4) == 0)
            dgram = true;
        else
            stream = true;
    }
    bool say_conns = stream || !dgram || conns > 0, say_datagrams = dgram || datagrams > 0;
    int n = 0;
    if (say_conns)
        n = snprintf(buf, size, "%ld connection%s", conns, conns == 1 ? "" : "s");
    if (say_datagrams && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "%s%ld datagram%s", say_conns ? " and " : "", datagrams,
                 datagrams == 1 ? "" : "s");
    return buf;
}

const char *draintext_ended(char *buf, size_t size, const struct generation *g)
{
    char counts[96];
    long long ms = (long long)(g->stop_ms - g->drain_ms);
    if (!g->cut)
        snprintf(buf, size, "drained %s in %lld ms",
                 draintext_counts(counts, sizeof counts, g->drained_conns, g->drained_datagrams), ms);
    else if (strcmp(g->cut_why, "drain timeout") == 0) /* never "drained": it says what it cut */
        snprintf(buf, size, "cut %s at the drain timeout in %lld ms",
                 draintext_counts(counts, sizeof counts, g->cut_conns, g->cut_datagrams), ms);
    else
        snprintf(buf, size, "cut %s (%s: connections cut) in %lld ms",
                 draintext_counts(counts, sizeof counts, g->cut_conns, g->cut_datagrams), g->cut_why, ms);
    return buf;
}

const char *draintext_cut(char *buf, size_t size, const char *reason, long conns, long datagrams, int64_t drain_ms,
                          int holder, long shim_conns)
{
    if (reason) {
        char owed[48] = "";
        if (datagrams > 0)
            snprintf(owed, sizeof owed, " and %ld datagram%s owed", datagrams, datagrams == 1 ? "" : "s");
        snprintf(buf, size, "%s: cutting %ld open connection%s%s", reason, conns, conns == 1 ? "" : "s", owed);
        return buf;
    }
    /* A drain that ran out of time did not drain: the line says what it cut, and what held it,
     * for whoever wonders why it took so long (hotswap try reads it: a shim count of 0 there
     * means connections the shim never saw). */
    char counts[96], held[96] = "";
    if (holder > 0)
        snprintf(held, sizeof held, "; pid %d holds one, the shim counted %ld", holder, shim_conns);
    snprintf(buf, size, "cut %s at the drain timeout (%lld ms)%s",
             draintext_counts(counts, sizeof counts, conns, datagrams), (long long)drain_ms, held);
    return buf;
}
