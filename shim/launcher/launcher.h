/* launcher.h: the launcher's state, one for the process (main.c makes it, the reload lifecycle
 * in reload.c and the crash restarts in crash.c change it), and the steps they share: start a
 * generation, take its command line as the one to start again, record an event. */
#ifndef HOTSWAP_LAUNCHER_H
#define HOTSWAP_LAUNCHER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "generation.h"
#include "metrics.h"
#include "options.h"
#include "reloadproof.h"
#include "restart.h"
#include "status.h"

#define GENERATIONS_MAX 16

/* A reload in progress: from the start of `next` until `previous` is gone (or `next` failed). */
struct reload {
    int id;
    struct generation *next, *previous;
    int64_t requested_ms;
    bool active;
    bool checking;    /* --check runs: `next` is not started yet */
    bool sequential;  /* in sequence (sequential.h): `next` starts once `previous` is gone */
    char **argv;      /* `hotswap reload -- COMMAND...`: the new command line (owned); NULL:
                              the current one */
    char **env;       /* --env-file as read for this reload (owned) */
    bool ready_told;  /* clients of `hotswap reload --wait ready` heard that `next` serves */
    long shown_conns; /* the old generation's open connections, as last told to the client */
    int64_t shown_ms;
    struct reload_proof proof; /* what the kernel saw meanwhile */
};

struct launcher {
    struct options opt;
    char **command; /* the command line of the next start: the last one that served */
    char **env;     /* --env-file's variables for it (NULL: none) */
    char shim_path[PATH_MAX];
    struct generation *gens[GENERATIONS_MAX];
    int gen_count;
    struct generation *serving; /* the newest ready generation (or generation 1 while starting) */
    struct reload reloads[GENERATIONS_MAX];
    int next_generation, next_reload_id;
    bool stopping;
    int exit_status;
    int signal_fd;
    char control_path[256];
    int64_t started_ms;
    struct restarter restarter;
    bool ever_ready;         /* a generation has been ready: from then on a death is a crash */
    bool serving_daemonized; /* the serving generation's command exited 0, leaving its daemon */
    /* A reload whose new generation failed after the serving one had died (any status): the
     * dead one, and the failed one's number. Whatever --restart says, the last good command line
     * starts again, and keeps being restarted with back-off until a generation is ready. */
    const struct generation *orphaned_by_reload;
    int orphaning_gen;
    bool orphaned_in_sequence; /* ...which the reload stopped itself, going in sequence */
    bool rescuing;
    int announced_gen; /* the serving generation last told to the service manager */
    struct status_event last_reload, last_restart;
    struct metrics metrics; /* status --prometheus */
};

/* Starts the next generation with `argv` and `env`; NULL (and `failure` says why) if it cannot. */
struct generation *start_generation(struct launcher *l, char **argv, char **env, struct gen_failure *failure);

/* A command line as one line of text, for the log and status. */
void describe_command(char *const *argv, char *out, size_t size);

/* A reload is under way before its new generation is ready (checking, in sequence, starting). */
bool reload_starting(const struct launcher *l);

/* The parked generation (--keep-old), if any: at most one, the last to drain. */
struct generation *parked_generation(const struct launcher *l);

/* A reload's generation with a new command line serves: that command line is the one later
 * reloads and crash restarts run. */
void take_command_of(struct launcher *l, const struct generation *g);

/* The parked generation serves again and `from` (the one serving) drains to its stop. */
void bring_back(struct launcher *l, struct generation *parked, struct generation *from);

/* Records a reload's or a restart's outcome for status (`event`: l->last_reload or l->last_restart). */
void note_event(struct status_event *event, bool ok, const char *text);

/* Its command has exited and no process of it the shim knows of is left: it serves no more. */
bool gen_dead(const struct generation *g);

/* A text for the service manager, escaped: a name in it (a program's path, a listener's) could
 * hold a newline, and each line of a notification is an assignment ("MAINPID=1"). */
const char *notify_text(const char *text, char *safe, size_t size);

/* Frees the generations that are gone, but one a reload still names or the serving one. */
void forget_gone(struct launcher *l);

/* gen_settings' newer_processes (ctx: the launcher): the processes of every generation newer
 * than generation `number` that is not gone. */
int newer_processes(void *ctx, int number, pid_t *pids, int room);

#endif
