/* procstat.h: what the kernel says of a process or a thread in /proc: a small file read whole,
 * a walk over the threads, and /proc/PID/stat parsed once for every caller (the members walk:
 * parent and start time; the drain's pause: state and flags; a signal to a process group: its
 * members). */
#ifndef HOTSWAP_PROCSTAT_H
#define HOTSWAP_PROCSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Reads the file at `path` (a /proc file of a few hundred bytes) into `text`, NUL-terminated,
 * truncated to `size` - 1 bytes; false if it cannot be opened or is empty. */
bool proc_read_text(const char *path, char *text, size_t size);

/* Calls `each` for every thread of process `pid` (/proc/PID/task) until one call returns true;
 * true if one did, false if none did or the process is gone. */
bool proc_any_thread(pid_t pid, bool (*each)(pid_t pid, pid_t tid, void *ctx), void *ctx);

struct proc_stat {
    char state; /* R, S, D, T (stopped), t (traced), Z, X... */
    pid_t ppid;
    pid_t pgrp;               /* its process group */
    unsigned flags;           /* the kernel's PF_ flags */
    unsigned long long start; /* clock ticks after boot: tells a reused pid from the process */
};

/* Reads /proc/PID/stat, or thread `tid`'s /proc/PID/task/TID/stat when tid > 0. False when it
 * is gone or cannot be read. */
bool proc_stat_read(pid_t pid, pid_t tid, struct proc_stat *out);

#endif
