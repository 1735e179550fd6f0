/* quietclose.c: ending idle keep-alive connections in a drain without racing their clients.
 *
 * An idle connection (answered, nothing unread) shut at the drain's start races its client's
 * next request whenever that request is already on its way: under wrk's 32 keep-alive clients
 * every connection of the old generation met one (160 socket errors in 5 reloads). So:
 * - a connection whose last answer said close (closemark.c: rewritten, or the server's own)
 *   ends as soon as it is idle: its client sends nothing more on it;
 * - one answered without the mark ends once it is *quiet*: the kernel has the answer
 *   acknowledged and nothing sent for QUIET_MS plus two round trips (TCP_INFO). A client
 *   that keeps its connection busy sends its next request well within that, and that request's
 *   answer carries the mark; a client that went quiet is idle, and is ended as before;
 * - one whose answer head the shim would not rewrite (split over writes) ends when idle, as
 *   before the mark existed: waiting for quiet could wait for ever on a busy client.
 * A connection that is not TCP (a Unix socket) has no TCP_INFO: it is ended when idle.
 *
 * The look again is a POSIX timer of the process that sends it the drain signal (SI_TIMER, with
 * QUIET_SIGVAL) QUIET_EVERY_MS after a look or an answer left an idle connection waiting for
 * quiet: made at the first need, it exists only in a drain. Everything here is syscalls and atomics:
 * it runs in the drain handler. */
#define _GNU_SOURCE
#include "quietclose.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "closemark.h"
#include "connstate.h"
#include "drainstate.h"
#include "fdtable.h"
#include "real.h"

#define QUIET_MS 1000           /* a client quiet this long (plus two round trips) is idle */
#define QUIET_EVERY_MS 50       /* how often a drain looks again at those not quiet yet */
#define QUIET_SIGVAL 0x48535143 /* "HSQC": the timer's value, told from the launcher's signals */

static atomic_int timer_pid; /* the process whose timer timer_id is (a fork has none) */
static atomic_int timer_id;

/* The kernel shows `fd` quiet: its answer acknowledged, nothing sent for a while. */
static bool quiet(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (real.getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0)
        return true; /* not TCP: nothing to tell by, ended when idle as before */
    int unsent_or_unacked = 0;
    if (real.ioctl(fd, SIOCOUTQ, &unsent_or_unacked) < 0 || unsent_or_unacked > 0)
        return false; /* the client does not have the whole answer yet */
    return info.tcpi_last_data_sent >= QUIET_MS + 2 * info.tcpi_rtt / 1000;
}

/* Whether idle `fd` may end now. */
static bool may_end(int fd)
{
    return closemark_verdict(fd) != CLOSEMARK_UNDECIDED || quiet(fd);
}

/* One look again, QUIET_EVERY_MS from now. One shot, re-armed by each look that leaves a
 * connection waiting, and never disarmed: no look can then cancel the one that an answer just
 * completed in another thread asked for. */
static void look_again_soon(void)
{
    int pid = (int)syscall(SYS_getpid);
    if (atomic_load(&timer_pid) != pid) {
        struct sigevent event;
        memset(&event, 0, sizeof event);
        event.sigev_notify = SIGEV_SIGNAL;
        event.sigev_signo = drain_signal();
        event.sigev_value.sival_int = QUIET_SIGVAL;
        int id;
        if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &id) < 0)
            return; /* no look again: the idle ones left wait for their clients or the timeout */
        atomic_store(&timer_id, id);
        atomic_store(&timer_pid, pid);
    }
    struct itimerspec when = {.it_value = {.tv_sec = 0, .tv_nsec = QUIET_EVERY_MS * 1000000L}};
    syscall(SYS_timer_settime, atomic_load(&timer_id), 0, &when, NULL);
}

void quietclose_sweep(void)
{
    if (!drain_begun())
        return; /* undone (hotswap rollback) since the timer was set: nothing is to end */
    bool waiting = false;
    int high = atomic_load(&fd_high_water);
    for (int fd = fd_walk_from(0); fd >= 0 && fd <= high; fd = fd_walk_from(fd + 1)) {
        if (fd_kind(fd) != FD_CONN || !conn_idle(fd))
            continue;
        if (may_end(fd))
            conn_shut_idle(fd);
        else
            waiting = true;
    }
    if (waiting)
        look_again_soon();
}

void quietclose_after_answer(int fd)
{
    if (!conn_idle(fd))
        return;
    if (may_end(fd))
        conn_shut_idle(fd);
    else
        look_again_soon();
}

bool quietclose_is_timer(const siginfo_t *info)
{
    return info && info->si_code == SI_TIMER && info->si_value.sival_int == QUIET_SIGVAL;
}
