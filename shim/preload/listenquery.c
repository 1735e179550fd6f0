/* listenquery.c: one NETLINK_SOCK_DIAG dump of the TCP sockets in state LISTEN, as ss(8) makes,
 * compared with one local address. Unprivileged, and it waits on nothing but the kernel. */
#define _GNU_SOURCE
#include "listenquery.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/uio.h>

#include "listenaddr.h"
#include "real.h"

/* The listener `msg` describes, as a sockaddr of `family`, if `local` is on it. */
static bool listener_covers(const struct inet_diag_msg *msg, int family, const struct sockaddr *local,
                            struct sockaddr_storage *listener, socklen_t *len)
{
    memset(listener, 0, sizeof *listener);
    if (family == AF_INET) {
        const struct sockaddr_in *mine = (const void *)local;
        struct sockaddr_in *l = (void *)listener;
        l->sin_family = AF_INET;
        l->sin_port = msg->id.idiag_sport;
        memcpy(&l->sin_addr, msg->id.idiag_src, sizeof l->sin_addr);
        *len = sizeof *l;
        return l->sin_port == mine->sin_port &&
               (l->sin_addr.s_addr == htonl(INADDR_ANY) || l->sin_addr.s_addr == mine->sin_addr.s_addr);
    }
    const struct sockaddr_in6 *mine = (const void *)local;
    struct sockaddr_in6 *l = (void *)listener;
    l->sin6_family = AF_INET6;
    l->sin6_port = msg->id.idiag_sport;
    memcpy(&l->sin6_addr, msg->id.idiag_src, sizeof l->sin6_addr);
    *len = sizeof *l;
    return l->sin6_port == mine->sin6_port &&
           (IN6_IS_ADDR_UNSPECIFIED(&l->sin6_addr) || memcmp(&l->sin6_addr, &mine->sin6_addr, 16) == 0);
}

/* Reads the dump's replies to its end; true if one listener covers `local` (noted). */
static bool read_dump(int fd, int family, const struct sockaddr *local)
{
    bool found = false;
    for (;;) {
        union {
            char buf[8192];
            struct nlmsghdr align;
        } reply;
        struct iovec iov = {.iov_base = reply.buf, .iov_len = sizeof reply.buf};
        struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t got = real.recvmsg(fd, &header, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return found;
        for (struct nlmsghdr *h = &reply.align; NLMSG_OK(h, (size_t)got); h = NLMSG_NEXT(h, got)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
                return found;
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                continue;
            struct sockaddr_storage listener;
            socklen_t len;
            if (!found && listener_covers(NLMSG_DATA(h), family, local, &listener, &len)) {
                listenaddr_add((struct sockaddr *)&listener, len);
                found = true; /* read on to the end: the socket is closed clean either way */
            }
        }
    }
}

bool listenquery_learn(const struct sockaddr *local, socklen_t len)
{
    int family = local->sa_family;
    if ((family != AF_INET || len < sizeof(struct sockaddr_in)) &&
        (family != AF_INET6 || len < sizeof(struct sockaddr_in6)))
        return false;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return false;
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } ask = {
        .header = {.nlmsg_len = sizeof ask,
                   .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .request = {.sdiag_family = (unsigned char)family,
                    .sdiag_protocol = IPPROTO_TCP,
                    .idiag_states = 1 << TCP_LISTEN},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    struct iovec iov = {.iov_base = &ask, .iov_len = sizeof ask};
    struct msghdr header = {.msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = &iov, .msg_iovlen = 1};
    bool found = real.sendmsg(fd, &header, 0) == (ssize_t)sizeof ask && read_dump(fd, family, local);
    real.close(fd);
    return found;
}
