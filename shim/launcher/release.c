/* release.c: releasing listeners no generation uses any more (release.h).
 *
 * "Uses" is what the kernel shows: the listener's socket in a process's fd table. A generation is
 * handed every held listener at fds 3.. (HOTSWAP_LISTEN_FDS); its shim moves one onto the
 * server's own fd when the server binds that address, and keeps the ones never bound where they
 * were, for a bind that may still come. So a socket seen only at its hand-over number 3+i is
 * one the server never took. (With --socket-activation a server may take fd 3+i as it is, so the
 * caller does not release then.) */
#define _GNU_SOURCE
#include "release.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env.h"
#include "listeners.h"
#include "log.h"

/* Whether `pid` holds the socket `inode` at an fd other than `handed_at`. */
static bool takes(pid_t pid, ino_t inode, int handed_at)
{
    char dir_path[64];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(dir_path);
    if (!dir)
        return false;
    bool found = false;
    struct dirent *entry;
    while (!found && (entry = readdir(dir))) {
        char path[320];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir_path, entry->d_name);
        found = entry->d_name[0] != '.' && atoi(entry->d_name) != handed_at && stat(path, &st) == 0 &&
                S_ISSOCK(st.st_mode) && st.st_ino == inode;
    }
    closedir(dir);
    return found;
}

void release_unused_listeners(struct generation *g)
{
    if (g->listeners_checked)
        return;
    g->listeners_checked = true;
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    if (count <= 0)
        return; /* nothing to go by */
    for (int i = listeners_count() - 1; i >= 0; i--) {
        const struct held_listener *l = listeners_get(i);
        struct stat st;
        if (fstat(l->fd, &st) < 0)
            continue;
        bool used = false;
        for (int p = 0; p < count && !used; p++)
            used = takes(pids[p], st.st_ino, HS_LISTEN_FDS_START + i);
        if (used)
            continue;
        hs_log("listener %s: no process of gen %d uses it (its configuration no longer binds it): released",
               l->name, g->number);
        listeners_release(i);
    }
}
