/* gate.c: --ready notify, the shim's side. See gate.h and docs/design.md, "Readiness".
 *
 * Why not simply fail accept() until the gate opens: an event loop is told its listener is
 * readable whenever a connection waits in the shared queue (the old generation's), so a
 * level-triggered loop would spin on EAGAIN for as long as the server warms up. Hidden from
 * every wait instead, the listener costs the server nothing until it is ready. */
#define _GNU_SOURCE
#include "gate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "env.h"
#include "envparse.h"
#include "fdtable.h"
#include "mode.h"
#include "real.h"
#include "report.h"
#include "shimlog.h"

#define GATE_COOKIE 0x48534741544f5045ull /* epoll data of the gate's eventfd: "HSGATOPE" */
#define DEFERRED_MAX 256
#define WATCHED_MAX 64

static atomic_int gate = -1;        /* the eventfd while the gate is closed; -1 once open (or none) */
static atomic_int gate_number = -1; /* where the eventfd is, open or closed */

/* epoll_ctl(ADD) calls on listeners, made when the gate opens: epfd + 1 (0: free slot, -1: being
 * written), the fd, the event. */
static struct {
    atomic_int epfd_plus_one;
    int fd;
    struct epoll_event event;
} deferred[DEFERRED_MAX];
static atomic_bool told_deferred_full;

/* epoll sets the eventfd was added to, + 1. */
static atomic_int watched[WATCHED_MAX];

int gate_fd(void)
{
    return atomic_load_explicit(&gate, memory_order_relaxed);
}

void gate_init(void)
{
    long fd;
    const char *text = getenv(HS_ENV_READY_GATE);
    if (shim_mode != MODE_SUPERVISED || !text)
        return;
    struct stat st;
    if (!env_parse_count(text, INT_MAX, &fd) || fstat((int)fd, &st) < 0) {
        shim_say(HS_ENV_READY_GATE "=", text, " is not an open fd: this process accepts at once", NULL);
        return;
    }
    fd_set_kind((int)fd, FD_CHANNEL); /* protected from the server's close loops, like the channel */
    int flags = real.fcntl((int)fd, F_GETFD);
    if (flags >= 0)
        real.fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC); /* see gate_keep_across_exec */
    atomic_store(&gate_number, (int)fd);
    atomic_store(&gate, (int)fd);
}

/* The listeners' (and datagram sockets') epoll entries, made now in this process (another process of the generation
 * sharing the set may have made them already: EEXIST, harmless). */
static void open_here(void)
{
    for (int i = 0; i < DEFERRED_MAX; i++) {
        int epfd = atomic_load(&deferred[i].epfd_plus_one) - 1;
        if (epfd < 0)
            continue;
        if (fd_awaits_clients(fd_kind(deferred[i].fd)))
            real.epoll_ctl(epfd, EPOLL_CTL_ADD, deferred[i].fd, &deferred[i].event);
        atomic_store(&deferred[i].epfd_plus_one, 0);
    }
    int number = atomic_load(&gate_number);
    for (int i = 0; i < WATCHED_MAX; i++) {
        int epfd = atomic_exchange(&watched[i], 0) - 1;
        if (epfd >= 0)
            real.epoll_ctl(epfd, EPOLL_CTL_DEL, number, NULL);
    }
}

bool gate_closed(void)
{
    int fd = atomic_load_explicit(&gate, memory_order_relaxed);
    if (fd < 0)
        return false;
    int saved = errno;
    struct pollfd look = {.fd = fd, .events = POLLIN};
    bool open = real.poll(&look, 1, 0) == 1;
    if (open && atomic_compare_exchange_strong(&gate, &fd, -1))
        open_here();
    errno = saved;
    return !open;
}

int gate_wait_open(void)
{
    while (gate_closed()) {
        struct pollfd look = {.fd = gate_fd(), .events = POLLIN};
        if (look.fd < 0)
            break;
        if (real.poll(&look, 1, -1) < 0 && errno == EINTR)
            return -1;
    }
    return 0;
}

static void watch_from(int epfd)
{
    for (int i = 0; i < WATCHED_MAX; i++)
        if (atomic_load(&watched[i]) == epfd + 1)
            return;
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = GATE_COOKIE};
    int rc = real.epoll_ctl(epfd, EPOLL_CTL_ADD, atomic_load(&gate_number), &event);
    if (rc < 0 && errno != EEXIST)
        return;
    for (int i = 0; i < WATCHED_MAX; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&watched[i], &expected, epfd + 1))
            return;
    }
}

static int find_deferred(int epfd, int fd)
{
    for (int i = 0; i < DEFERRED_MAX; i++)
        if (atomic_load(&deferred[i].epfd_plus_one) == epfd + 1 && deferred[i].fd == fd)
            return i;
    return -1;
}

static bool record(int epfd, int fd, const struct epoll_event *event)
{
    for (int i = 0; i < DEFERRED_MAX; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&deferred[i].epfd_plus_one, &expected, -1))
            continue;
        deferred[i].fd = fd;
        deferred[i].event = *event;
        atomic_store(&deferred[i].epfd_plus_one, epfd + 1);
        return true;
    }
    return false;
}

bool gate_defer_epoll(int epfd, int op, int fd, const struct epoll_event *event, int *rc)
{
    if (!gate_closed())
        return false;
    int saved = errno, found = find_deferred(epfd, fd);
    *rc = 0;
    if (op == EPOLL_CTL_ADD) {
        if (found >= 0) {
            *rc = -1;
            saved = EEXIST;
        } else if (!event) {
            *rc = -1;
            saved = EFAULT;
        } else if (!record(epfd, fd, event)) {
            if (!atomic_exchange(&told_deferred_full, true))
                shim_say("more than 256 listener epoll entries before READY=1: the rest accept at once", NULL);
            return false;
        } else {
            watch_from(epfd);
        }
    } else if (found < 0) {
        return false; /* not one of ours (added before the gate was met): the kernel answers */
    } else if (op == EPOLL_CTL_MOD) {
        if (!event) {
            *rc = -1;
            saved = EFAULT;
        } else {
            deferred[found].event = *event;
        }
    } else if (op == EPOLL_CTL_DEL) {
        atomic_store(&deferred[found].epfd_plus_one, 0);
    }
    /* The gate may have opened while this was written down, after open_here() looked. */
    if (*rc == 0 && op != EPOLL_CTL_DEL && !gate_closed()) {
        struct epoll_event now = *event;
        real.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &now);
        if (op == EPOLL_CTL_MOD)
            real.epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &now);
    }
    errno = saved;
    return true;
}

int gate_strip_events(struct epoll_event *events, int got)
{
    if (atomic_load_explicit(&gate_number, memory_order_relaxed) < 0)
        return got;
    int kept = 0;
    for (int i = 0; i < got; i++)
        if (events[i].data.u64 != GATE_COOKIE)
            events[kept++] = events[i];
    if (kept < got) {
        int saved = errno;
        gate_closed(); /* it is open: this opens this process's side */
        errno = saved;
    }
    return kept;
}

void gate_forget(int fd)
{
    if (atomic_load_explicit(&gate, memory_order_relaxed) < 0)
        return;
    for (int i = 0; i < DEFERRED_MAX; i++)
        if (atomic_load(&deferred[i].epfd_plus_one) > 0 && deferred[i].fd == fd)
            atomic_store(&deferred[i].epfd_plus_one, 0);
}

void gate_moved(int from, int to)
{
    int expected = from;
    if (!atomic_compare_exchange_strong(&gate_number, &expected, to))
        return;
    /* epoll knows the eventfd by its old number: out of every set now, while the number still
     * holds it; the sets take the new number at their next epoll_ctl on a listener */
    for (int i = 0; i < WATCHED_MAX; i++) {
        int epfd = atomic_exchange(&watched[i], 0) - 1;
        if (epfd >= 0)
            real.epoll_ctl(epfd, EPOLL_CTL_DEL, from, NULL);
    }
    expected = from;
    atomic_compare_exchange_strong(&gate, &expected, to);
}

/* Across an exec by the process the launcher started (a server re-executing itself), as the
 * channel does; never into programs the server runs. */
void gate_keep_across_exec(bool keep)
{
    int fd = atomic_load(&gate_number);
    if (fd < 0 || report_in_descendant())
        return;
    int flags = real.fcntl(fd, F_GETFD);
    if (flags >= 0)
        real.fcntl(fd, F_SETFD, keep ? (flags & ~FD_CLOEXEC) : (flags | FD_CLOEXEC));
}
