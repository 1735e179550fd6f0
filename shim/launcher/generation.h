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
#include "gendrain.h"
#include "genproc.h"
#include "genstate.h"
#include "notready.h"

/* Why a generation could not start: the launcher's own part (its NOTIFY_SOCKET), or the command. */
struct gen_failure {
    bool launcher_side; /* the command was never run */
    char why[160];      /* strerror(errno), or "cannot make its NOTIFY_SOCKET ...: ..." */
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

/* HS_MSG_FOLLOW from `sender` (checked against the kernel here): it is about to exec a program
 * of kind `kind` (HS_FOLLOW_GO, HS_FOLLOW_STATIC); the answer, and the filter, on `reply`, which
 * the caller closes. */
void gen_follow(struct generation *g, pid_t sender, int64_t kind, int reply);

/* --ready notify: reads what its processes sent to its NOTIFY_SOCKET (READY=1 makes it ready). */
void gen_read_notify(struct generation *g);

/* Transitions. */
void gen_mark_ready(struct generation *g);
/* --keep-old: drained, it is kept for settings->keep_old_ms instead of stopped. */
bool gen_can_park(const struct generation *g);
void gen_park(struct generation *g);
/* hotswap rollback: a parked generation takes connections again (READY). */
void gen_rearm(struct generation *g);
void gen_stop(struct generation *g);
void gen_fail(struct generation *g, const char *why);
/* A draining generation stopped before its drain ended: `why` in a word or two ("drain timeout",
 * for the reload's summary), `reason` in full for the log line, which counts the connections
 * that cuts; NULL: at the drain timeout ("cut N connections at the drain timeout"). */
void gen_cut(struct generation *g, const char *why, const char *reason);
/* What every cut so far ended, over the launcher's life. */
void gen_cut_totals(long *conns, long *datagrams);

/* --kill-mode mixed: once the command's process has exited, the stop signal goes to whatever
 * of the generation is left. */
void gen_stop_rest(struct generation *g);

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

/* The exit status to pass on for this generation's leader (0 when it died of our stop signal). */
int gen_exit_status(const struct generation *g);

void gen_free(struct generation *g);

#endif
