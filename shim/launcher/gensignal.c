/* gensignal.c: signals to a generation. See gensignal.h. */
#define _GNU_SOURCE
#include "gensignal.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "genproc.h"
#include "genstate.h"
#include "members.h"
#include "procstat.h"

/* Is the process behind `pidfd` (pid `pid`) alive, a zombie included, and in group `pgid`? The
 * group is read from /proc first and believed only if the pidfd says, after, that the process is
 * still there: /proc/PID then was that process, not a later one given its pid. */
static bool alive_in_group(pid_t pid, int pidfd, pid_t pgid)
{
    struct proc_stat st;
    return pidfd >= 0 && proc_stat_read(pid, 0, &st) && st.pgrp == pgid &&
           syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

static bool member_in_group(pid_t pid, pid_t pgid)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    bool in = alive_in_group(pid, pidfd, pgid);
    if (pidfd >= 0)
        close(pidfd);
    return in;
}

bool gen_group_is_own(struct generation *g)
{
    /* our child, not reaped yet (a zombie keeps its pid); an adopted one is not our child: its
     * parent may reap it at any time, so it counts by its pidfd below like the others */
    if (!g->leader_reaped && !g->adopted)
        return true;
    for (int i = 0; i < g->proc_count; i++)
        if (alive_in_group(g->procs[i].pid, g->procs[i].pidfd, g->pid))
            return true;
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    for (int i = 0; i < count; i++)
        if (member_in_group(pids[i], g->pid))
            return true;
    return false;
}

/* `sig` to process `pid` through a pidfd: a process gone since it was listed is not replaced by
 * one that took its pid between the open and the signal. */
static void signal_member(pid_t pid, int sig)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        /* gone (ESRCH), or no fd to hold it by (the launcher at its fd limit): the pid was
         * listed just now, and a stop must still reach it */
        if (errno != ESRCH)
            kill(pid, sig);
        return;
    }
    syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
    close(pidfd);
}

void gen_signal_all(struct generation *g, int sig)
{
    const pid_t *pids;
    if (members_by_cgroup(g->members)) {
        if (sig == SIGKILL && members_kill_all(g->members))
            return;
        int count = gen_processes(g, &pids);
        for (int i = 0; i < count; i++)
            signal_member(pids[i], sig);
        if (count > 0)
            return;
        /* cgroup.procs unreadable (no fd left to open it) or empty: the process group, under the
         * rule below, is the reach left; it needs no fd */
    }
    bool group = gen_group_is_own(g);
    if (group)
        kill(-g->pid, sig);
    int count = gen_processes(g, &pids);
    for (int i = 0; i < count; i++) {
        struct proc_stat st;
        if (!group || !proc_stat_read(pids[i], 0, &st) || st.pgrp != g->pid)
            signal_member(pids[i], sig);
    }
}
