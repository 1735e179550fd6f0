/* hooks_socket.c: the interposed socket calls: bind, listen, connect, accept, and getsockname/getsockopt on
 * a drained listener. Each calls libc's own function and records one fact; the mechanisms live in
 * inherit.c, drain.c, report.c, nonblock.c, listenaddr.c and fdtable.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "acceptwait.h"
#include "dgram.h"
#include "drain.h"
#include "drainstate.h"
#include "export.h"
#include "gate.h"
#include "fdtable.h"
#include "handover.h"
#include "inherit.h"
#include "listenaddr.h"
#include "mode.h"
#include "nonblock.h"
#include "real.h"
#include "report.h"

/* ---- listeners: bind, listen ---------------------------------------------------------- */

/* An address that asks the kernel to choose: port 0, or a Unix autobind (no name at all). */
static bool asks_for_any(const struct sockaddr *addr, socklen_t addrlen)
{
    if (!addr)
        return false;
    if (addr->sa_family == AF_INET && addrlen >= sizeof(struct sockaddr_in))
        return ((const struct sockaddr_in *)addr)->sin_port == 0;
    if (addr->sa_family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6))
        return ((const struct sockaddr_in6 *)addr)->sin6_port == 0;
    return addr->sa_family == AF_UNIX && addrlen <= sizeof(sa_family_t);
}

/* listen() on a socket never bound: the kernel picks a port (or an abstract Unix name). */
static bool unbound(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (real.getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return false;
    return asks_for_any((struct sockaddr *)&addr, len);
}

/* A drained process binding one of its listeners' addresses again: varnish's manager reopens its
 * listen sockets whenever its child stops, and would fail (EADDRINUSE: the address is the next
 * generation's now), retry for 3 s and exit 1. It gets a port of its own nobody knows instead, on
 * the same address: listen() and accept() work, and never take a connection. */
static int rebind_elsewhere(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct sockaddr_storage any_port;
    if (!addr || addrlen > sizeof any_port || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
        return -1;
    memcpy(&any_port, addr, addrlen);
    if (any_port.ss_family == AF_INET)
        ((struct sockaddr_in *)&any_port)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&any_port)->sin6_port = 0;
    if (real.bind(fd, (struct sockaddr *)&any_port, addrlen) < 0)
        return -1;
    fd_set_kind(fd, FD_PRIVATE);
    return 0;
}

HS_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    if (inherit_claim(fd, addr, addrlen))
        return 0;
    int rc = real.bind(fd, addr, addrlen);
    if (rc < 0 && errno == EADDRINUSE && drain_begun() && addr && listenaddr_is_listeners(addr, addrlen)) {
        int saved = errno;
        if (rebind_elsewhere(fd, addr, addrlen) == 0)
            return 0;
        errno = saved;
    }
    if (rc == 0 && shim_in_charge()) {
        int saved = errno;
        int type = 0;
        socklen_t type_len = sizeof type;
        if (asks_for_any(addr, addrlen))
            fd_set_kind(fd, FD_PRIVATE); /* whatever port it got is the server's own business */
        else if (real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM)
            listenaddr_note(fd); /* a listener's address, even where another process listen()s */
        else
            dgram_note_bound(fd, addr); /* a datagram server has no listen(): its first receive is
                                           the moment (dgram_settle) */
        errno = saved;
    }
    return rc;
}

HS_EXPORT int listen(int fd, int backlog)
{
    enum fd_kind kind = fd_kind_claiming(fd);
    if (kind == FD_GIVEN_BOUND && shim_take_part())
        kind = FD_OTHER; /* a worker listening on the socket its primary bound: its own listener */
    bool private = kind == FD_PRIVATE || (kind == FD_OTHER && shim_in_charge() && unbound(fd));
    int rc = real.listen(fd, backlog); /* on a claimed listener: updates the backlog */
    if (rc == 0 && (kind == FD_OTHER || kind == FD_PRIVATE) && shim_in_charge()) {
        int saved = errno;
        if (private) {
            fd_set_kind(fd, FD_PRIVATE);
            report_private_listener(fd);
        } else {
            int status = real.fcntl(fd, F_GETFL);
            nonblock_adopt(fd, status >= 0 && (status & O_NONBLOCK));
            fd_set_kind(fd, FD_LISTENER);
            listenaddr_note(fd);
            inherit_protect_path_of(fd);
            report_listener(fd);
        }
        errno = saved;
    }
    return rc;
}

/* ---- connecting ------------------------------------------------------------------------ */

/* A server probing its own address before it binds ("is the port free?"; a FastCGI manager
 * connecting to its own socket path) would reach the launcher's held listener, or the old
 * generation, and conclude another instance runs: it is refused, as on a plain start (the
 * kernel refuses a loopback or Unix connect to nothing synchronously, nonblocking or not). */
HS_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    if (inherit_any_unclaimed() && inherit_refuses_connect(fd, addr, addrlen)) {
        errno = ECONNREFUSED;
        return -1;
    }
    return real.connect(fd, addr, addrlen);
}

/* ---- accepting ------------------------------------------------------------------------- */

static int accept_on_listener(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    socklen_t room = len ? *len : 0; /* accept() rewrites *len: the caller's buffer size is lost */
    report_ready(fd);
    if (gate_closed()) { /* --ready notify, before READY=1: the old generation's connections */
        if (nonblock_wanted(fd)) {
            errno = EAGAIN;
            return -1;
        }
        if (gate_wait_open() < 0)
            return -1;
    }
    int slot = accept_enter();
    int conn;
    for (;;) {
        conn = real.accept4(fd, addr, len, flags);
        /* the shared description is nonblocking: block here for a server that wants blocking */
        if (conn >= 0 || errno != EAGAIN || fd_kind(fd) != FD_LISTENER || nonblock_wanted(fd))
            break;
        if (nonblock_wait(fd) < 0)
            break;
    }
    int saved = errno;
    accept_leave(slot, conn);
    if (conn < 0 && (saved == EAGAIN || saved == EINTR) && fd_kind(fd) == FD_DUMMY_BLOCKING) {
        conn = accept_wait_forever(fd); /* drained while we were in accept() */
        return conn == ACCEPT_REARMED ? accept_on_listener(fd, addr, len, flags) : conn;
    }
    errno = saved;
    return handover_claim(conn, addr, len, room, flags);
}

/* accept() on a drained listener: nothing, as a dummy has (the server sees the EAGAIN an empty
 * nonblocking listener gives, or waits where it expects blocking), until a re-arm. */
static int accept_on_dummy(int fd, struct sockaddr *addr, socklen_t *len, int flags, enum fd_kind kind)
{
    if (kind == FD_DUMMY) {
        errno = EAGAIN;
        return -1;
    }
    int conn = accept_wait_forever(fd);
    return conn == ACCEPT_REARMED ? accept_on_listener(fd, addr, len, flags) : conn;
}

HS_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    switch (fd_kind_claiming(fd)) {
    case FD_LISTENER:
        return accept_on_listener(fd, addr, len, flags);
    case FD_DUMMY:
    case FD_DUMMY_BLOCKING:
        return accept_on_dummy(fd, addr, len, flags, fd_kind(fd));
    default:
        return real.accept4(fd, addr, len, flags);
    }
}

HS_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    switch (fd_kind_claiming(fd)) {
    case FD_LISTENER:
        return accept_on_listener(fd, addr, len, 0);
    case FD_DUMMY:
    case FD_DUMMY_BLOCKING:
        return accept_on_dummy(fd, addr, len, 0, fd_kind(fd));
    default:
        return real.accept(fd, addr, len);
    }
}

/* ---- a drained listener still says what it was ------------------------------------------- */

HS_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    enum fd_kind kind = fd_kind(fd);
    if ((kind == FD_DUMMY || kind == FD_DUMMY_BLOCKING) && drain_identity(fd, addr, len, NULL, NULL) == 0)
        return 0;
    return real.getsockname(fd, addr, len);
}

HS_EXPORT int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
    enum fd_kind kind = fd_kind(fd);
    if ((kind == FD_DUMMY || kind == FD_DUMMY_BLOCKING) && level == SOL_SOCKET &&
        (name == SO_DOMAIN || name == SO_PROTOCOL) && value && len && *len >= sizeof(int)) {
        int domain, protocol;
        if (drain_identity(fd, NULL, NULL, &domain, &protocol) == 0) {
            *(int *)value = name == SO_DOMAIN ? domain : protocol;
            *len = sizeof(int);
            return 0;
        }
    }
    return real.getsockopt(fd, level, name, value, len);
}
