/* readynotify.c: a generation's own NOTIFY_SOCKET and its gate. See readynotify.h. */
#define _GNU_SOURCE
#include "readynotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Does this datagram hold the line READY=1? (systemd: newline-separated assignments) */
static bool says_ready(const char *text, size_t len)
{
    static const char ready[] = "READY=1";
    const char *line = text, *end = text + len;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = (size_t)((nl ? nl : end) - line);
        if (n == sizeof ready - 1 && memcmp(line, ready, n) == 0)
            return true;
        line += n + 1;
    }
    return false;
}

/* 128 random bits in hex after "@hotswap-": a name nobody can guess. A name made of the pid and
 * a counter could be read off /proc/net/unix and taken first by any local user, and a generation
 * without its socket would be ready at its first accept, still warming up. */
static bool random_name(char *out, size_t size)
{
    unsigned char bits[16];
    size_t got = 0;
    while (got < sizeof bits) { /* (flags 0: waits only for the pool's first seeding, at boot) */
        ssize_t n = getrandom(bits + got, sizeof bits - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    int at = snprintf(out, size, "@hotswap-");
    for (size_t i = 0; i < sizeof bits; i++)
        at += snprintf(out + at, size - (size_t)at, "%02x", bits[i]);
    return true;
}

bool ready_notify_open(struct ready_notify *out)
{
    *out = (struct ready_notify){.socket_fd = -1, .gate_fd = -1};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0)
        return false;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    bool bound = false;
    /* A name in use is someone who knew it: a fresh one is as unguessable as the first */
    for (int tries = 0; tries < 4 && !bound; tries++) {
        if (!random_name(out->name, sizeof out->name))
            break;
        size_t n = strlen(out->name);
        memset(addr.sun_path, 0, sizeof addr.sun_path);
        memcpy(addr.sun_path + 1, out->name + 1, n - 1); /* abstract: sun_path[0] is 0 */
        bound = bind(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == 0;
        if (!bound && errno != EADDRINUSE)
            break;
    }
    int gate = bound ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
    if (!bound || gate < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
        int saved = errno;
        close(fd);
        if (gate >= 0)
            close(gate);
        out->name[0] = '\0';
        errno = saved;
        return false;
    }
    out->socket_fd = fd;
    out->gate_fd = gate;
    return true;
}

pid_t ready_notify_read(int socket_fd, bool (*member)(void *ctx, pid_t pid), void *ctx, pid_t *refused)
{
    pid_t ready = 0;
    for (;;) {
        char text[4096];
        struct iovec iov = {.iov_base = text, .iov_len = sizeof text};
        union {
            char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 8)];
            struct cmsghdr align;
        } control;
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
        ssize_t n = recvmsg(socket_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ready;
        pid_t sender = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET)
                continue;
            if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof cred);
                sender = cred.pid;
            } else if (c->cmsg_type == SCM_RIGHTS) { /* sd_notify may pass fds (FDSTORE=1): not kept */
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                    int passed;
                    memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
                    close(passed);
                }
            }
        }
        if (!says_ready(text, (size_t)n) || sender <= 0)
            continue;
        if (!member(ctx, sender))
            *refused = sender;
        else if (!ready)
            ready = sender;
    }
}

void ready_notify_open_gate(int gate_fd)
{
    uint64_t one = 1;
    if (gate_fd >= 0 && write(gate_fd, &one, sizeof one) < 0) {
        /* never: the counter is far from its limit, and nobody reads it */
    }
}

void ready_notify_close(struct ready_notify *r)
{
    if (r->socket_fd >= 0)
        close(r->socket_fd);
    if (r->gate_fd >= 0)
        close(r->gate_fd);
    r->socket_fd = r->gate_fd = -1;
}
