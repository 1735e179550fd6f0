/* handover.c: --handover-idle, the shim's side. See docs/design.md, "Keep-alive connections".
 *
 * Old generation. A connection may move only at a moment the server itself shows it idle: it
 * has answered (conn.c) and now waits for the next request, either reading the connection or
 * (for the thread that wrote the answer) entering epoll/poll/select. Then the server holds no
 * request bytes of its own, and whatever the client sent since is still in the kernel, so it
 * travels with the socket. The move: the connection goes to the launcher as SCM_RIGHTS, and its
 * fd number gets a stand-in, a Unix socket whose peer has shut its writing side, so the server
 * reads the client's close from it and closes it. The socket itself is never shut down: the
 * next generation owns it now. Threads already waiting when the drain begins are woken through
 * an eventfd the shim adds to their wait (level-triggered, so no wake-up is ever lost).
 *
 * New generation. The launcher makes the server accept() by connecting to the listener; the
 * shim knows that wake-up connection by its peer address (the shared table in channel.h),
 * fetches the client from the launcher and puts it on the accepted fd number.
 *
 * handover_drain_begin() runs in the drain signal handler: one write(2). */
#define _GNU_SOURCE
#include "handover.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "connstate.h"
#include "countreport.h"
#include "drainstate.h"
#include "env.h"
#include "envparse.h"
#include "fdslots.h"
#include "fdtable.h"
#include "mode.h"
#include "real.h"
#include "report.h"
#include "shimlog.h"
#include "threadid.h"

#define WAKE_COOKIE 0x48535741504f5645ull /* epoll data of the shim's eventfd: "HSWAPOVE" */
#define WAKE_EPFDS_MAX 64
#define POLL_WAKE_MAX 1024 /* poll sets up to this size get the eventfd appended */
#define CLAIM_TIMEOUT_MS 3000
/* A connection offered by turn and not moved in this time (its writer never waits where the shim
 * sees it: a blocking read begun before the drain) is ended instead, as without --handover-idle. */
#define OFFER_PATIENCE_MS 500

static bool enabled;
static int drain_efd = -1; /* readable from the moment the drain begins */
static struct hs_handover_map *map;
static int map_fd = -1;

/* Per fd, for any fd number (fdslots.h); a record never made reads as all zero. */
struct conn_record {
    atomic_int epfd;            /* the epoll set it is in: epfd + 1, 0 none, -1 more than one (never moved) */
    struct epoll_event event;   /* its event there */
    atomic_int stand_in_peer;   /* on a handed-over fd number, the stand-in's peer + 1: closed with it */
    _Atomic int64_t offered_ms; /* handover_offer(): when it was offered, by CLOCK_MONOTONIC */
};
static struct conn_record records[FDSLOTS_STATIC];
static struct fdslots records_above;
/* epoll sets the eventfd was added to, + 1. */
static atomic_int wake_epfds[WAKE_EPFDS_MAX];

bool handover_enabled(void)
{
    return enabled;
}

static struct conn_record *record_of(int fd, bool make)
{
    if ((unsigned)fd < FDSLOTS_STATIC)
        return &records[fd];
    return fdslots_at(&records_above, fd, sizeof records[0], make);
}

static void open_map(void)
{
    long fd;
    if (!env_parse_count(getenv(HS_ENV_HANDOVER_MAP), INT_MAX, &fd))
        return;
    struct stat st;
    if (fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != (off_t)sizeof *map)
        return;
    void *mapped = mmap(NULL, sizeof *map, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
    if (mapped == MAP_FAILED)
        return;
    map = mapped;
    map_fd = (int)fd;
    fd_set_kind(map_fd, FD_CHANNEL); /* protected from the server's close loops, like the channel */
    int flags = real.fcntl(map_fd, F_GETFD);
    if (flags >= 0)
        real.fcntl(map_fd, F_SETFD, flags | FD_CLOEXEC);
}

void handover_init(void)
{
    const char *flag = getenv(HS_ENV_HANDOVER_IDLE);
    if (shim_mode != MODE_SUPERVISED || !flag || strcmp(flag, "1") != 0)
        return;
    open_map();
    if (!map) {
        shim_say(HS_ENV_HANDOVER_IDLE "=1 without a usable " HS_ENV_HANDOVER_MAP
                                      ": idle connections will be closed, not handed over",
                 NULL);
        return;
    }
    drain_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (drain_efd < 0)
        return;
    fd_set_kind(drain_efd, FD_CHANNEL);
    enabled = true;
}

void handover_moved(int from, int to)
{
    if (from == drain_efd) {
        /* epoll knows the eventfd by its old number: out of every set now, while the number
         * still holds it; the sets take the new number at their next wait */
        for (int i = 0; i < WAKE_EPFDS_MAX; i++) {
            int epfd = atomic_exchange(&wake_epfds[i], 0) - 1;
            if (epfd >= 0)
                real.epoll_ctl(epfd, EPOLL_CTL_DEL, from, NULL);
        }
        drain_efd = to;
    } else if (from == map_fd) {
        map_fd = to;
    }
}

void handover_keep_across_exec(bool keep)
{
    if (map_fd < 0)
        return;
    int flags = real.fcntl(map_fd, F_GETFD);
    if (flags >= 0)
        real.fcntl(map_fd, F_SETFD, keep ? (flags & ~FD_CLOEXEC) : (flags | FD_CLOEXEC));
}

void handover_after_rearm(void)
{
    if (!enabled)
        return;
    uint64_t count;
    ssize_t ignored = real.read(drain_efd, &count, sizeof count); /* unreadable again */
    (void)ignored;
}

void handover_drain_begin(void)
{
    if (!enabled)
        return;
    uint64_t one = 1;
    ssize_t ignored = real.write(drain_efd, &one, sizeof one);
    (void)ignored;
}

/* ---- old generation: moving a connection ------------------------------------------------ */

void handover_note_accepted(int fd)
{
    struct conn_record *r = record_of(fd, false);
    if (r)
        atomic_store_explicit(&r->epfd, 0, memory_order_relaxed);
}

void handover_note_epoll(int epfd, int op, int fd, const struct epoll_event *event)
{
    if (!enabled)
        return;
    struct conn_record *r = record_of(fd, true);
    if (!r)
        return; /* no memory to remember its set (said once): it is never moved, only closed */
    int current = atomic_load(&r->epfd);
    if (op == EPOLL_CTL_ADD) {
        if (current != 0 && current != epfd + 1) {
            atomic_store(&r->epfd, -1);
            return;
        }
        r->event = *event;
        atomic_store(&r->epfd, epfd + 1);
    } else if (op == EPOLL_CTL_MOD && current == epfd + 1) {
        r->event = *event;
    } else if (op == EPOLL_CTL_DEL && current == epfd + 1) {
        atomic_store(&r->epfd, 0);
    }
}

/* Only TCP connections, in at most one epoll set: the launcher wakes the next generation by
 * connecting to the listener, which it does for IPv4 and IPv6. */
static bool movable(int fd)
{
    struct conn_record *r = record_of(fd, true);
    if (!map || !atomic_load(&map->accepting) || !r || atomic_load(&r->epfd) < 0)
        return false;
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    int type;
    socklen_t type_len = sizeof type;
    if (real.getsockname(fd, (struct sockaddr *)&local, &len) < 0 ||
        real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) < 0)
        return false;
    return (local.ss_family == AF_INET || local.ss_family == AF_INET6) && type == SOCK_STREAM;
}

/* A Unix socket that reads as end-of-file at once and stays readable (its peer shut writing),
 * with the connection's blocking mode; the peer is kept, so writes to it fail nothing. */
static int make_stand_in(int fd, int *peer)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -1;
    shutdown(pair[1], SHUT_WR);
    int status = real.fcntl(fd, F_GETFL);
    if (status >= 0 && (status & O_NONBLOCK))
        real.fcntl(pair[0], F_SETFL, O_NONBLOCK);
    *peer = pair[1];
    return pair[0];
}

/* Moves idle connection `fd` (state ANSWERED) to the launcher; false if it stays. A connection
 * that cannot move is closed cleanly instead, as without --handover-idle. */
static bool move_conn(int fd)
{
    if (!conn_transition(fd, CONN_ANSWERED, CONN_MOVING))
        return false;
    int saved = errno;
    int peer = -1, stand_in = movable(fd) ? make_stand_in(fd, &peer) : -1;
    if (stand_in < 0 || !report_pass(HS_MSG_HANDOVER, fd, 0, fd)) {
        if (stand_in >= 0) {
            real.close(stand_in);
            real.close(peer);
        }
        conn_transition(fd, CONN_MOVING, CONN_ANSWERED);
        conn_close_if_idle(fd);
        errno = saved;
        return false;
    }
    /* The launcher has the client now. The server's epoll entry names the socket itself, so it
     * leaves before the number changes hands, and the stand-in takes its place, same event. */
    int fd_flags = real.fcntl(fd, F_GETFD);
    struct conn_record *r = record_of(fd, true); /* made by movable() */
    int epfd = atomic_load(&r->epfd) - 1;
    /* (only a set the DEL found it in: the epoll fd number may have been closed and reused) */
    if (epfd >= 0 && real.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
        epfd = -1;
    if (fdtable_conn_handed(fd))
        drain_note_conns();
    real.dup3(stand_in, fd, (fd_flags >= 0 && (fd_flags & FD_CLOEXEC)) ? O_CLOEXEC : 0);
    real.close(stand_in);
    atomic_store(&r->stand_in_peer, peer + 1);
    if (epfd >= 0) {
        struct epoll_event event = r->event;
        real.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
    }
    errno = saved;
    return true;
}

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

bool handover_offer(int fd, enum conn_state state)
{
    int writer = conn_last_writer(fd);
    struct conn_record *r = record_of(fd, true);
    if (!enabled || !map || !atomic_load(&map->accepting) || !r || writer == 0)
        return false;
    int64_t now = monotonic_ms();
    if (state == CONN_ANSWERED) /* offered before, and neither read nor written since */
        return now - atomic_load(&r->offered_ms) < OFFER_PATIENCE_MS;
    if (!conn_transition(fd, state, CONN_ANSWERED))
        return true; /* its server is at it: not idle after all */
    atomic_store(&r->offered_ms, now);
    if (writer != thread_id())
        drainstate_wake_thread(writer); /* (the drain's signal is this thread's wake-up) */
    return true;
}

void handover_forget(int fd)
{
    struct conn_record *r = record_of(fd, false);
    if (!r)
        return;
    int peer = atomic_exchange(&r->stand_in_peer, 0) - 1;
    if (peer >= 0)
        real.close(peer);
}

void handover_at_wait(void)
{
    if (!enabled || !drain_begun())
        return;
    int self = thread_id();
    int high = atomic_load(&fd_high_water);
    for (int fd = fd_walk_from(0); fd >= 0 && fd <= high; fd = fd_walk_from(fd + 1))
        if (fd_kind(fd) == FD_CONN && conn_state(fd) == CONN_ANSWERED && conn_last_writer(fd) == self)
            move_conn(fd);
}

/* The receive timeout the server set on `fd` (SO_RCVTIMEO), in ms for poll(); -1: none. */
static int receive_timeout_ms(int fd)
{
    struct timeval limit;
    socklen_t len = sizeof limit;
    if (real.getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, &len) < 0 || (!limit.tv_sec && !limit.tv_usec))
        return -1;
    long long ms = (long long)limit.tv_sec * 1000 + (limit.tv_usec + 999) / 1000;
    return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* Waits until `fd` is readable or the drain begins: 1. Or 0 with errno EAGAIN when the server's
 * receive timeout passes, or -1 with errno EINTR when a signal handler (not the drain's) ran, as
 * the blocking read would have returned. */
static int wait_readable_or_drain(int fd)
{
    struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = drain_efd, .events = POLLIN}};
    for (;;) {
        int rc = real.poll(fds, 2, receive_timeout_ms(fd));
        if (rc > 0)
            return 1;
        if (rc == 0) {
            errno = EAGAIN;
            return 0;
        }
        if (errno != EINTR || !drain_begun())
            return -1;
    }
}

ssize_t handover_read(int fd, int flags, receive_fn receive, void *ctx)
{
    if (conn_state(fd) != CONN_ANSWERED)
        return receive(fd, ctx, flags); /* mid-request: an ordinary read */
    if (drain_begun() && move_conn(fd))
        return receive(fd, ctx, flags); /* the stand-in: the client's close */
    /* Between answers: claim the connection for this read, so no waiting thread moves it while
     * request bytes may be on their way into this server. */
    if (!conn_transition(fd, CONN_ANSWERED, CONN_BUSY))
        return receive(fd, ctx, flags);
    int status = real.fcntl(fd, F_GETFL);
    bool blocking = !(flags & MSG_DONTWAIT) && status >= 0 && !(status & O_NONBLOCK);
    if (blocking && (flags & MSG_WAITALL)) { /* the kernel's own waiting: this read is not moved */
        ssize_t whole = receive(fd, ctx, flags);
        int saved = errno;
        if (whole <= 0)
            conn_transition(fd, CONN_BUSY, CONN_ANSWERED);
        errno = saved;
        return whole;
    }
    ssize_t got;
    for (;;) {
        got = receive(fd, ctx, flags | MSG_DONTWAIT);
        if (got >= 0 || errno != EAGAIN)
            break;
        if (drain_begun()) {
            conn_transition(fd, CONN_BUSY, CONN_ANSWERED);
            if (move_conn(fd))
                return receive(fd, ctx, flags);
            errno = EAGAIN;
            return blocking ? receive(fd, ctx, flags) : -1;
        }
        if (!blocking || wait_readable_or_drain(fd) <= 0) {
            got = -1; /* EAGAIN (not blocking, or the receive timeout) or EINTR, in errno */
            break;
        }
    }
    int saved = errno;
    if (got <= 0) /* nothing read: still between answers */
        conn_transition(fd, CONN_BUSY, CONN_ANSWERED);
    errno = saved;
    return got;
}

/* ---- waits: the eventfd joins them until the drain begins ------------------------------ */

static void watch_drain_from(int epfd)
{
    for (int i = 0; i < WAKE_EPFDS_MAX; i++)
        if (atomic_load_explicit(&wake_epfds[i], memory_order_relaxed) == epfd + 1)
            return;
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = WAKE_COOKIE};
    int saved = errno;
    int rc = real.epoll_ctl(epfd, EPOLL_CTL_ADD, drain_efd, &event);
    bool watched = rc == 0 || errno == EEXIST;
    errno = saved;
    if (!watched)
        return;
    for (int i = 0; i < WAKE_EPFDS_MAX; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&wake_epfds[i], &expected, epfd + 1))
            return;
    }
}

static void unwatch_drain_from(int epfd)
{
    real.epoll_ctl(epfd, EPOLL_CTL_DEL, drain_efd, NULL);
    for (int i = 0; i < WAKE_EPFDS_MAX; i++) {
        int expected = epfd + 1;
        atomic_compare_exchange_strong(&wake_epfds[i], &expected, 0);
    }
}

/* Takes the shim's own event out of `events`; returns how many are left. Once it has fired the
 * drain has begun and the eventfd leaves the set for good (it would be readable forever). */
static int strip_wake(int epfd, struct epoll_event *events, int got)
{
    int kept = 0;
    for (int i = 0; i < got; i++)
        if (events[i].data.u64 != WAKE_COOKIE)
            events[kept++] = events[i];
    if (kept < got) {
        int saved = errno;
        unwatch_drain_from(epfd);
        errno = saved;
    }
    return kept;
}

int handover_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *mask)
{
    for (;;) {
        bool draining = drain_begun();
        if (draining)
            handover_at_wait();
        else
            watch_drain_from(epfd);
        int got = real.epoll_pwait(epfd, events, max, timeout, mask);
        if (got <= 0)
            return got;
        int kept = strip_wake(epfd, events, got);
        if (kept > 0)
            return kept;
        /* only the drain woke it (and the eventfd has left the set): round again, moving this
         * thread's idle connections first */
    }
}

int handover_ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask)
{
    for (;;) {
        if (drain_begun() || count >= POLL_WAKE_MAX) {
            handover_at_wait();
            return real.ppoll(fds, count, timeout, mask);
        }
        struct pollfd with_wake[count + 1];
        memcpy(with_wake, fds, count * sizeof *fds);
        with_wake[count] = (struct pollfd){.fd = drain_efd, .events = POLLIN};
        int got = real.ppoll(with_wake, count + 1, timeout, mask);
        if (got < 0)
            return got;
        for (nfds_t i = 0; i < count; i++)
            fds[i].revents = with_wake[i].revents;
        if (!with_wake[count].revents || --got > 0)
            return got;
    }
}

int handover_pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, const struct timespec *timeout,
                     const sigset_t *mask)
{
    for (;;) {
        if (drain_begun() || drain_efd >= FD_SETSIZE) {
            handover_at_wait();
            return real.pselect(nfds, readfds, writefds, exceptfds, timeout, mask);
        }
        fd_set reads, writes, excepts;
        FD_ZERO(&reads);
        if (readfds)
            reads = *readfds;
        if (writefds)
            writes = *writefds;
        if (exceptfds)
            excepts = *exceptfds;
        FD_SET(drain_efd, &reads);
        int width = nfds > drain_efd ? nfds : drain_efd + 1;
        int got = real.pselect(width, &reads, writefds ? &writes : NULL, exceptfds ? &excepts : NULL, timeout, mask);
        if (got < 0)
            return got;
        bool woken = FD_ISSET(drain_efd, &reads);
        FD_CLR(drain_efd, &reads);
        if (woken && got == 1)
            continue;
        if (readfds)
            *readfds = reads;
        if (writefds)
            *writefds = writes;
        if (exceptfds)
            *exceptfds = excepts;
        return woken ? got - 1 : got;
    }
}

/* ---- new generation: claiming a handed-over client -------------------------------------- */

static bool same_peer(const struct hs_handover_slot *slot, const struct sockaddr_storage *peer)
{
    if (peer->ss_family == AF_INET && slot->family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        return in->sin_port == slot->port && memcmp(&in->sin_addr, slot->addr, 4) == 0;
    }
    if (peer->ss_family == AF_INET6 && slot->family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
        return in6->sin6_port == slot->port && memcmp(&in6->sin6_addr, slot->addr, 16) == 0;
    }
    return false;
}

/* Asks the launcher for the client of claimed `slot`, over a private socket (processes of a
 * generation share the channel, so a reply on it could reach the wrong one). */
static int fetch_client(int conn, int slot)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return -1;
    bool sent = report_pass(HS_MSG_CLAIM, conn, slot, pair[1]);
    real.close(pair[1]);
    int client = -1;
    struct pollfd reply = {.fd = pair[0], .events = POLLIN};
    if (sent && real.poll(&reply, 1, CLAIM_TIMEOUT_MS) == 1) {
        char byte;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } control;
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
        if (real.recvmsg(pair[0], &msg, MSG_CMSG_CLOEXEC) > 0) {
            struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
            if (cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
                memcpy(&client, CMSG_DATA(cmsg), sizeof client);
        }
    }
    real.close(pair[0]);
    return client;
}

int handover_claim(int conn, struct sockaddr *addr, socklen_t *addrlen, socklen_t room, int flags)
{
    if (!map || conn < 0 || atomic_load_explicit(&map->waiting, memory_order_acquire) == 0)
        return conn;
    int saved = errno;
    struct sockaddr_storage peer = {0}; /* (what getpeername() leaves unwritten reads as no family) */
    socklen_t len = sizeof peer;
    if (getpeername(conn, (struct sockaddr *)&peer, &len) < 0) {
        errno = saved;
        return conn;
    }
    for (int i = 0; i < HS_HANDOVER_SLOTS; i++) {
        struct hs_handover_slot *slot = &map->slots[i];
        uint32_t waiting = HS_SLOT_WAITING;
        if (atomic_load(&slot->state) != HS_SLOT_WAITING || !same_peer(slot, &peer) ||
            !atomic_compare_exchange_strong(&slot->state, &waiting, HS_SLOT_CLAIMED))
            continue;
        int client = fetch_client(conn, i);
        if (client >= 0) {
            int fd_flags = real.fcntl(conn, F_GETFD);
            real.fcntl(client, F_SETFL, (flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0);
            real.dup3(client, conn, (fd_flags >= 0 && (fd_flags & FD_CLOEXEC)) ? O_CLOEXEC : 0);
            real.close(client);
            struct sockaddr_storage client_addr;
            socklen_t client_len = sizeof client_addr;
            if (addr && addrlen && getpeername(conn, (struct sockaddr *)&client_addr, &client_len) == 0) {
                memcpy(addr, &client_addr, client_len < room ? client_len : room);
                *addrlen = client_len; /* as accept() reports it: the full length, maybe more than room */
            }
        }
        break;
    }
    errno = saved;
    return conn;
}
