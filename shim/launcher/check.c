/* check.c: the --check command, run beside the launcher's loop (check.h). */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

static struct {
    pid_t pid;  /* 0: none runs */
    int out_fd; /* its stdout and stderr; -1 once at EOF */
    int64_t started_ms, deadline_ms;
    bool reaped, killed;
    int64_t killed_after_ms;
    int status;
    char output[CHECK_OUTPUT_MAX];
    size_t output_len;
} C = {.out_fd = -1};

bool check_start(const char *command, int64_t deadline_ms)
{
    int pipe_fds[2];
    if (C.pid || pipe2(pipe_fds, O_CLOEXEC) < 0)
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the launcher's are blocked for its signalfd */
        setpgid(0, 0);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(pipe_fds[1], 1) < 0 || dup2(pipe_fds[1], 2) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    int saved = errno;
    close(pipe_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        errno = saved;
        return false;
    }
    setpgid(pid, pid);
    fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    C.pid = pid;
    C.out_fd = pipe_fds[0];
    C.started_ms = now_ms();
    C.deadline_ms = deadline_ms;
    C.reaped = C.killed = false;
    C.output_len = 0;
    return true;
}

bool check_running(void)
{
    return C.pid != 0;
}

int check_pollfd(struct pollfd *out)
{
    if (!C.pid || C.out_fd < 0)
        return 0;
    *out = (struct pollfd){.fd = C.out_fd, .events = POLLIN};
    return 1;
}

void check_read(void)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(C.out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) { /* EOF: the check and whatever it started closed their ends */
            close(C.out_fd);
            C.out_fd = -1;
            return;
        }
        size_t room = sizeof C.output - 1 - C.output_len, take = (size_t)n < room ? (size_t)n : room;
        memcpy(C.output + C.output_len, buf, take); /* the rest is read and dropped */
        C.output_len += take;
        C.output[C.output_len] = '\0';
    }
}

/* After the check exits, its output pipe may still be held by something it started in the
 * background: EOF is waited for this long, then the pipe is closed. */
#define EOF_GRACE_MS 200

bool check_note_reaped(pid_t pid, int status)
{
    if (!C.pid || pid != C.pid)
        return false;
    C.reaped = true;
    C.status = status;
    int64_t grace = now_ms() + EOF_GRACE_MS;
    if (C.deadline_ms > grace)
        C.deadline_ms = grace;
    return true;
}

int64_t check_deadline(void)
{
    if (!C.pid || (C.killed && !C.reaped))
        return 0; /* killed: its reaping comes as SIGCHLD */
    return C.deadline_ms;
}

void check_on_deadline(int64_t now)
{
    if (!C.pid || now < C.deadline_ms)
        return;
    if (!C.reaped && !C.killed) {
        kill(-C.pid, SIGKILL);
        C.killed = true;
        C.killed_after_ms = now - C.started_ms;
    } else if (C.reaped && C.out_fd >= 0) {
        close(C.out_fd);
        C.out_fd = -1;
    }
}

bool check_finished(bool *passed, char *verdict, size_t size, char *output, size_t output_size)
{
    if (!C.pid || !C.reaped || C.out_fd >= 0)
        return false;
    *passed = !C.killed && WIFEXITED(C.status) && WEXITSTATUS(C.status) == 0;
    if (C.killed)
        snprintf(verdict, size, "did not finish within %lld ms: killed", (long long)C.killed_after_ms);
    else
        describe_wait_status(C.status, verdict, size);
    snprintf(output, output_size, "%s", C.output);
    C.pid = 0;
    return true;
}

void check_cancel(void)
{
    if (!C.pid)
        return;
    if (!C.reaped)
        kill(-C.pid, SIGKILL); /* reaped later like any child; its result is not wanted */
    if (C.out_fd >= 0)
        close(C.out_fd);
    C.out_fd = -1;
    C.pid = 0;
}
