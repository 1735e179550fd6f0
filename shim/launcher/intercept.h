/* intercept.h: the seccomp route, for programs the preload shim cannot reach (Go, static).
 *
 * The child installs, before its exec, a filter (seccompfilter.h) that sends bind, listen, accept and accept4 to
 * the launcher (SECCOMP_RET_USER_NOTIF) and lets every other call through untouched. The launcher
 * answers each (intercept_answer):
 *   bind    of a held listener's address: the held listener is put on the caller's fd number
 *           (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD); the bind returns 0;
 *   listen  on a held listener: 0; on a new socket with an address: the launcher listens on it
 *           (a copy taken with pidfd_getfd) and holds it from then on;
 *   accept  the generation's first is its readiness; once it drains, an accept on a held
 *           listener gets a never-readable stand-in on that fd number and EAGAIN (a blocking
 *           one is left waiting until the stop).
 * A Go program (without --ready notify) has rt_sigreturn trapped instead of accept, so that no
 * accept pays a round trip: its listen is its readiness, and its drain is SIGURG (Go's own
 * preemption signal, caught by its runtime), whose rt_sigreturn is where the launcher puts the
 * stand-in on its listeners' fd numbers.
 * Everything else about a generation (the drain's end, the stop) is what the kernel shows. */
#ifndef HOTSWAP_INTERCEPT_H
#define HOTSWAP_INTERCEPT_H

#include <stdbool.h>
#include <stdint.h>

struct generation;

/* Can this kernel and this launcher's place (a container's profile) install the filter? Checked
 * once, in a throwaway child. */
bool intercept_available(void);

/* Asks the kernel to switch to the launcher and back in step for each trapped call (a no-op on
 * kernels before 6.6). */
void intercept_wake_in_step(int notify_fd);

/* A thread of the generation is inside accept() or accept4() (not one the drain left waiting):
 * it may hold a connection in a moment. */
bool intercept_accepting(struct generation *g);

/* Draining: a blocking accept let through before the drain waits inside the kernel, where no
 * answer reaches it, for the next connection (with no traffic, until the drain timeout). Each
 * process with such a thread is stopped (SIGSTOP) and, once stopped, continued: the kernel
 * restarts the call with no handler run, it comes to the filter again, and the drain leaves it
 * waiting there, parked. Call while intercept_accepting() says yes; true while a process is
 * stopped for it. */
bool intercept_restart_accepts(struct generation *g, int64_t now);

/* Continues every process intercept_restart_accepts() stopped (a stop, a drain's end). */
void intercept_continue_restarted(struct generation *g);

/* --ready notify: the generation said READY=1; the accepts held back until then go on. */
void intercept_open_gate(struct generation *g);

/* What a trapped call that shows a starting generation ready calls: gen_mark_ready, set by
 * generation.c before its first generation starts (the transition is the generation's). */
void intercept_on_ready(void (*mark_ready)(struct generation *g));

/* The generation's notification fd is readable: answers one notification. */
void intercept_answer(struct generation *g);

/* The route's state of a generation (g->trap): none yet, on no route (intercept_init); joined
 * with the filter's notification fd, from its start or once it followed an exec there (the
 * launcher owns the fd from then on); the fd closed, once every process of the filter has gone
 * or with the generation (intercept_close). */
void intercept_init(struct generation *g);
void intercept_join(struct generation *g, int notify_fd, bool signal_drain, bool go_program);
void intercept_close(struct generation *g);

/* The fd to poll for its notifications; -1: none. */
int intercept_fd(const struct generation *g);

/* A Go program drained by a signal (no accept trapped): see above. */
bool intercept_signal_drain(const struct generation *g);

/* A Go program: a write on a socket it no longer reads is EPIPE to it, never SIGPIPE. */
bool intercept_go_program(const struct generation *g);

/* When an accept was last let through (0: never): its connection may not show in the kernel's
 * tables yet. */
int64_t intercept_accept_let_ms(const struct generation *g);

/* Draining: a request waiting unread on one of its connections looked like HTTP/1.x (idleend.c
 * says so once it has seen one; the generation then speaks HTTP for the rest of its drain). */
void intercept_heard_http(struct generation *g);
bool intercept_speaks_http(const struct generation *g);

#endif
