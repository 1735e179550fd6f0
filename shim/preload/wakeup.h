/* wakeup.h: the threads a drain must wake: each inside a real accept() on a listener, or a
 * receive on a datagram socket of ours, registered for the time of its wait. */
#ifndef HOTSWAP_WAKEUP_H
#define HOTSWAP_WAKEUP_H

/* Brackets a wait on a shared socket, so that a drain wakes the thread blocked in it (with the
 * drain signal). Any number of threads. Returns a slot for drain_wake_unregister (-1 only when no
 * memory is left for more slots: that thread is not woken). */
int drain_wake_register(void);
void drain_wake_unregister(int slot);

/* `signo` to each registered thread but the caller's (in the drain's signal handler). */
void wakeup_registered(int signo);

/* In a child after fork(): only the forking thread is left, and it is in no wait. */
void wakeup_after_fork(void);

#endif
