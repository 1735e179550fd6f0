/* standalone.c: the upgrade, driven from signal handlers only (no thread of ours in the server):
 * the trigger handler starts the new process; the channel to it raises the same signal
 * (F_SETSIG) when the new process speaks, and that handler reads READY and starts the drain.
 * Everything in the handlers is a syscall, an atomic, or formatting into static memory. */
#define _GNU_SOURCE
#include "standalone.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel.h"
#include "drainstate.h"
#include "env.h"
#include "envparse.h"
#include "fdtable.h"
#include "mode.h"
#include "real.h"
#include "report.h"
#include "shimlog.h"

#define ARGV_MAX 1024
#define CMDLINE_MAX 65536
#define ENV_MAX 4096
#define CHILDREN_MAX 256

enum upgrade_state { UPGRADE_IDLE, UPGRADE_STARTING, UPGRADE_DONE };

static int trigger_signo, stop_signo = SIGTERM;
static atomic_int upgrade_state;
static int channel = -1; /* our end of the socket to the new process */
static pid_t new_pid;
static long generation; /* HOTSWAP_GENERATION of this process (0 if unset) */
static char exe_path[PATH_MAX];
static char cmdline[CMDLINE_MAX];
static char *argv_saved[ARGV_MAX];
static char pidfile[PATH_MAX];
static atomic_int children[CHILDREN_MAX];
static atomic_bool stop_sent;
static pid_t owner_pid; /* the process that takes the trigger (not its forked workers) */

/* ---- small async-signal-safe helpers ------------------------------------------------------ */

static char *format_long(char *out, long value)
{
    char digits[24];
    int n = 0;
    unsigned long v = value < 0 ? (unsigned long)-value : (unsigned long)value;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (value < 0)
        *out++ = '-';
    while (n)
        *out++ = digits[--n];
    *out = '\0';
    return out;
}

/* "NAME=" + number into `buf`. */
static char *env_number(char *buf, const char *name, long value)
{
    size_t len = strlen(name);
    memcpy(buf, name, len);
    buf[len] = '=';
    format_long(buf + len + 1, value);
    return buf;
}

static bool env_is(const char *entry, const char *name)
{
    size_t len = strlen(name);
    return strncmp(entry, name, len) == 0 && entry[len] == '=';
}

/* ---- init ---------------------------------------------------------------------------------- */

static void write_pidfile(pid_t pid);

bool standalone_eligible(void)
{
    long pid;
    const char *owner = getenv(HS_ENV_STANDALONE_PID);
    return !owner || (env_parse_count(owner, INT_MAX, &pid) && pid == getpid());
}

static void read_cmdline(void)
{
    int fd = real.open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    ssize_t total = 0, n;
    while (total < CMDLINE_MAX - 1 && (n = real.read(fd, cmdline + total, CMDLINE_MAX - 1 - (size_t)total)) > 0)
        total += n;
    real.close(fd);
    int argc = 0;
    for (ssize_t at = 0; at < total && argc < ARGV_MAX - 1; at += (ssize_t)strlen(cmdline + at) + 1)
        argv_saved[argc++] = cmdline + at;
    argv_saved[argc] = NULL;
}

static int signal_from_env(const char *name, int fallback)
{
    const char *text = getenv(name);
    if (!text)
        return fallback;
    int sig = env_parse_signal(text, SIGRTMAX);
    if (sig < 0) {
        shim_say(name, "=", text,
                 " is not a usable signal number (not KILL, STOP, PIPE, CHLD, SEGV...): using the default", NULL);
        return fallback;
    }
    return sig;
}

/* Writes `pid` to a temporary file and renames it over the pidfile, so a reader never sees a
 * half-written pid. Async-signal-safe: the predecessor writes its successor's pid from the
 * handler that learns it is ready. The temporary file's name is predictable, so it is created,
 * never opened: O_EXCL and O_NOFOLLOW, so a symlink planted there cannot make a root server
 * write through it (a leftover is removed, not followed, and the create tried once more); the
 * rename replaces the pidfile's name, never a file a symlink there points to. */
static void write_pidfile(pid_t pid)
{
    if (!pidfile[0])
        return;
    static char tmp[PATH_MAX + 32];
    size_t len = strlen(pidfile);
    memcpy(tmp, pidfile, len);
    tmp[len] = '.';
    format_long(tmp + len + 1, pid);
    char text[32];
    char *end = format_long(text, pid);
    *end++ = '\n';
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = real.open(tmp, flags, 0644);
    if (fd < 0 && errno == EEXIST && real.unlink(tmp) == 0)
        fd = real.open(tmp, flags, 0644);
    if (fd < 0)
        return;
    ssize_t written = real.write(fd, text, (size_t)(end - text));
    real.close(fd);
    if (written == end - text)
        rename(tmp, pidfile);
    else
        real.unlink(tmp);
}

static void on_trigger(int signo, siginfo_t *info, void *context);

void standalone_init(void)
{
    trigger_signo = signal_from_env(HS_ENV_TRIGGER_SIGNAL, SIGHUP);
    stop_signo = signal_from_env(HS_ENV_STOP_SIGNAL, SIGTERM);
    long value;
    if (env_parse_count(getenv(HS_ENV_GENERATION), INT_MAX, &value))
        generation = value;
    const char *path = getenv(HS_ENV_PIDFILE);
    if (path && strlen(path) < sizeof pidfile)
        strcpy(pidfile, path);
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = '\0';
    read_cmdline();
    owner_pid = getpid();
    char pid_text[24];
    format_long(pid_text, getpid());
    setenv(HS_ENV_STANDALONE_PID, pid_text, 1);
    if (!getenv(HS_ENV_STANDALONE))
        write_pidfile(getpid()); /* an upgraded process's pid is written by its predecessor */

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_trigger;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    real.sigaction(trigger_signo, &action, NULL);
    sigset_t just_trigger;
    sigemptyset(&just_trigger);
    sigaddset(&just_trigger, trigger_signo);
    real.sigprocmask(SIG_UNBLOCK, &just_trigger, NULL);
    if (!getenv(HS_ENV_STANDALONE)) {
        char sig_text[24];
        format_long(sig_text, trigger_signo);
        shim_say("standalone: signal ", sig_text, " to pid ", pid_text,
                 " starts a new generation of it (HOTSWAP_TRIGGER_SIGNAL changes the signal)", NULL);
    }
}

int standalone_trigger_signal(void)
{
    return shim_mode == MODE_STANDALONE ? trigger_signo : 0;
}

/* ---- starting the new process (in the trigger handler) -------------------------------------- */

/* In the new process: closes every fd from `first` up. close_range where the kernel has it (5.9),
 * else one close per possible fd up to the limit. */
static void close_from(int first)
{
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0)
        return;
    struct rlimit limit;
    if (syscall(SYS_getrlimit, RLIMIT_NOFILE, &limit) < 0)
        return;
    for (rlim_t fd = (rlim_t)first; fd < limit.rlim_cur && fd <= INT_MAX; fd++)
        syscall(SYS_close, (int)fd);
}

/* In the new process, before exec: only syscalls, on memory that is now our own copy. Only the
 * handed-over fds cross the exec, on 3.. (a connection from a plain accept(), not close-on-exec,
 * would otherwise stay open in the new program forever); 0, 1 and 2 stay as they are. */
__attribute__((no_sanitize_address)) static void __attribute__((noreturn)) exec_new_generation(int their_end)
{
    static char *envp[ENV_MAX];
    static char listen_fds[48], channel_fd[48], hs_pid[48], owner[48], gen[48];
    int high = atomic_load(&fd_high_water), count = 0;
    int sources[64];
    for (int fd = fd_walk_from(0); fd >= 0 && fd <= high && count < 63; fd = fd_walk_from(fd + 1)) {
        enum fd_kind kind = fd_kind(fd);
        if (kind == FD_LISTENER || kind == FD_DGRAM)
            sources[count++] = fd;
    }
    sources[count] = their_end;
    /* Staged just above their targets 3..3+count (so no copy lands on a target), however low the
     * fd limit: the lowest free numbers there. A fixed floor failed at systemd's 1024. */
    int staged[64];
    for (int i = 0; i <= count; i++)
        if ((staged[i] = real.fcntl(sources[i], F_DUPFD_CLOEXEC, 3 + count + 1)) < 0) {
            shim_say("upgrade: cannot move the listeners in the new process (fd limit?): it exits", NULL);
            _exit(127);
        }
    for (int i = 0; i <= count; i++)
        if (real.dup2(staged[i], 3 + i) < 0) {
            shim_say("upgrade: cannot move the listeners in the new process: it exits", NULL);
            _exit(127);
        }
    close_from(3 + count + 1);

    long pid = syscall(SYS_getpid);
    int n = 0;
    extern char **environ;
    for (char **e = environ; e && *e && n < ENV_MAX - 8; e++)
        if (!env_is(*e, "LISTEN_FDS") && !env_is(*e, "LISTEN_PID") && !env_is(*e, "LISTEN_FDNAMES") &&
            !env_is(*e, HS_ENV_LISTEN_FDS) && !env_is(*e, HS_ENV_CHANNEL_FD) && !env_is(*e, HS_ENV_PID) &&
            !env_is(*e, HS_ENV_GENERATION) && !env_is(*e, HS_ENV_STANDALONE_PID) && !env_is(*e, HS_ENV_STANDALONE))
            envp[n++] = *e;
    /* The hand-over's own names, never systemd's: a server that reads LISTEN_FDS would adopt
     * the listeners with its own defaults instead of binding them. */
    envp[n++] = env_number(listen_fds, HS_ENV_LISTEN_FDS, count);
    envp[n++] = env_number(channel_fd, HS_ENV_CHANNEL_FD, 3 + count);
    envp[n++] = env_number(hs_pid, HS_ENV_PID, pid);
    envp[n++] = env_number(owner, HS_ENV_STANDALONE_PID, pid);
    envp[n++] = env_number(gen, HS_ENV_GENERATION, generation + 1);
    envp[n++] = HS_ENV_STANDALONE "=1";
    envp[n] = NULL;

    sigset_t none;
    sigemptyset(&none);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(long)); /* the handler blocked all */
    real.execve(exe_path, argv_saved, envp);
    shim_say("upgrade: cannot execute the binary again: exec failed", NULL);
    _exit(127);
}

/* The new process is our parent's child, not ours (CLONE_PARENT): the server never reaps a
 * process it did not start, and a service manager sees the new main process as its own. */
static void read_channel(void);

static pid_t clone_sibling(void)
{
    long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
    if (pid < 0 && errno == EINVAL) /* we are init: a plain child then */
        pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    return (pid_t)pid;
}

/* No AddressSanitizer here: before the noreturn call into the new process it would read this
 * thread's stack bounds with pthread_getattr_np(), which fails in a process made by a raw clone()
 * from a thread other than the main one (seen as "CHECK failed" in the ASan build only). */
__attribute__((no_sanitize_address)) static void start_upgrade(void)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        shim_say("upgrade: cannot create the channel to the new process", NULL);
        return;
    }
    /* The new process's messages arrive as the trigger signal itself, armed only once its pid is
     * known: another thread of a threaded server could take a READY sent before that. */
    real.fcntl(pair[0], F_SETOWN, getpid());
    real.fcntl(pair[0], F_SETSIG, trigger_signo);
    real.fcntl(pair[0], F_SETFL, O_NONBLOCK);
    atomic_store(&upgrade_state, UPGRADE_STARTING);
    channel = pair[0];
    pid_t pid = clone_sibling();
    if (pid == 0)
        exec_new_generation(pair[1]);
    real.close(pair[1]);
    if (pid < 0) {
        shim_say("upgrade: cannot start a new process", NULL);
        real.close(pair[0]);
        channel = -1;
        atomic_store(&upgrade_state, UPGRADE_IDLE);
        return;
    }
    new_pid = pid;
    char text[24];
    format_long(text, pid);
    shim_say("upgrade: started pid ", text, "; this process serves until it is ready", NULL);
    real.fcntl(pair[0], F_SETFL, O_ASYNC | O_NONBLOCK);
    read_channel(); /* what it said before the signal was armed */
}

/* ---- the new process speaks ---------------------------------------------------------------- */

static void tell_service_manager(pid_t pid)
{
    const char *path = getenv("NOTIFY_SOCKET"); /* read once at start would be better; getenv is a plain read */
    if (!path || (path[0] != '/' && path[0] != '@'))
        return;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof addr.sun_path)
        return;
    memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0';
    char message[96] = "MAINPID=";
    char *end = format_long(message + strlen(message), pid);
    strcpy(end, "\nREADY=1\n");
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    real.sendto(fd, message, strlen(message), MSG_NOSIGNAL, (struct sockaddr *)&addr,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    real.close(fd);
}

static void finish_channel(void)
{
    real.fcntl(channel, F_SETFL, O_NONBLOCK); /* no more signals from it */
    real.close(channel);
    channel = -1;
}

static void upgrade_failed(void)
{
    finish_channel();
    atomic_store(&upgrade_state, UPGRADE_IDLE);
    shim_say("upgrade failed: the new process exited before it was ready; this one keeps serving", NULL);
}

static void drain_children(void)
{
    for (int i = 0; i < CHILDREN_MAX; i++) {
        int pid = atomic_load(&children[i]);
        if (pid > 0)
            real.kill(pid, drain_signal());
    }
}

static void upgrade_ready(void)
{
    finish_channel();
    atomic_store(&upgrade_state, UPGRADE_DONE);
    char text[24];
    format_long(text, new_pid);
    shim_say("upgrade: pid ", text, " is ready; draining", NULL);
    write_pidfile(new_pid);
    tell_service_manager(new_pid);
    drain_children();
    real.kill(getpid(), drain_signal()); /* the same drain as under the launcher, in this process */
}

static void read_channel(void)
{
    for (;;) {
        struct hs_msg msg;
        char raw[sizeof msg];
        ssize_t n = real.recv(channel, raw, sizeof raw, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            upgrade_failed();
            return;
        }
        if (n < 0)
            return;
        if (hs_msg_decode(raw, (size_t)n, &msg) == 0 && msg.type == HS_MSG_READY) {
            upgrade_ready();
            return;
        }
    }
}

static void on_trigger(int signo, siginfo_t *info, void *context)
{
    (void)signo;
    (void)context;
    int saved = errno;
    /* F_SETSIG deliveries carry a SIGPOLL code; kill/sigqueue/tgkill carry SI_USER and kin */
    bool from_channel = info && info->si_code >= POLL_IN && info->si_code <= POLL_HUP;
    int state = atomic_load(&upgrade_state);
    if (getpid() != owner_pid) {
        errno = saved;
        return; /* a worker: upgrades are the main process's */
    }
    if (state == UPGRADE_STARTING)
        read_channel();
    else if (!from_channel && state == UPGRADE_IDLE)
        start_upgrade();
    else if (!from_channel)
        shim_say("upgrade: already done; signal the new process", NULL);
    errno = saved;
}

/* ---- after the upgrade ------------------------------------------------------------------------ */

void standalone_note_child(pid_t child)
{
    if (shim_mode != MODE_STANDALONE)
        return;
    for (int i = 0; i < CHILDREN_MAX; i++) {
        int pid = atomic_load(&children[i]);
        if (pid <= 0 || real.kill(pid, 0) < 0) { /* free, or a child long gone */
            atomic_store(&children[i], child);
            return;
        }
    }
}

void standalone_after_fork(void)
{
    for (int i = 0; i < CHILDREN_MAX; i++)
        atomic_store(&children[i], 0);
    atomic_store(&upgrade_state, UPGRADE_IDLE);
    channel = -1;
}

void standalone_note_drained(long left)
{
    if (shim_mode == MODE_STANDALONE && left == 0 && drain_begun() && !atomic_exchange(&stop_sent, true))
        real.kill(getpid(), stop_signo);
}
