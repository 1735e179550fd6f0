/* report.h: the shim's side of the channel to the launcher. */
#ifndef HOTSWAP_REPORT_H
#define HOTSWAP_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "channel.h"

/* CHANNEL_DORMANT: a program another process of the generation exec'd holds the channel, and
 * keeps it unused unless it receives a connection on a held address (received.h). */
enum channel_status { CHANNEL_OK, CHANNEL_UNSET, CHANNEL_BAD, CHANNEL_DORMANT };

/* Reads HOTSWAP_CHANNEL_FD and checks it is a Unix SOCK_SEQPACKET socket. Says nothing: the
 * caller, which knows the mode, does. */
enum channel_status report_open(void);

/* A dormant channel (CHANNEL_DORMANT) is used from now on. False if there is none. */
bool report_wake(void);

/* This process holds a dormant channel. */
bool report_dormant(void);

/* Says hello on the channel. */
void report_hello(void);

/* True if HOTSWAP_PID names another process: one the server exec'd, which inherited the
 * environment (and, exec'd by another process of the generation, the channel: dormant). */
bool report_in_descendant(void);

/* True while the channel is open (under the launcher, or to a standalone predecessor). */
bool report_active(void);

/* Sends one message. Async-signal-safe. A dead launcher: one line, then reporting stops. */
void report_send(enum hs_msg_type type, int fd, int64_t value);

/* DRAINING or CONNS: open connections, and datagrams received and not yet answered. False if the
 * message was not sent (no room in the channel: it is dropped, never waited for). */
bool report_counts(enum hs_msg_type type, int64_t conns, int64_t datagrams);

/* Sends one message with `passed_fd` as SCM_RIGHTS; false if it did not go. Async-signal-safe. */
bool report_pass(enum hs_msg_type type, int fd, int64_t value, int passed_fd);

/* Sends a listener the server created, with its fd as SCM_RIGHTS. */
void report_listener(int fd);

/* A listener the server keeps to itself (a port the kernel chose): the launcher is told it
 * knows of it, so that the kernel showing it is no sign of a socket made past the shim. */
void report_private_listener(int fd);

/* A lock call on `fd` failed because another holds the lock: its file's inode and device go to
 * the launcher, which asks the kernel who the holder is (issue: a server that cannot run beside
 * its old generation). The caller saves errno. */
void report_lock_failed(int fd);

/* Before readiness: `fd`, just opened read-only, is a regular file: its inode and device go to
 * the launcher (at most 64 per process). The caller saves errno and checks the process is not
 * ready yet. */
void report_read_opened(int fd);

/* Readiness, once per process: the first wait for connections on `listener`. */
void report_ready(int listener);

/* Readiness has been reported by this process. */
bool report_ready_done(void);

/* The channel was moved from fd `from` to `to` (the server wanted its number). */
/* The channel's fd now (it may have been moved off a number the server took), or -1. */
int report_channel_fd(void);

void report_moved(int from, int to);

/* exec() by the process the launcher started keeps the channel (a wrapper script that
 * execs the server); anyone else's exec() does not take it along. */
void report_keep_across_exec(bool keep);

/* In a child after fork(): says hello for the new pid. */
void report_after_fork(void);

#endif
