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
#include <linux/sock_diag.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unixdiag.h"

/* The file socket `fd` is bound to, as the kernel records it. -1 if it cannot say (no sock_diag
 * for Unix sockets here, or an unbound or abstract socket). */
static int bound_file_of(int fd, struct unix_bound_file *out)
{
    struct stat self;
    if (fstat(fd, &self) < 0)
        return -1;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -1;
    char query[128];
    long reply[1024]; /* aligned for nlmsghdr */
    size_t query_len = unixdiag_query(query, sizeof query, (uint32_t)self.st_ino);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t n = -1;
    if (sendto(nl, query, query_len, 0, (struct sockaddr *)&kernel, sizeof kernel) == (ssize_t)query_len)
        n = recv(nl, reply, sizeof reply, 0);
    close(nl);
    return n > 0 && unixdiag_read_reply(reply, (size_t)n, (uint32_t)self.st_ino, out) ? 0 : -1;
}

int sockpath_remove(int fd, const char *path, char *why, size_t size)
{
    struct unix_bound_file bound;
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
    } else if (!unixdiag_is_file(&bound, &st)) {
        snprintf(why, size, "it is no longer the socket the launcher held (%s)",
                 S_ISLNK(st.st_mode)    ? "a symbolic link"
                 : S_ISSOCK(st.st_mode) ? "another socket"
                                        : "not a socket");
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
