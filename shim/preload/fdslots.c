/* fdslots.c: per-fd records past the static part, in buckets mapped on first use. */
#define _GNU_SOURCE
#include "fdslots.h"

#include <limits.h>
#include <sys/mman.h>

#include "shimlog.h"

/* fd >= FDSLOTS_STATIC: 1024..2047 is bucket 1, 2048..4095 bucket 2, ... */
static int bucket_of(unsigned fd)
{
    return 32 - __builtin_clz(fd) - 10;
}

static unsigned bucket_start(int k)
{
    return (unsigned)FDSLOTS_STATIC << (k - 1);
}

static atomic_bool told_no_memory;

static void *make_bucket(struct fdslots *slots, int k, size_t size)
{
    size_t bytes = (size_t)bucket_start(k) * size; /* a bucket holds as many records as lie below it */
    void *fresh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (fresh == MAP_FAILED) {
        if (!atomic_exchange(&told_no_memory, true))
            shim_say("no memory for the records of fds past 1024 (mmap failed): fds there are not "
                     "tracked, and the kernel's view of their connections decides their drain",
                     NULL);
        return NULL;
    }
    void *expected = NULL;
    if (atomic_compare_exchange_strong(&slots->bucket[k], &expected, fresh))
        return fresh;
    munmap(fresh, bytes); /* another thread made it first */
    return expected;
}

void *fdslots_at(struct fdslots *slots, int fd, size_t size, bool make)
{
    if (fd < FDSLOTS_STATIC)
        return NULL;
    int k = bucket_of((unsigned)fd);
    char *bucket = atomic_load_explicit(&slots->bucket[k], memory_order_acquire);
    if (!bucket && (!make || !(bucket = make_bucket(slots, k, size))))
        return NULL;
    return bucket + ((unsigned)fd - bucket_start(k)) * size;
}

int fdslots_next_made(struct fdslots *slots, int fd)
{
    if (fd < FDSLOTS_STATIC)
        return fd < 0 ? -1 : fd;
    for (int k = bucket_of((unsigned)fd); k < FDSLOTS_BUCKETS; k++) {
        if (atomic_load_explicit(&slots->bucket[k], memory_order_acquire))
            return bucket_start(k) > (unsigned)fd ? (int)bucket_start(k) : fd;
    }
    return -1;
}

void *chunk_after(void *_Atomic *next, size_t size)
{
    void *linked = atomic_load(next);
    if (linked)
        return linked;
    void *fresh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fresh == MAP_FAILED)
        return NULL;
    if (atomic_compare_exchange_strong(next, &linked, fresh))
        return fresh;
    munmap(fresh, size); /* another thread added one first */
    return linked;
}
