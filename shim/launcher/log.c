/* log.c: one line per event on stderr, also offered to whoever is waiting on a reload. */
#define _GNU_SOURCE
#include "log.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "textsafe.h"

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
    /* Escaped here, whatever the caller passed: a name holding a newline cannot split the line
     * (and forge the next one), nor a terminal escape reach whoever reads the log. Short enough
     * that the whole line stays within PIPE_BUF: one write, never interleaved. */
    char safe[3968];
    textsafe_escape(safe, sizeof safe, line, strlen(line), 0);
    /* One write per line, so lines from the launcher and the server never interleave mid-line;
     * no stdio buffer, so nothing touches the offset or mode of the stderr we share. */
    /* Never waits: a stderr nobody reads (a full pipe) must not stop the launcher's loop. A pipe
     * with room for a line (PIPE_BUF) says POLLOUT; without room the line is dropped, and the
     * next one that goes out says how many were, in the same write. The mode of the stderr we
     * share with the server stays blocking: O_NONBLOCK on it would be the server's too. */
    static unsigned long dropped;
    struct pollfd room = {.fd = STDERR_FILENO, .events = POLLOUT};
    if (poll(&room, 1, 0) == 1 && (room.revents & POLLOUT)) {
        char out[4096];
        int n = 0;
        if (dropped)
            n = snprintf(out, sizeof out, "hotswap: (%lu log line%s dropped: stderr was full)\n", dropped,
                         dropped == 1 ? "" : "s");
        n += snprintf(out + n, sizeof out - (size_t)n, "hotswap: %s\n", safe);
        if (n > (int)sizeof out - 1)
            n = sizeof out - 1;
        ssize_t ignored = write(STDERR_FILENO, out, (size_t)n);
        (void)ignored;
        dropped = 0;
    } else if (!(room.revents & (POLLERR | POLLHUP | POLLNVAL))) {
        dropped++;
    }
    if (log_tap)
        log_tap(line); /* raw: the control server escapes each line it sends */
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
