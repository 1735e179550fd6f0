/* sigwatch.h: knowing whether a handler of the server's ran in this thread.
 *
 * The shim makes a wait again when only its own signal cut it short (quietwait.h), so that the
 * server never sees an EINTR it would not have had. Its signal comes more than once in a drain
 * (the launcher's turns, the quiet-close timer), and the server's own can come in the same
 * instant: nginx with master_process off learns of SIGTERM from the EINTR of its epoll_wait, and
 * a stop that arrived together with a turn was hidden by the wait made again, until SIGKILL. So
 * the server's handlers run behind a trampoline that counts their runs per thread, and a wait is
 * made again only when the drain's count moved and this one did not.
 *
 * Synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) never end a wait and are
 * left alone: a runtime's fault handler (the JVM's) is installed as it asked. */
#ifndef HOTSWAP_SIGWATCH_H
#define HOTSWAP_SIGWATCH_H

#include <signal.h>

/* Runs of the server's handlers in this thread so far (bumped by the trampoline). */
extern __thread unsigned server_handler_runs __attribute__((tls_model("initial-exec")));

/* sigaction() for the server: a handler is installed behind the trampoline, and `old` is what
 * the server installed, as it would be without the shim. Same return and errno as sigaction().
 * A shim passing through, and the signals left alone (above), go straight to libc. */
int sigwatch_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* signal() and its kin for the server: libc's own `install` sets the handler with the semantics
 * it gives that call (a flag siginterrupt() set included), then the trampoline is put in front
 * of it. Returns the previous handler as the server installed it. */
sighandler_t sigwatch_signal(int sig, sighandler_t handler, sighandler_t (*install)(int, sighandler_t));

/* The handlers installed before the shim took charge (by another library's constructor, or
 * before a dormant shim took part) are put behind the trampoline too. */
void sigwatch_init(void);

#endif
