/* closemark.h: in a drain, the next answer head on a keep-alive HTTP/1.x connection says
 * "Connection: close", so its client closes after that answer and never races a close with its
 * next request. Only a whole head written in one call is marked, only when the send buffer has
 * room for it; the server always gets back counts of its own bytes. */
#ifndef HOTSWAP_CLOSEMARK_H
#define HOTSWAP_CLOSEMARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Set when this process's drain begins, never cleared: the write hooks look at nothing else of
 * this file before it (no cost outside a drain). */
extern atomic_bool closemark_armed;

static inline bool closemark_maybe(void)
{
    return atomic_load_explicit(&closemark_armed, memory_order_relaxed);
}

/* The drain began (in the signal handler). */
void closemark_arm(void);

/* accept() returned `fd`: nothing owed on it. */
void closemark_reset(int fd);

/* A write of `iov` on connection `fd` (`flags`: a send's, sent with sendmsg; -1: a write, sent
 * with writev). True if it wrote it, rewriting the answer head or finishing one rewritten
 * before: `*sent` is then the count of the server's own bytes that went out (or -1, errno
 * set), to be returned as is. False: nothing was written, the caller writes as usual. */
bool closemark_write(int fd, const struct iovec *iov, int count, int flags, ssize_t *sent);

/* What the drain made of the last answer head written on `fd`. */
enum closemark_verdict {
    CLOSEMARK_UNDECIDED = 0, /* none written in the drain yet (or a 1xx so far) */
    CLOSEMARK_SAID_CLOSE,    /* it says close: rewritten, or the server's own */
    CLOSEMARK_REFUSED,       /* a head the shim would not rewrite (split over writes, ...) */
};
enum closemark_verdict closemark_verdict(int fd);

#endif
