/* spawn.h: start one generation of the server command. */
#ifndef HOTSWAP_SPAWN_H
#define HOTSWAP_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "members.h"

struct spawn_request {
    char **argv;
    char **env; /* --env-file: KEY=VALUE set for the command (the launcher's own
                              variables still win), or NULL */
    const char *shim_path;
    int generation;
    int drain_signal;
    int handover_map_fd;           /* --handover-idle: the relay's table (relay.h), or -1 */
    const char *idle_close;        /* --idle-close, by name */
    const struct members *members; /* the generation's group, which the child joins */
    bool socket_activation;        /* also pass LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES (systemd's names) */
    bool seccomp;                  /* the seccomp route (intercept.h) instead of the preload shim */
    bool signal_drain;             /* ...for a Go program: rt_sigreturn trapped instead of accept */
    int ready_gate_fd;             /* --ready notify: the gate's eventfd (readynotify.h), or -1 */
    const char *notify_socket;     /* --ready notify: the generation's NOTIFY_SOCKET, or NULL */
    bool keep_listeners;           /* --keep-old: a drain keeps the listeners hidden, for a re-arm */
};

struct spawned {
    pid_t pid;      /* also the process group id */
    int channel_fd; /* the launcher's end of the generation's channel */
    bool joined;    /* it joined the generation's cgroup (members.h) */
    int notify_fd;  /* the seccomp route: the filter's notification fd; -1 otherwise */
};

/* Forks and execs argv in a new process group, with every held listener at fds 3..
 * (HOTSWAP_LISTEN_FDS), the channel after them, and the shim preloaded. Returns 0, or -1 with errno set to the
 * exec failure (ENOENT: command not found) and nothing left running. */
int spawn_generation(const struct spawn_request *req, struct spawned *out);

#endif
