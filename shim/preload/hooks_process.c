/* hooks_process.c: fork and exec. A fork is reported by the parent before it returns, so the
 * launcher knows the child before anything the parent says next (a drain count of 0 from a
 * fork-per-connection parent must not end the drain while its child still serves). An exec by
 * the process the launcher started keeps the shim's fds; any other exec does not take them; no
 * exec takes the drain handler along, so the drain signal is ignored across it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "channel.h"
#include "drain.h"
#include "export.h"
#include "handover.h"
#include "mode.h"
#include "inherit.h"
#include "real.h"
#include "report.h"
#include "standalone.h"

extern char **environ;

HS_EXPORT pid_t fork(void)
{
    real_ready();
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
    if (shim_in_charge()) {
        if (before)
            drain_before_exec();
        else
            drain_after_failed_exec();
    }
    errno = saved;
}

/* Runs an exec prepared; on failure everything goes back as it was. */
#define EXEC_KEEPING_FDS(call) \
    do {                       \
        prepare_exec(true);    \
        int rc_ = (call);      \
        prepare_exec(false);   \
        return rc_;            \
    } while (0)

HS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    real_ready();
    EXEC_KEEPING_FDS(real.execve(path, argv, envp));
}

HS_EXPORT int execv(const char *path, char *const argv[])
{
    real_ready();
    EXEC_KEEPING_FDS(real.execv(path, argv));
}

HS_EXPORT int execvp(const char *file, char *const argv[])
{
    real_ready();
    EXEC_KEEPING_FDS(real.execvp(file, argv));
}

HS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    real_ready();
    EXEC_KEEPING_FDS(real.execvpe(file, argv, envp));
}

HS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    real_ready();
    EXEC_KEEPING_FDS(real.fexecve(fd, argv, envp));
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
