/* procstopped.c: has a process stopped yet? See procstopped.h. */
#define _GNU_SOURCE
#include "procstopped.h"
#include "procstat.h"

#include <string.h>

/* PF_IO_WORKER in a thread's flags: an io_uring worker, which never stops for a signal. */
#define IO_WORKER_FLAG 0x10u

/* Can this thread still run: not stopped, traced, dead or gone? An io_uring worker counts as
 * stopped: it never does, and what it completes shows in the fd table like any accept. */
static bool thread_runs(pid_t pid, pid_t tid, void *ctx)
{
    (void)ctx;
    struct proc_stat st;
    if (!proc_stat_read(pid, tid, &st))
        return false;
    return !(st.flags & IO_WORKER_FLAG) && !strchr("TtZXx", st.state);
}

bool proc_stopped(pid_t pid)
{
    return !proc_any_thread(pid, thread_runs, NULL);
}
