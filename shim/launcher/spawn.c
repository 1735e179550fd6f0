/* spawn.c: fork, put the fds where the child expects them, exec. */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "env.h"
#include "fdpass.h"
#include "intercept.h"
#include "listeners.h"
#include "members.h"
#include "seccompfilter.h"

#define CGROUP_NOT_JOINED (-1) /* on the error pipe: not an errno */

static void set_env_int(const char *name, long value)
{
    char text[32];
    snprintf(text, sizeof text, "%ld", value);
    setenv(name, text, 1);
}

static void set_preload(const char *shim_path)
{
    const char *existing = getenv("LD_PRELOAD");
    if (!existing || !*existing) {
        setenv("LD_PRELOAD", shim_path, 1);
        return;
    }
    if (strstr(existing, shim_path))
        return;
    size_t size = strlen(existing) + strlen(shim_path) + 2;
    char *joined = malloc(size);
    if (!joined)
        return;
    snprintf(joined, size, "%s:%s", existing, shim_path);
    setenv("LD_PRELOAD", joined, 1);
    free(joined);
}

/* LISTEN_FDNAMES: one name per fd, colon-separated, so names must not contain ':'. */
static void set_fdnames(int count)
{
    char names[LISTENERS_MAX * 10 + 1] = "";
    for (int i = 0; i < count; i++)
        strcat(names, i ? ":hotswap" : "hotswap");
    setenv("LISTEN_FDNAMES", names, 1);
}

/* In the child: listeners to 3.., the channel right after, then the handover table if
 * any. Everything is first copied above the target range, because a source may sit on a target
 * number. */
static int arrange_fds(int channel_fd, int map_fd, int gate_fd, int count)
{
    int total = count + 1 + (map_fd >= 0) + (gate_fd >= 0);
    int high = HS_LISTEN_FDS_START + total;
    int copies[LISTENERS_MAX + 3];
    for (int i = 0; i < count; i++)
        if ((copies[i] = fcntl(listeners_get(i)->fd, F_DUPFD_CLOEXEC, high)) < 0)
            return -1;
    if ((copies[count] = fcntl(channel_fd, F_DUPFD_CLOEXEC, high)) < 0)
        return -1;
    if (map_fd >= 0 && (copies[count + 1] = fcntl(map_fd, F_DUPFD_CLOEXEC, high)) < 0)
        return -1;
    if (gate_fd >= 0 && (copies[total - 1] = fcntl(gate_fd, F_DUPFD_CLOEXEC, high)) < 0)
        return -1;
    for (int i = 0; i < total; i++) /* dup2 clears FD_CLOEXEC on the target: it survives exec */
        if (dup2(copies[i], HS_LISTEN_FDS_START + i) < 0)
            return -1;
    return HS_LISTEN_FDS_START + count;
}

/* In the child, the seccomp route: the filter goes on last, just before exec; its notification
 * fd goes to the launcher over `notify_pair`. */
static bool intercept_and_send(int notify_pair, bool trap_accept)
{
    int fd = seccomp_filter_install(trap_accept);
    if (fd < 0)
        return false;
    bool sent = fdpass_send(notify_pair, fd, 0);
    close(fd);
    return sent;
}

/* fork(), with the child born in the generation's cgroup where the kernel can do that (clone3's
 * CLONE_INTO_CGROUP, Linux 5.7, cgroup v2). Moving a process in afterwards makes the kernel wait
 * for an RCU grace period: 11 to 24 ms per reload on the machine of docs/bench.md, all of it
 * before the new generation's exec. Elsewhere, the child joins by writing its pid, as before.
 * The launcher has one thread, so the child may use libc as after fork(). */
static pid_t fork_into(int cgroup_fd, bool *born_inside)
{
    *born_inside = false;
    if (cgroup_fd >= 0) {
        struct clone_args args = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroup_fd};
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid >= 0) {
            *born_inside = true;
            return (pid_t)pid;
        }
    }
    return fork();
}

static void __attribute__((noreturn))
child(const struct spawn_request *req, bool born_inside, int channel_fd, int error_pipe, int notify_pair)
{
    /* First: whatever it forks from now on is the generation's. The parent hears if it failed. */
    if (!born_inside && !members_join_child(req->members)) {
        int failed = CGROUP_NOT_JOINED;
        ssize_t ignored = write(error_pipe, &failed, sizeof failed);
        (void)ignored;
    }
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the launcher blocks signals for its signalfd */
    for (char **var = req->env; var && *var; var++)
        putenv(*var); /* first: what hotswap sets below is its own */
    int count = listeners_count();
    int child_channel = arrange_fds(channel_fd, req->handover_map_fd, req->ready_gate_fd, count);
    if (child_channel >= 0) {
        if (count > 0)
            set_env_int(HS_ENV_LISTEN_FDS, count);
        else
            unsetenv(HS_ENV_LISTEN_FDS);
        if (count > 0 && req->socket_activation) {
            set_env_int("LISTEN_FDS", count);
            set_env_int("LISTEN_PID", getpid());
            set_fdnames(count);
        } else {
            unsetenv("LISTEN_FDS");
            unsetenv("LISTEN_PID");
            unsetenv("LISTEN_FDNAMES");
        }
        set_env_int(HS_ENV_CHANNEL_FD, child_channel);
        set_env_int(HS_ENV_GENERATION, req->generation);
        set_env_int(HS_ENV_PID, getpid());
        set_env_int(HS_ENV_DRAIN_SIGNAL, req->drain_signal);
        if (req->handover_map_fd >= 0) {
            setenv(HS_ENV_HANDOVER_IDLE, "1", 1);
            set_env_int(HS_ENV_HANDOVER_MAP, child_channel + 1);
        } else {
            unsetenv(HS_ENV_HANDOVER_IDLE);
            unsetenv(HS_ENV_HANDOVER_MAP);
        }
        if (req->ready_gate_fd >= 0) {
            set_env_int(HS_ENV_READY_GATE, child_channel + 1 + (req->handover_map_fd >= 0));
            setenv("NOTIFY_SOCKET", req->notify_socket, 1);
        } else {
            unsetenv(HS_ENV_READY_GATE);
        }
        setenv(HS_ENV_IDLE_CLOSE, req->idle_close, 1);
        if (req->keep_listeners)
            setenv(HS_ENV_KEEP_OLD, "1", 1);
        else
            unsetenv(HS_ENV_KEEP_OLD);
        if (!req->seccomp)
            set_preload(req->shim_path);
        if (!req->seccomp || intercept_and_send(notify_pair, !req->signal_drain))
            execvp(req->argv[0], req->argv);
    }
    int err = errno;
    ssize_t ignored = write(error_pipe, &err, sizeof err);
    (void)ignored;
    _exit(127);
}

int spawn_generation(const struct spawn_request *req, struct spawned *out)
{
    int pair[2], error_pipe[2], notify_pair[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return -1;
    /* Every message then carries its sender's pid as the kernel knows it (SCM_CREDENTIALS):
     * what a message says about its sender is never taken on trust. */
    int one = 1;
    if (setsockopt(pair[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
        int saved = errno;
        close(pair[0]);
        close(pair[1]);
        errno = saved;
        return -1;
    }
    if (pipe2(error_pipe, O_CLOEXEC) < 0 ||
        (req->seccomp && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notify_pair) < 0)) {
        int saved = errno;
        close(pair[0]);
        close(pair[1]);
        errno = saved;
        return -1;
    }
    bool born_inside;
    pid_t pid = fork_into(members_cgroup_fd(req->members), &born_inside);
    if (pid == 0)
        child(req, born_inside, pair[1], error_pipe[1], notify_pair[1]);
    int fork_errno = errno;
    close(pair[1]);
    close(error_pipe[1]);
    out->notify_fd = -1;
    if (notify_pair[1] >= 0) {
        close(notify_pair[1]);
        if (pid > 0)
            out->notify_fd = fdpass_receive(notify_pair[0]); /* -1 if it sent none */
        close(notify_pair[0]);
    }
    if (pid < 0) {
        close(pair[0]);
        close(error_pipe[0]);
        errno = fork_errno;
        return -1;
    }
    setpgid(pid, pid); /* also here: whichever of parent and child runs first, the group exists */
    /* The pipe closes on a successful exec; otherwise it carries the child's errno. Before that,
     * CGROUP_NOT_JOINED if it could not join its cgroup. */
    int exec_errno = 0;
    ssize_t n;
    out->joined = true;
    do {
        do
            n = read(error_pipe[0], &exec_errno, sizeof exec_errno);
        while (n < 0 && errno == EINTR);
        if (n == sizeof exec_errno && exec_errno == CGROUP_NOT_JOINED)
            out->joined = false;
        else
            break;
    } while (1);
    close(error_pipe[0]);
    if (n == sizeof exec_errno) {
        waitpid(pid, NULL, 0);
        close(pair[0]);
        if (out->notify_fd >= 0)
            close(out->notify_fd);
        errno = exec_errno;
        return -1;
    }
    out->pid = pid;
    out->channel_fd = pair[0];
    return 0;
}
