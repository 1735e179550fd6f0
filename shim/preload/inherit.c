/* inherit.c: claiming inherited listeners, and keeping their Unix paths on disk. */
#define _GNU_SOURCE
#include "inherit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel.h"
#include "env.h"
#include "envparse.h"
#include "fdtable.h"
#include "listenaddr.h"
#include "mode.h"
#include "nonblock.h"
#include "real.h"
#include "report.h"
#include "shimlog.h"
#include "sockid.h"

#define INHERIT_MAX 256
#define PROTECTED_PATHS_MAX 64

struct inherited {
    int fd;
    bool claimed;
    struct sockid id;
};

static struct inherited inherited[INHERIT_MAX];
static int inherited_count;
static pid_t inherit_owner; /* LISTEN_PID */
static _Atomic int unclaimed;
static int claim_lock; /* bind() is rare: a spinlock keeps two threads from claiming one fd */

/* The Unix listeners whose paths must stay: each known by the file it is bound to, so the same
 * name in another working directory (or a name swapped since) is not protected. */
static struct sockid protected_paths[PROTECTED_PATHS_MAX];
static _Atomic int protected_count;

static bool same_bound_file(const struct sockid *a, const struct sockid *b)
{
    if (a->has_file && b->has_file)
        return a->file.dev == b->file.dev && a->file.ino == b->file.ino;
    return !a->has_file && !b->has_file && strcmp(sockid_unix_path(a), sockid_unix_path(b)) == 0;
}

static void protect_path(const struct sockid *id)
{
    if (!sockid_unix_path(id))
        return;
    int slot = atomic_load(&protected_count);
    for (int i = 0; i < slot; i++)
        if (same_bound_file(&protected_paths[i], id))
            return;
    if (slot >= PROTECTED_PATHS_MAX)
        return;
    protected_paths[slot] = *id;
    atomic_store(&protected_count, slot + 1);
}

/* The hand-over's own names (HOTSWAP_LISTEN_FDS for the process HOTSWAP_PID) come first; else
 * systemd's (LISTEN_FDS for LISTEN_PID), so a server socket-activated without the launcher
 * still gets its listeners through its own bind(). */
void inherit_init(void)
{
    const char *fds_text = getenv(HS_ENV_LISTEN_FDS), *pid_text = getenv(HS_ENV_PID);
    const char *fds_name = HS_ENV_LISTEN_FDS, *pid_name = HS_ENV_PID;
    bool systemd_names = !fds_text;
    if (systemd_names) {
        fds_text = getenv("LISTEN_FDS");
        pid_text = getenv("LISTEN_PID");
        fds_name = "LISTEN_FDS";
        pid_name = "LISTEN_PID";
    }
    if (!fds_text)
        return;
    long pid, count;
    if (!env_parse_count(pid_text, INT_MAX, &pid)) {
        shim_say("ignoring ", fds_name, ": ", pid_name, " is missing or not a pid", NULL);
        return;
    }
    if (pid != getpid())
        return; /* meant for another process (our parent): not ours to take */
    inherit_owner = (pid_t)pid;
    if (!env_parse_count(fds_text, INHERIT_MAX, &count)) {
        shim_say("ignoring ", fds_name, "=", fds_text, ": not a count of fds from 0 to 64", NULL);
        return;
    }
    /* The names are checked, not used: matching is by what each socket is. */
    static char names[INHERIT_MAX][FDNAME_MAX];
    const char *names_text = systemd_names ? getenv("LISTEN_FDNAMES") : NULL;
    if (names_text && !env_parse_fdnames(names_text, (int)count, names))
        shim_say("ignoring LISTEN_FDNAMES: not one valid name per fd", NULL);
    for (int fd = HS_LISTEN_FDS_START; fd < HS_LISTEN_FDS_START + count; fd++) {
        struct inherited *slot = &inherited[inherited_count];
        if (sockid_read(fd, &slot->id) < 0) {
            shim_say("ignoring an inherited fd that is not a bound socket (", fds_name, ")", NULL);
            continue;
        }
        slot->fd = fd;
        int flags = real.fcntl(fd, F_GETFD);
        if (flags >= 0) /* not into programs the server execs; see inherit_keep_across_exec */
            real.fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        inherited_count++;
        fd_set_kind(fd, FD_INHERITED);
        protect_path(&slot->id);
    }
    atomic_store(&unclaimed, inherited_count);
}

/* Under the launcher: the server took handed-over listener `listener` (the launcher releases,
 * after a reload, only listeners no process took; what the kernel shows cannot tell a listener
 * taken in place at its hand-over number from one never taken). */
static void say_claimed(const struct inherited *listener)
{
    if (shim_mode == MODE_SUPERVISED && listener->fd >= HS_LISTEN_FDS_START)
        report_send(HS_MSG_CLAIMED, listener->fd, listener->fd - HS_LISTEN_FDS_START);
}

static struct inherited *find_match(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct sockid want;
    if (sockid_read_kind(fd, &want) < 0)
        return NULL;
    for (int i = 0; i < inherited_count; i++)
        if (!inherited[i].claimed && sockid_matches(&inherited[i].id, &want, addr, addrlen))
            return &inherited[i];
    return NULL;
}

/* dup3 over the caller's own socket: its fd number and FD_CLOEXEC stay as the caller made them;
 * O_NONBLOCK, which lives on the shared description, is kept per process (nonblock.h). */
static bool put_on(int fd, struct inherited *listener)
{
    int fd_flags = real.fcntl(fd, F_GETFD), status = real.fcntl(fd, F_GETFL);
    if (fd_flags < 0 || status < 0)
        return false;
    if (real.dup3(listener->fd, fd, (fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
        return false;
    say_claimed(listener);
    nonblock_adopt(fd, (status & O_NONBLOCK) != 0);
    fd_set_kind(listener->fd, FD_OTHER);
    real.close(listener->fd);
    fd_set_kind(fd, listener->id.type == SOCK_DGRAM ? FD_DGRAM : FD_LISTENER);
    listenaddr_note(fd);
    listener->claimed = true;
    atomic_fetch_sub(&unclaimed, 1);
    return true;
}

bool inherit_claim(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    if (atomic_load(&unclaimed) == 0)
        return false;
    int saved = errno;
    while (__atomic_exchange_n(&claim_lock, 1, __ATOMIC_ACQUIRE))
        ;
    struct inherited *listener = find_match(fd, addr, addrlen);
    bool claimed = listener && put_on(fd, listener);
    __atomic_store_n(&claim_lock, 0, __ATOMIC_RELEASE);
    errno = saved;
    return claimed;
}

void inherit_fork_prepare(void)
{
    while (__atomic_exchange_n(&claim_lock, 1, __ATOMIC_ACQUIRE))
        ;
}

void inherit_fork_done(void)
{
    __atomic_store_n(&claim_lock, 0, __ATOMIC_RELEASE);
}

/* An address of this host: a throwaway datagram socket can bind it (port 0), as only a local
 * address allows. Probes are rare (a server checking its own port at start): the cost is fine. */
static bool is_local_address(const struct sockaddr *addr, socklen_t addrlen)
{
    struct sockaddr_storage any_port;
    if (addrlen > sizeof any_port)
        return false;
    memcpy(&any_port, addr, addrlen);
    if (any_port.ss_family == AF_INET)
        ((struct sockaddr_in *)&any_port)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&any_port)->sin6_port = 0;
    int probe = socket(any_port.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return false;
    bool local = real.bind(probe, (struct sockaddr *)&any_port, addrlen) == 0;
    real.close(probe);
    return local;
}

/* A connect() to `addr` reaches listener `have`: the same port, and the listener's own address,
 * or any address of this host where the listener is bound to the wildcard (an IPv6 wildcard
 * without IPV6_V6ONLY takes IPv4 too). */
static bool inet_reaches(const struct sockid *have, const struct sockaddr *addr, socklen_t addrlen)
{
    const struct sockaddr_in *have4 = (const struct sockaddr_in *)&have->addr;
    const struct sockaddr_in6 *have6 = (const struct sockaddr_in6 *)&have->addr;
    in_port_t port = have->domain == AF_INET ? have4->sin_port : have6->sin6_port;
    bool wildcard = have->domain == AF_INET ? have4->sin_addr.s_addr == htonl(INADDR_ANY)
                                            : IN6_IS_ADDR_UNSPECIFIED(&have6->sin6_addr);
    if (addr->sa_family == AF_INET && addrlen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *want = (const struct sockaddr_in *)addr;
        if (want->sin_port != port)
            return false;
        if (have->domain == AF_INET6)
            return wildcard && !have->v6only && is_local_address(addr, addrlen);
        return want->sin_addr.s_addr == have4->sin_addr.s_addr ||
               (wildcard && (want->sin_addr.s_addr == htonl(INADDR_ANY) || is_local_address(addr, addrlen)));
    }
    if (addr->sa_family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6) && have->domain == AF_INET6) {
        const struct sockaddr_in6 *want = (const struct sockaddr_in6 *)addr;
        if (want->sin6_port != port)
            return false;
        return memcmp(&want->sin6_addr, &have6->sin6_addr, sizeof want->sin6_addr) == 0 ||
               (wildcard && (IN6_IS_ADDR_UNSPECIFIED(&want->sin6_addr) || is_local_address(addr, addrlen)));
    }
    return false;
}

bool inherit_refuses_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    /* Only the process the listeners were handed to: a child it forked before claiming has
     * its own copy of the claim state, which the parent's claim never updates. */
    if (!addr || addrlen < sizeof(sa_family_t) || getpid() != inherit_owner)
        return false;
    int saved = errno;
    struct sockid want;
    bool refused = false;
    int refused_fd = -1;
    if (sockid_read_kind(fd, &want) == 0 && want.type != SOCK_DGRAM) {
        while (__atomic_exchange_n(&claim_lock, 1, __ATOMIC_ACQUIRE))
            ;
        for (int i = 0; i < inherited_count && !refused; i++) {
            const struct sockid *have = &inherited[i].id;
            if (inherited[i].claimed || have->type != want.type || have->protocol != want.protocol)
                continue;
            if (have->domain == AF_UNIX)
                refused = want.domain == AF_UNIX && sockid_matches(have, &want, addr, addrlen);
            else if (have->domain == AF_INET || have->domain == AF_INET6)
                refused = want.domain == addr->sa_family && inet_reaches(have, addr, addrlen);
            if (refused)
                refused_fd = inherited[i].fd;
        }
        __atomic_store_n(&claim_lock, 0, __ATOMIC_RELEASE);
    }
    /* the launcher says so in its log: a server that probes its own port is a diagnosis */
    if (refused && shim_mode == MODE_SUPERVISED && refused_fd >= HS_LISTEN_FDS_START)
        report_send(HS_MSG_PROBE_REFUSED, fd, refused_fd - HS_LISTEN_FDS_START);
    errno = saved;
    return refused;
}

bool inherit_any_unclaimed(void)
{
    return atomic_load_explicit(&unclaimed, memory_order_relaxed) > 0;
}

int inherit_claim_in_place(int fd)
{
    int saved = errno;
    while (__atomic_exchange_n(&claim_lock, 1, __ATOMIC_ACQUIRE))
        ;
    for (int i = 0; i < inherited_count; i++) {
        struct inherited *listener = &inherited[i];
        if (listener->claimed || listener->fd != fd)
            continue;
        listener->claimed = true;
        atomic_fetch_sub(&unclaimed, 1);
        say_claimed(listener);
        nonblock_adopt(fd, false); /* as handed over: a fresh socket's blocking mode */
        fd_set_kind(fd, listener->id.type == SOCK_DGRAM ? FD_DGRAM : FD_LISTENER);
        listenaddr_note(fd);
        break;
    }
    __atomic_store_n(&claim_lock, 0, __ATOMIC_RELEASE);
    errno = saved;
    return fd_kind(fd);
}

void inherit_moved(int from, int to)
{
    for (int i = 0; i < inherited_count; i++)
        if (!inherited[i].claimed && inherited[i].fd == from)
            inherited[i].fd = to;
}

void inherit_keep_across_exec(bool keep)
{
    if (getpid() != inherit_owner)
        return;
    for (int i = 0; i < inherited_count; i++) {
        if (inherited[i].claimed)
            continue;
        int flags = real.fcntl(inherited[i].fd, F_GETFD);
        if (flags >= 0)
            real.fcntl(inherited[i].fd, F_SETFD, keep ? (flags & ~FD_CLOEXEC) : (flags | FD_CLOEXEC));
    }
}

void inherit_protect_path_of(int fd)
{
    struct sockid id;
    if (sockid_read(fd, &id) < 0)
        return;
    while (__atomic_exchange_n(&claim_lock, 1, __ATOMIC_ACQUIRE))
        ;
    protect_path(&id);
    __atomic_store_n(&claim_lock, 0, __ATOMIC_RELEASE);
}

bool inherit_path_protected(const char *path)
{
    if (!path)
        return false;
    int count = atomic_load(&protected_count);
    for (int i = 0; i < count; i++)
        if (sockid_is_bound_path(&protected_paths[i], path))
            return true;
    return false;
}

enum fd_kind fd_kind_claiming(int fd)
{
    enum fd_kind kind = fd_kind(fd);
    if (kind != FD_INHERITED)
        return kind;
    return (enum fd_kind)inherit_claim_in_place(fd);
}
