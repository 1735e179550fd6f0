/* ctl_server.h: the launcher's control socket: `hotswap reload` and `hotswap stop` connect here. */
#ifndef HOTSWAP_CTL_SERVER_H
#define HOTSWAP_CTL_SERVER_H

#include <poll.h>
#include <stdbool.h>

#include "status.h"
#include <stddef.h>
#include <stdint.h>

#define CTL_CLIENTS_MAX 16

/* Creates the socket at `path` (owner-only; its directory made 0700 if missing). `own_dir`: the
 * directory is hotswap's default one, which must be this user's and 0700 if it exists. Returns 0;
 * -1 with errno if it cannot; -2 if it refuses (a directory someone else could write, a path
 * that names something other than a socket), having said why in `why`. */
int ctl_server_open(const char *path, bool own_dir, char *why, size_t size);
void ctl_server_close(void);

/* Adds the listening socket and clients to a poll set; returns how many were added. */
int ctl_server_pollfds(struct pollfd *fds, int room);

/* While accepts are paused (the launcher ran out of fds), when they resume; else 0. */
int64_t ctl_server_next_wakeup(void);

/* Handles whatever poll found on those fds. */
void ctl_server_handle(const struct pollfd *fds, int count);

/* What the launcher does with a request: reload and stop return NULL if accepted, or why not;
 * status returns the document (malloc'd; the caller frees it), or NULL if it cannot. Each is
 * called with `context` (the launcher's state). */
struct ctl_handlers {
    void *context;
    const char *(*reload)(void *context, int *reload_id, char **argv); /* argv: a new command line (owned), or NULL */
    const char *(*stop)(void *context);
    const char *(*rollback)(void *context, char *done, size_t size); /* NULL, `done` said; or the refusal */
    char *(*status)(void *context, enum status_format format);
};
void ctl_server_set_handlers(const struct ctl_handlers *handlers);

/* A progress line for everyone waiting on reload `reload_id` (-1: on any reload or stop). */
void ctl_server_progress(int reload_id, const char *line);

/* Reload `reload_id`'s new generation serves: the clients that asked to wait no longer
 * (CTL_REQ_WAIT_READY) hear `text` and are closed; the others wait on. */
void ctl_server_ready(int reload_id, const char *text);

/* The outcome of reload `reload_id`: sends it and closes those clients. */
void ctl_server_finish(int reload_id, bool ok, const char *text);

/* The launcher is exiting: everyone still waiting (on a stop) hears the outcome. */
void ctl_server_finish_all(bool ok, const char *text);

#endif
