/* generation.h: one start of the server command and every process it forks, through its states
 * STARTING -> READY -> DRAINING -> STOPPING -> GONE. One function per transition; each logs. */
#ifndef HOTSWAP_GENERATION_H
#define HOTSWAP_GENERATION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.h"

#define GEN_PROCS_MAX 256

enum gen_state { GEN_STARTING, GEN_READY, GEN_DRAINING, GEN_STOPPING, GEN_GONE };

struct gen_proc {
    pid_t pid;
    int pidfd;            /* readable once the process has exited; -1 when it has */
    bool drain_reported;  /* has said DRAINING */
    long conns;           /* its open connections, as last reported */
};

struct gen_settings {
    int64_t ready_timeout_ms, drain_timeout_ms, kill_timeout_ms;
    int stop_signal, drain_signal;
    bool handover_idle;
};

struct generation {
    int number;
    pid_t pid;                 /* the command's process, leader of the process group */
    int control_fd;
    bool control_closed;       /* every process closed its end: stop polling it */
    enum gen_state state;
    const struct gen_settings *settings;

    int64_t started_ms, hello_ms, ready_ms, drain_ms, stop_ms, gone_ms;
    int64_t deadline_ms;       /* of the current state; 0: none */
    bool said_hello;
    bool failed;               /* rolled back: never served */
    bool leader_reaped;
    int leader_status;         /* wait status */
    bool stop_sent;            /* we sent the stop signal (or SIGKILL) */
    long drained_conns;        /* open at the start of the drain */
    long handed_over;          /* idle clients it passed to the next generation (--handover-idle) */
    bool cut;                  /* the drain timed out */
    char failure[400];

    struct gen_proc procs[GEN_PROCS_MAX];
    int proc_count;
};

/* Starts the command; NULL with errno set (ENOENT: not found) when it cannot be executed. */
struct generation *gen_start(int number, char **argv, const char *shim_path, const struct gen_settings *settings);

/* Reads and handles every pending message on the generation's control socket. */
void gen_read_messages(struct generation *g);

/* Transitions. */
void gen_mark_ready(struct generation *g);
void gen_drain(struct generation *g);
void gen_stop(struct generation *g);
void gen_fail(struct generation *g, const char *why);

/* Every known process of a draining generation has reported zero open connections. */
bool gen_drained(const struct generation *g);

/* A process of the generation other than the command's own is still running (a daemon that
 * forked and let its parent exit). */
bool gen_others_alive(const struct generation *g);

/* A child was reaped: returns true if it was this generation's leader. */
bool gen_note_reaped(struct generation *g, pid_t pid, int status);

/* A process's pidfd became readable. */
void gen_note_proc_exit(struct generation *g, int index);

/* Moves to GONE when no process of the generation is left. Returns true if it did. */
bool gen_check_gone(struct generation *g);

/* Deadline of the current state passed: fail, cut the drain, or SIGKILL. */
void gen_on_deadline(struct generation *g, int64_t now);

/* The exit status to pass on for this generation's leader (0 when it died of our stop signal). */
int gen_exit_status(const struct generation *g);

void gen_free(struct generation *g);


#endif
