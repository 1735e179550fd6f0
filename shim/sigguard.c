/* sigguard.c: the drain signal stays the shim's. A server's handler for it is recorded and not
 * installed: the launcher sends that signal only to drain, and running the server's handler
 * then would do whatever the server meant the signal for. */
#define _GNU_SOURCE
#include "sigguard.h"

#include <string.h>

#include "drain.h"
#include "report.h"

static struct sigaction server_action; /* what the server believes is installed */
static int server_action_lock;

bool sigguard_owns(int sig)
{
    return sig > 0 && sig == drain_signal() && report_active();
}

int sigguard_sigaction(const struct sigaction *act, struct sigaction *old)
{
    while (__atomic_exchange_n(&server_action_lock, 1, __ATOMIC_ACQUIRE))
        ;
    struct sigaction previous = server_action;
    if (act)
        server_action = *act;
    __atomic_store_n(&server_action_lock, 0, __ATOMIC_RELEASE);
    if (old)
        *old = previous;
    return 0;
}

sighandler_t sigguard_signal(sighandler_t handler)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigguard_sigaction(&act, &old);
    return old.sa_handler;
}

const sigset_t *sigguard_strip(const sigset_t *set, sigset_t *copy)
{
    int sig = drain_signal();
    if (!set || !report_active() || sig <= 0 || sigismember(set, sig) != 1)
        return set;
    *copy = *set;
    sigdelset(copy, sig);
    return copy;
}
