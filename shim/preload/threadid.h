/* threadid.h: the calling thread's id, asked of the kernel once per thread.
 *
 * gettid() is a system call every time; a blocking accept() records its thread for the drain's
 * wake-up, so asking each time cost every connection one more system call. */
#ifndef HOTSWAP_THREADID_H
#define HOTSWAP_THREADID_H

#include <unistd.h>

extern __thread pid_t thread_id_known __attribute__((tls_model("initial-exec")));

static inline pid_t thread_id(void)
{
    pid_t id = thread_id_known;
    if (__builtin_expect(id == 0, 0))
        thread_id_known = id = gettid();
    return id;
}

/* In a child of fork(): its one thread has a new id (the parent's was copied). */
static inline void thread_id_after_fork(void)
{
    thread_id_known = 0;
}

#endif
