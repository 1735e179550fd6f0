/* newercall.c: a newer generation's call to its own port, taken by an older one. See
 * newercall.h. */
#include "newercall.h"

#include "conncount.h"
#include "genstate.h"
#include "idleturn.h"
#include "log.h"
#include "tcpdiag.h"

#define LOOK_AFTER_MS 500  /* into the drain: until then, the connections left are ending anyway */
#define LOOK_EVERY_MS 1000 /* a walk over the newer generations' fd tables at most so often */
#define NEWER_PROCS_MAX 256

static int index_of(const unsigned long *set, int count, unsigned long inode)
{
    for (int i = 0; i < count; i++)
        if (set[i] == inode)
            return i;
    return -1;
}

/* Nothing in flight on the connection, by the kernel, at both ends. */
static bool nothing_in_flight(const struct conn_tuple *tuple)
{
    struct tcp_state server, client;
    return tcpdiag_read(tuple, true, &server) && tcpdiag_read(tuple, false, &client) && server.unread == 0 &&
           server.unsent == 0 && client.unread == 0 && client.unsent == 0 && idle_by_info(&server.info, true);
}

bool newer_call_excused(void *ctx, unsigned long inode)
{
    struct newer_look *look = ctx;
    struct newer_calls *calls = &look->g->watch.newer;
    struct conn_tuple tuple;
    unsigned long client = conncount_tcp_peer(look->sockets, inode, &tuple);
    if (!client)
        return false;
    int at = index_of(calls->confirmed, calls->confirmed_count, client);
    if (at < 0) {
        if (calls->pending_count < NEWER_CALLS_MAX && index_of(calls->pending, calls->pending_count, client) < 0)
            calls->pending[calls->pending_count++] = client;
        return false;
    }
    if (!nothing_in_flight(&tuple))
        return false;
    if (!calls->told) {
        hs_log("gen %d: a connection pid %d of a newer generation made to its own port, nothing in flight on it: "
               "the drain does not wait for it",
               look->g->number, (int)calls->holder[at]);
        calls->told = true;
    }
    return true;
}

bool newer_calls_look(struct generation *g, long kernel_conns, int64_t now)
{
    struct newer_calls *calls = &g->watch.newer;
    int pending = calls->pending_count;
    calls->pending_count = 0;
    const struct gen_settings *settings = g->settings;
    if (pending == 0 || kernel_conns <= 0 || now - g->drain_ms < LOOK_AFTER_MS || now < calls->next_walk_ms ||
        !settings->newer_processes || calls->confirmed_count == NEWER_CALLS_MAX)
        return false;
    calls->next_walk_ms = now + LOOK_EVERY_MS;
    pid_t pids[NEWER_PROCS_MAX];
    int count = settings->newer_processes(settings->newer_ctx, g->number, pids, NEWER_PROCS_MAX);
    bool found = false;
    for (int i = 0; i < count && calls->confirmed_count < NEWER_CALLS_MAX; i++) {
        bool held[NEWER_CALLS_MAX];
        conncount_held_among(&pids[i], 1, calls->pending, pending, held);
        for (int k = 0; k < pending && calls->confirmed_count < NEWER_CALLS_MAX; k++) {
            if (!held[k] || index_of(calls->confirmed, calls->confirmed_count, calls->pending[k]) >= 0)
                continue;
            calls->holder[calls->confirmed_count] = pids[i];
            calls->confirmed[calls->confirmed_count++] = calls->pending[k];
            found = true;
        }
    }
    return found;
}
