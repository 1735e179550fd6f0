/* options.h: the launcher's command line. */
#ifndef HOTSWAP_OPTIONS_H
#define HOTSWAP_OPTIONS_H

#include "generation.h"
#include <stdbool.h>
#include <stdint.h>

#include "members.h"
#include "restart.h"
#include "sequential.h"

#define EXIT_USAGE 64       /* EX_USAGE */
#define EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE: no launcher to talk to */
#define EXIT_NOT_FOUND 127  /* the server command does not exist */
#define EXIT_NOT_EXECUTABLE 126

enum command { CMD_RUN, CMD_TRY, CMD_RELOAD, CMD_STOP, CMD_ROLLBACK, CMD_STATUS, CMD_HELP, CMD_VERSION };

/* --max-draining at most this: with one serving and one starting, within the launcher's 16. */
#define MAX_DRAINING_LIMIT 14

struct options {
    enum command command;
    struct gen_settings gen;     /* what each generation is started with: its timeouts, signals and drain
                                choices (genstate.h), as the options give them */
    int max_draining;            /* --max-draining: generations draining at once, at most */
    enum track_mode track;       /* how a generation's processes are known */
    enum overlap overlap;        /* --overlap: auto, never (reloads in sequence), always */
    enum restart_policy restart; /* when a generation that dies outside a reload is replaced */
    int64_t restart_max_backoff_ms;
    bool json;                 /* status --json */
    bool prometheus;           /* status --prometheus */
    const char *control_path;  /* NULL: the default for this launcher's pid */
    const char *check_command; /* --check: run before each reload (sh -c); NULL: none */
    const char *env_file;      /* --env-file: KEY=VALUE lines, read again at each reload */
    const char *shim_path;     /* NULL: beside the hotswap binary */
    int target_pid;            /* reload/stop/status --pid */
    bool wait_ready;           /* reload --wait ready: done once the new generation serves */
    char **argv;               /* the server command */
    const char *try_addr;      /* hotswap try ADDR */
    int try_addr_index;        /* ... its index in argv */
    int try_reloads;           /* --reloads N (default 10) */
    const char *try_http_path; /* --http PATH (default /) */
    bool try_connect_only;     /* --connect-only: not HTTP */
    int64_t try_timeout_ms;    /* try --timeout: all of it, reloads and stop, within this */
};

/* Parses argv; on bad input prints one line and the usage hint on stderr, exits 64. */
void options_parse(int argc, char **argv, struct options *opt);

void options_usage(void);

/* "TERM", "SIGTERM", "15", "RTMIN+10" -> number, or -1. */
int signal_from_name(const char *name);

/* The control socket path of the launcher with this pid, in `buf`. */
const char *default_control_path(int pid, char *buf, unsigned size);

#endif
