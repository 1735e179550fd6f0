/* sockid.c: socket identity, compared field by field, never as raw bytes (sockaddr padding and
 * lengths differ between the caller's bind() and getsockname()). */
#define _GNU_SOURCE
#include "sockid.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "real.h"

static int getint(int fd, int level, int name, int *out)
{
    socklen_t len = sizeof *out;
    return real.getsockopt(fd, level, name, out, &len);
}

int sockid_read_kind(int fd, struct sockid *id)
{
    memset(id, 0, sizeof *id);
    if (getint(fd, SOL_SOCKET, SO_DOMAIN, &id->domain) < 0 || getint(fd, SOL_SOCKET, SO_TYPE, &id->type) < 0 ||
        getint(fd, SOL_SOCKET, SO_PROTOCOL, &id->protocol) < 0)
        return -1;
    if (id->domain == AF_INET6 && getint(fd, IPPROTO_IPV6, IPV6_V6ONLY, &id->v6only) < 0)
        return -1;
    return 0;
}

/* The file Unix socket `fd` is bound to, from the kernel (unixdiag.h). */
static bool read_bound_file(int fd, struct unix_bound_file *out)
{
    struct stat self;
    if (fstat(fd, &self) < 0)
        return false;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return false;
    char query[128];
    long reply[512]; /* aligned for nlmsghdr; one socket's answer is well under 200 bytes */
    size_t query_len = unixdiag_query(query, sizeof query, (uint32_t)self.st_ino);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t n = -1;
    if (real.sendto(nl, query, query_len, 0, (struct sockaddr *)&kernel, sizeof kernel) == (ssize_t)query_len)
        n = real.recv(nl, reply, sizeof reply, 0);
    real.close(nl);
    return n > 0 && unixdiag_read_reply(reply, (size_t)n, (uint32_t)self.st_ino, out);
}

int sockid_read(int fd, struct sockid *id)
{
    if (sockid_read_kind(fd, id) < 0)
        return -1;
    id->addrlen = sizeof id->addr;
    if (real.getsockname(fd, (struct sockaddr *)&id->addr, &id->addrlen) < 0)
        return -1;
    int saved = errno;
    id->has_file = sockid_unix_path(id) && read_bound_file(fd, &id->file);
    errno = saved;
    return 0;
}

static bool inet_matches(const struct sockaddr_in *have, const struct sockaddr *addr, socklen_t len)
{
    if (len < sizeof(struct sockaddr_in))
        return false;
    const struct sockaddr_in *want = (const struct sockaddr_in *)addr;
    return want->sin_port != 0 && want->sin_port == have->sin_port && want->sin_addr.s_addr == have->sin_addr.s_addr;
}

static bool inet6_matches(const struct sockaddr_in6 *have, const struct sockaddr *addr, socklen_t len)
{
    if (len < sizeof(struct sockaddr_in6))
        return false;
    const struct sockaddr_in6 *want = (const struct sockaddr_in6 *)addr;
    return want->sin6_port != 0 && want->sin6_port == have->sin6_port &&
           memcmp(&want->sin6_addr, &have->sin6_addr, sizeof want->sin6_addr) == 0 &&
           want->sin6_scope_id == have->sin6_scope_id;
}

/* The name part of a Unix address of `len` bytes: a path ends at its NUL, an abstract name
 * (leading NUL) is all the bytes given. */
static size_t unix_name_len(const struct sockaddr_un *un, socklen_t len)
{
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    if (n > 0 && un->sun_path[0] != '\0')
        n = strnlen(un->sun_path, n);
    return n;
}

static bool unix_matches(const struct sockid *have, const struct sockaddr *addr, socklen_t len)
{
    if (len <= offsetof(struct sockaddr_un, sun_path) || len > sizeof(struct sockaddr_un))
        return false; /* autobind asks for any name */
    const struct sockaddr_un *want = (const struct sockaddr_un *)addr;
    const struct sockaddr_un *got = (const struct sockaddr_un *)&have->addr;
    size_t want_len = unix_name_len(want, len), got_len = unix_name_len(got, have->addrlen);
    if (want_len == 0 || (want->sun_path[0] == '\0') != (got->sun_path[0] == '\0'))
        return false;
    if (want->sun_path[0] != '\0' && have->has_file) { /* a path: the same file, wherever from */
        char path[sizeof want->sun_path + 1];
        memcpy(path, want->sun_path, want_len);
        path[want_len] = '\0';
        return sockid_is_bound_path(have, path);
    }
    return want_len == got_len && memcmp(want->sun_path, got->sun_path, want_len) == 0;
}

bool sockid_matches(const struct sockid *have, const struct sockid *want, const struct sockaddr *addr,
                    socklen_t addrlen)
{
    if (!addr || have->domain != want->domain || have->type != want->type || have->protocol != want->protocol ||
        addr->sa_family != have->domain)
        return false;
    switch (have->domain) {
    case AF_INET:
        return inet_matches((const struct sockaddr_in *)&have->addr, addr, addrlen);
    case AF_INET6:
        /* IPV6_V6ONLY decides what is bound only for the wildcard address: binding a specific
         * one makes the kernel set it, so the held socket reads 1 while the caller's socket,
         * not yet bound, still reads its default. */
        if (!inet6_matches((const struct sockaddr_in6 *)&have->addr, addr, addrlen))
            return false;
        return !IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)addr)->sin6_addr) ||
               have->v6only == want->v6only;
    case AF_UNIX:
        return unix_matches(have, addr, addrlen);
    default:
        return false;
    }
}

const char *sockid_unix_path(const struct sockid *id)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)&id->addr;
    if (id->domain != AF_UNIX || id->addrlen <= offsetof(struct sockaddr_un, sun_path) || un->sun_path[0] == '\0')
        return NULL;
    return un->sun_path;
}

bool sockid_is_bound_path(const struct sockid *id, const char *path)
{
    const char *own = sockid_unix_path(id);
    if (!own || !path)
        return false;
    if (!id->has_file)
        return strcmp(own, path) == 0;
    int saved = errno;
    struct stat st;
    bool same = lstat(path, &st) == 0 && unixdiag_is_file(&id->file, &st);
    errno = saved;
    return same;
}
