/* release.c: releasing listeners no generation uses any more (release.h).
 *
 * Released only when both the shims and the kernel say nobody uses it. A generation is handed
 * every held listener at fds 3.. (HOTSWAP_LISTEN_FDS); its shim moves one onto the server's own
 * fd when the server binds that address, and keeps the ones never bound where they were,
 * close-on-exec, for a bind that may still come; it says which it took (HS_MSG_CLAIMED). The
 * kernel's fd tables show the listener's socket elsewhere than its hand-over number 3+i, or there
 * without close-on-exec, only in a process that uses it. (With --socket-activation a server may
 * take fd 3+i as it is, so the caller does not release then.) */
#define _GNU_SOURCE
#include "release.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env.h"
#include "listeners.h"
#include "log.h"

/* The shim keeps a listener the server never bound close-on-exec (it is not for the programs
 * the server execs): at its hand-over number without that flag, a program uses it (one the
 * server exec'd, handed the listener at fd 3 as systemd would). */
static bool close_on_exec(pid_t pid, int fd)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
    FILE *f = fopen(path, "re");
    unsigned long flags = 0;
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "flags: %lo", &flags) == 1;
    if (f)
        fclose(f);
    return found && (flags & O_CLOEXEC);
}

/* Whether `pid` uses the socket `inode`: holds it at an fd other than `handed_at`, or there
 * without close-on-exec. */
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
        int fd = atoi(entry->d_name);
        found = entry->d_name[0] != '.' && stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == inode &&
                (fd != handed_at || !close_on_exec(pid, fd));
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
        bool used = g->claimed_listeners[i / 64] >> (i % 64) & 1; /* a shim said so */
        for (int p = 0; p < count && !used; p++)
            used = takes(pids[p], st.st_ino, HS_LISTEN_FDS_START + i);
        if (used)
            continue;
        hs_log("listener %s: no process of gen %d uses it (its configuration no longer binds it): released", l->name,
               g->number);
        listeners_release(i);
    }
}
