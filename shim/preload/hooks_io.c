/* hooks_io.c: the interposed reads and writes: read, readv, write, writev, sendfile, splice, and the
 * socket ones, recv* and send*. On an accepted connection each one moves the connection along its
 * keep-alive cycle (conn.c); a datagram socket of ours (a UDP server's bound socket) goes through
 * dgram.c; every other fd passes straight through, at the cost of one byte load. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "closemark.h"
#include "conn.h"
#include "dgram.h"
#include "export.h"
#include "fdtable.h"
#include "real.h"
#include "received.h"
#include "report.h"
#include "resume.h"

struct buffer_args {
    void *buf;
    size_t len;
};

/* The receive functions take MSG_DONTWAIT: handover.c reads without blocking between answers. */
static ssize_t do_read(int fd, void *ctx, int flags)
{
    struct buffer_args *a = ctx;
    if (flags & MSG_DONTWAIT)
        return real.recv(fd, a->buf, a->len, flags);
    return real.read(fd, a->buf, a->len);
}

HS_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    if (fd_kind(fd) != FD_CONN)
        return real.read(fd, buf, len);
    struct buffer_args args = {buf, len};
    return conn_receive(fd, 0, do_read, &args, buf);
}

/* _FORTIFY_SOURCE builds call this where the buffer size is known; glibc's own then calls an
 * internal read that no hook sees. */
HS_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        return real.read_chk(fd, buf, len, buflen); /* glibc reports the overflow */
    return read(fd, buf, len);                      /* hook wanted: the checked call is the plain one */
}

struct vector_args {
    const struct iovec *iov;
    int count;
};

static ssize_t do_readv(int fd, void *ctx, int flags)
{
    struct vector_args *a = ctx;
    if (flags & MSG_DONTWAIT) {
        struct msghdr msg = {.msg_iov = (struct iovec *)a->iov, .msg_iovlen = (size_t)a->count};
        return real.recvmsg(fd, &msg, flags);
    }
    return real.readv(fd, a->iov, a->count);
}

HS_EXPORT ssize_t readv(int fd, const struct iovec *iov, int count)
{
    if (fd_kind(fd) != FD_CONN)
        return real.readv(fd, iov, count);
    struct vector_args args = {iov, count};
    return conn_receive(fd, 0, do_readv, &args, count > 0 ? iov[0].iov_base : NULL);
}

HS_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    if (fd_kind(fd) != FD_CONN) {
        if (fd_kind(fd) == FD_DGRAM_BOUND) /* a connected datagram client's first send */
            dgram_settle(fd, false);
        return real.write(fd, buf, len);
    }
    struct iovec whole = {(void *)buf, len};
    ssize_t sent;
    if (!closemark_maybe() || !closemark_write(fd, &whole, 1, -1, &sent)) {
        unsigned mark = resume_mark();
        sent = resume_write(fd, buf, len, real.write(fd, buf, len), mark);
    }
    conn_note_sent(fd, &whole, 1, sent);
    return sent;
}

HS_EXPORT ssize_t writev(int fd, const struct iovec *iov, int count)
{
    if (fd_kind(fd) != FD_CONN)
        return real.writev(fd, iov, count);
    ssize_t sent;
    if (!closemark_maybe() || !closemark_write(fd, iov, count, -1, &sent)) {
        unsigned mark = resume_mark();
        sent = resume_writev(fd, iov, count, real.writev(fd, iov, count), mark);
    }
    conn_note_sent(fd, iov, count, sent);
    return sent;
}

/* The bytes of sendfile and splice never pass through the server's memory, nor the shim's: they
 * count inside a body (httpframe.c), and make anything else unknown. */
HS_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
    if (fd_kind(out) != FD_CONN)
        return real.sendfile(out, in, offset, count);
    unsigned mark = resume_mark();
    ssize_t sent = resume_sendfile(out, in, offset, count, real.sendfile(out, in, offset, count), mark);
    conn_note_sent_unseen(out, sent);
    return sent;
}

HS_EXPORT ssize_t sendfile64(int out, int in, off64_t *offset, size_t count)
{
    if (fd_kind(out) != FD_CONN)
        return real.sendfile64(out, in, (void *)offset, count);
    unsigned mark = resume_mark();
    ssize_t sent =
        resume_sendfile(out, in, (off_t *)offset, count, real.sendfile64(out, in, (void *)offset, count), mark);
    conn_note_sent_unseen(out, sent);
    return sent;
}

HS_EXPORT ssize_t splice(int in, loff_t *in_offset, int out, loff_t *out_offset, size_t len, unsigned int flags)
{
    ssize_t moved = real.splice(in, (void *)in_offset, out, (void *)out_offset, len, flags);
    if (fd_kind(out) == FD_CONN)
        conn_note_sent_unseen(out, moved);
    return moved;
}

/* ---- receiving and sending on sockets ------------------------------------------------------ */

static inline int is_ours(int fd)
{
    enum fd_kind kind = fd_kind(fd);
    if (kind == FD_DGRAM_BOUND) /* its first use, a receive: a server's */
        kind = dgram_settle(fd, true);
    return kind == FD_DGRAM || kind == FD_DGRAM_DRAINED;
}

/* A send on fd: the first use of a bound datagram socket, a send, makes it a client's. */
static inline void sending_on(int fd)
{
    if (fd_kind(fd) == FD_DGRAM_BOUND)
        dgram_settle(fd, false);
}

struct recvfrom_args {
    void *buf;
    size_t len;
    struct sockaddr *addr;
    socklen_t *addrlen;
};

static ssize_t do_recvfrom(int fd, void *ctx, int flags)
{
    struct recvfrom_args *a = ctx;
    return real.recvfrom(fd, a->buf, a->len, flags, a->addr, a->addrlen);
}

static ssize_t do_recvmsg(int fd, void *ctx, int flags)
{
    return real.recvmsg(fd, ctx, flags);
}

struct recvmmsg_args {
    struct mmsghdr *vec;
    unsigned int count;
    struct timespec *timeout;
};

static ssize_t do_recvmmsg(int fd, void *ctx, int flags)
{
    struct recvmmsg_args *a = ctx;
    return real.recvmmsg(fd, a->vec, a->count, flags, a->timeout);
}

HS_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *addrlen)
{
    struct recvfrom_args args = {buf, len, addr, addrlen};
    if (fd_kind(fd) == FD_CONN)
        return conn_receive(fd, flags, do_recvfrom, &args, buf);
    if (!is_ours(fd))
        return real.recvfrom(fd, buf, len, flags, addr, addrlen);
    report_ready(fd);
    return dgram_receive(fd, flags, do_recvfrom, &args, false);
}

HS_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct recvfrom_args args = {buf, len, NULL, NULL};
    if (fd_kind(fd) == FD_CONN)
        return conn_receive(fd, flags, do_recvfrom, &args, buf);
    if (!is_ours(fd))
        return real.recv(fd, buf, len, flags);
    report_ready(fd);
    return dgram_receive(fd, flags, do_recvfrom, &args, false);
}

/* _FORTIFY_SOURCE builds call these where the buffer size is known; glibc's own then receive
 * through an internal call that no hook sees. */
HS_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        return real.recv_chk(fd, buf, len, buflen, flags); /* glibc reports the overflow */
    return recv(fd, buf, len, flags);                      /* hook wanted: the checked call is the plain one */
}

HS_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *addr,
                                 socklen_t *addrlen)
{
    if (len > buflen)
        return real.recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen);
    return recvfrom(fd, buf, len, flags, addr, addrlen); /* hook wanted: as above */
}

static ssize_t receive_message(int fd, struct msghdr *msg, int flags)
{
    if (fd_kind(fd) == FD_CONN)
        return conn_receive(fd, flags, do_recvmsg, msg, msg && msg->msg_iovlen > 0 ? msg->msg_iov[0].iov_base : NULL);
    if (!is_ours(fd))
        return real.recvmsg(fd, msg, flags);
    report_ready(fd);
    return dgram_receive(fd, flags, do_recvmsg, msg, false);
}

/* A message that carried control data may have handed this process connections (received.h);
 * one without costs a test of msg_controllen, which the kernel sets to what arrived. */
HS_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t got = receive_message(fd, msg, flags);
    if (got >= 0 && msg && msg->msg_controllen)
        received_note(msg);
    return got;
}

static int receive_messages(int fd, struct mmsghdr *vec, unsigned int count, int flags, struct timespec *timeout)
{
    if (!is_ours(fd))
        return real.recvmmsg(fd, vec, count, flags, timeout);
    report_ready(fd);
    struct recvmmsg_args args = {vec, count, timeout};
    return (int)dgram_receive(fd, flags, do_recvmmsg, &args, true);
}

HS_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int count, int flags, struct timespec *timeout)
{
    int got = receive_messages(fd, vec, count, flags, timeout);
    for (int i = 0; i < got; i++)
        if (vec[i].msg_hdr.msg_controllen)
            received_note(&vec[i].msg_hdr);
    return got;
}

/* Sends pass through; on our datagram sockets each one answers a request. */
static void note_sent(int fd, long count)
{
    if (count > 0 && is_ours(fd)) {
        int saved = errno;
        dgram_sent(count);
        errno = saved;
    }
}

HS_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t addrlen)
{
    if (fd_kind(fd) != FD_CONN) {
        sending_on(fd);
        ssize_t sent = real.sendto(fd, buf, len, flags, addr, addrlen);
        note_sent(fd, sent >= 0);
        return sent;
    }
    struct iovec whole = {(void *)buf, len};
    ssize_t sent;
    if (!closemark_maybe() || !closemark_write(fd, &whole, 1, flags, &sent)) {
        unsigned mark = resume_mark();
        sent = resume_send(fd, buf, len, flags, real.sendto(fd, buf, len, flags, addr, addrlen), mark);
    }
    conn_note_sent(fd, &whole, 1, sent);
    return sent;
}

HS_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    if (fd_kind(fd) != FD_CONN) {
        sending_on(fd);
        ssize_t sent = real.send(fd, buf, len, flags);
        note_sent(fd, sent >= 0);
        return sent;
    }
    struct iovec whole = {(void *)buf, len};
    ssize_t sent;
    if (!closemark_maybe() || !closemark_write(fd, &whole, 1, flags, &sent)) {
        unsigned mark = resume_mark();
        sent = resume_send(fd, buf, len, flags, real.send(fd, buf, len, flags), mark);
    }
    conn_note_sent(fd, &whole, 1, sent);
    return sent;
}

HS_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (fd_kind(fd) != FD_CONN || !msg) {
        sending_on(fd);
        ssize_t sent = real.sendmsg(fd, msg, flags);
        note_sent(fd, sent >= 0);
        return sent;
    }
    ssize_t sent;
    /* ancillary data (fds, credentials) rides with the first byte: such a send is not rewritten */
    if (!closemark_maybe() || msg->msg_controllen ||
        !closemark_write(fd, msg->msg_iov, (int)msg->msg_iovlen, flags, &sent)) {
        unsigned mark = resume_mark();
        sent = resume_sendmsg(fd, msg, flags, real.sendmsg(fd, msg, flags), mark);
    }
    conn_note_sent(fd, msg->msg_iov, (int)msg->msg_iovlen, sent);
    return sent;
}

HS_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int count, int flags)
{
    sending_on(fd);
    int sent = real.sendmmsg(fd, vec, count, flags);
    note_sent(fd, sent);
    return sent;
}
