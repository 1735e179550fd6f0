/* generation.h: one start of the server command and every process descended from it, through its
 * states STARTING -> READY -> DRAINING -> STOPPING -> GONE. One function per transition; each logs.
 *
 * Which processes are the generation's, and whether any still holds a connection, is what the
 * kernel shows (members.c, conncount.c); the shim's reports are the fast path. */
#ifndef HOTSWAP_GENERATION_H
#define HOTSWAP_GENERATION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "channel.h"
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
    int pidfd;            /* readable once the process has exited; -1 when it has */
    bool said_hello;      /* its shim has spoken: the shim is in charge there */
    bool drain_sent;      /* the drain signal went to it */
    bool waited;          /* said READY: it waited on a listener, so it holds one */
    bool drain_reported;  /* has said DRAINING */
    bool counts_refused;  /* reported a count no process can have: its counts are not believed */
    long conns;           /* its open connections, as its shim last reported */
    long datagrams;       /* datagrams it received and has not answered, as last reported */
};

struct gen_settings {
    int64_t ready_timeout_ms, drain_timeout_ms, kill_timeout_ms;
    int stop_signal, drain_signal;
    bool handover_idle;
    bool ready_notify;         /* --ready notify: READY=1 on the generation's own NOTIFY_SOCKET */
    int64_t keep_old_ms;       /* --keep-old: a drained generation is parked this long (0: never) */
    bool socket_activation;    /* also pass systemd's LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES */
    bool stop_main_first;      /* --kill-mode mixed: the stop signal to the command's process,
                                  the rest once it has exited */
    enum intercept_mode intercept; /* --intercept */
};

/* A draining generation, seen from the kernel's side. */
struct drain_watch {
    int64_t next_check_ms;     /* the next look at the kernel's tables */
    int64_t zero_since_ms;     /* since when the kernel has shown no connection (0: it shows some) */
    int zero_checks;           /* looks in a row that showed none */
    long kernel_conns;         /* at the last look; -1: the tables could not be read */
    long at_start;             /* the kernel's figure when the drain began */
    pid_t holder;              /* at the last look: a process holding one of them */
    bool checked_at_shim_zero; /* a look has followed the shim's count reaching zero */
    long shim_conns_seen;      /* the shims' count when a look was last due (LONG_MAX: none yet) */
    int64_t shim_zero_since_ms; /* since when the shim has counted none (0: it counts some) */
    bool told_disagreement;    /* the log has said the two disagree */
    pid_t unshimmed[32];       /* at the last look: processes holding a listener with no shim in
                                  charge (a worker the server exec'd), which keep accepting */
    int unshimmed_count;
    bool frozen;               /* those are stopped (SIGSTOP) for the last look before the stop */
    int64_t frozen_ms;         /* when they were sent SIGSTOP */
    bool all_stopped;          /* every thread of theirs has stopped since (or the wait is over) */
    int listener_holders;      /* signal_drain: processes still holding a held listener, at the last look */
    bool scanned;              /* signal_drain: a trapped rt_sigreturn has had its fds scanned since
                                  that look (one scan per look: a SIGCHLD storm must not make one
                                  per signal) */
};

struct generation {
    int number;
    char **argv;               /* its command line (NULL: not known, an adopted one) */
    pid_t pid;                 /* the command's process, leader of the process group */
    int channel_fd;
    bool told_false_sender;    /* a message claimed another sender: said once */
    bool told_false_child;     /* a FORKED message named a stranger: said once */
    bool told_false_count;     /* a count no process can have (HS_COUNT_MAX): said once */
    bool told_malformed;       /* a malformed channel message: said once */
    bool channel_closed;       /* every process closed its end: stop polling it */
    int notify_fd;             /* the seccomp route's notifications (intercept.h); -1: the shim's */
    bool seccomp;              /* started on the seccomp route */
    bool signal_drain;         /* ...a Go program: no accept trapped; ready at listen, drained at a
                                  trapped rt_sigreturn after SIGURG (intercept.h) */
    bool adopted;              /* left running by a killed launcher, taken over (adopt.c): no
                                  channel, and not the launcher's child */
    int64_t accept_let_ms;     /* seccomp: when an accept was last let through */
    int64_t idle_look_ms;      /* seccomp, draining: when to look for idle connections next */
    pid_t parked[64];          /* seccomp: threads whose accept the drain left unanswered */
    int parked_count;
    struct ready_notify ready; /* --ready notify: its NOTIFY_SOCKET and gate (socket_fd -1: not) */
    pid_t ready_by;            /* --ready notify: the process that said READY=1 */
    bool told_stranger_ready;  /* a READY=1 from outside the generation: said once */
    uint64_t gated[64];        /* seccomp, --ready notify: blocking accepts held until READY=1 */
    int gated_count;
    bool gate_refused;         /* seccomp, --ready notify: an accept got EAGAIN before READY=1 */
    enum gen_state state;
    const struct gen_settings *settings;
    struct members *members;

    int64_t started_ms, hello_ms, ready_ms, drain_ms, park_ms, stop_ms, gone_ms;
    bool unparkable;           /* drained by a rollback or cut: stopped, never parked */
    int64_t deadline_ms;       /* of the current state; 0: none */
    int64_t next_look_ms;      /* starting: the next look for a listener the shim never saw */
    bool said_hello;
    bool failed;               /* rolled back: never served */
    bool leader_reaped;
    int leader_status;         /* wait status */
    bool stop_sent;            /* we sent the stop signal (or SIGKILL) */
    bool stop_spread;          /* ... to every process of it, not only the command's */
    long drained_conns;        /* open at the start of the drain (the shim's reports, then the
                                  kernel's figure where higher) */
    long handed_over;          /* idle clients it passed to the next generation (--handover-idle) */
    bool cut;                  /* stopped before its drain ended */
    bool listeners_checked;    /* release.c has looked for listeners it does not use */
    uint64_t claimed_listeners[LISTENERS_MAX / 64]; /* the handed-over listeners its shims said
                                                       they took (bit i: HOTSWAP_LISTEN_FDS index i) */
    char cut_why[48];          /* "drain timeout", "--max-draining 2" */
    char failure[560];
    unsigned long private_listeners[16]; /* inodes of listeners the shim said are the server's own
                                            business (a port the kernel chose): no unseen ones */
    int private_count;
    char unseen_listener[480]; /* a listener the kernel shows and the shim never reported, said */
    struct drain_watch watch;

    struct gen_proc *procs;    /* [0] is the command's own process */
    int proc_count, proc_room;
};

/* Why a generation could not start: the launcher's own part (its NOTIFY_SOCKET), or the command. */
struct gen_failure {
    bool launcher_side;  /* the command was never run */
    char why[160];       /* strerror(errno), or "cannot make its NOTIFY_SOCKET ...: ..." */
};

/* Starts the command; NULL with errno set (ENOENT: not found) and *failure filled when it cannot
 * be executed, or when the launcher cannot make what it needs (--ready notify's socket: never
 * dropped, the generation is not started without it). */
struct generation *gen_start(int number, char **argv, char **env, const char *shim_path,
                             const struct gen_settings *settings, struct gen_failure *failure);

/* Takes over a generation a killed launcher left running, its command's process `leader`
 * (alive, checked by the caller), serving; `group` as members_adopt() takes it. NULL without
 * memory. */
struct generation *gen_adopt(int number, pid_t leader, const char *group, const struct gen_settings *settings);

/* Reads and handles every pending message on the generation's channel. */
void gen_read_messages(struct generation *g);

/* --ready notify: reads what its processes sent to its NOTIFY_SOCKET (READY=1 makes it ready). */
void gen_read_notify(struct generation *g);

/* --ready notify: does it wait for READY=1, its listeners shut until then? */
bool gen_waits_for_notify(const struct generation *g);

/* Transitions. */
void gen_mark_ready(struct generation *g);
void gen_drain(struct generation *g);
/* --keep-old: drained, it is kept for settings->keep_old_ms instead of stopped. */
bool gen_can_park(const struct generation *g);
void gen_park(struct generation *g);
/* hotswap rollback: a parked generation takes connections again (READY). */
void gen_rearm(struct generation *g);
void gen_stop(struct generation *g);
void gen_fail(struct generation *g, const char *why);
/* A draining generation stopped before its drain ended: `why` in a word or two ("drain timeout",
 * for the reload's summary), `reason` in full for the log line, which counts the connections
 * that cuts. */
void gen_cut(struct generation *g, const char *why, const char *reason);

/* --kill-mode mixed: once the command's process has exited, the stop signal goes to whatever
 * of the generation is left. */
void gen_stop_rest(struct generation *g);

/* Draining: signals any process that now needs the drain, and says whether none of the
 * generation's processes holds a connection any more (the kernel decides). */
bool gen_drained(struct generation *g);

/* Open connections now: the kernel's figure at the last look, else the shim's. */
long gen_open_conns(const struct generation *g);

/* The live processes of the generation (-1 if unknown); pids valid until the next call. */
int gen_processes(struct generation *g, const pid_t **pids);

/* A process of the generation the shim told of, other than the command's own, is still running
 * (a daemon that forked and let its parent exit). */
bool gen_others_alive(const struct generation *g);

/* A child was reaped: returns true if it was this generation's leader. */
bool gen_note_reaped(struct generation *g, pid_t pid, int status);

/* A process's pidfd became readable. */
void gen_note_proc_exit(struct generation *g, int index);

/* Forgets processes that have exited (after the poll results that name them by index are read). */
void gen_forget_exited(struct generation *g);

/* Moves to GONE when no process of the generation is left. Returns true if it did. */
bool gen_check_gone(struct generation *g);

/* Deadline of the current state passed: fail, cut the drain, or SIGKILL. Also the looks at the
 * kernel's tables that are due. */
void gen_on_deadline(struct generation *g, int64_t now);

/* The soonest time gen_on_deadline or gen_drained has something to do (0: none). */
int64_t gen_next_wakeup(const struct generation *g);

/* Not ready, and the kernel shows why: "it listens on ... but the shim never saw it", or "". */
const char *gen_unseen_listener(struct generation *g);

/* The exit status to pass on for this generation's leader (0 when it died of our stop signal). */
int gen_exit_status(const struct generation *g);

void gen_free(struct generation *g);

#endif
