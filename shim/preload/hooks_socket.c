/* hooks.c: the interposed socket calls (bind, listen, accept, waits, close), and nothing else.
 * Each calls libc's own function and records one fact; the mechanisms live in inherit.c,
 * drain.c, report.c, nonblock.c and fdtable.c. The other hooks: hooks_fd.c, hooks_signal.c,
 * hooks_process.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dgram.h"
#include "drain.h"
#include "export.h"
#include "mode.h"
#include "fdtable.h"
#include "handover.h"
#include "inherit.h"
#include "listenaddr.h"
#include "nonblock.h"
#include "quietwait.h"
#include "real.h"
#include "report.h"
#include "sigguard.h"
#include "standalone.h"

static void on_fork_child(void)
{
    standalone_after_fork();
    drain_after_fork();
    report_after_fork();
}

__attribute__((constructor)) static void shim_init(void)
{
    int saved = errno;
    real_ready();
    inherit_init();
    shim_mode = mode_choose();
    if (shim_in_charge()) {
        drain_init();
        handover_init();
        if (shim_mode == MODE_STANDALONE)
            standalone_init();
        pthread_atfork(NULL, NULL, on_fork_child);
    }
    errno = saved;
}

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
    real_ready();
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
    real_ready();
    enum fd_kind kind = fd_kind_claiming(fd);
    bool private = kind == FD_PRIVATE || (kind == FD_OTHER && shim_in_charge() && unbound(fd));
    int rc = real.listen(fd, backlog); /* on a claimed listener: updates the backlog */
    if (rc == 0 && kind == FD_OTHER && shim_in_charge()) {
        int saved = errno;
        if (private) {
            fd_set_kind(fd, FD_PRIVATE);
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

/* ---- accepting ------------------------------------------------------------------------- */

static int accept_on_listener(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    socklen_t room = len ? *len : 0; /* accept() rewrites *len: the caller's buffer size is lost */
    report_ready(fd);
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
    if (conn < 0 && (saved == EAGAIN || saved == EINTR) && fd_kind(fd) == FD_DUMMY_BLOCKING)
        return accept_wait_forever(fd); /* drained while we were in accept() */
    errno = saved;
    return handover_claim(conn, addr, len, room, flags);
}

HS_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    real_ready();
    switch (fd_kind_claiming(fd)) {
    case FD_LISTENER:
        return accept_on_listener(fd, addr, len, flags);
    case FD_DUMMY_BLOCKING:
        return accept_wait_forever(fd);
    default:
        return real.accept4(fd, addr, len, flags);
    }
}

HS_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    real_ready();
    switch (fd_kind_claiming(fd)) {
    case FD_LISTENER:
        return accept_on_listener(fd, addr, len, 0);
    case FD_DUMMY_BLOCKING:
        return accept_wait_forever(fd);
    default:
        return real.accept(fd, addr, len);
    }
}

/* ---- waiting: readiness is the first wait for connections on a listener ---------------- */

HS_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    real_ready();
    enum fd_kind kind = fd_kind_claiming(fd);
    if (kind == FD_DGRAM_BOUND && op == EPOLL_CTL_ADD && event && (event->events & EPOLLIN))
        kind = dgram_settle(fd, true);
    int rc = real.epoll_ctl(epfd, op, fd, event);
    /* The drain took a listener out of the server's epoll sets; the server's own removal later
     * must not fail for it (lighttpd logs "event_del failed"). */
    if (rc < 0 && errno == ENOENT && op == EPOLL_CTL_DEL &&
        (kind == FD_DUMMY || kind == FD_DUMMY_BLOCKING || kind == FD_DGRAM_DRAINED)) {
        errno = 0;
        return 0;
    }
    if (rc == 0 && kind == FD_CONN)
        handover_note_epoll(epfd, op, fd, event);
    if (rc == 0 && fd_awaits_clients(kind)) {
        int saved = errno;
        if (op == EPOLL_CTL_ADD) {
            drain_note_epoll(epfd, fd);
            drain_note_event_loop();
        }
        else if (op == EPOLL_CTL_DEL)
            drain_forget_epoll(epfd, fd);
        if (op != EPOLL_CTL_DEL)
            report_ready(fd);
        errno = saved;
    }
    return rc;
}

/* With --handover-idle the drain must reach threads already waiting: handover.c joins its
 * eventfd to their waits. Otherwise the waits pass straight through. Either way the drain signal
 * never comes back to the server as EINTR (quietwait.h). */
static int epoll_once(int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *mask)
{
    if (handover_enabled())
        return handover_epoll_wait(epfd, events, max, timeout, mask);
    return mask ? real.epoll_pwait(epfd, events, max, timeout, mask) : real.epoll_wait(epfd, events, max, timeout);
}

static int epoll_quietly(int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *mask)
{
    struct quiet_wait wait;
    quiet_wait_begin_ms(&wait, timeout);
    int rc;
    while ((rc = epoll_once(epfd, events, max, timeout, mask)) < 0 && quiet_wait_again_ms(&wait, rc, &timeout))
        ;
    return rc;
}

HS_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
    real_ready();
    return epoll_quietly(epfd, events, max, timeout, NULL);
}

HS_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *mask)
{
    real_ready();
    sigset_t copy;
    return epoll_quietly(epfd, events, max, timeout, sigguard_strip(mask, &copy));
}

/* The kind of an fd the server waits to read from: a bound datagram socket waited on is a
 * server's. */
static enum fd_kind fd_kind_waited_on(int fd)
{
    enum fd_kind kind = fd_kind_claiming(fd);
    return kind == FD_DGRAM_BOUND ? dgram_settle(fd, true) : kind;
}

/* Nothing left to learn from a wait once readiness is reported and no inherited listener waits
 * to be claimed: then the hook costs two loads, not a walk over the caller's set. */
static bool waits_worth_a_look(void)
{
    return shim_in_charge() && (!report_ready_done() || inherit_any_unclaimed());
}

static void note_poll(const struct pollfd *fds, nfds_t count)
{
    if (!waits_worth_a_look())
        return;
    for (nfds_t i = 0; i < count; i++)
        if ((fds[i].events & POLLIN) && fd_awaits_clients(fd_kind_waited_on(fds[i].fd))) {
            drain_note_event_loop();
            report_ready(fds[i].fd);
            return;
        }
}

/* A drained datagram socket stays readable (for the new generation): hide it from the wait for
 * the length of the call by negating its fd, which poll() ignores. Up to 1024 entries. */
#define MASK_MAX 1024

struct poll_mask {
    unsigned char masked[MASK_MAX / 8];
    bool any;
};

static void mask_drained(struct pollfd *fds, nfds_t count, struct poll_mask *mask)
{
    mask->any = false;
    if (!dgram_any_drained())
        return;
    for (nfds_t i = 0; i < count && i < MASK_MAX; i++) {
        bool hide = fds[i].fd >= 0 && fd_kind(fds[i].fd) == FD_DGRAM_DRAINED;
        if (hide) {
            fds[i].fd = ~fds[i].fd;
            mask->any = true;
            mask->masked[i / 8] |= (unsigned char)(1u << (i % 8));
        } else {
            mask->masked[i / 8] &= (unsigned char)~(1u << (i % 8));
        }
    }
}

static void unmask_drained(struct pollfd *fds, nfds_t count, const struct poll_mask *mask)
{
    if (!mask->any)
        return;
    for (nfds_t i = 0; i < count && i < MASK_MAX; i++)
        if (mask->masked[i / 8] & (1u << (i % 8))) {
            fds[i].fd = ~fds[i].fd;
            fds[i].revents = 0;
        }
}

/* The poll family's one body: readiness noted, drained datagram sockets hidden, the drain signal
 * kept out of the mask and its EINTR out of the result. `timeout` NULL: none. */
static int poll_quietly(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask)
{
    note_poll(fds, count);
    sigset_t copy;
    const sigset_t *kept = sigguard_strip(mask, &copy);
    struct poll_mask hidden;
    mask_drained(fds, count, &hidden);
    struct quiet_wait wait;
    quiet_wait_begin(&wait, timeout);
    struct timespec left;
    int rc;
    for (;;) {
        rc = handover_enabled() ? handover_ppoll(fds, count, timeout, kept) : real.ppoll(fds, count, timeout, kept);
        if (rc >= 0 || !quiet_wait_again(&wait, rc, &left))
            break;
        if (timeout)
            timeout = &left;
    }
    int saved = errno;
    unmask_drained(fds, count, &hidden);
    errno = saved;
    return rc;
}

static const struct timespec *ms_to_timespec(int ms, struct timespec *out)
{
    if (ms < 0)
        return NULL;
    *out = (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    return out;
}

HS_EXPORT int poll(struct pollfd *fds, nfds_t count, int timeout)
{
    real_ready();
    struct timespec limit;
    return poll_quietly(fds, count, ms_to_timespec(timeout, &limit), NULL);
}

HS_EXPORT int ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask)
{
    real_ready();
    return poll_quietly(fds, count, timeout, mask);
}

/* _FORTIFY_SOURCE builds (Debian's packages) call these instead of poll/ppoll; glibc's own
 * report a set larger than its buffer. */
HS_EXPORT int __poll_chk(struct pollfd *fds, nfds_t count, int timeout, size_t fdslen)
{
    real_ready();
    if (count * sizeof *fds > fdslen)
        return real.poll_chk(fds, count, timeout, fdslen);
    struct timespec limit;
    return poll_quietly(fds, count, ms_to_timespec(timeout, &limit), NULL);
}

HS_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t count, const struct timespec *timeout,
                          const sigset_t *mask, size_t fdslen)
{
    real_ready();
    if (count * sizeof *fds > fdslen)
        return real.ppoll_chk(fds, count, timeout, mask, fdslen);
    return poll_quietly(fds, count, timeout, mask);
}

/* A drained datagram socket leaves the read set: select() overwrites the sets anyway. */
static void unselect_drained(int nfds, fd_set *readfds)
{
    if (!readfds || !dgram_any_drained())
        return;
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
        if (FD_ISSET(fd, readfds) && fd_kind(fd) == FD_DGRAM_DRAINED)
            FD_CLR(fd, readfds);
}

static void note_select(int nfds, fd_set *readfds)
{
    unselect_drained(nfds, readfds);
    if (!readfds || !waits_worth_a_look())
        return;
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
        if (FD_ISSET(fd, readfds) && fd_awaits_clients(fd_kind_waited_on(fd))) {
            drain_note_event_loop();
            report_ready(fd);
            return;
        }
}

/* The sets are left as they were when a wait fails, so a repeated one sees the same. */
HS_EXPORT int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, struct timeval *timeout)
{
    real_ready();
    note_select(nfds, readfds);
    struct timespec limit, left;
    if (timeout)
        limit = (struct timespec){.tv_sec = timeout->tv_sec, .tv_nsec = timeout->tv_usec * 1000};
    struct quiet_wait wait;
    quiet_wait_begin(&wait, timeout ? &limit : NULL);
    int rc;
    for (;;) {
        rc = handover_enabled() ? handover_pselect(nfds, readfds, writefds, exceptfds, timeout ? &limit : NULL, NULL)
                                : real.select(nfds, readfds, writefds, exceptfds, timeout);
        if (rc >= 0 || !quiet_wait_again(&wait, rc, &left))
            break;
        if (timeout) { /* what Linux's select() leaves there: the time left */
            limit = left;
            *timeout = (struct timeval){.tv_sec = left.tv_sec, .tv_usec = left.tv_nsec / 1000};
        }
    }
    return rc;
}

HS_EXPORT int pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                      const struct timespec *timeout, const sigset_t *mask)
{
    real_ready();
    note_select(nfds, readfds);
    sigset_t copy;
    const sigset_t *kept = sigguard_strip(mask, &copy);
    struct quiet_wait wait;
    quiet_wait_begin(&wait, timeout);
    struct timespec left;
    int rc;
    for (;;) {
        rc = handover_enabled() ? handover_pselect(nfds, readfds, writefds, exceptfds, timeout, kept)
                                : real.pselect(nfds, readfds, writefds, exceptfds, timeout, kept);
        if (rc >= 0 || !quiet_wait_again(&wait, rc, &left))
            break;
        if (timeout)
            timeout = &left;
    }
    return rc;
}

/* ---- closing ----------------------------------------------------------------------------- */

HS_EXPORT int close(int fd)
{
    real_ready();
    switch (fd_kind(fd)) {
    case FD_OTHER:
        return real.close(fd);
    case FD_CONTROL:
    case FD_INHERITED:
        return 0; /* the shim's own: the server believes it closed it, and it stays usable */
    case FD_CONN: {
        /* Counted out before the number is free: another thread's accept() may reuse it at once. */
        int saved = errno;
        fdtable_forget_conn(fd);
        errno = saved;
        return real.close(fd);
    }
    case FD_HANDED:
        handover_forget(fd);
        fd_set_kind(fd, FD_OTHER);
        return real.close(fd);
    case FD_DUMMY:
    case FD_DUMMY_BLOCKING:
        drain_forget_identity(fd);
        fd_set_kind(fd, FD_OTHER);
        return real.close(fd);
    default:
        fd_set_kind(fd, FD_OTHER);
        return real.close(fd);
    }
}

/* ---- a drained listener still says what it was ------------------------------------------- */

HS_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    real_ready();
    enum fd_kind kind = fd_kind(fd);
    if ((kind == FD_DUMMY || kind == FD_DUMMY_BLOCKING) && drain_identity(fd, addr, len, NULL, NULL) == 0)
        return 0;
    return real.getsockname(fd, addr, len);
}

HS_EXPORT int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
    real_ready();
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
