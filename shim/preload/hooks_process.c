/* hooks_process.c: fork and exec. A fork is reported by the parent before it returns, so the
 * launcher knows the child before anything the parent says next (a drain count of 0 from a
 * fork-per-connection parent must not end the drain while its child still serves). An exec by
 * the process the launcher started keeps the shim's fds; any other exec does not take them; no
 * exec takes the drain handler along, so the drain signal is ignored across it. An exec of a
 * program the shim cannot reach (Go, static) is first offered to the launcher (follow.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "drain.h"
#include "env.h"
#include "export.h"
#include "follow.h"
#include "gate.h"
#include "handover.h"
#include "mode.h"
#include "inherit.h"
#include "real.h"
#include "report.h"
#include "standalone.h"

extern char **environ;

HS_EXPORT pid_t fork(void)
{
    pid_t child = real.fork();
    if (child > 0 && shim_in_charge()) {
        int saved = errno;
        report_send(HS_MSG_FORKED, -1, child);
        standalone_note_child(child);
        errno = saved;
    }
    return child;
}

/* Before an exec (true) and after one that failed (false): the shim's fds cross it only from
 * the process the launcher started, and the drain signal is ignored across it. */
static void prepare_exec(bool before)
{
    int saved = errno;
    report_keep_across_exec(before);
    inherit_keep_across_exec(before);
    handover_keep_across_exec(before);
    gate_keep_across_exec(before);
    if (shim_in_charge()) {
        if (before)
            drain_before_exec();
        else
            drain_after_failed_exec();
    }
    errno = saved;
}

/* The environment a program the shim execs gets: `envp` itself, or, when the channel has moved
 * since the shim started (a server that dup2s its listener onto fd 3, where the channel was),
 * a copy in `copy` (room for `room` entries, from channel_env_size) whose HOTSWAP_CHANNEL_FD
 * names where it is now, so that the program finds it. No allocation: the copy is on the
 * caller's stack (an exec may follow a fork in a threaded server). */
static size_t channel_env_size(char *const envp[])
{
    static const char name[] = HS_ENV_CHANNEL_FD "=";
    int now = report_channel_fd();
    if (now < 0 || !envp)
        return 0;
    size_t count = 0;
    bool stale = false;
    for (; envp[count]; count++)
        if (strncmp(envp[count], name, sizeof name - 1) == 0 && atoi(envp[count] + sizeof name - 1) != now)
            stale = true;
    return stale ? count : 0;
}

static char *const *channel_env(char *const envp[], char **copy, size_t room, char *entry, size_t size)
{
    static const char name[] = HS_ENV_CHANNEL_FD "=";
    if (!room)
        return envp;
    snprintf(entry, size, "%s%d", name, report_channel_fd());
    for (size_t i = 0; i < room; i++)
        copy[i] = strncmp(envp[i], name, sizeof name - 1) == 0 ? entry : envp[i];
    copy[room] = NULL;
    return copy;
}

/* `env`: envp, or a copy that names where the channel is now (channel_env). */
#define CHANNEL_ENV(env, envp)                  \
    size_t env##_room = channel_env_size(envp); \
    char *env##_copy[env##_room + 1];           \
    char env##_entry[48];                       \
    char *const *env = channel_env(envp, env##_copy, env##_room, env##_entry, sizeof env##_entry)

/* Built with AddressSanitizer: an exec that succeeds never returns, so the redzones of the
 * frames it leaves stay marked in the stack's shadow. After vfork (dash runs every command so)
 * that stack is the parent's, whose next calls then meet them: a false overflow. The stack is
 * cleared as before any call that does not return. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define BEFORE_EXEC() __asan_handle_no_return()
#else
#define BEFORE_EXEC() ((void)0)
#endif

/* Runs an exec prepared; on failure everything goes back as it was. */
#define EXEC_KEEPING_FDS(call) \
    do {                       \
        prepare_exec(true);    \
        BEFORE_EXEC();         \
        int rc_ = (call);      \
        prepare_exec(false);   \
        return rc_;            \
    } while (0)

HS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    follow_before_exec(path, false);
    CHANNEL_ENV(env, envp);
    EXEC_KEEPING_FDS(real.execve(path, argv, env));
}

HS_EXPORT int execv(const char *path, char *const argv[])
{
    follow_before_exec(path, false);
    CHANNEL_ENV(env, environ);
    if (env != environ)
        EXEC_KEEPING_FDS(real.execve(path, argv, env));
    EXEC_KEEPING_FDS(real.execv(path, argv));
}

HS_EXPORT int execvp(const char *file, char *const argv[])
{
    follow_before_exec(file, true);
    CHANNEL_ENV(env, environ);
    if (env != environ)
        EXEC_KEEPING_FDS(real.execvpe(file, argv, env));
    EXEC_KEEPING_FDS(real.execvp(file, argv));
}

HS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    follow_before_exec(file, true);
    CHANNEL_ENV(env, envp);
    EXEC_KEEPING_FDS(real.execvpe(file, argv, env));
}

HS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    follow_before_fexecve(fd);
    CHANNEL_ENV(env, envp);
    EXEC_KEEPING_FDS(real.fexecve(fd, argv, env));
}

/* The execl family: gather the arguments, then the vector form. */
#define ARGS_MAX 4096

static int gather(const char *first, va_list args, char **argv, char ***envp_out)
{
    int count = 0;
    argv[count++] = (char *)first;
    while (argv[count - 1] != NULL) {
        if (count >= ARGS_MAX) {
            errno = E2BIG;
            return -1;
        }
        argv[count++] = va_arg(args, char *);
    }
    if (envp_out)
        *envp_out = va_arg(args, char **);
    return 0;
}

HS_EXPORT int execl(const char *path, const char *arg, ...)
{
    char *argv[ARGS_MAX];
    va_list args;
    va_start(args, arg);
    int rc = gather(arg, args, argv, NULL);
    va_end(args);
    return rc < 0 ? -1 : execv(path, argv); /* hook wanted: one exec path */
}

HS_EXPORT int execlp(const char *file, const char *arg, ...)
{
    char *argv[ARGS_MAX];
    va_list args;
    va_start(args, arg);
    int rc = gather(arg, args, argv, NULL);
    va_end(args);
    return rc < 0 ? -1 : execvp(file, argv); /* hook wanted: one exec path */
}

HS_EXPORT int execle(const char *path, const char *arg, ...)
{
    char *argv[ARGS_MAX];
    char **envp = NULL;
    va_list args;
    va_start(args, arg);
    int rc = gather(arg, args, argv, &envp);
    va_end(args);
    return rc < 0 ? -1 : execve(path, argv, envp); /* hook wanted: one exec path */
}
