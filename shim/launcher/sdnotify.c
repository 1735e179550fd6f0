/* sdnotify.c: the sd_notify protocol, without libsystemd: one Unix datagram per state change. */
#define _GNU_SOURCE
#include "sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static bool failure_logged;

void sdnotify_open(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path)
        return;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len < 2 || len >= sizeof notify_addr.sun_path) {
        hs_log("NOTIFY_SOCKET='%s' is not a socket path or @abstract name: not notifying", path);
    } else {
        notify_addr = (struct sockaddr_un){.sun_family = AF_UNIX};
        memcpy(notify_addr.sun_path, path, len);
        if (path[0] == '@')
            notify_addr.sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends the name */
        notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
        notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (notify_fd < 0)
            hs_log("NOTIFY_SOCKET: cannot make a socket (%s): not notifying", strerror(errno));
    }
    unsetenv("NOTIFY_SOCKET");
}

bool sdnotify_enabled(void)
{
    return notify_fd >= 0;
}

void sdnotify(const char *fmt, ...)
{
    if (notify_fd < 0)
        return;
    char message[1024];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    if (n < 0)
        return;
    if (n > (int)sizeof message - 2)
        n = sizeof message - 2;
    if (n == 0 || message[n - 1] != '\n')
        message[n++] = '\n'; /* each assignment on its own line, the last one too */
    if (sendto(notify_fd, message, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&notify_addr,
               notify_len) < 0 &&
        !failure_logged) {
        failure_logged = true; /* once: a service manager that went away is not news each time */
        hs_log("NOTIFY_SOCKET: cannot send (%s)", strerror(errno));
    }
}

unsigned long long sdnotify_monotonic_usec(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000;
}
