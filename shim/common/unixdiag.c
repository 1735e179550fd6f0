/* unixdiag.c: the sock_diag query for a Unix socket's bound file, and its reply (unixdiag.h). */
#define _GNU_SOURCE
#include "unixdiag.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>

size_t unixdiag_query(void *buf, size_t size, uint32_t socket_ino)
{
    struct {
        struct nlmsghdr header;
        struct unix_diag_req request;
    } query = {
        .header = {.nlmsg_len = sizeof query, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST},
        .request = {.sdiag_family = AF_UNIX,
                    .udiag_states = ~0u,
                    .udiag_ino = socket_ino,
                    .udiag_show = UDIAG_SHOW_VFS,
                    .udiag_cookie = {~0u, ~0u}},
    };
    if (size < sizeof query)
        return 0;
    memcpy(buf, &query, sizeof query);
    return sizeof query;
}

bool unixdiag_read_reply(const void *reply, size_t len, uint32_t socket_ino, struct unix_bound_file *out)
{
    const struct nlmsghdr *h = reply;
    if (!NLMSG_OK(h, len) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
        return false;
    const struct unix_diag_msg *msg = NLMSG_DATA(h);
    if (msg->udiag_ino != socket_ino)
        return false;
    int room = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
    for (const struct rtattr *a = (const struct rtattr *)(msg + 1); RTA_OK(a, room); a = RTA_NEXT(a, room))
        if (a->rta_type == UNIX_DIAG_VFS && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_vfs)) {
            const struct unix_diag_vfs *vfs = RTA_DATA(a);
            out->dev = vfs->udiag_vfs_dev;
            out->ino = vfs->udiag_vfs_ino;
            return true;
        }
    return false;
}

bool unixdiag_is_file(const struct unix_bound_file *bound, const struct stat *st)
{
    return S_ISSOCK(st->st_mode) && (uint32_t)st->st_ino == bound->ino && major(st->st_dev) == bound->dev >> 20 &&
           minor(st->st_dev) == (bound->dev & 0xfffff);
}
