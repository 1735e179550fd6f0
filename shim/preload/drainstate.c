/* drainstate.c: the drain's settings and whether it has begun. */
#define _GNU_SOURCE
#include "drainstate.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "channel.h"

static int drain_signo;
static atomic_bool draining;
static enum idle_close idle_close_mode; /* --idle-close (HOTSWAP_IDLE_CLOSE) */

int drain_signal(void)
{
    return drain_signo;
}

enum idle_close drain_idle_close(void)
{
    return idle_close_mode;
}

bool drain_begun(void)
{
    return atomic_load_explicit(&draining, memory_order_relaxed);
}

void drainstate_init(int signo, enum idle_close idle_close)
{
    idle_close_mode = idle_close;
    drain_signo = signo;
}

bool drainstate_begin(void)
{
    return atomic_exchange(&draining, true);
}

void drainstate_rearm(void)
{
    atomic_store(&draining, false);
}

bool drainstate_begun_ordered(void)
{
    return atomic_load(&draining);
}

void drainstate_wake_thread(int tid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = drain_signo;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = HS_SIGVAL_WAKE;
    syscall(SYS_rt_tgsigqueueinfo, info.si_pid, tid, drain_signo, &info);
}
