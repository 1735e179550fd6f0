/* interceptstate.h: what the seccomp route keeps of one generation (struct generation's
 * `trap`). intercept.c owns it: the rest of the launcher reaches it through intercept.h. */
#ifndef HOTSWAP_INTERCEPTSTATE_H
#define HOTSWAP_INTERCEPTSTATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct intercept_state {
    int notify_fd;         /* the filter's notifications; -1: none (the preload route, an adopted
                              generation, or every process of the filter has gone) */
    bool signal_drain;     /* a Go program: no accept trapped; ready at listen, drained at a
                              trapped rt_sigreturn after SIGURG (intercept.h) */
    bool go_program;       /* a Go program (a write on a closed socket is EPIPE, never SIGPIPE) */
    int64_t accept_let_ms; /* when an accept was last let through */
    bool speaks_http;      /* draining: a request waiting unread looked like HTTP/1.x */
    pid_t parked[64];      /* threads whose accept the drain left unanswered */
    int parked_count;
    uint64_t gated[64]; /* --ready notify: blocking accepts held until READY=1 */
    int gated_count;
    bool gate_refused;   /* --ready notify: an accept got EAGAIN before READY=1 */
    pid_t restarting[8]; /* draining: processes stopped so that a blocking accept restarts */
    int restarting_count;
    int64_t restarted_ms; /* when the last of those was stopped */
};

#endif
