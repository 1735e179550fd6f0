/* genstate.h: what a generation is, field by field: its state, its processes, its settings and
 * its drain's watch. The files that run a generation (generation.c and the gen*.c beside it,
 * intercept.c, ...) read and write it; generation.h has its transitions. */
#ifndef HOTSWAP_GENSTATE_H
#define HOTSWAP_GENSTATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "idleturn.h"
#include "interceptstate.h"
#include "listeners.h"
#include "members.h"
#include "readynotify.h"

/* PARKED (--keep-old): drained, its processes kept, its listeners hidden in them, until
 * hotswap rollback re-arms it (READY again) or its time is up (STOPPING). */
enum gen_state { GEN_STARTING, GEN_READY, GEN_DRAINING, GEN_PARKED, GEN_STOPPING, GEN_GONE };

/* How a generation's socket calls are reached: the preload shim, or a seccomp filter whose
 * notifications the launcher answers (Go and statically linked programs); auto picks per binary. */
enum intercept_mode { INTERCEPT_AUTO, INTERCEPT_PRELOAD, INTERCEPT_SECCOMP };

/* A process of the generation the launcher has met: one whose shim spoke, or whose birth a
 * shim reported (fork). */
struct gen_proc {
    pid_t pid;
    int pidfd;                  /* readable once the process has exited; -1 when it has */
    bool said_hello;            /* its shim has spoken: the shim is in charge there */
    bool drain_sent;            /* the drain signal went to it */
    bool waited;                /* said READY: it waited on a listener, so it holds one */
    bool drain_reported;        /* has said DRAINING */
    bool counts_refused;        /* reported a count no process can have: its counts are not believed */
    long conns;                 /* its open connections, as its shim last reported */
    long datagrams;             /* datagrams it received and has not answered, as last reported */
    int64_t drain_said_ms;      /* when it first said DRAINING (0: not yet) */
    int64_t datagrams_moved_ms; /* when its count of datagrams owed last changed, in the drain:
                                   they are owed until --datagram-timeout after this */
};

struct gen_settings {
    int64_t ready_timeout_ms, drain_timeout_ms, kill_timeout_ms;
    int64_t datagram_timeout_ms; /* --datagram-timeout: a datagram unanswered this long into the
                                    drain is no longer owed */
    int stop_signal, drain_signal;
    int graceful_signal; /* --graceful-signal: to the command's process at its drain (0: none) */
    bool handover_idle;
    bool ready_notify;             /* --ready notify: READY=1 on the generation's own NOTIFY_SOCKET */
    int64_t keep_old_ms;           /* --keep-old: a drained generation is parked this long (0: never) */
    bool socket_activation;        /* also pass systemd's LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES */
    bool stop_main_first;          /* --kill-mode mixed: the stop signal to the command's process,
                                  the rest once it has exited */
    enum intercept_mode intercept; /* --intercept */
    enum idle_close idle_close;    /* --idle-close */
    /* The processes of the generations newer than generation `number`, at most `room`: the
     * launcher's to say (a generation knows no other). NULL: none asked. */
    int (*newer_processes)(void *ctx, int number, pid_t *pids, int room);
    void *newer_ctx;
};

/* Connections a newer generation made to its own port that this one took (newercall.h). */
#define NEWER_CALLS_MAX 16
struct newer_calls {
    unsigned long confirmed[NEWER_CALLS_MAX]; /* client ends a newer generation's process holds */
    pid_t holder[NEWER_CALLS_MAX];            /* ...and which one */
    int confirmed_count;
    unsigned long pending[NEWER_CALLS_MAX]; /* at this look: client ends on this host, not looked for */
    int pending_count;
    int64_t next_walk_ms; /* the next walk over the newer generations' fds (0: none yet) */
    bool told;            /* the log has said one was let go */
};

/* A draining generation, seen from the kernel's side. */
struct drain_watch {
    int64_t next_check_ms;      /* the next look at the kernel's tables */
    int64_t zero_since_ms;      /* since when the kernel has shown no connection (0: it shows some) */
    int zero_checks;            /* looks in a row that showed none */
    long kernel_conns;          /* at the last look; -1: the tables could not be read */
    long at_start;              /* the kernel's figure when the drain began */
    pid_t holder;               /* at the last look: a process holding one of them */
    bool checked_at_shim_zero;  /* a look has followed the shim's count reaching zero */
    long shim_conns_seen;       /* the shims' count when a look was last due (LONG_MAX: none yet) */
    int64_t shim_zero_since_ms; /* since when the shim has counted none (0: it counts some) */
    bool told_disagreement;     /* the log has said the two disagree */
    bool told_word_lost;        /* the log has said a shim's DRAINING never came */
    pid_t unshimmed[32];        /* at the last look: processes holding a listener with no shim in
                                  charge (a worker the server exec'd), which keep accepting */
    int unshimmed_count;
    bool frozen;             /* those are stopped (SIGSTOP) for the last look before the stop */
    int64_t frozen_ms;       /* when they were sent SIGSTOP */
    bool all_stopped;        /* every thread of theirs has stopped since (or the wait is over) */
    int64_t next_peek_ms;    /* the next look while some thread of theirs has not stopped yet */
    bool stop_wait_spent;    /* a pause this drain waited STOP_WAIT_MS for a thread that never
                                  stopped: later pauses wait STOP_WAIT_AGAIN_MS */
    int listener_holders;    /* signal_drain: processes still holding a held listener, at the last look */
    bool scanned;            /* signal_drain: a trapped rt_sigreturn has had its fds scanned since
                                  that look (one scan per look: a SIGCHLD storm must not make one
                                  per signal) */
    unsigned looks;          /* looks at the kernel so far */
    unsigned looks_at_quiet; /* seccomp: `looks` when no thread was last seen inside accept, plus one
                                (0: not seen since the counts last said busy) */
    struct newer_calls newer;
};

struct generation {
    int number;
    char **argv; /* its command line (NULL: not known, an adopted one) */
    pid_t pid;   /* the command's process, leader of the process group */
    int channel_fd;
    bool told_false_sender;      /* a message claimed another sender: said once */
    bool told_false_child;       /* a FORKED message named a stranger: said once */
    bool told_false_count;       /* a count no process can have (HS_COUNT_MAX): said once */
    bool told_malformed;         /* a malformed channel message: said once */
    bool told_probe;             /* a probe of a held address before its claim: said once */
    bool told_follow;            /* an exec not followed onto the seccomp route: said once */
    bool channel_closed;         /* every process closed its end: stop polling it */
    bool seccomp;                /* on the seccomp route: started so, or followed there (genfollow.c) */
    struct intercept_state trap; /* ...what the route keeps of it (intercept.c) */
    bool adopted;                /* left running by a killed launcher, taken over (adopt.c): no
                                  channel, and not the launcher's child */
    int64_t idle_look_ms;        /* draining, --idle-close turn: when to look for idle connections next */
    struct ready_notify ready;   /* --ready notify: its NOTIFY_SOCKET and gate (socket_fd -1: not) */
    pid_t ready_by;              /* --ready notify: the process that said READY=1 */
    bool told_stranger_ready;    /* a READY=1 from outside the generation: said once */
    bool told_stranger_message;  /* a channel message from outside the generation: said once */
    enum gen_state state;
    const struct gen_settings *settings;
    struct members *members;

    int64_t started_ms, hello_ms, ready_ms, drain_ms, park_ms, stop_ms, gone_ms;
    int64_t graceful_ms;  /* --graceful-signal: when it was sent (0: not) */
    bool unparkable;      /* drained by a rollback or cut: stopped, never parked */
    int64_t deadline_ms;  /* of the current state; 0: none */
    int64_t next_look_ms; /* starting: the next look for a listener the shim never saw */
    bool said_hello;
    bool failed; /* rolled back: never served */
    bool leader_reaped;
    int leader_status;             /* wait status */
    bool stop_sent;                /* we sent the stop signal (or SIGKILL) */
    bool stop_spread;              /* ... to every process of it, not only the command's */
    long drained_conns;            /* open at the start of the drain (the shim's reports, then the
                                  kernel's figure where higher) */
    long drained_datagrams;        /* datagrams owed a reply at the start of the drain */
    long cut_conns, cut_datagrams; /* what its cut ended (cut: true) */
    long handed_over;              /* idle clients it passed to the next generation (--handover-idle) */
    bool cut;                      /* stopped before its drain ended */
    bool listeners_checked;        /* release.c has looked for listeners it does not use */
    uint64_t claimed_listeners[LISTENERS_MAX / 64]; /* the handed-over listeners its shims said
                                                       they took (bit i: HOTSWAP_LISTEN_FDS index i) */
    char cut_why[48];                               /* "drain timeout", "--max-draining 2" */
    char failure[560];
    unsigned long private_listeners[16]; /* inodes of listeners the shim said are the server's own
                                            business (a port the kernel chose): no unseen ones */
    int private_count;
    char unseen_listener[480]; /* a listener the kernel shows and the shim never reported, said */
    struct drain_watch watch;

    struct gen_proc *procs; /* [0] is the command's own process */
    int proc_count, proc_room;
};

/* --ready notify: does it wait for READY=1, its listeners shut until then? */
static inline bool gen_waits_for_notify(const struct generation *g)
{
    return g->ready.gate_fd >= 0;
}

#endif
