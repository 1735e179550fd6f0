/* sigwatch.c: the server's handlers behind a trampoline that counts their runs. See sigwatch.h.
 *
 * The handler each signal should reach is a pointer to an immutable record, so the trampoline
 * reads it with one atomic load, whatever another thread installs meanwhile. Records are
 * interned (a server installs few distinct handlers, however often); were the table ever full,
 * a handler is installed as asked, unwatched. Installing takes a lock with every signal blocked,
 * so a handler that calls sigaction() never waits for the thread it interrupted. */
#define _GNU_SOURCE
#include "sigwatch.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mode.h"
#include "real.h"
#include "sigguard.h"

#define RECORDS_MAX 256
#define KERNEL_SIGSET_BYTES (_NSIG / 8)

__thread unsigned server_handler_runs __attribute__((tls_model("initial-exec")));

struct server_handler {
    union {
        void (*handler)(int);
        void (*action)(int, siginfo_t *, void *);
    } fn;
    int flags; /* the server's, of which the trampoline needs SA_SIGINFO */
};

static struct server_handler records[RECORDS_MAX];
static int record_count;                                  /* under install_lock */
static const struct server_handler *_Atomic reach[_NSIG]; /* stale once the kernel has another */
static atomic_flag install_lock = ATOMIC_FLAG_INIT;

static void trampoline(int sig, siginfo_t *info, void *context)
{
    server_handler_runs++;
    const struct server_handler *h = sig > 0 && sig < _NSIG ? atomic_load(&reach[sig]) : NULL;
    if (!h)
        return;
    if (h->flags & SA_SIGINFO)
        h->fn.action(sig, info, context);
    else
        h->fn.handler(sig);
}

static bool watchable(int sig)
{
    switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
    case SIGKILL:
    case SIGSTOP:
        return false;
    default: /* (32 and 33 are libc's own, below SIGRTMIN; passing through, the shim watches none) */
        return sig > 0 && sig < _NSIG && (sig < 32 || sig >= SIGRTMIN) && shim_in_charge() && !sigguard_owns(sig);
    }
}

static bool is_function(const struct sigaction *act)
{
    return act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN && act->sa_handler != SIG_ERR &&
           act->sa_sigaction != trampoline;
}

static const struct server_handler *intern(const struct sigaction *act)
{
    int flags = act->sa_flags & SA_SIGINFO;
    for (int i = 0; i < record_count; i++)
        if (records[i].flags == flags && records[i].fn.action == act->sa_sigaction)
            return &records[i];
    if (record_count == RECORDS_MAX)
        return NULL;
    records[record_count].fn.action = act->sa_sigaction;
    records[record_count].flags = flags;
    return &records[record_count++];
}

static void lock(sigset_t *before)
{
    sigset_t all;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, before, KERNEL_SIGSET_BYTES);
    while (atomic_flag_test_and_set_explicit(&install_lock, memory_order_acquire))
        ;
}

static void unlock(const sigset_t *before)
{
    atomic_flag_clear_explicit(&install_lock, memory_order_release);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, before, NULL, KERNEL_SIGSET_BYTES);
}

/* `old` as read from the kernel, made what the server installed: `h` for the trampoline. */
static void as_server_knows(struct sigaction *old, const struct server_handler *h)
{
    if (old->sa_sigaction != trampoline || !h)
        return;
    old->sa_sigaction = h->fn.action;
    old->sa_flags = (old->sa_flags & ~SA_SIGINFO) | (h->flags & SA_SIGINFO);
}

static int install_locked(int sig, const struct sigaction *act, struct sigaction *old)
{
    const struct server_handler *previous = atomic_load(&reach[sig]), *h = NULL;
    struct sigaction behind;
    if (act && is_function(act) && (h = intern(act))) {
        behind = *act;
        behind.sa_sigaction = trampoline;
        behind.sa_flags |= SA_SIGINFO;
        atomic_store(&reach[sig], h); /* before the kernel can call the trampoline for it */
        act = &behind;
    }
    int rc = real.sigaction(sig, act, old);
    if (rc < 0 && h)
        atomic_store(&reach[sig], previous);
    if (rc == 0 && old)
        as_server_knows(old, previous);
    return rc;
}

int sigwatch_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!watchable(sig))
        return real.sigaction(sig, act, old);
    sigset_t before;
    lock(&before);
    int rc = install_locked(sig, act, old);
    int saved = errno;
    unlock(&before);
    errno = saved;
    return rc;
}

/* Whatever handler `sig` has now, behind the trampoline. */
static void watch_installed_locked(int sig)
{
    struct sigaction now;
    if (real.sigaction(sig, NULL, &now) == 0 && is_function(&now))
        install_locked(sig, &now, NULL);
}

sighandler_t sigwatch_signal(int sig, sighandler_t handler, sighandler_t (*install)(int, sighandler_t))
{
    if (!watchable(sig))
        return install(sig, handler);
    sigset_t before;
    lock(&before);
    const struct server_handler *previous = atomic_load(&reach[sig]);
    struct sigaction old = {.sa_handler = install(sig, handler)};
    int saved = errno;
    if (old.sa_handler != SIG_ERR) {
        as_server_knows(&old, previous);
        watch_installed_locked(sig);
    }
    unlock(&before);
    errno = saved;
    return old.sa_handler;
}

void sigwatch_init(void)
{
    sigset_t before;
    lock(&before);
    for (int sig = 1; sig < _NSIG; sig++)
        if (watchable(sig))
            watch_installed_locked(sig);
    unlock(&before);
}
