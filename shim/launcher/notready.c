/* notready.c: why a generation is not ready, as far as the launcher can tell: a listener the shim
 * never saw (Go, a static binary, a wrapper that forked the server, a program it exec'd), a
 * process without the shim. Said once in the log, and in a failed reload's reason. */
#define _GNU_SOURCE
#include "notready.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conncount.h"
#include "genproc.h"
#include "log.h"
#include "procstat.h"

/* A holder of the socket that has no shim in charge explains it best (an exec'd worker that
 * listens on a socket its parent bound). */
static bool shim_not_in_charge(pid_t pid, void *ctx)
{
    const struct generation *g = ctx;
    return !gen_catches_signal(pid, g->settings->drain_signal);
}

/* The listener's holder is a program the command's own process forked and exec'd while it lives
 * on (a shell running the server as a child, not with exec): the hand-over, like systemd's
 * LISTEN_PID, is for the process hotswap started, so the wrapper keeps the listeners and the
 * server binds its own. */
static bool forked_by_wrapper(const struct generation *g, pid_t holder)
{
    struct proc_stat held_by, leader;
    return holder != g->pid && proc_stat_read(holder, 0, &held_by) && held_by.ppid == g->pid &&
           proc_stat_read(g->pid, 0, &leader) && leader.state != 'Z' && gen_shim_mapped_in(holder);
}

/* The kernel shows a listening socket in the generation that the launcher does not hold: the
 * server made it past the shim. Why, as far as the launcher can tell, said once. */
static void look_for_unseen_listener(struct generation *g)
{
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    pid_t holder;
    char name[80], exe[128];
    if (g->unseen_listener[0] || count <= 0 ||
        !conncount_unheld_listener(pids, count, g->private_listeners, g->private_count, shim_not_in_charge, g, &holder,
                                   name, sizeof name))
        return;
    gen_exe_of(holder, exe, sizeof exe);
    const char *why;
    if (gen_catches_signal(holder, g->settings->drain_signal)) /* the shim is in charge there now */
        why = "the server makes its own system calls (a Go or statically linked program?), which "
              "libhotswap.so cannot reach";
    else if (forked_by_wrapper(g, holder))
        why = "the command hotswap started forked it instead of exec'ing it (a shell wrapper?): the listeners "
              "are handed to the command's own process; make the wrapper exec the server (exec ./server ...)";
    else if (gen_shim_mapped_in(holder))
        why = "that process is a program the server exec'd, where the shim is not in charge (only the "
              "process hotswap starts, the processes it forks, and programs they exec that are handed "
              "a listener or a connection, hand over and drain)";
    else
        why = "the shim is not loaded in that process (statically linked? setuid? LD_PRELOAD cleared?)";
    snprintf(g->unseen_listener, sizeof g->unseen_listener,
             "gen %d pid %d (%.80s) listens on %s, but the shim never saw that socket: %s", g->number, (int)holder, exe,
             name, why);
    hs_log("%s; it will never count as ready", g->unseen_listener);
}

const char *gen_unseen_listener(struct generation *g)
{
    if (g->state == GEN_STARTING)
        look_for_unseen_listener(g);
    return g->unseen_listener;
}

/* The first live process of the generation without the shim, or 0. */
static pid_t proc_without_shim(const struct generation *g)
{
    bool any_with = false;
    pid_t without = 0;
    for (int i = 0; i < g->proc_count; i++) {
        if (g->procs[i].pidfd < 0)
            continue;
        if (gen_shim_mapped_in(g->procs[i].pid))
            any_with = true;
        else if (!without)
            without = g->procs[i].pid;
    }
    return any_with ? 0 : without;
}

void gen_explain_not_ready(struct generation *g, char *why, size_t size)
{
    long timeout = (long)g->settings->ready_timeout_ms;
    if (gen_unseen_listener(g)[0]) {
        snprintf(why, size, "not ready within %ld ms: %.360s", timeout, g->unseen_listener);
        return;
    }
    pid_t bare = proc_without_shim(g);
    if (!g->seccomp && (!g->said_hello || bare)) {
        char exe[256];
        gen_exe_of(bare ? bare : g->pid, exe, sizeof exe);
        snprintf(why, size,
                 "never said hello within %ld ms: the shim is not loaded in it (pid %d, %s: "
                 "statically linked? setuid? LD_PRELOAD cleared?)",
                 timeout, (int)(bare ? bare : g->pid), exe);
    } else if (gen_waits_for_notify(g)) {
        snprintf(why, size, "not ready within %ld ms (--ready notify: it never sent READY=1 to NOTIFY_SOCKET)",
                 timeout);
    } else {
        snprintf(why, size, "not ready within %ld ms (it never waited for connections on a listener)", timeout);
    }
}
