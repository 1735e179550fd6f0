/* hooks_stream.c: the interposed read and write calls. On an accepted connection each one moves
 * the connection along its keep-alive cycle (conn.c); every other fd passes straight through, at
 * the cost of one byte load. The socket-specific ones (recv*, send*) are in hooks_dgram.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn.h"
#include "dgram.h"
#include "export.h"
#include "fdtable.h"
#include "real.h"
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
    real_ready();
    if (fd_kind(fd) != FD_CONN)
        return real.read(fd, buf, len);
    struct buffer_args args = {buf, len};
    return conn_receive(fd, 0, do_read, &args, buf);
}

/* _FORTIFY_SOURCE builds call this where the buffer size is known; glibc's own then calls an
 * internal read that no hook sees. */
HS_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    real_ready();
    if (len > buflen)
        return real.read_chk(fd, buf, len, buflen); /* glibc reports the overflow */
    return read(fd, buf, len);
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
    real_ready();
    if (fd_kind(fd) != FD_CONN)
        return real.readv(fd, iov, count);
    struct vector_args args = {iov, count};
    return conn_receive(fd, 0, do_readv, &args, count > 0 ? iov[0].iov_base : NULL);
}

HS_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    real_ready();
    if (fd_kind(fd) != FD_CONN) {
        if (fd_kind(fd) == FD_DGRAM_BOUND) /* a connected datagram client's first send */
            dgram_settle(fd, false);
        return real.write(fd, buf, len);
    }
    unsigned mark = resume_mark();
    ssize_t sent = resume_write(fd, buf, len, real.write(fd, buf, len), mark);
    struct iovec whole = {(void *)buf, len};
    conn_note_sent(fd, &whole, 1, sent);
    return sent;
}

HS_EXPORT ssize_t writev(int fd, const struct iovec *iov, int count)
{
    real_ready();
    if (fd_kind(fd) != FD_CONN)
        return real.writev(fd, iov, count);
    unsigned mark = resume_mark();
    ssize_t sent = resume_writev(fd, iov, count, real.writev(fd, iov, count), mark);
    conn_note_sent(fd, iov, count, sent);
    return sent;
}

/* The bytes of sendfile and splice never pass through the server's memory, nor the shim's: they
 * count inside a body (httpframe.c), and make anything else unknown. */
HS_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
    real_ready();
    if (fd_kind(out) != FD_CONN)
        return real.sendfile(out, in, offset, count);
    unsigned mark = resume_mark();
    ssize_t sent = resume_sendfile(out, in, offset, count, real.sendfile(out, in, offset, count), mark);
    conn_note_sent_unseen(out, sent);
    return sent;
}

HS_EXPORT ssize_t sendfile64(int out, int in, off64_t *offset, size_t count)
{
    real_ready();
    if (fd_kind(out) != FD_CONN)
        return real.sendfile64(out, in, (void *)offset, count);
    unsigned mark = resume_mark();
    ssize_t sent = resume_sendfile(out, in, (off_t *)offset, count,
                                   real.sendfile64(out, in, (void *)offset, count), mark);
    conn_note_sent_unseen(out, sent);
    return sent;
}

HS_EXPORT ssize_t splice(int in, loff_t *in_offset, int out, loff_t *out_offset, size_t len, unsigned int flags)
{
    real_ready();
    ssize_t moved = real.splice(in, (void *)in_offset, out, (void *)out_offset, len, flags);
    if (fd_kind(out) == FD_CONN)
        conn_note_sent_unseen(out, moved);
    return moved;
}
