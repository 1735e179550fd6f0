/* sigguard.h: keeping the drain signal deliverable whatever the server does with signals:
 * its own handler for it, blocking every signal in every thread, signalfd, sigsuspend. */
#ifndef HOTSWAP_SIGGUARD_H
#define HOTSWAP_SIGGUARD_H

#include <signal.h>
#include <stdbool.h>

/* True if `sig` is the drain signal (or, standalone, the trigger) and the shim is using it. */
bool sigguard_owns(int sig);

/* sigaction() on a signal the shim owns: the server's action is remembered (and reported back
 * by the next call), never installed. Returns 0. */
int sigguard_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t sigguard_signal(int sig, sighandler_t handler);

/* `set` without the drain signal, in `copy`; returns the set to pass on (set or copy). */
const sigset_t *sigguard_strip(const sigset_t *set, sigset_t *copy);

#endif
