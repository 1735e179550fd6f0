/* procstopped.h: has a process stopped (SIGSTOP) yet? The signal only asks: each thread stops
 * on its way back to user space, and a thread the host has not given a CPU yet, or one busy in a
 * system call, still runs meanwhile (an accept under way takes its connection first). */
#ifndef HOTSWAP_PROCSTOPPED_H
#define HOTSWAP_PROCSTOPPED_H

#include <stdbool.h>
#include <sys/types.h>

/* True when no thread of process `pid` can run on: each is stopped, traced, dead or an io_uring
 * worker (/proc/PID/task/TID/stat), or the process is gone. */
bool proc_stopped(pid_t pid);

#endif
