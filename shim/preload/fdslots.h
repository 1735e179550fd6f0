/* fdslots.h: a record per fd number, for every number the process may have.
 *
 * RLIMIT_NOFILE can be raised to fs.nr_open (up to 2^31 - 64) at any time, so no table of fixed
 * size covers every fd. The first FDSLOTS_STATIC numbers, the usual soft limit, keep their records
 * in the owner's static array: one compare and one load, as for any fixed table. The numbers above
 * come in buckets of doubling size, [1024, 2048), [2048, 4096) and so on, each mapped (mmap,
 * zero-filled) the first time a record in it is written, and never unmapped. Memory follows the
 * highest fd the process used, as the kernel's own fd table does, and only pages touched are
 * resident.
 *
 * Lookups take no lock and allocate nothing. Making a bucket is one mmap and a compare-and-swap,
 * never malloc: safe in a signal handler and in a child after fork. A bucket that cannot be mapped
 * (no memory) is said once on stderr; the records there stay unwritten, as if the fd were not the
 * shim's (so the kernel's view, which the launcher checks, is what counts for it). */
#ifndef HOTSWAP_FDSLOTS_H
#define HOTSWAP_FDSLOTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define FDSLOTS_STATIC 1024
#define FDSLOTS_BUCKETS 22 /* bucket k (1..21) holds [1024 << (k - 1), 1024 << k): every int */

struct fdslots {
    void *_Atomic bucket[FDSLOTS_BUCKETS]; /* [0] unused: the owner's static array */
};

/* The record of `fd` (at least FDSLOTS_STATIC; a negative fd has none) in `slots`, whose records
 * are `size` bytes: NULL if its bucket was never made (every record there reads as zero) or, with
 * `make`, cannot be. */
void *fdslots_at(struct fdslots *slots, int fd, size_t size, bool make);

/* The lowest fd from `fd` up whose record may have been written: `fd` itself below
 * FDSLOTS_STATIC or in a made bucket, else the start of the next made bucket; -1 if none. For
 * walks over a table that skip what was never written. */
int fdslots_next_made(struct fdslots *slots, int fd);

/* The chunk after the one whose link is `next`, mapped if there is none yet (NULL if no memory):
 * for lists of slots that grow by chunks of `size` bytes (the wake-up registry, the drain's epoll
 * records). Chunks are never freed: the most slots ever in use at once decide how many there are. */
void *chunk_after(void *_Atomic *next, size_t size);

#endif
