/*
 * acceptloop: the cheapest possible TCP server and client, for bench/overhead.
 *
 *   acceptloop 127.0.0.1:PORT                          server: accept + close, blocking, forever
 *   acceptloop --client 127.0.0.1:PORT SECONDS THREADS client: connect, wait for EOF, close
 *
 * One round trip = connect, the server's accept + close, the client reading EOF, close.  The
 * server closes first, so TIME_WAIT lands on the server side and the client never runs out of
 * ephemeral ports.  The client prints one line:
 *   roundtrips=N failed=N seconds=S rps=R
 *
 * Build: gcc -std=gnu11 -O2 -g -Wall -Wextra -pthread -o build/acceptloop bench/acceptloop.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in addr;
static double deadline;
static atomic_ulong total_ok, total_failed;

static void usage(void)
{
    fprintf(stderr, "usage: acceptloop 127.0.0.1:PORT | acceptloop --client 127.0.0.1:PORT SECONDS THREADS\n");
    exit(64);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void parse_addr(const char *text)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof(host))
        usage();
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        usage();
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        usage();
}

static int serve(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, SOMAXCONN) < 0) {
        perror("acceptloop: listen");
        return 1;
    }
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c >= 0)
            close(c);
        else if (errno != EINTR && errno != ECONNABORTED && errno != EMFILE && errno != ENFILE)
            usleep(1000);
    }
}

static void *client_thread(void *arg)
{
    unsigned long ok = 0, failed = 0;
    char buf[64];
    while (now() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            failed++;
            continue;
        }
        ssize_t n = -1;
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            do
                n = read(fd, buf, sizeof(buf));
            while (n < 0 && errno == EINTR);
        }
        close(fd);
        if (n == 0)
            ok++;
        else
            failed++;
    }
    atomic_fetch_add(&total_ok, ok);
    atomic_fetch_add(&total_failed, failed);
    return arg;
}

static int client(const char *seconds_text, const char *threads_text)
{
    double seconds = atof(seconds_text);
    int threads = atoi(threads_text);
    if (seconds <= 0 || threads < 1 || threads > 1024)
        usage();
    pthread_t tids[1024];
    double start = now();
    deadline = start + seconds;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, client_thread, NULL) != 0) {
            fprintf(stderr, "acceptloop: pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    double elapsed = now() - start;
    unsigned long ok = atomic_load(&total_ok);
    printf("roundtrips=%lu failed=%lu seconds=%.2f rps=%.0f\n", ok, atomic_load(&total_failed),
           elapsed, (double)ok / elapsed);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && argv[1][0] != '-') {
        parse_addr(argv[1]);
        return serve();
    }
    if (argc == 5 && strcmp(argv[1], "--client") == 0) {
        parse_addr(argv[2]);
        return client(argv[3], argv[4]);
    }
    usage();
}
