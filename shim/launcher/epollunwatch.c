/* epollunwatch.c: a drained listener taken out of a process's epoll sets. See epollunwatch.h.
 *
 * /proc/PID/fdinfo of an epoll fd lists each entry's fd number and inode. EPOLL_CTL_DEL finds an
 * entry by the file at the caller's own fd number, so the launcher, which has one thread, puts
 * its copy of the listener on that number for the call and puts back what was there. */
#define _GNU_SOURCE
#include "epollunwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procsockets.h"

/* Does epoll fd `epfd` of process `pid` have an entry for fd number `fd` on inode `ino`? */
static bool watches(pid_t pid, int epfd, int fd, ino_t ino)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, epfd);
    FILE *f = fopen(path, "re");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        int tfd;
        unsigned long inode;
        const char *at = strstr(line, "ino:");
        found = sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd && at && sscanf(at, "ino:%lx", &inode) == 1 &&
                (ino_t)inode == ino;
    }
    if (f)
        fclose(f);
    return found;
}

/* EPOLL_CTL_DEL of (listener, fd) from the set `set`, with the listener on the launcher's own fd
 * number `fd` for the call. */
static bool delete_entry(int set, int fd, int listener)
{
    if (listener == fd)
        return epoll_ctl(set, EPOLL_CTL_DEL, fd, NULL) == 0;
    int saved_flags = fcntl(fd, F_GETFD);
    int saved = saved_flags >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
    if (saved_flags >= 0 && saved < 0)
        return false; /* cannot keep what is there */
    if (dup3(listener, fd, O_CLOEXEC) < 0) {
        if (saved >= 0)
            close(saved);
        return false;
    }
    bool deleted = epoll_ctl(set, EPOLL_CTL_DEL, fd, NULL) == 0;
    if (saved >= 0) {
        dup3(saved, fd, (saved_flags & FD_CLOEXEC) ? O_CLOEXEC : 0);
        close(saved);
    } else {
        close(fd);
    }
    return deleted;
}

struct unwatch {
    pid_t pid;
    int pidfd, fd, listener;
    ino_t ino;
    int removed;
};

static bool unwatch_in(int epfd, const char *target, void *ctx)
{
    struct unwatch *u = ctx;
    if (strcmp(target, "anon_inode:[eventpoll]") != 0 || !watches(u->pid, epfd, u->fd, u->ino))
        return true;
    int set = (int)syscall(SYS_pidfd_getfd, u->pidfd, epfd, 0);
    if (set == u->fd) { /* the launcher's number `fd` is needed for the listener */
        int moved = fcntl(set, F_DUPFD_CLOEXEC, u->fd + 1);
        close(set);
        set = moved;
    }
    if (set >= 0) {
        u->removed += delete_entry(set, u->fd, u->listener);
        close(set);
    }
    return true;
}

int epoll_unwatch(pid_t pid, int pidfd, int fd, int listener)
{
    struct stat held;
    if (fstat(listener, &held) < 0)
        return 0;
    struct unwatch u = {.pid = pid, .pidfd = pidfd, .fd = fd, .listener = listener, .ino = held.st_ino};
    proc_fds_each(pid, unwatch_in, &u);
    return u.removed;
}
