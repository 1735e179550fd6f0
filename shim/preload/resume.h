/* resume.h: finishing a blocking write that the drain signal cut short.
 *
 * A signal handler that runs while a thread is inside a blocking write() on a socket makes the
 * kernel return the bytes written so far, even with SA_RESTART. A server that did not expect a
 * short count (many never resume one) would then cut its answer. The drain handler counts its
 * runs per thread; a write hook that sees the count change across a short blocking write writes
 * the rest itself, so the server sees what it would have seen without the drain. */
#ifndef HOTSWAP_RESUME_H
#define HOTSWAP_RESUME_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Runs of the drain handler in this thread so far (bumped by the handler). */
extern __thread unsigned drain_interruptions __attribute__((tls_model("initial-exec")));

static inline unsigned resume_mark(void)
{
    return drain_interruptions;
}

/* A write of `wanted` bytes that sent `sent` returns this: the whole count when the drain
 * interrupted it since `mark` and the fd blocks, else `sent` as it was. Each calls the real
 * function again for the rest. errno is the caller's when it returns `sent` unchanged. */
ssize_t resume_write(int fd, const void *buf, size_t wanted, ssize_t sent, unsigned mark);
ssize_t resume_writev(int fd, const struct iovec *iov, int count, ssize_t sent, unsigned mark);
ssize_t resume_send(int fd, const void *buf, size_t wanted, int flags, ssize_t sent, unsigned mark);
ssize_t resume_sendmsg(int fd, const struct msghdr *msg, int flags, ssize_t sent, unsigned mark);
ssize_t resume_sendfile(int out, int in, off_t *offset, size_t count, ssize_t sent, unsigned mark);

#endif
