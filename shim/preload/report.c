/* report.c: messages to the launcher. Every send is one sendmsg(2) of a fixed struct: atomic on
 * SEQPACKET, safe from a signal handler, and shared by all processes of a generation. */
#define _GNU_SOURCE
#include "env.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envparse.h"
#include "fdtable.h"
#include "mode.h"
#include "real.h"
#include "shimlog.h"

static atomic_int channel_fd = -1;
static pid_t main_pid; /* HOTSWAP_PID: the process the launcher started */
static atomic_bool active;
static atomic_bool dormant; /* the channel is held, unused (CHANNEL_DORMANT) */
static atomic_bool ready_sent;

bool report_active(void)
{
    return atomic_load_explicit(&active, memory_order_relaxed);
}

static bool channel_fd_valid(int fd)
{
    int domain, type;
    socklen_t len = sizeof domain;
    if (real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        return false;
    len = sizeof type;
    if (real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return false;
    return domain == AF_UNIX && type == SOCK_SEQPACKET;
}

static bool send_with_fd(enum hs_msg_type type, int fd, int64_t value, int64_t datagrams, int passed_fd)
{
    if (!report_active())
        return false;
    int saved = errno;
    struct hs_msg msg = {
        .magic = HS_MAGIC,
        .protocol = HS_PROTOCOL,
        .type = type,
        .pid = getpid(),
        .fd = fd,
        .value = value,
        .datagrams = datagrams,
    };
    struct iovec iov = {.iov_base = &msg, .iov_len = sizeof msg};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1};
    if (passed_fd >= 0) {
        memset(&control, 0, sizeof control);
        header.msg_control = control.buf;
        header.msg_controllen = sizeof control.buf;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &passed_fd, sizeof(int));
    }
    /* Never waits: a launcher that stops reading (SIGSTOP, a full stderr) must not stop the
     * server. A message it has no room for is dropped; what the kernel shows covers it (a count
     * is superseded by the next, a fork is seen in the process tree), and READY is sent again. */
    ssize_t sent;
    do
        sent = real.sendmsg(channel_fd, &header, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
        errno = saved;
        return false;
    }
    /* Under the launcher that is news; standalone, the predecessor has simply finished. */
    if (sent < 0 && atomic_exchange(&active, false) && shim_mode == MODE_SUPERVISED)
        shim_say("the launcher is gone (channel closed): its drains will not be counted", NULL);
    errno = saved;
    return sent >= 0;
}

bool report_pass(enum hs_msg_type type, int fd, int64_t value, int passed_fd)
{
    return send_with_fd(type, fd, value, 0, passed_fd);
}

void report_send(enum hs_msg_type type, int fd, int64_t value)
{
    send_with_fd(type, fd, value, 0, -1);
}

bool report_counts(enum hs_msg_type type, int64_t conns, int64_t datagrams)
{
    return send_with_fd(type, -1, conns, datagrams, -1);
}

void report_listener(int fd)
{
    send_with_fd(HS_MSG_LISTENER, fd, 0, 0, fd);
}

void report_private_listener(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0)
        send_with_fd(HS_MSG_PRIVATE, fd, (int64_t)st.st_ino, 0, -1);
}

bool report_ready_done(void)
{
    return atomic_load_explicit(&ready_sent, memory_order_relaxed);
}

void report_ready(int listener)
{
    if (atomic_load_explicit(&ready_sent, memory_order_relaxed) || atomic_exchange(&ready_sent, true))
        return;
    if (report_dormant())
        shim_take_part(); /* an exec'd worker's first wait on a listener it was handed */
    if (!send_with_fd(HS_MSG_READY, listener, 0, 0, -1) && report_active())
        atomic_store(&ready_sent, false); /* no room now: the next wait for a connection says it */
}

int report_channel_fd(void)
{
    return report_active() ? atomic_load(&channel_fd) : -1;
}

void report_moved(int from, int to)
{
    atomic_compare_exchange_strong(&channel_fd, &from, to);
}

/* The channel crosses an exec by any process of the generation under the launcher: a program
 * the started process execs is the server itself; one another process execs may be a worker
 * the server hands connections to (it keeps the channel dormant until it receives one). */
void report_keep_across_exec(bool keep)
{
    int fd = atomic_load(&channel_fd);
    if (!report_active() || fd < 0 || (getpid() != main_pid && shim_mode != MODE_SUPERVISED))
        return;
    int flags = real.fcntl(fd, F_GETFD);
    if (flags >= 0)
        real.fcntl(fd, F_SETFD, keep ? (flags & ~FD_CLOEXEC) : (flags | FD_CLOEXEC));
}

void report_after_fork(void)
{
    atomic_store(&ready_sent, false);
    report_send(HS_MSG_HELLO, -1, getppid());
}

enum channel_status report_open(void)
{
    const char *text = getenv(HS_ENV_CHANNEL_FD);
    long fd, pid;
    if (env_parse_count(getenv(HS_ENV_PID), INT_MAX, &pid))
        main_pid = (pid_t)pid;
    if (!text)
        return CHANNEL_UNSET;
    if (!env_parse_count(text, INT_MAX, &fd) || !channel_fd_valid((int)fd))
        return CHANNEL_BAD;
    channel_fd = (int)fd;
    fd_set_kind((int)fd, FD_CHANNEL);
    /* Nothing a program execs inherits it unless the exec hooks say so (report_keep_across_exec). */
    int flags = real.fcntl((int)fd, F_GETFD);
    if (flags >= 0)
        real.fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
    if (report_in_descendant()) {
        atomic_store(&dormant, true);
        return CHANNEL_DORMANT;
    }
    atomic_store(&active, true);
    return CHANNEL_OK;
}

bool report_dormant(void)
{
    return atomic_load_explicit(&dormant, memory_order_relaxed);
}

bool report_wake(void)
{
    if (!report_dormant())
        return false;
    atomic_store(&active, true); /* first: a second thread waking it finds it active */
    return atomic_exchange(&dormant, false);
}

bool report_in_descendant(void)
{
    long pid;
    if (!main_pid && env_parse_count(getenv(HS_ENV_PID), INT_MAX, &pid))
        main_pid = (pid_t)pid; /* asked before report_open(), by mode.c */
    return main_pid && main_pid != getpid();
}

void report_hello(void)
{
    report_send(HS_MSG_HELLO, -1, getppid());
}

void report_lock_failed(int fd)
{
    struct stat st;
    if (report_active() && fstat(fd, &st) == 0 && st.st_ino > 0)
        send_with_fd(HS_MSG_LOCK_FAILED, fd, (int64_t)st.st_ino, (int64_t)st.st_dev, -1);
}

/* A server that reads thousands of files at start says so for the first ones only. */
#define READ_OPENED_REPORTS_MAX 64

void report_read_opened(int fd)
{
    static _Atomic int reported;
    struct stat st;
    if (atomic_load_explicit(&reported, memory_order_relaxed) >= READ_OPENED_REPORTS_MAX)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_ino > 0 &&
        atomic_fetch_add_explicit(&reported, 1, memory_order_relaxed) < READ_OPENED_REPORTS_MAX)
        send_with_fd(HS_MSG_READ_OPENED, fd, (int64_t)st.st_ino, (int64_t)st.st_dev, -1);
}
