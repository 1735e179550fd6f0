/* procsockets.c: the sockets a process has open. See procsockets.h. */
#define _GNU_SOURCE
#include "procsockets.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "walkyield.h"

bool proc_sockets_each(pid_t pid, int pidfd, proc_socket_fn each, void *ctx)
{
    int own = pidfd < 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (pidfd < 0)
        pidfd = own;
    char dir_path[48];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/fd", (int)pid);
    DIR *dir = pidfd >= 0 ? opendir(dir_path) : NULL;
    struct dirent *entry;
    bool going = dir != NULL;
    for (long seen = 1; going && (entry = readdir(dir)); seen++) {
        char link_path[320], target[64];
        if (seen % WALK_YIELD_EVERY == 0)
            walk_yield();
        snprintf(link_path, sizeof link_path, "%s/%s", dir_path, entry->d_name);
        ssize_t n = readlink(link_path, target, sizeof target - 1);
        if (n <= 0 || strncmp(target, "socket:", 7) != 0)
            continue;
        int fd = atoi(entry->d_name);
        int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
        if (copy >= 0)
            going = each(copy, fd, ctx);
    }
    if (dir)
        closedir(dir);
    if (own >= 0)
        close(own);
    return dir != NULL;
}
