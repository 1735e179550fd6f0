/* procsockets.c: the fds and sockets a process has open. See procsockets.h. */
#define _GNU_SOURCE
#include "procsockets.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "walkyield.h"

bool proc_fds_each(pid_t pid, proc_fd_fn each, void *ctx)
{
    char dir_path[48];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(dir_path);
    if (!dir)
        return false;
    struct dirent *entry;
    bool going = true;
    for (long seen = 1; going && (entry = readdir(dir)); seen++) {
        char link_path[320], target[64];
        if (seen % WALK_YIELD_EVERY == 0)
            walk_yield();
        if (entry->d_name[0] == '.')
            continue;
        snprintf(link_path, sizeof link_path, "%s/%s", dir_path, entry->d_name);
        ssize_t n = readlink(link_path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        going = each(atoi(entry->d_name), target, ctx);
    }
    closedir(dir);
    return true;
}

struct socket_walk {
    int pidfd;
    proc_socket_fn each;
    void *ctx;
};

static bool copy_socket(int fd, const char *target, void *ctx)
{
    struct socket_walk *walk = ctx;
    if (strncmp(target, "socket:", 7) != 0)
        return true;
    int copy = (int)syscall(SYS_pidfd_getfd, walk->pidfd, fd, 0);
    return copy < 0 || walk->each(copy, fd, walk->ctx);
}

bool proc_sockets_each(pid_t pid, int pidfd, proc_socket_fn each, void *ctx)
{
    int own = pidfd < 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (pidfd < 0)
        pidfd = own;
    struct socket_walk walk = {.pidfd = pidfd, .each = each, .ctx = ctx};
    bool walked = pidfd >= 0 && proc_fds_each(pid, copy_socket, &walk);
    if (own >= 0)
        close(own);
    return walked;
}
