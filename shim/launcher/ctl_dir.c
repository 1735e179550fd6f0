/* ctl_dir.c: the default control socket directory, checked (ctl_dir.h). */
#define _GNU_SOURCE
#include "ctl_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

const char *file_kind_name(mode_t mode)
{
    return S_ISREG(mode)    ? "a regular file"
           : S_ISDIR(mode)  ? "a directory"
           : S_ISLNK(mode)  ? "a symbolic link"
           : S_ISFIFO(mode) ? "a FIFO"
                            : "a device or other file";
}

/* hotswap's own directory sits at a name anyone can guess (/tmp/hotswap-UID) and could have been
 * made first by another user, to put a socket of its own in it: the launcher would serve in a
 * directory where that user can replace its socket, and `hotswap reload` would talk to whatever
 * is there. So it is taken only when it is a real directory (not a symlink to one), this user's,
 * mode 0700; the launcher makes it so if it is missing. */
int ctl_dir_check(const char *dir, bool may_make, char *why, size_t size)
{
    bool made = may_make && mkdir(dir, 0700) == 0;
    if (may_make && !made && errno != EEXIST)
        return -1;
    /* O_PATH for a look alone: it needs no read permission, so a directory of another user's
     * that this one cannot read is still seen, and refused, for what it is. */
    int fd = open(dir, (may_make ? O_RDONLY : O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        if ((errno != ELOOP && errno != ENOTDIR) || lstat(dir, &st) < 0)
            return -1;
        snprintf(why, size, "control socket directory %s is %s, not a directory: refusing it (give --control PATH)",
                 dir, file_kind_name(st.st_mode));
        return -2;
    }
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = -1;
    } else if (st.st_uid != geteuid()) {
        snprintf(why, size,
                 "control socket directory %s belongs to uid %u, not to uid %u: refusing it "
                 "(another user could put a socket of its own there; remove it, or give --control PATH)",
                 dir, (unsigned)st.st_uid, (unsigned)geteuid());
        rc = -2;
    } else if ((st.st_mode & 07777) != 0700) {
        if (made) { /* ours, just made: the umask took bits away */
            rc = fchmod(fd, 0700);
        } else {
            snprintf(why, size,
                     "control socket directory %s is mode %04o, not 0700: refusing it "
                     "(another user could replace the socket; chmod 700 it, or give --control PATH)",
                     dir, (unsigned)(st.st_mode & 07777));
            rc = -2;
        }
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
