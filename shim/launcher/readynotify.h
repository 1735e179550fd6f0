/* readynotify.h: --ready notify. Each generation gets a NOTIFY_SOCKET of its own (systemd's
 * protocol: datagrams of KEY=VALUE lines, so a server that already speaks it needs no change),
 * and is ready when one of its processes sends READY=1 there. Its listeners stay shut until then
 * (the gate: an eventfd its shims watch, gate.h in the shim; the seccomp route holds its accepts
 * back itself), so the generation before it serves alone. */
#ifndef HOTSWAP_READYNOTIFY_H
#define HOTSWAP_READYNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ready_notify {
    int socket_fd; /* the generation's NOTIFY_SOCKET, bound to an abstract name; -1: none */
    int gate_fd;   /* an eventfd, readable once the gate is open */
    char name[64]; /* NOTIFY_SOCKET's value: "@hotswap-" and 32 hex digits */
};

/* Makes both, the socket under a random abstract name; false (errno set, nothing left open) if
 * it cannot. */
bool ready_notify_open(struct ready_notify *out);

/* Reads every datagram waiting. Returns the pid (as the kernel says) of the first sender that
 * said READY=1 and `member` accepts, or 0; a sender of READY=1 it refused goes in *refused. */
pid_t ready_notify_read(int socket_fd, bool (*member)(void *ctx, pid_t pid), void *ctx, pid_t *refused);

/* The generation's listeners take connections from now on. */
void ready_notify_open_gate(int gate_fd);

void ready_notify_close(struct ready_notify *r);

#endif
