/* log.c: one line per event on stderr, also offered to whoever is waiting on a reload. */
#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static log_tap_fn log_tap;

void log_set_tap(log_tap_fn tap)
{
    log_tap = tap;
}

void hs_log(const char *fmt, ...)
{
    char line[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    /* One write per line, so lines from the launcher and the server never interleave mid-line;
     * no stdio buffer, so nothing touches the offset or mode of the stderr we share. */
    char out[1100];
    int n = snprintf(out, sizeof out, "hotswap: %s\n", line);
    if (n > (int)sizeof out - 1)
        n = sizeof out - 1;
    ssize_t ignored = write(STDERR_FILENO, out, (size_t)n);
    (void)ignored;
    if (log_tap)
        log_tap(line);
}

int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void describe_wait_status(int status, char *text, size_t size)
{
    if (WIFEXITED(status))
        snprintf(text, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(text, size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(text, size, "ended");
}
