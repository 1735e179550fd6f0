/* wakeup.c: the registry of threads a drain must wake. Lock-free, and safe in a signal handler:
 * atomics, mmap and tgkill only. */
#define _GNU_SOURCE
#include "wakeup.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdslots.h"
#include "shimlog.h"
#include "threadid.h"

#define ACCEPT_CHUNK_SLOTS 256

/* Thread ids inside a real accept() on a listener, or a receive on a datagram socket of ours; 0
 * marks a free slot. Any number of threads: chunks of slots, the first static, the others mapped
 * when every slot is busy (1 KiB each). */
struct accept_chunk {
    atomic_int tids[ACCEPT_CHUNK_SLOTS];
    void *_Atomic next;
};
static struct accept_chunk accept_slots;
static atomic_bool told_accept_unrecorded;

static struct accept_chunk *next_chunk(struct accept_chunk *c)
{
    return chunk_after(&c->next, sizeof *c);
}

int drain_wake_register(void)
{
    int tid = thread_id();
    int base = 0;
    for (struct accept_chunk *c = &accept_slots; c; c = next_chunk(c), base += ACCEPT_CHUNK_SLOTS)
        for (int i = 0; i < ACCEPT_CHUNK_SLOTS; i++) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&c->tids[i], &expected, tid))
                return base + i;
        }
    if (!atomic_exchange(&told_accept_unrecorded, true))
        shim_say("no memory to record a thread in accept() (mmap failed): a drain may not wake it, "
                 "and it may take a connection after the drain (the kernel's view then decides)",
                 NULL);
    return -1;
}

void drain_wake_unregister(int slot)
{
    struct accept_chunk *c = &accept_slots;
    for (int chunk = slot / ACCEPT_CHUNK_SLOTS; slot >= 0 && c && chunk > 0; chunk--)
        c = atomic_load(&c->next);
    if (slot >= 0 && c)
        atomic_store(&c->tids[slot % ACCEPT_CHUNK_SLOTS], 0);
}

/* A thread already blocked in accept() holds the listener itself, not its fd number: only a
 * signal gets it out. SA_RESTART re-enters accept() with the same number, now the dummy's,
 * which fails at once with EAGAIN back into the shim's accept wrapper. */
void wakeup_registered(int signo)
{
    int pid = getpid(), self = thread_id();
    for (struct accept_chunk *c = &accept_slots; c; c = atomic_load(&c->next))
        for (int i = 0; i < ACCEPT_CHUNK_SLOTS; i++) {
            int tid = atomic_load(&c->tids[i]);
            if (tid > 0 && tid != self)
                syscall(SYS_tgkill, pid, tid, signo);
        }
}

void wakeup_after_fork(void)
{
    for (struct accept_chunk *c = &accept_slots; c; c = atomic_load(&c->next))
        for (int i = 0; i < ACCEPT_CHUNK_SLOTS; i++)
            atomic_store(&c->tids[i], 0); /* the child has only the forking thread */
}
