/* hooks_wait.c: the interposed waits: epoll, poll, select and their variants, and the sleeps.
 * Readiness is a generation's first wait for connections on a listener (report.c); a drained
 * datagram socket is hidden from a wait (dgram.c); the drain signal never comes back to the server
 * as EINTR (quietwait.h): a wait or sleep it cut short goes on for the time it had left. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#include "acceptwait.h"
#include "dgram.h"
#include "drain.h"
#include "drainstate.h"
#include "export.h"
#include "gate.h"
#include "fdtable.h"
#include "handover.h"
#include "inherit.h"
#include "mode.h"
#include "quietwait.h"
#include "real.h"
#include "report.h"
#include "resume.h"
#include "sigguard.h"

/* ---- waiting: readiness is the first wait for connections on a listener ---------------- */

HS_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    enum fd_kind kind = fd_kind_claiming(fd);
    if (kind == FD_DGRAM_BOUND && op == EPOLL_CTL_ADD && event && (event->events & EPOLLIN))
        kind = dgram_settle(fd, true);
    int rc; /* --ready notify: a listener or datagram socket joins the set once the server said READY=1 */
    if (!fd_awaits_clients(kind) || !gate_defer_epoll(epfd, op, fd, event, &rc))
        rc = real.epoll_ctl(epfd, op, fd, event);
    /* The drain took a listener out of the server's epoll sets; the server's own removal or
     * change of it later must not fail for it (lighttpd logs "event_del failed"; libuv aborts the
     * process on a failed EPOLL_CTL_MOD, which it makes whenever it restarts a watcher). Also
     * while the drain is at it on another thread: out of the sets, not yet marked drained. */
    if (rc < 0 && errno == ENOENT && (op == EPOLL_CTL_DEL || op == EPOLL_CTL_MOD) &&
        (kind == FD_DUMMY || kind == FD_DUMMY_BLOCKING || kind == FD_DGRAM_DRAINED ||
         (fd_awaits_clients(kind) && drain_begun()))) {
        if (op == EPOLL_CTL_MOD)
            drain_note_epoll_change(epfd, fd, event);
        errno = 0;
        return 0;
    }
    if (rc == 0 && kind == FD_CONN)
        handover_note_epoll(epfd, op, fd, event);
    if (rc == 0 && fd_awaits_clients(kind)) {
        int saved = errno;
        if (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) {
            drain_note_epoll(epfd, fd, event);
            acceptwait_note_event_loop();
        } else if (op == EPOLL_CTL_DEL)
            drain_forget_epoll(epfd, fd);
        if (op != EPOLL_CTL_DEL)
            report_ready(fd);
        errno = saved;
    }
    return rc;
}

/* With --handover-idle the drain must reach threads already waiting: handover.c joins its
 * eventfd to their waits. Otherwise the waits pass straight through. Either way the drain signal
 * never comes back to the server as EINTR: each wait below is one quiet_wait() (quietwait.h). */

static const struct timespec *ms_to_timespec(int ms, struct timespec *out)
{
    if (ms < 0)
        return NULL;
    *out = (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    return out;
}

/* Rounded up, as the kernel does: a wait never ends before its time. */
static int timespec_to_ms(const struct timespec *t)
{
    return t ? (int)(t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000) : -1;
}

struct epoll_args {
    int epfd;
    struct epoll_event *events;
    int max;
    const sigset_t *mask;
};

static int epoll_once(void *args, const struct timespec *timeout)
{
    struct epoll_args *a = args;
    int ms = timespec_to_ms(timeout);
    for (;;) {
        int got = handover_enabled() ? handover_epoll_wait(a->epfd, a->events, a->max, ms, a->mask)
                  : a->mask          ? real.epoll_pwait(a->epfd, a->events, a->max, ms, a->mask)
                                     : real.epoll_wait(a->epfd, a->events, a->max, ms);
        if (got <= 0)
            return got;
        int kept = gate_strip_events(a->events, got);
        if (kept > 0)
            return kept;
        /* only the gate woke it, and the listeners are in the set now: round again */
    }
}

static int epoll_quietly(int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *mask)
{
    struct epoll_args args = {.epfd = epfd, .events = events, .max = max, .mask = mask};
    struct timespec limit;
    return quiet_wait(epoll_once, &args, ms_to_timespec(timeout, &limit));
}

HS_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
    return epoll_quietly(epfd, events, max, timeout, NULL);
}

HS_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *mask)
{
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
    return (shim_in_charge() || report_dormant()) && (!report_ready_done() || inherit_any_unclaimed());
}

static void note_poll(const struct pollfd *fds, nfds_t count)
{
    if (!waits_worth_a_look())
        return;
    for (nfds_t i = 0; i < count; i++)
        if ((fds[i].events & POLLIN) && fd_awaits_clients(fd_kind_waited_on(fds[i].fd))) {
            acceptwait_note_event_loop();
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
    memset(mask->masked, 0, ((count < MASK_MAX ? count : MASK_MAX) + 7) / 8); /* a bit per entry looked at */
    for (nfds_t i = 0; i < count && i < MASK_MAX; i++) {
        bool hide = fds[i].fd >= 0 && fd_kind(fds[i].fd) == FD_DGRAM_DRAINED;
        if (hide) {
            fds[i].fd = ~fds[i].fd;
            mask->any = true;
            mask->masked[i / 8] |= (unsigned char)(1u << (i % 8));
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

struct poll_args {
    struct pollfd *fds;
    nfds_t count;
    const sigset_t *mask;
};

static int poll_once(void *args, const struct timespec *timeout)
{
    struct poll_args *a = args;
    return handover_enabled() ? handover_ppoll(a->fds, a->count, timeout, a->mask)
                              : real.ppoll(a->fds, a->count, timeout, a->mask);
}

/* Before READY=1 (--ready notify, gate.h): the listeners hidden (a negative fd is ignored) and
 * the gate's eventfd watched, on a copy of the set. GATE_OPEN: the gate is open, or opened
 * during this wait with nothing else to report: the caller waits as usual. */
#define GATE_OPEN (-2)

static bool has_listener(const struct pollfd *fds, nfds_t count)
{
    for (nfds_t i = 0; i < count; i++)
        if (fds[i].fd >= 0 && (fds[i].events & POLLIN) && fd_awaits_clients(fd_kind(fds[i].fd)))
            return true;
    return false;
}

static int poll_gated(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask)
{
    if (gate_fd() < 0 || count >= MASK_MAX || !has_listener(fds, count) || !gate_closed())
        return GATE_OPEN;
    struct pollfd hidden[count + 1];
    for (nfds_t i = 0; i < count; i++) {
        hidden[i] = fds[i];
        if (fds[i].fd >= 0 && (fd_awaits_clients(fd_kind(fds[i].fd)) || fd_kind(fds[i].fd) == FD_DGRAM_DRAINED))
            hidden[i].fd = ~fds[i].fd;
    }
    hidden[count] = (struct pollfd){.fd = gate_fd(), .events = POLLIN};
    if (hidden[count].fd < 0)
        return GATE_OPEN;
    struct poll_args args = {.fds = hidden, .count = count + 1, .mask = mask};
    int rc = quiet_wait(poll_once, &args, timeout);
    if (rc <= 0)
        return rc;
    for (nfds_t i = 0; i < count; i++)
        fds[i].revents = hidden[i].fd < 0 ? 0 : hidden[i].revents;
    if (hidden[count].revents) {
        int saved = errno;
        gate_closed(); /* it is open: this process's side opens */
        errno = saved;
        if (--rc == 0)
            return GATE_OPEN;
    }
    return rc;
}

/* The poll family's one body: readiness noted, drained datagram sockets hidden, the drain signal
 * kept out of the mask and its EINTR out of the result. `timeout` NULL: none. */
static int poll_quietly(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask)
{
    note_poll(fds, count);
    sigset_t copy;
    const sigset_t *quiet_mask = sigguard_strip(mask, &copy);
    int gated = poll_gated(fds, count, timeout, quiet_mask);
    if (gated != GATE_OPEN)
        return gated;
    struct poll_args args = {.fds = fds, .count = count, .mask = quiet_mask};
    struct poll_mask hidden;
    mask_drained(fds, count, &hidden);
    int rc = quiet_wait(poll_once, &args, timeout);
    int saved = errno;
    unmask_drained(fds, count, &hidden);
    errno = saved;
    return rc;
}

HS_EXPORT int poll(struct pollfd *fds, nfds_t count, int timeout)
{
    struct timespec limit;
    return poll_quietly(fds, count, ms_to_timespec(timeout, &limit), NULL);
}

HS_EXPORT int ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask)
{
    return poll_quietly(fds, count, timeout, mask);
}

/* _FORTIFY_SOURCE builds (Debian's packages) call these instead of poll/ppoll; glibc's own
 * report a set larger than its buffer. */
HS_EXPORT int __poll_chk(struct pollfd *fds, nfds_t count, int timeout, size_t fdslen)
{
    if (count * sizeof *fds > fdslen)
        return real.poll_chk(fds, count, timeout, fdslen);
    struct timespec limit;
    return poll_quietly(fds, count, ms_to_timespec(timeout, &limit), NULL);
}

HS_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask,
                          size_t fdslen)
{
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
            acceptwait_note_event_loop();
            report_ready(fd);
            return;
        }
}

struct select_args {
    int nfds;
    fd_set *readfds, *writefds, *exceptfds;
    struct timeval *timeval; /* select(): the caller's, which Linux leaves holding the time left */
    const sigset_t *mask;    /* pselect() */
};

/* The sets are left as they were when a wait fails, so a repeated one sees the same. */
static int select_once(void *args, const struct timespec *timeout)
{
    struct select_args *a = args;
    if (handover_enabled())
        return handover_pselect(a->nfds, a->readfds, a->writefds, a->exceptfds, timeout, a->mask);
    if (!a->timeval)
        return real.pselect(a->nfds, a->readfds, a->writefds, a->exceptfds, timeout, a->mask);
    struct timeval left = {.tv_sec = timeout->tv_sec, .tv_usec = timeout->tv_nsec / 1000};
    int rc = real.select(a->nfds, a->readfds, a->writefds, a->exceptfds, &left);
    *a->timeval = left;
    return rc;
}

/* select()'s side of poll_gated(): the listeners leave the read set, the gate's eventfd joins. */
static int select_gated(struct select_args *a, const struct timespec *timeout)
{
    int gate = gate_fd();
    if (gate < 0 || gate >= FD_SETSIZE || !a->readfds || !gate_closed())
        return GATE_OPEN;
    fd_set reads = *a->readfds, writes, excepts;
    bool any = false;
    for (int fd = 0; fd < a->nfds && fd < FD_SETSIZE; fd++)
        if (FD_ISSET(fd, a->readfds) && fd_awaits_clients(fd_kind(fd))) {
            FD_CLR(fd, a->readfds);
            any = true;
        }
    if (!any)
        return GATE_OPEN;
    if (a->writefds)
        writes = *a->writefds;
    if (a->exceptfds)
        excepts = *a->exceptfds;
    FD_SET(gate, a->readfds);
    struct select_args widened = *a;
    if (widened.nfds <= gate)
        widened.nfds = gate + 1;
    int rc = quiet_wait(select_once, &widened, timeout);
    bool opened = rc > 0 && FD_ISSET(gate, a->readfds);
    if (rc > 0)
        FD_CLR(gate, a->readfds);
    if (opened) {
        int saved = errno;
        gate_closed(); /* it is open: this process's side opens */
        errno = saved;
        rc--;
    }
    if (rc < 0 || (opened && rc == 0)) { /* waited for nothing the server asked: its sets back */
        *a->readfds = reads;
        if (a->writefds)
            *a->writefds = writes;
        if (a->exceptfds)
            *a->exceptfds = excepts;
    }
    return opened && rc == 0 ? GATE_OPEN : rc;
}

HS_EXPORT int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, struct timeval *timeout)
{
    note_select(nfds, readfds);
    struct select_args args = {nfds, readfds, writefds, exceptfds, timeout, NULL};
    struct timespec limit;
    if (timeout)
        limit = (struct timespec){.tv_sec = timeout->tv_sec, .tv_nsec = timeout->tv_usec * 1000};
    int gated = select_gated(&args, timeout ? &limit : NULL);
    if (gated != GATE_OPEN)
        return gated;
    return quiet_wait(select_once, &args, timeout ? &limit : NULL);
}

HS_EXPORT int pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, const struct timespec *timeout,
                      const sigset_t *mask)
{
    note_select(nfds, readfds);
    sigset_t copy;
    struct select_args args = {nfds, readfds, writefds, exceptfds, NULL, sigguard_strip(mask, &copy)};
    int gated = select_gated(&args, timeout);
    if (gated != GATE_OPEN)
        return gated;
    return quiet_wait(select_once, &args, timeout);
}

/* ---- sleeping ------------------------------------------------------------------------------ */

HS_EXPORT int nanosleep(const struct timespec *request, struct timespec *remaining)
{
    struct timespec left;
    for (;;) {
        struct quiet_wait w;
        quiet_wait_begin(&w, NULL);
        int rc = real.nanosleep(request, &left);
        if (rc == 0 || errno != EINTR || !quiet_wait_drain_alone(&w)) {
            if (rc < 0 && errno == EINTR && remaining)
                *remaining = left;
            return rc;
        }
        request = &left; /* interrupted by the drain alone: the rest of the sleep */
    }
}

/* Returns the error number itself, not -1 and errno. */
HS_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remaining)
{
    struct timespec left;
    for (;;) {
        struct quiet_wait w;
        quiet_wait_begin(&w, NULL);
        int rc = real.clock_nanosleep(clock, flags, request, &left);
        if (rc != EINTR || !quiet_wait_drain_alone(&w)) {
            if (rc == EINTR && remaining && !(flags & TIMER_ABSTIME))
                *remaining = left;
            return rc;
        }
        if (!(flags & TIMER_ABSTIME)) /* an absolute end stays where it was */
            request = &left;
    }
}
