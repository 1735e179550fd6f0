/* drain.c: what the drain signal does, in every process of the old generation.
 *
 * Everything here runs in a signal handler, so it is made of syscalls and atomics only (see
 * docs/design.md, "Drain"): epoll_ctl, socket, bind, listen, connect, getsockname, fcntl, dup3,
 * close, sendmsg, tgkill, rt_tgsigqueueinfo, getdents64, ioctl(FIONREAD), shutdown, read and write
 * (an eventfd).
 *
 * With --keep-old (HOTSWAP_KEEP_OLD=1) the drain keeps each listener under a hidden fd number, and
 * the same signal sent with the value HS_SIGVAL_REARM undoes the drain (hotswap rollback): the
 * listeners back on their numbers and in the epoll sets they left, every thread's wait
 * interrupted so that it waits on the listener again. */
#define _GNU_SOURCE
#include "drain.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "acceptwait.h"
#include "channel.h"
#include "conn.h"
#include "countreport.h"
#include "dgram.h"
#include "drainstate.h"
#include "env.h"
#include "envparse.h"
#include "fdtable.h"
#include "handover.h"
#include "idleturn.h"
#include "mode.h"
#include "nonblock.h"
#include "quietclose.h"
#include "real.h"
#include "report.h"
#include "resume.h"
#include "shimlog.h"
#include "standalone.h"
#include "threadid.h"
#include "wakeup.h"

#define EPOLL_CHUNK_REGS 256

static bool keep_listeners; /* --keep-old: a drained listener stays, hidden, for a re-arm */

/* Listeners in epoll sets, as (epfd + 1, fd) pairs; 0 marks a free slot. Any number of them
 * (a thread per core, each with an epoll set of its own, has one per thread): chunks of slots,
 * the first static, the others mapped when every slot is taken (2 KiB each). */
struct epoll_chunk {
    struct {
        atomic_int epfd_plus_one;
        atomic_int fd;
        struct epoll_event event; /* as the server made it: a re-arm adds it again */
        atomic_bool left;         /* the drain took it out of the set (kept for a re-arm) */
    } regs[EPOLL_CHUNK_REGS];
    void *_Atomic next;
};
static struct epoll_chunk epoll_regs;
static atomic_bool told_epoll_unrecorded;

void drain_note_epoll(int epfd, int fd, const struct epoll_event *event)
{
    struct epoll_event made = event ? *event : (struct epoll_event){.events = EPOLLIN};
    /* The kernel took the ADD, so this pair, if recorded, is left from a set closed without a DEL
     * whose number came back: the record stands for the new set too. */
    for (struct epoll_chunk *c = &epoll_regs; c; c = atomic_load(&c->next))
        for (int i = 0; i < EPOLL_CHUNK_REGS; i++)
            if (atomic_load(&c->regs[i].epfd_plus_one) == epfd + 1 && atomic_load(&c->regs[i].fd) == fd) {
                c->regs[i].event = made;
                atomic_store(&c->regs[i].left, false);
                return;
            }
    for (struct epoll_chunk *c = &epoll_regs; c; c = chunk_after(&c->next, sizeof *c))
        for (int i = 0; i < EPOLL_CHUNK_REGS; i++) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&c->regs[i].epfd_plus_one, &expected, epfd + 1)) {
                c->regs[i].event = made;
                atomic_store(&c->regs[i].left, false);
                atomic_store(&c->regs[i].fd, fd);
                return;
            }
        }
    if (!atomic_exchange(&told_epoll_unrecorded, true))
        shim_say("no memory to record a listener's epoll set (mmap failed): after a drain, that set "
                 "may still wake this process for connections it no longer takes",
                 NULL);
}

void drain_note_epoll_change(int epfd, int fd, const struct epoll_event *event)
{
    if (!event)
        return;
    for (struct epoll_chunk *c = &epoll_regs; c; c = atomic_load(&c->next))
        for (int i = 0; i < EPOLL_CHUNK_REGS; i++)
            if (atomic_load(&c->regs[i].epfd_plus_one) == epfd + 1 && atomic_load(&c->regs[i].fd) == fd &&
                atomic_load(&c->regs[i].left))
                c->regs[i].event = *event;
}

void drain_forget_epoll(int epfd, int fd)
{
    for (struct epoll_chunk *c = &epoll_regs; c; c = atomic_load(&c->next))
        for (int i = 0; i < EPOLL_CHUNK_REGS; i++)
            if (atomic_load(&c->regs[i].epfd_plus_one) == epfd + 1 && atomic_load(&c->regs[i].fd) == fd)
                atomic_store(&c->regs[i].epfd_plus_one, 0);
}

int accept_enter(void)
{
    fdtable_accept_begin();
    return drain_wake_register();
}

void accept_leave(int slot, int conn)
{
    drain_wake_unregister(slot);
    if (conn >= 0)
        conn_note_accepted(conn);
    fdtable_accept_end(conn);
    drain_note_conns();
}

/* Before the fd number changes hands: epoll keys its entries by (fd number, open file), so once
 * the dummy is on the number, EPOLL_CTL_DEL could no longer find the listener's entry, and the
 * shared socket would keep waking this process for connections it must not take. */
static void leave_epoll_sets(int fd)
{
    for (struct epoll_chunk *c = &epoll_regs; c; c = atomic_load(&c->next))
        for (int i = 0; i < EPOLL_CHUNK_REGS; i++) {
            int epfd = atomic_load(&c->regs[i].epfd_plus_one) - 1;
            if (epfd >= 0 && atomic_load(&c->regs[i].fd) == fd && !atomic_load(&c->regs[i].left)) {
                bool was_in = real.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) == 0;
                if (keep_listeners && was_in)
                    atomic_store(&c->regs[i].left, true); /* for a re-arm */
                else
                    atomic_store(&c->regs[i].epfd_plus_one, 0);
            }
        }
}

/* A re-arm: `fd` back in every set the drain took it out of, as the server had made it. */
static void rejoin_epoll_sets(int fd)
{
    for (struct epoll_chunk *c = &epoll_regs; c; c = atomic_load(&c->next))
        for (int i = 0; i < EPOLL_CHUNK_REGS; i++) {
            int epfd = atomic_load(&c->regs[i].epfd_plus_one) - 1;
            if (epfd >= 0 && atomic_load(&c->regs[i].fd) == fd && atomic_exchange(&c->regs[i].left, false)) {
                struct epoll_event event = c->regs[i].event;
                real.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
            }
        }
}

/* What a drained listener was, so getsockname()/getsockopt() on its number still say so (a
 * server cleaning up at exit may look: gunicorn unlinks what it takes for a Unix path). */
#define DRAINED_MAX 64
static struct {
    atomic_int fd_plus_one;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int domain, protocol;
} drained[DRAINED_MAX];

static void remember_identity(int fd)
{
    drain_forget_identity(fd);
    for (int i = 0; i < DRAINED_MAX; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&drained[i].fd_plus_one, &expected, -1))
            continue;
        drained[i].addrlen = sizeof drained[i].addr;
        socklen_t len = sizeof(int);
        if (real.getsockname(fd, (struct sockaddr *)&drained[i].addr, &drained[i].addrlen) < 0 ||
            real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &drained[i].domain, &len) < 0 ||
            real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &drained[i].protocol, &len) < 0) {
            atomic_store(&drained[i].fd_plus_one, 0);
            return;
        }
        atomic_store(&drained[i].fd_plus_one, fd + 1);
        return;
    }
}

int drain_identity(int fd, struct sockaddr *addr, socklen_t *addrlen, int *domain, int *protocol)
{
    for (int i = 0; i < DRAINED_MAX; i++) {
        if (atomic_load(&drained[i].fd_plus_one) != fd + 1)
            continue;
        if (addr && addrlen) {
            socklen_t n = *addrlen < drained[i].addrlen ? *addrlen : drained[i].addrlen;
            memcpy(addr, &drained[i].addr, n);
            *addrlen = drained[i].addrlen;
        }
        if (domain)
            *domain = drained[i].domain;
        if (protocol)
            *protocol = drained[i].protocol;
        return 0;
    }
    return -1;
}

void drain_forget_identity(int fd)
{
    for (int i = 0; i < DRAINED_MAX; i++) {
        int expected = fd + 1;
        atomic_compare_exchange_strong(&drained[i].fd_plus_one, &expected, 0);
    }
}

/* --keep-old: the listener each dummy stands in for, under a number of the shim's own (protected
 * like the channel), until a re-arm puts it back or the process ends. */
#define KEPT_MAX 64
#define KEPT_FLOOR 600 /* out of the range servers dup2 over */
static struct {
    atomic_int fd_plus_one; /* the server's number, now the dummy's; 0: free slot */
    atomic_int kept;        /* where the listener is */
} kept[KEPT_MAX];

static void keep_listener(int fd)
{
    for (int i = 0; i < KEPT_MAX; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&kept[i].fd_plus_one, &expected, -1))
            continue;
        int copy = real.fcntl(fd, F_DUPFD_CLOEXEC, KEPT_FLOOR);
        if (copy < 0) {
            atomic_store(&kept[i].fd_plus_one, 0);
            return;
        }
        fd_set_kind(copy, FD_CHANNEL);
        atomic_store(&kept[i].kept, copy);
        atomic_store(&kept[i].fd_plus_one, fd + 1);
        return;
    }
}

void drain_forget_kept(int fd)
{
    for (int i = 0; i < KEPT_MAX; i++) {
        int expected = fd + 1;
        if (atomic_compare_exchange_strong(&kept[i].fd_plus_one, &expected, -1)) {
            int copy = atomic_load(&kept[i].kept);
            fd_set_kind(copy, FD_OTHER);
            real.close(copy);
            atomic_store(&kept[i].fd_plus_one, 0);
        }
    }
}

void drain_kept_moved(int from, int to)
{
    for (int i = 0; i < KEPT_MAX; i++) {
        int expected = from;
        if (atomic_load(&kept[i].fd_plus_one) > 0)
            atomic_compare_exchange_strong(&kept[i].kept, &expected, to);
    }
    acceptwait_moved(from, to);
}

static void put_dummy_on(int fd)
{
    int fd_flags = real.fcntl(fd, F_GETFD);
    if (fd_flags < 0)
        return;
    leave_epoll_sets(fd);
    remember_identity(fd);
    if (keep_listeners)
        keep_listener(fd);
    int dummy = acceptwait_unreachable_listener(SOCK_NONBLOCK);
    if (dummy < 0)
        return;
    /* Kind first: a thread that comes back from accept() on the dummy must find it marked. */
    fd_set_kind(fd, nonblock_wanted(fd) ? FD_DUMMY : FD_DUMMY_BLOCKING);
    /* dup3 over the number, not close: the number must never be free, or the server's next
     * socket could land on it while the server still believes it is its listener. */
    if (real.dup3(dummy, fd, (fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) != fd)
        fd_set_kind(fd, FD_LISTENER);
    real.close(dummy);
}

/* A datagram socket keeps its number: the server may still be sending replies through it. It
 * only stops receiving (the receive hooks and poll/select/epoll see to that). */
static void stop_receiving(int fd)
{
    leave_epoll_sets(fd);
    fd_set_kind(fd, FD_DGRAM_DRAINED);
    dgram_note_drained();
}

static void drain_begin(void)
{
    int high = atomic_load(&fd_high_water);
    for (int fd = fd_walk_from(0); fd >= 0 && fd <= high; fd = fd_walk_from(fd + 1)) {
        enum fd_kind kind = fd_kind(fd);
        if (kind == FD_LISTENER)
            put_dummy_on(fd);
        else if (kind == FD_DGRAM)
            stop_receiving(fd);
    }
    countreport_draining();
    wakeup_registered(drain_signal());
    conn_drain_begin();
    handover_drain_begin();
}

/* After a re-arm, every other thread of this process is sent the drain signal with the value
 * HS_SIGVAL_WAKE, which its handler ignores. Why: poll() and select() look up their fds again
 * at each wake-up, but wait only on the files they found at their start. A thread that waited on
 * the dummy and is woken by the knock finds the listener on the number, with nothing queued at
 * that moment, and goes back to sleep on the dummy's queue alone, where nothing more ever comes:
 * the listener's connections would never wake it (a thread-pool server stayed deaf after a
 * rollback, 1 run in 10). Interrupted, a wait starts again (quietwait.c, or the loop in
 * accept_wait_forever) and waits on the listener itself. Raw system calls only: this runs in
 * the handler. */
static void wake_every_thread(void)
{
    int dir = real.open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return;
    int self = thread_id();
    char buf[4096] __attribute__((aligned(8)));
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0)
        for (long at = 0; at < n;) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *entry = (void *)(buf + at);
            int tid = 0;
            for (const char *c = entry->name; *c >= '0' && *c <= '9'; c++)
                tid = tid * 10 + (*c - '0');
            if (tid > 0 && tid != self)
                drainstate_wake_thread(tid);
            at += entry->reclen;
        }
    real.close(dir);
}

/* hotswap rollback: this process takes connections again, as before the drain. */
static void rearm(void)
{
    for (int i = 0; i < KEPT_MAX; i++) {
        int fd = atomic_load(&kept[i].fd_plus_one) - 1;
        if (fd < 0 || !atomic_compare_exchange_strong(&kept[i].fd_plus_one, &(int){fd + 1}, -1))
            continue;
        int copy = atomic_load(&kept[i].kept);
        enum fd_kind kind = fd_kind(fd);
        int fd_flags = real.fcntl(fd, F_GETFD);
        if ((kind == FD_DUMMY || kind == FD_DUMMY_BLOCKING) && fd_flags >= 0 &&
            real.dup3(copy, fd, (fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) == fd) {
            fd_set_kind(fd, FD_LISTENER);
            drain_forget_identity(fd);
            rejoin_epoll_sets(fd);
        }
        fd_set_kind(copy, FD_OTHER);
        real.close(copy);
        atomic_store(&kept[i].fd_plus_one, 0);
    }
    int high = atomic_load(&fd_high_water);
    for (int fd = fd_walk_from(0); fd >= 0 && fd <= high; fd = fd_walk_from(fd + 1))
        if (fd_kind(fd) == FD_DGRAM_DRAINED) {
            fd_set_kind(fd, FD_DGRAM);
            rejoin_epoll_sets(fd);
        }
    drainstate_rearm();
    acceptwait_rearmed();
    handover_after_rearm();
    wake_every_thread();
}

static void on_drain_signal(int signo, siginfo_t *info, void *context)
{
    (void)signo;
    (void)context;
    int saved = errno;
    drain_interruptions++; /* a write this thread was in may have come back short: resume.h */
    bool queued = info && info->si_code == SI_QUEUE;
    bool rearming = queued && info->si_value.sival_int == HS_SIGVAL_REARM;
    if (!shim_in_charge() || (queued && info->si_value.sival_int == HS_SIGVAL_WAKE))
        ; /* (a wake-up after a re-arm: the interrupted wait is all it is for) */
    else if (queued && info->si_value.sival_int == HS_SIGVAL_TURN) {
        if (drainstate_begun_ordered()) /* (one that overtook the drain's own signal waits for it) */
            conn_end_idle_by_turn();
    } else if (rearming && keep_listeners && drainstate_begun_ordered())
        rearm();
    else if (quietclose_is_timer(info))
        quietclose_sweep(); /* idle connections not quiet at the last look */
    else if (!rearming && !drainstate_begin())
        drain_begin();
    errno = saved;
}

static int drain_signal_from_env(void)
{
    int fallback = SIGRTMIN + HS_DEFAULT_DRAIN_SIGNAL_OFFSET;
    const char *text = getenv(HS_ENV_DRAIN_SIGNAL);
    if (!text)
        return fallback;
    int value = env_parse_signal(text, SIGRTMAX);
    if (value < 0) {
        shim_say(HS_ENV_DRAIN_SIGNAL "=", text,
                 " is not a usable signal number (not KILL, STOP, PIPE, CHLD, SEGV...): using the default", NULL);
        return fallback;
    }
    return value;
}

static void install_handler(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_drain_signal;
    action.sa_flags = SA_RESTART | SA_SIGINFO;
    sigfillset(&action.sa_mask); /* one drain at a time, whatever else arrives */
    real.sigaction(drain_signal(), &action, NULL);
}

void drain_init(void)
{
    const char *keep = getenv(HS_ENV_KEEP_OLD);
    keep_listeners = keep && strcmp(keep, "1") == 0;
    const char *idle = getenv(HS_ENV_IDLE_CLOSE);
    int mode = idle ? idle_close_parse(idle) : IDLE_CLOSE_TURN;
    if (mode < 0) {
        shim_say(HS_ENV_IDLE_CLOSE "=", idle, " is not turn, http or never: using turn", NULL);
        mode = IDLE_CLOSE_TURN;
    }
    drainstate_init(drain_signal_from_env(), (enum idle_close)mode);
    install_handler();
    sigset_t just_drain;
    sigemptyset(&just_drain);
    sigaddset(&just_drain, drain_signal());
    real.sigprocmask(SIG_UNBLOCK, &just_drain, NULL);
}

/* An exec drops the handler: a drain signal still on its way would then kill the new program
 * (default action), and a program the server execs (a CGI script) has no shim in charge to
 * install another. Ignored, it is dropped instead, across the exec too. */
void drain_before_exec(void)
{
    if (!drain_signal())
        return;
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    real.sigaction(drain_signal(), &ignore, NULL);
}

void drain_after_failed_exec(void)
{
    if (drain_signal())
        install_handler();
}

void drain_after_fork(void)
{
    wakeup_after_fork();
    countreport_after_fork();
    if (drain_begun())
        countreport_draining();
}
