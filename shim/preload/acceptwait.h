/* acceptwait.h: where a thread blocked in accept() on a drained listener waits, as the kernel's
 * accept() would; and the listener no client can reach that the drain puts on a listener's fd. */
#ifndef HOTSWAP_ACCEPTWAIT_H
#define HOTSWAP_ACCEPTWAIT_H

/* A listening Unix socket bound to an abstract name nobody knows (flags: SOCK_NONBLOCK or 0);
 * -1 if it cannot be made. */
int acceptwait_unreachable_listener(int flags);

/* The server waits for a listener with epoll, poll or select before it accepts (an event loop):
 * an accept() on a drained blocking listener then fails at once (EINTR) instead of waiting. */
void acceptwait_note_event_loop(void);

/* accept() on a drained listener whose server expects blocking: wait as the kernel's accept()
 * on a listener no client reaches would (a signal with SA_RESTART restarts the wait, one without
 * fails it with EINTR); an event loop gets EINTR at once. */
int accept_wait_forever(int fd);
#define ACCEPT_REARMED (-2) /* ...or this: a re-arm put the listener back on `fd` (hotswap rollback) */

/* Waits until a signal handler runs, then fails with EINTR (a blocking receive on a drained
 * datagram socket: nothing more will ever arrive for this process). */
int wait_for_a_signal(void);

/* A re-arm (hotswap rollback): every wait in accept_wait_forever ends, to find its listener back.
 * Async-signal-safe. */
void acceptwait_rearmed(void);

/* The guard moved the shim's own listener from fd `from` to `to` (a dup2 onto its number). */
void acceptwait_moved(int from, int to);

#endif
