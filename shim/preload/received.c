/* received.c: sockets handed to this process rather than made by it: connections and listeners
 * received over a Unix socket (SCM_RIGHTS), and listeners inherited at an exec.
 *
 * A connection is taken only if it is a stream socket that does not listen, whose local address
 * is a listener's: an accepted connection always has its listener's address, and anything else a
 * server passes around (a pipe, a file, an upstream connection) is none of the drain's business.
 * The listener is one this process knows (listenaddr.h), or, for a worker exec'd before its
 * primary listened, one the kernel shows (listenquery.h): every listener a generation has is
 * held, but for one on a port the kernel chose (FD_PRIVATE), whose connections are then tracked
 * as well: harmless, as the launcher's drain signal goes only to a holder of a held address.
 *
 * A listener (a stream socket that listens) is taken as this process's own: its waits on it say
 * the generation is ready, and a drain puts a dummy on it, as for one it listened on itself. So
 * is a bound socket it listens on (FD_GIVEN_BOUND). Neither is checked against the launcher's
 * held listeners, which the process cannot see: one bound to port 0 by its primary (FD_PRIVATE
 * there) would be taken too.
 * Connections a program inherits at its exec are not looked for: an inetd-style answerer serves
 * its one connection to its end, and its exit ends it. */
#define _GNU_SOURCE
#include "received.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "countreport.h"
#include "fdtable.h"
#include "listenaddr.h"
#include "listenquery.h"
#include "mode.h"
#include "nonblock.h"
#include "real.h"
#include "report.h"

#define INHERITED_SCAN_MAX 4096 /* fds looked at, at most, in a program's start */

enum stream_role { NOT_STREAM, CONNECTION, LISTENING, BOUND };

/* A bound socket that neither listens nor is connected: one a primary bound for its workers to
 * listen on (node's cluster module does, with NODE_CLUSTER_SCHED_POLICY=none). */
static bool bound_only(int fd)
{
    struct sockaddr_storage peer, local;
    socklen_t len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 || errno != ENOTCONN)
        return false;
    len = sizeof local;
    if (real.getsockname(fd, (struct sockaddr *)&local, &len) < 0)
        return false;
    if (local.ss_family == AF_INET)
        return ((struct sockaddr_in *)&local)->sin_port != 0;
    if (local.ss_family == AF_INET6)
        return ((struct sockaddr_in6 *)&local)->sin6_port != 0;
    return local.ss_family == AF_UNIX && len > sizeof(sa_family_t);
}

static enum stream_role role_of(int fd)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return NOT_STREAM;
    len = sizeof listening;
    if (real.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
        return NOT_STREAM;
    if (listening)
        return LISTENING;
    return bound_only(fd) ? BOUND : CONNECTION;
}

/* A connection accepted from a listener, by whichever process. */
static bool on_listener_address(int fd)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (real.getsockname(fd, (struct sockaddr *)&local, &len) < 0)
        return false;
    /* A listener this process (or the one it was forked from) bound, or else one the kernel
     * shows: the first connection on each address costs a dump of the listeners. */
    return listenaddr_is_listeners((struct sockaddr *)&local, len) || listenquery_learn((struct sockaddr *)&local, len);
}

/* `fd`, a listener this process got, is one of its listeners from now on. The launcher holds
 * it already: the process that listened on it said so. */
static void adopt_listener(int fd)
{
    int status = real.fcntl(fd, F_GETFL);
    nonblock_adopt(fd, status >= 0 && (status & O_NONBLOCK));
    fd_set_kind(fd, FD_LISTENER);
    listenaddr_note(fd);
}

/* Whatever the shim recorded on the number is stale: the kernel gives a received fd a free
 * number, so the socket that had it was closed past the hooks (libuv closes with a raw system
 * call). A connection recorded there is counted out. */
static void forget_stale(int fd)
{
    enum fd_kind kind = fd_kind(fd);
    if (kind == FD_CONN) {
        if (fdtable_forget_conn(fd))
            drain_note_conns();
    } else if (kind != FD_OTHER && !fd_is_protected(kind))
        fd_set_kind(fd, FD_OTHER);
}

static void take(int fd)
{
    forget_stale(fd);
    switch (role_of(fd)) {
    case CONNECTION:
        if (on_listener_address(fd) && shim_take_part()) {
            conn_note_accepted(fd);
            fdtable_note_conn(fd);
            drain_note_conns();
        }
        break;
    case LISTENING:
        /* it takes part at its first wait for a connection (report_ready) */
        adopt_listener(fd);
        break;
    case BOUND:
        fd_set_kind(fd, FD_GIVEN_BOUND); /* it takes part at its listen() on it */
        break;
    default:
        break;
    }
}

void received_note(const struct msghdr *msg)
{
    if (!shim_in_charge() && !report_dormant())
        return;
    int saved = errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            take(fd);
        }
    }
    errno = saved;
}

void received_scan_inherited(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return;
    int own = dirfd(dir), looked = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) && looked < INHERITED_SCAN_MAX) {
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (*end || end == entry->d_name || fd == own || fd_kind((int)fd) != FD_OTHER)
            continue;
        looked++;
        enum stream_role role = role_of((int)fd);
        if (role == LISTENING)
            adopt_listener((int)fd);
        else if (role == BOUND)
            fd_set_kind((int)fd, FD_GIVEN_BOUND);
    }
    closedir(dir);
}
