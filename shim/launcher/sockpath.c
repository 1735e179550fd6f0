/* sockpath.c: removing a Unix socket's path safely. A path is a name, and a generation's process
 * (which may be compromised, and can write where its socket lives) can change what a name means
 * between its bind and the launcher's unlink: swap a directory on the path for a symlink, or the
 * socket for another file. So the launcher never unlinks by name alone. It asks the kernel which
 * file the socket it holds is bound to (sock_diag, UNIX_DIAG_VFS: that file's device and inode,
 * kept by the socket whatever happens to the name), opens the path's directory once, looks at the
 * last component in that directory without following it, and unlinks that entry of that same
 * directory only if it is that very file. Symlinks in the directory part are followed (a path
 * under /var/run is under a symlink on most systems): wherever they lead, what is removed is a
 * name of the held socket's own file, and nothing else. */
#define _GNU_SOURCE
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct bound_file {
    uint32_t dev; /* the kernel's own encoding: major << 20 | minor */
    uint32_t ino;
};

/* The file socket `fd` is bound to, as the kernel records it. -1 if it cannot say (no sock_diag
 * for Unix sockets here, or an unbound or abstract socket). */
static int bound_file_of(int fd, struct bound_file *out)
{
    struct stat self;
    if (fstat(fd, &self) < 0)
        return -1;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -1;
    struct {
        struct nlmsghdr header;
        struct unix_diag_req request;
    } query = {
        .header = {.nlmsg_len = sizeof query, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST},
        .request = {.sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_ino = (uint32_t)self.st_ino,
                    .udiag_show = UDIAG_SHOW_VFS, .udiag_cookie = {~0u, ~0u}},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    long buf[1024]; /* aligned for nlmsghdr */
    ssize_t n = -1;
    if (sendto(nl, &query, sizeof query, 0, (struct sockaddr *)&kernel, sizeof kernel) == sizeof query)
        n = recv(nl, buf, sizeof buf, 0);
    close(nl);
    int found = -1;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; n > 0 && NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
            break;
        const struct unix_diag_msg *msg = NLMSG_DATA(h);
        if (msg->udiag_ino != (uint32_t)self.st_ino)
            break;
        int room = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
        for (struct rtattr *a = (struct rtattr *)(msg + 1); RTA_OK(a, room); a = RTA_NEXT(a, room))
            if (a->rta_type == UNIX_DIAG_VFS && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_vfs)) {
                const struct unix_diag_vfs *vfs = RTA_DATA(a);
                out->dev = vfs->udiag_vfs_dev;
                out->ino = vfs->udiag_vfs_ino;
                found = 0;
            }
        break;
    }
    return found;
}

static bool same_file(const struct stat *st, const struct bound_file *bound)
{
    return (uint32_t)st->st_ino == bound->ino && major(st->st_dev) == bound->dev >> 20 &&
           minor(st->st_dev) == (bound->dev & 0xfffff);
}

int sockpath_remove(int fd, const char *path, char *why, size_t size)
{
    struct bound_file bound;
    if (bound_file_of(fd, &bound) < 0) {
        snprintf(why, size, "the kernel does not say which file the socket is bound to (sock_diag)");
        return 1;
    }
    char dir_copy[4096], base_copy[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", path);
    snprintf(base_copy, sizeof base_copy, "%s", path);
    const char *dir = dirname(dir_copy), *base = basename(base_copy);
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(why, size, "cannot open its directory: %s", strerror(errno));
        return 1;
    }
    struct stat st;
    int rc = 1;
    if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            rc = 0;
        else
            snprintf(why, size, "cannot look at it: %s", strerror(errno));
    } else if (!S_ISSOCK(st.st_mode) || !same_file(&st, &bound)) {
        snprintf(why, size, "it is no longer the socket the launcher held (%s)",
                 S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISSOCK(st.st_mode) ? "another socket" : "not a socket");
    } else if (unlinkat(dirfd, base, 0) == 0 || errno == ENOENT) {
        rc = 0;
    } else {
        rc = -1;
    }
    int saved = errno;
    close(dirfd);
    errno = saved;
    return rc;
}
