/* genproc.c: a generation's table of processes (each with a pidfd), and what the kernel says of
 * one of them: whether it catches a signal, whether the shim is mapped in it, its executable.
 * The parts of a generation (generation.c, genmsg.c, gendrain.c, notready.c) share these. */
#define _GNU_SOURCE
#include "genproc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "procstat.h"

static int open_pidfd(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

struct gen_proc *gen_find_proc(struct generation *g, pid_t pid)
{
    for (int i = 0; i < g->proc_count; i++)
        if (g->procs[i].pid == pid)
            return &g->procs[i];
    return NULL;
}

/* A process of the generation, met by a message from it or in the kernel's tables. */
struct gen_proc *gen_add_proc(struct generation *g, pid_t pid)
{
    struct gen_proc *proc = gen_find_proc(g, pid);
    if (proc)
        return proc;
    if (g->proc_count == g->proc_room) {
        int room = g->proc_room ? g->proc_room * 2 : 16;
        struct gen_proc *grown = realloc(g->procs, (size_t)room * sizeof *grown);
        if (!grown)
            return NULL;
        g->procs = grown;
        g->proc_room = room;
    }
    proc = &g->procs[g->proc_count++];
    *proc = (struct gen_proc){.pid = pid, .pidfd = open_pidfd(pid)};
    return proc;
}

/* a + b, both counts >= 0, at most LONG_MAX: a sum of reports no process can make overflow */
long gen_add_counts(long a, long b)
{
    return a > LONG_MAX - b ? LONG_MAX : a + b;
}

void gen_send_signal(pid_t pid, int pidfd, int sig)
{
    if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
        kill(pid, sig);
}

/* The process has a handler for `sig` (the kernel's SigCgt): the shim is in charge there. A
 * process without one (a CGI script, a helper the server exec'd) would be killed by it. */
bool gen_catches_signal(pid_t pid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    unsigned long long caught = 0;
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "SigCgt: %llx", &caught) == 1;
    fclose(f);
    return found && sig >= 1 && sig <= 64 && (caught >> (sig - 1)) & 1;
}

/* Whether the shim is mapped in `pid` now: a wrapper may have said hello, then exec'd a
 * program the shim cannot enter (static, setuid, or LD_PRELOAD cleared). */
bool gen_shim_mapped_in(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "re");
    if (!maps)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, maps))
        found = strstr(line, "/libhotswap") != NULL;
    fclose(maps);
    return found;
}

void gen_exe_of(pid_t pid, char *exe, size_t size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(link, exe, size - 1);
    if (n <= 0)
        snprintf(exe, size, "?");
    else
        exe[n] = '\0';
}

int gen_processes(struct generation *g, const pid_t **pids)
{
    return members_list(g->members, g->pid, pids);
}
