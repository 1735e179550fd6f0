/* hooks_signal.c: the interposed signal calls. The drain signal stays deliverable and the
 * shim's (sigguard.c); the server's handlers run behind a trampoline that counts them
 * (sigwatch.c); everything else passes through. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "export.h"
#include "nonblock.h"
#include "real.h"
#include "sigguard.h"
#include "sigwatch.h"

static void note_action(const struct sigaction *act)
{
    if (act && act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN)
        nonblock_note_handler((act->sa_flags & SA_RESTART) != 0);
}

HS_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (sigguard_owns(sig))
        return sigguard_sigaction(sig, act, old);
    int rc = sigwatch_sigaction(sig, act, old);
    if (rc == 0)
        note_action(act);
    return rc;
}

/* glibc's signal() calls its own sigaction internally, past our hook: hook it too. */
HS_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    if (sigguard_owns(sig))
        return sigguard_signal(sig, handler);
    return sigwatch_signal(sig, handler, real.signal); /* BSD semantics: SA_RESTART */
}

HS_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler)
{
    if (sigguard_owns(sig))
        return sigguard_signal(sig, handler);
    return sigwatch_signal(sig, handler, real.bsd_signal);
}

HS_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler)
{
    if (sigguard_owns(sig))
        return sigguard_signal(sig, handler);
    sighandler_t old = sigwatch_signal(sig, handler, real.sysv_signal);
    if (old != SIG_ERR && handler != SIG_DFL && handler != SIG_IGN)
        nonblock_note_handler(false); /* System V semantics: no SA_RESTART */
    return old;
}

HS_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    sigset_t copy;
    return real.sigprocmask(how, how == SIG_UNBLOCK ? set : sigguard_strip(set, &copy), old);
}

HS_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    sigset_t copy;
    return real.pthread_sigmask(how, how == SIG_UNBLOCK ? set : sigguard_strip(set, &copy), old);
}

/* A signalfd would otherwise consume the drain signal before the handler sees it. */
HS_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
    sigset_t copy;
    return real.signalfd(fd, sigguard_strip(mask, &copy), flags);
}

HS_EXPORT int sigsuspend(const sigset_t *mask)
{
    sigset_t copy;
    return real.sigsuspend(sigguard_strip(mask, &copy));
}
