/* sigguard.c: the drain signal stays the shim's. A server's handler for it is recorded and not
 * installed: the launcher sends that signal only to drain, and running the server's handler
 * then would do whatever the server meant the signal for. */
#define _GNU_SOURCE
#include "sigguard.h"

#include <string.h>

#include "drainstate.h"
#include "mode.h"
#include "report.h"
#include "standalone.h"

static struct sigaction server_actions[_NSIG]; /* what the server believes is installed */
static int server_action_lock;

bool sigguard_owns(int sig)
{
    return sig > 0 && shim_in_charge() && (sig == drain_signal() || sig == standalone_trigger_signal());
}

int sigguard_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    while (__atomic_exchange_n(&server_action_lock, 1, __ATOMIC_ACQUIRE))
        ;
    struct sigaction previous = server_actions[sig];
    if (act)
        server_actions[sig] = *act;
    __atomic_store_n(&server_action_lock, 0, __ATOMIC_RELEASE);
    if (old)
        *old = previous;
    return 0;
}

sighandler_t sigguard_signal(int sig, sighandler_t handler)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigguard_sigaction(sig, &act, &old);
    return old.sa_handler;
}

const sigset_t *sigguard_strip(const sigset_t *set, sigset_t *copy)
{
    int drain = drain_signal(), trigger = standalone_trigger_signal();
    if (!set || !shim_in_charge() ||
        ((drain <= 0 || sigismember(set, drain) != 1) && (trigger <= 0 || sigismember(set, trigger) != 1)))
        return set;
    *copy = *set;
    if (drain > 0)
        sigdelset(copy, drain);
    if (trigger > 0)
        sigdelset(copy, trigger);
    return copy;
}
