/*
 * idleconns: opens N keep-alive HTTP connections to a server, makes one request on each (so
 * each is an answered, idle keep-alive connection, the kind a drain closes), then holds them
 * until SIGTERM, counting how each one ends. Used by bench/scale.
 *
 *   idleconns 127.0.0.1:PORT N [FIRST]
 *
 * More connections than one source address has ephemeral ports: they are spread over source
 * addresses 127.0.0.FIRST, 127.0.0.FIRST+1, ... (FIRST is 1 unless given; bind before connect,
 * with IP_BIND_ADDRESS_NO_PORT so that the port is chosen at connect over the whole ephemeral
 * range), at most the ephemeral range less a third per address (other programs use it too). The fd limit is raised to its hard limit (run it under prlimit --nofile).
 * Connections are opened 64 at a time (the request and its answer done before the next 64),
 * so a listen backlog of 128 never overflows.
 *
 * Prints "open N" on stdout once every connection has had its answer (or "failed: ..." and
 * exits 1), then, on SIGTERM: "open=N closed=C reset=R data=D" (still open; closed by the
 * server with a clean end of file; reset by it; sent anything more) and exits 0.
 *
 * Build: gcc -std=gnu11 -O2 -Wall -Wextra -o idleconns idleconns.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define BATCH 64

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void fail(const char *what, long i)
{
    printf("failed: %s (connection %ld): %s\n", what, i, strerror(errno));
    fflush(stdout);
    exit(1);
}

/* Reads one HTTP answer (head, then Content-Length bytes of body) from blocking fd. */
static int read_answer(int fd)
{
    char buf[16384];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        size_t head = (size_t)(end + 4 - buf), body = 0;
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < end)
            body = strtoul(cl + 17, NULL, 10);
        if (len >= head + body)
            return len == head + body ? 0 : -1; /* nothing more than the answer */
        if (head + body >= sizeof buf)
            return -1;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: idleconns 127.0.0.1:PORT N [FIRST]\n");
        return 64;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    long n = atol(argv[2]), first_source = argc == 4 ? atol(argv[3]) : 1;
    if (!colon || (size_t)(colon - argv[1]) >= sizeof host || n < 1 || first_source < 1 || first_source > 250) {
        fprintf(stderr, "idleconns: bad arguments\n");
        return 64;
    }
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = '\0';
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
        fprintf(stderr, "idleconns: not an IPv4 address: %s\n", host);
        return 64;
    }

    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    long low = 32768, high = 60999, per_source;
    FILE *range = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (range) {
        if (fscanf(range, "%ld %ld", &low, &high) != 2)
            low = 32768, high = 60999;
        fclose(range);
    }
    per_source = (high - low + 1) * 2 / 3;
    if (per_source < 1000)
        per_source = 1000;

    static const char request[] = "GET / HTTP/1.1\r\nHost: idleconns\r\nConnection: keep-alive\r\n\r\n";
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds)
        fail("calloc", 0);
    struct timeval timeout = { .tv_sec = 10 };
    for (long first = 0; first < n; first += BATCH) {
        long last = first + BATCH < n ? first + BATCH : n;
        for (long i = first; i < last; i++) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0)
                fail("socket", i);
            struct sockaddr_in from = { .sin_family = AF_INET };
            from.sin_addr.s_addr = htonl(0x7f000000u + (uint32_t)(first_source + i / per_source));
            int on = 1;
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
            if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0)
                fail("bind", i);
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
            if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0)
                fail("connect", i);
            if (write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1))
                fail("write", i);
            fds[i] = fd;
        }
        for (long i = first; i < last; i++)
            if (read_answer(fds[i]) < 0)
                fail("reading the answer", i);
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fail("epoll_create1", 0);
    for (long i = 0; i < n; i++) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fds[i] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            fail("epoll_ctl", i);
    }
    struct sigaction sa = { .sa_handler = on_term };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("open %ld\n", n);
    fflush(stdout);

    long open = n, closed = 0, reset = 0, data = 0;
    while (!stop) {
        struct epoll_event events[256];
        int got = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < got; i++) {
            int fd = events[i].data.fd;
            char byte[512];
            ssize_t r = recv(fd, byte, sizeof byte, MSG_DONTWAIT);
            if (r > 0) {
                data++; /* not expected: an idle connection is not spoken to */
                continue;
            }
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r == 0)
                closed++;
            else
                reset++;
            open--;
            close(fd);
        }
    }
    printf("open=%ld closed=%ld reset=%ld data=%ld\n", open, closed, reset, data);
    fflush(stdout);
    return 0;
}
