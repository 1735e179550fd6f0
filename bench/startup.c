/*
 * startup: what the shim and the launcher add to starting a program, for bench/startup.
 *
 *   startup exec RUNS SHIM PROGRAM [ARG...]
 *       RUNS spawns of PROGRAM alone, then RUNS with SHIM preloaded, as a program a server execs
 *       gets it (HOTSWAP_PID names another process, no channel). Prints one line:
 *       bare_us=B shim_us=S  (mean microseconds per spawn and wait, each side)
 *
 *   startup start RUNS HOTSWAP FIXTURE PORT_BARE PORT_HOTSWAP
 *       RUNS times: fork+exec FIXTURE --model epoll on PORT_BARE and time it until it answers a
 *       request; then, once under `HOTSWAP -- FIXTURE` on PORT_HOTSWAP, RUNS times: stop the
 *       serving generation (SIGSTOP), SIGHUP the launcher and time it until the new generation
 *       answers, then let the old one go on (SIGCONT) and drain. Both sides ask the same way
 *       (connect, GET, read the answer's pid, 100 us apart), so the difference is what the
 *       launcher and the shim add. Prints one line per run: bare_us=B hotswap_us=H
 *
 * Build: gcc -std=gnu11 -O2 -g -Wall -Wextra -o build/startup bench/startup.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void fail(const char *what)
{
    fprintf(stderr, "startup: %s: %s\n", what, strerror(errno));
    exit(2);
}

static pid_t spawn(char **argv, char **envp)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int error = posix_spawn(&pid, argv[0], &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    if (error) {
        errno = error;
        fail(argv[0]);
    }
    return pid;
}

static double spawn_and_wait(int runs, char **argv, char **envp)
{
    double began = now_us();
    for (int i = 0; i < runs; i++) {
        int status;
        if (waitpid(spawn(argv, envp), &status, 0) < 0)
            fail("waitpid");
    }
    return (now_us() - began) / runs;
}

static int exec_mode(int runs, const char *shim, char **program)
{
    static char preload[4096], pid[32];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", shim);
    snprintf(pid, sizeof pid, "HOTSWAP_PID=%d", (int)getpid());
    char *bare[] = {"PATH=/usr/bin:/bin", NULL};
    char *helper[] = {"PATH=/usr/bin:/bin", preload, pid, "HOTSWAP_CHANNEL_FD=3", "HOTSWAP_GENERATION=1", NULL};
    double bare_us = spawn_and_wait(runs, program, bare);
    double shim_us = spawn_and_wait(runs, program, helper);
    printf("bare_us=%.1f shim_us=%.1f\n", bare_us, shim_us);
    return 0;
}

/* The pid in the fixture's answer ("gen=N pid=P"), 0 if nothing answered. */
static pid_t answering_pid(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pid_t pid = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        static const char request[] = "GET / HTTP/1.0\r\n\r\n";
        char answer[512];
        size_t got = 0;
        ssize_t n;
        if (write(fd, request, sizeof request - 1) == (ssize_t)sizeof request - 1)
            while (got < sizeof answer - 1 && (n = read(fd, answer + got, sizeof answer - 1 - got)) > 0)
                got += (size_t)n;
        answer[got] = '\0';
        const char *at = strstr(answer, "pid=");
        if (at)
            pid = (pid_t)atoi(at + 4);
    }
    close(fd);
    return pid;
}

/* Microseconds from `began` until a process other than `not` answers on port (30 s at most). */
static double until_answer(double began, int port, pid_t not)
{
    const struct timespec gap = {0, 100 * 1000};
    for (;;) {
        pid_t pid = answering_pid(port);
        if (pid > 0 && pid != not)
            return now_us() - began;
        if (now_us() - began > 30e6) {
            fprintf(stderr, "startup: nothing new answered on port %d in 30 s\n", port);
            exit(2);
        }
        nanosleep(&gap, NULL);
    }
}

static int start_mode(int runs, char *hotswap, char *fixture, const char *port_bare, const char *port_hotswap)
{
    char listen_bare[64], listen_hotswap[64];
    snprintf(listen_bare, sizeof listen_bare, "127.0.0.1:%s", port_bare);
    snprintf(listen_hotswap, sizeof listen_hotswap, "127.0.0.1:%s", port_hotswap);
    char *bare[] = {fixture, "--model", "epoll", "--listen", listen_bare, NULL};
    char *under[] = {hotswap, "--", fixture, "--model", "epoll", "--listen", listen_hotswap, NULL};
    double *bare_us = calloc((size_t)runs, sizeof *bare_us), *hotswap_us = calloc((size_t)runs, sizeof *hotswap_us);
    if (!bare_us || !hotswap_us)
        fail("calloc");

    for (int i = 0; i < runs; i++) {
        double began = now_us();
        pid_t server = spawn(bare, environ);
        bare_us[i] = until_answer(began, atoi(port_bare), 0);
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }

    pid_t launcher = spawn(under, environ);
    until_answer(now_us(), atoi(port_hotswap), 0);
    for (int i = 0; i < runs; i++) {
        /* The old generation is stopped meanwhile, so every answer is the new one's: the time is
         * its start, not the old one's drain. Connections wait in the shared accept queue. */
        pid_t old = answering_pid(atoi(port_hotswap));
        kill(old, SIGSTOP);
        double began = now_us();
        kill(launcher, SIGHUP);
        hotswap_us[i] = until_answer(began, atoi(port_hotswap), old);
        kill(old, SIGCONT);
        /* the next reload only once the old generation is gone */
        for (double deadline = now_us() + 30e6; kill(old, 0) == 0 && now_us() < deadline;)
            nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    }
    kill(launcher, SIGTERM);
    waitpid(launcher, NULL, 0);

    for (int i = 0; i < runs; i++)
        printf("bare_us=%.0f hotswap_us=%.0f\n", bare_us[i], hotswap_us[i]);
    free(bare_us);
    free(hotswap_us);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "exec") == 0 && atoi(argv[2]) > 0)
        return exec_mode(atoi(argv[2]), argv[3], argv + 4);
    if (argc == 7 && strcmp(argv[1], "start") == 0 && atoi(argv[2]) > 0)
        return start_mode(atoi(argv[2]), argv[3], argv[4], argv[5], argv[6]);
    fprintf(stderr, "usage: startup exec RUNS SHIM PROGRAM [ARG...]\n"
                    "       startup start RUNS HOTSWAP FIXTURE PORT_BARE PORT_HOTSWAP\n");
    return 2;
}
