/* tcpdiag.c: one TCP socket's TCP_INFO and queues, by sock_diag. See tcpdiag.h.
 *
 * An exact query (no NLM_F_DUMP): the kernel looks the four-tuple up in its hash tables, so the
 * cost does not grow with the host's sockets. For an established socket, idiag_rqueue is what is
 * unread and idiag_wqueue what is unacknowledged, as SIOCINQ and SIOCOUTQ say on an fd. */
#define _GNU_SOURCE
#include "tcpdiag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

bool tcpdiag_read(const struct conn_tuple *tuple, bool server_end, struct tcp_state *state)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return false;
    size_t addr_len = tuple->family == AF_INET ? 4 : 16;
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } ask = {
        .header = {.nlmsg_len = sizeof ask, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST},
        .request = {.sdiag_family = (unsigned char)tuple->family,
                    .sdiag_protocol = IPPROTO_TCP,
                    .idiag_ext = 1u << (INET_DIAG_INFO - 1),
                    .idiag_states = ~0u,
                    .id = {.idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}},
    };
    struct inet_diag_sockid *id = &ask.request.id;
    const unsigned char *near = server_end ? tuple->server_addr : tuple->client_addr;
    const unsigned char *far = server_end ? tuple->client_addr : tuple->server_addr;
    memcpy(id->idiag_src, near, addr_len);
    memcpy(id->idiag_dst, far, addr_len);
    id->idiag_sport = htons((uint16_t)(server_end ? tuple->server_port : tuple->client_port));
    id->idiag_dport = htons((uint16_t)(server_end ? tuple->client_port : tuple->server_port));
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    long buf[1024]; /* 8 KiB, aligned for nlmsghdr: one message */
    bool found = false;
    ssize_t n;
    if (sendto(fd, &ask, sizeof ask, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0 ||
        (n = recv(fd, buf, sizeof buf, 0)) <= 0)
        goto done;
    const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
        goto done; /* NLMSG_ERROR: ENOENT, no such connection */
    const struct inet_diag_msg *msg = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *msg))
        goto done;
    memset(state, 0, sizeof *state);
    state->unread = msg->idiag_rqueue;
    state->unsent = msg->idiag_wqueue;
    int attrs_len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
    for (const struct rtattr *a = (const struct rtattr *)(msg + 1); RTA_OK(a, attrs_len); a = RTA_NEXT(a, attrs_len))
        if (a->rta_type == INET_DIAG_INFO) {
            size_t len = RTA_PAYLOAD(a) < sizeof state->info ? RTA_PAYLOAD(a) : sizeof state->info;
            memcpy(&state->info, RTA_DATA(a), len);
            found = true;
        }
done:
    close(fd);
    return found;
}
