/* acceptwait.c: a thread in accept() on a drained listener waits the way the kernel's accept()
 * would, on a listener of the shim's own that no client can reach (docs/design.md, "Drain"). */
#define _GNU_SOURCE
#include "acceptwait.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "fdtable.h"
#include "real.h"

/* A listening Unix socket with an autobound abstract name nobody knows: never readable, so
 * poll/select/epoll never fire for it. The drain's dummy is nonblocking, so a thread woken out of
 * accept() comes back to the shim (EAGAIN) and stops counting as a connection in flight; the
 * shim's own wait below is blocking. */
int acceptwait_unreachable_listener(int flags)
{
    int dummy = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (dummy < 0)
        return -1;
    struct sockaddr autobind = {.sa_family = AF_UNIX};
    if (real.bind(dummy, &autobind, sizeof(sa_family_t)) < 0 || real.listen(dummy, 1) < 0) {
        real.close(dummy);
        return -1;
    }
    return dummy;
}

/* The server waits for its listeners with epoll, poll or select, then accepts: an event loop. */
static atomic_bool event_loop;

void acceptwait_note_event_loop(void)
{
    if (!atomic_load_explicit(&event_loop, memory_order_relaxed))
        atomic_store(&event_loop, true);
}

int wait_for_a_signal(void)
{
    real.poll(NULL, 0, -1); /* returns only when a handler has run: EINTR */
    return -1;
}

/* Where a thread blocked in accept() on a drained listener waits: a listener of the shim's own
 * that no client can reach, blocking, shared by every such thread, protected from the server's
 * close loops like the channel. Made at the first such wait; a re-arm shuts it down (ending every
 * accept in it) and the next wait makes another. */
static atomic_int nobody_listener = -1;

static int nobody_listener_get(void)
{
    int fd = atomic_load(&nobody_listener);
    if (fd >= 0)
        return fd;
    int made = acceptwait_unreachable_listener(0);
    if (made < 0)
        return -1;
    fd_set_kind(made, FD_CHANNEL);
    if (!atomic_compare_exchange_strong(&nobody_listener, &fd, made)) {
        fd_set_kind(made, FD_OTHER);
        real.close(made);
        return fd;
    }
    return made;
}

/* A re-arm: every thread waiting in nobody_listener comes back (its accept fails) to find the
 * listener on its number again. The shut-down socket is not closed: a thread may be about to
 * enter accept() on its number, which must not name a file of the server's by then. */
void acceptwait_rearmed(void)
{
    int fd = atomic_exchange(&nobody_listener, -1);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

int accept_wait_forever(int fd)
{
    /* An event loop may still accept() on a blocking listener it was told was readable just
     * before the drain: waiting for a connection that will never come would starve the loop's
     * other connections. It is told what a blocking accept() says when a signal (the drain's)
     * came: EINTR, which such a loop takes back to its wait (EAGAIN on a blocking socket is an
     * error to some: socat exits on it). Only a thread that simply blocks in accept() waits. */
    if (atomic_load_explicit(&event_loop, memory_order_relaxed)) {
        errno = EINTR;
        return -1;
    }
    /* It waits in a real blocking accept(), so signals do to it what they do to the kernel's: a
     * handler with SA_RESTART restarts it and it waits on; one without ends it with EINTR. The
     * JVM closes a channel by putting another file on its number and signalling the thread
     * blocked on it, without SA_RESTART: the thread must see EINTR, then the channel closed
     * (waiting on the fd number instead, in poll(), it found that file hung up and spun until
     * SIGKILL). Whatever the server puts on the number meanwhile changes nothing here. */
    for (;;) {
        if (fd_kind(fd) == FD_LISTENER)
            return ACCEPT_REARMED;
        int nobody = nobody_listener_get();
        if (nobody < 0)
            return wait_for_a_signal();
        int knock = real.accept4(nobody, NULL, NULL, SOCK_CLOEXEC);
        if (knock >= 0) { /* someone found the abstract name: not a client */
            real.close(knock);
            continue;
        }
        if (errno != EINVAL) /* EINTR: a handler without SA_RESTART ran */
            return -1;
        /* EINVAL: shut down by a re-arm; the loop's first test says whether it was ours */
    }
}

void acceptwait_moved(int from, int to)
{
    int expected = from;
    atomic_compare_exchange_strong(&nobody_listener, &expected, to);
}
