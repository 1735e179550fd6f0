/* tryload.c: the load of `hotswap try`. See tryload.h.
 *
 * An HTTP answer is complete when its head is, and then its body: Content-Length bytes, chunks
 * up to the last one, or (on a fresh connection, which asks "Connection: close") everything
 * until the server closes. A status of 500 or more is "bad": the server answered, but not well.
 * On a kept-alive connection, an end before any byte of the answer is "kept-ended": a client
 * may repeat such a request (RFC 9112 9.3.1), but one that does not sees an error, so it is a
 * failure of its own kind (tryload.h). */
#define _GNU_SOURCE
#include "tryload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define TRY_THREADS_MAX 64
#define ANSWER_MAX (1 << 20)
#define IO_TIMEOUT_S 5

const char *const try_outcome_names[TRY_OUTCOMES] = {
    [TRY_OK] = "ok",           [TRY_REFUSED] = "refused", [TRY_RESET] = "reset",           [TRY_EOF] = "eof",
    [TRY_TIMEOUT] = "timeout", [TRY_BAD] = "bad",         [TRY_KEPT_ENDED] = "kept-ended",
};

bool try_parse_address(const char *text, struct try_target *t)
{
    memset(&t->addr, 0, sizeof t->addr);
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&t->addr;
        size_t len = strlen(text + 5);
        if (len == 0 || len >= sizeof un->sun_path)
            return false;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, text + 5, len + 1);
        t->len = (socklen_t)sizeof *un;
        return true;
    }
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return false;
    char host[64];
    size_t host_len = (size_t)(colon - text);
    if (text[0] == '[' && colon[-1] == ']') {
        text++;
        host_len -= 2;
    }
    if (host_len >= sizeof host)
        return false;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return false;
    struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        t->len = sizeof *in;
        return true;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        t->len = sizeof *in6;
        return true;
    }
    return false;
}

static enum try_outcome from_errno(int err)
{
    if (err == ECONNREFUSED || err == ENOENT)
        return TRY_REFUSED;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT || err == EINPROGRESS)
        return TRY_TIMEOUT;
    if (err == ECONNRESET || err == EPIPE)
        return TRY_RESET;
    return TRY_EOF;
}

static int connect_to(const struct try_target *t, enum try_outcome *failed)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *failed = TRY_BAD;
        return -1;
    }
    struct timeval limit = {.tv_sec = IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (connect(fd, (const struct sockaddr *)&t->addr, t->len) < 0) {
        *failed = from_errno(errno);
        close(fd);
        return -1;
    }
    return fd;
}

/* How much of `buf` (`len` bytes) one complete answer takes: its length, 0 if more is needed
 * (`closed`: none will come), or -1 if it is malformed or not one a server should give. */
static long answer_length(const char *buf, size_t len, bool closed, int *status)
{
    const char *head_end = memmem(buf, len, "\r\n\r\n", 4);
    if (!head_end)
        return closed ? -1 : 0;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || sscanf(buf + 9, "%3d", status) != 1)
        return -1;
    size_t head = (size_t)(head_end - buf) + 4;
    const char *line = strstr(buf, "\r\n") + 2;
    long content_length = -1;
    bool chunked = false;
    while (line < head_end) {
        const char *next = strstr(line, "\r\n");
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            content_length = strtol(line + 15, NULL, 10);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strcasestr(line, "chunked") &&
                 strcasestr(line, "chunked") < next)
            chunked = true;
        line = next + 2;
    }
    if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200))
        return (long)head;
    if (chunked) { /* the last chunk, "0", and the end of the (empty) trailer */
        const char *last = memmem(buf + head, len - head, "\r\n0\r\n\r\n", 7);
        if (!last && len - head >= 5 && memcmp(buf + head, "0\r\n\r\n", 5) == 0)
            return (long)head + 5;
        return last ? (long)(last - buf) + 7 : (closed ? -1 : 0);
    }
    if (content_length >= 0)
        return len >= head + (size_t)content_length ? (long)(head + (size_t)content_length) : (closed ? -1 : 0);
    return closed ? (long)len : 0; /* delimited by the close */
}

/* Sends one GET on `fd` and reads its answer. `reused`: the connection has served before. */
static enum try_outcome ask(const struct try_target *t, int fd, bool keep, bool reused, char *buf, bool *closes)
{
    *closes = !keep;
    char request[512];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hotswap-try\r\n"
                     "Connection: %s\r\n\r\n",
                     t->http_path, t->host, keep ? "keep-alive" : "close");
    if (send(fd, request, (size_t)n, MSG_NOSIGNAL) != n)
        return reused ? TRY_KEPT_ENDED : from_errno(errno);
    size_t len = 0;
    for (;;) {
        ssize_t got = recv(fd, buf + len, ANSWER_MAX - 1 - len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return reused && len == 0 && errno == ECONNRESET ? TRY_KEPT_ENDED : from_errno(errno);
        if (got == 0 && len == 0)
            return reused ? TRY_KEPT_ENDED : TRY_EOF;
        len += (size_t)got;
        buf[len] = '\0';
        int status = 0;
        long whole = answer_length(buf, len, got == 0, &status);
        if (whole < 0)
            return got == 0 ? TRY_EOF : TRY_BAD;
        if (whole > 0) {
            const char *head_end = strstr(buf, "\r\n\r\n"), *said = strcasestr(buf, "\r\nConnection: close");
            *closes = *closes || (said && said < head_end) || strncmp(buf, "HTTP/1.0", 8) == 0;
            return status >= 500 ? TRY_BAD : TRY_OK;
        }
        if (len >= ANSWER_MAX - 1)
            return TRY_BAD;
    }
}

enum try_outcome try_once(const struct try_target *t)
{
    enum try_outcome failed;
    int fd = connect_to(t, &failed);
    if (fd < 0)
        return failed;
    enum try_outcome outcome = TRY_OK;
    if (t->http_path) {
        char *buf = malloc(ANSWER_MAX);
        bool closes;
        outcome = buf ? ask(t, fd, false, false, buf, &closes) : TRY_BAD;
        free(buf);
    }
    close(fd);
    return outcome;
}

static struct {
    const struct try_target *target;
    pthread_t threads[TRY_THREADS_MAX];
    int count;
    atomic_bool stop;
    atomic_ulong counts[TRY_OUTCOMES];
} load;

static void *fresh_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&load.stop))
        atomic_fetch_add(&load.counts[try_once(load.target)], 1);
    return NULL;
}

static void *kept_loop(void *arg)
{
    (void)arg;
    char *buf = malloc(ANSWER_MAX);
    int fd = -1;
    bool reused = false;
    while (buf && !atomic_load(&load.stop)) {
        if (fd < 0) {
            enum try_outcome failed;
            if ((fd = connect_to(load.target, &failed)) < 0) {
                atomic_fetch_add(&load.counts[failed], 1);
                continue;
            }
            reused = false;
        }
        bool closes;
        enum try_outcome outcome = ask(load.target, fd, true, reused, buf, &closes);
        atomic_fetch_add(&load.counts[outcome], 1);
        reused = true;
        if (outcome != TRY_OK || closes) { /* the server ends it, or said it would */
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

bool try_load_start(const struct try_target *t, int fresh, int kept)
{
    load.target = t;
    atomic_store(&load.stop, false);
    load.count = 0;
    for (int i = 0; i < fresh + (t->http_path ? kept : 0) && load.count < TRY_THREADS_MAX; i++)
        if (pthread_create(&load.threads[load.count], NULL, i < fresh ? fresh_loop : kept_loop, NULL) == 0)
            load.count++;
    return load.count > 0;
}

void try_load_stop(unsigned long counts[TRY_OUTCOMES])
{
    atomic_store(&load.stop, true);
    for (int i = 0; i < load.count; i++)
        pthread_join(load.threads[i], NULL);
    for (int i = 0; i < TRY_OUTCOMES; i++)
        counts[i] = atomic_load(&load.counts[i]);
}
