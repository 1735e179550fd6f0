/* resume.c: the rest of a blocking write that the drain handler interrupted. See resume.h. */
#define _GNU_SOURCE
#include "resume.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>

#include "real.h"

__thread unsigned drain_interruptions __attribute__((tls_model("initial-exec")));

#define REST_IOV_MAX 64

/* Short, the drain handler ran in this thread meanwhile, and the fd blocks: the server asked for
 * the whole count and would have had it. */
static bool cut_by_drain(int fd, ssize_t sent, size_t wanted, unsigned mark, int flags)
{
    if (sent <= 0 || (size_t)sent >= wanted || drain_interruptions == mark || (flags & MSG_DONTWAIT))
        return false;
    int status = real.fcntl(fd, F_GETFL);
    return status >= 0 && !(status & O_NONBLOCK);
}

ssize_t resume_write(int fd, const void *buf, size_t wanted, ssize_t sent, unsigned mark)
{
    if (!cut_by_drain(fd, sent, wanted, mark, 0))
        return sent;
    int saved = errno;
    size_t done = (size_t)sent;
    ssize_t n;
    while (done < wanted && (n = real.write(fd, (const char *)buf + done, wanted - done)) > 0)
        done += (size_t)n;
    errno = saved; /* a failure now is one the kernel would have hidden behind the count too */
    return (ssize_t)done;
}

/* The part of `iov` after its first `done` bytes, in `rest` (at most REST_IOV_MAX entries). */
static int iov_after(const struct iovec *iov, int count, size_t done, struct iovec *rest)
{
    int n = 0;
    for (int i = 0; i < count && n < REST_IOV_MAX; i++) {
        if (done >= iov[i].iov_len) {
            done -= iov[i].iov_len;
            continue;
        }
        rest[n].iov_base = (char *)iov[i].iov_base + done;
        rest[n++].iov_len = iov[i].iov_len - done;
        done = 0;
    }
    return n;
}

static size_t iov_total(const struct iovec *iov, int count)
{
    size_t total = 0;
    for (int i = 0; iov && i < count; i++)
        total += iov[i].iov_len;
    return total;
}

ssize_t resume_writev(int fd, const struct iovec *iov, int count, ssize_t sent, unsigned mark)
{
    size_t wanted = iov_total(iov, count);
    if (!cut_by_drain(fd, sent, wanted, mark, 0))
        return sent;
    int saved = errno;
    size_t done = (size_t)sent;
    struct iovec rest[REST_IOV_MAX];
    ssize_t n;
    while (done < wanted && (n = real.writev(fd, rest, iov_after(iov, count, done, rest))) > 0)
        done += (size_t)n;
    errno = saved;
    return (ssize_t)done;
}

ssize_t resume_send(int fd, const void *buf, size_t wanted, int flags, ssize_t sent, unsigned mark)
{
    if (!cut_by_drain(fd, sent, wanted, mark, flags))
        return sent;
    int saved = errno;
    size_t done = (size_t)sent;
    ssize_t n;
    while (done < wanted && (n = real.send(fd, (const char *)buf + done, wanted - done, flags)) > 0)
        done += (size_t)n;
    errno = saved;
    return (ssize_t)done;
}

ssize_t resume_sendmsg(int fd, const struct msghdr *msg, int flags, ssize_t sent, unsigned mark)
{
    size_t wanted = msg ? iov_total(msg->msg_iov, (int)msg->msg_iovlen) : 0;
    if (!msg || !cut_by_drain(fd, sent, wanted, mark, flags))
        return sent;
    int saved = errno;
    size_t done = (size_t)sent;
    struct iovec rest[REST_IOV_MAX];
    struct msghdr more = {.msg_iov = rest}; /* no ancillary data: it went with the first bytes */
    ssize_t n;
    while (done < wanted) {
        more.msg_iovlen = (size_t)iov_after(msg->msg_iov, (int)msg->msg_iovlen, done, rest);
        if ((n = real.sendmsg(fd, &more, flags)) <= 0)
            break;
        done += (size_t)n;
    }
    errno = saved;
    return (ssize_t)done;
}

ssize_t resume_sendfile(int out, int in, off_t *offset, size_t count, ssize_t sent, unsigned mark)
{
    if (!cut_by_drain(out, sent, count, mark, 0))
        return sent;
    int saved = errno;
    size_t done = (size_t)sent;
    ssize_t n; /* the kernel moved *offset (or the file's position) past what it sent */
    while (done < count && (n = real.sendfile64(out, in, (void *)offset, count - done)) > 0)
        done += (size_t)n;
    errno = saved;
    return (ssize_t)done;
}
