/* procstopped.c: has a process stopped yet? See procstopped.h. */
#define _GNU_SOURCE
#include "procstopped.h"
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PF_IO_WORKER in a thread's flags: an io_uring worker, which never stops for a signal. */
#define IO_WORKER_FLAG 0x10u

/* Can this thread run no more: stopped, traced, dead or gone? An io_uring worker counts as
 * stopped: it never does, and what it completes shows in the fd table like any accept. */
static bool thread_stopped(pid_t pid, pid_t tid)
{
    struct proc_stat st;
    if (!proc_stat_read(pid, tid, &st))
        return true;
    return (st.flags & IO_WORKER_FLAG) || strchr("TtZXx", st.state) != NULL;
}

bool proc_stopped(pid_t pid)
{
    char dir_path[48];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/task", (int)pid);
    DIR *tasks = opendir(dir_path);
    if (!tasks)
        return true;
    bool stopped = true;
    struct dirent *e;
    while (stopped && (e = readdir(tasks)))
        stopped = e->d_name[0] == '.' || thread_stopped(pid, (pid_t)atoi(e->d_name));
    closedir(tasks);
    return stopped;
}
