/* procstat.c: what the kernel says of a process in /proc. See procstat.h. */
#define _GNU_SOURCE
#include "procstat.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool proc_read_text(const char *path, char *text, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, text, size - 1);
    close(fd);
    if (n <= 0)
        return false;
    text[n] = '\0';
    return true;
}

bool proc_any_thread(pid_t pid, bool (*each)(pid_t pid, pid_t tid, void *ctx), void *ctx)
{
    char dir_path[48];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/task", (int)pid);
    DIR *tasks = opendir(dir_path);
    if (!tasks)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(tasks)))
        found = e->d_name[0] != '.' && each(pid, (pid_t)atoi(e->d_name), ctx);
    closedir(tasks);
    return found;
}

bool proc_stat_read(pid_t pid, pid_t tid, struct proc_stat *out)
{
    char path[80], text[1024];
    if (tid > 0)
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    else
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!proc_read_text(path, text, sizeof text))
        return false;
    const char *after = strrchr(text, ')'); /* the command name may hold spaces and parens */
    int ppid, pgrp;
    /* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
     * cutime cstime priority nice num_threads itrealvalue starttime */
    if (!after || sscanf(after + 1, " %c %d %d %*d %*d %*d %u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                         &out->state, &ppid, &pgrp, &out->flags, &out->start) != 5)
        return false;
    out->ppid = ppid;
    out->pgrp = pgrp;
    return true;
}
