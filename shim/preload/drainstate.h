/* drainstate.h: the drain's settings and whether it has begun, for every part of the shim that
 * behaves differently in a drain; only drain.c changes them. */
#ifndef HOTSWAP_DRAINSTATE_H
#define HOTSWAP_DRAINSTATE_H

#include <stdbool.h>

#include "idleturn.h"

/* The drain signal number in force (0 before drain_init). */
int drain_signal(void);

bool drain_begun(void);

/* --idle-close, as the launcher passed it (HOTSWAP_IDLE_CLOSE; turn when unset). */
enum idle_close drain_idle_close(void);

/* drain.c's: the signal and --idle-close, at drain_init; the drain begun (true: it had begun
 * already) and undone by a re-arm; whether it has begun, ordered with those (seq_cst). */
void drainstate_init(int signo, enum idle_close idle_close);
bool drainstate_begin(void);
void drainstate_rearm(void);
bool drainstate_begun_ordered(void);

/* Sends thread `tid` of this process the drain signal with the value HS_SIGVAL_WAKE, which its
 * handler ignores: a wait of that thread ends and starts again (quietwait.c), and what the shim
 * does at a wait's start runs. Raw system calls only: safe in a signal handler. */
void drainstate_wake_thread(int tid);

#endif
