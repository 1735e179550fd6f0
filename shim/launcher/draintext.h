/* draintext.h: the words a drain's outcome is told in: connections for a stream server,
 * datagrams for a datagram one, both for a server of both. */
#ifndef HOTSWAP_DRAINTEXT_H
#define HOTSWAP_DRAINTEXT_H

#include <stddef.h>
#include <stdint.h>

/* "3 connections", "1 datagram", "2 connections and 0 datagrams" into `buf`: each kind the held
 * listeners serve (stream ones: connections; "udp:" ones: datagrams), and any kind counted. */
const char *draintext_counts(char *buf, size_t size, long conns, long datagrams);

/* A cut drain's line, after "gen N ": with `reason` (--max-draining's), "REASON: cutting 2 open
 * connections"; without, the drain timeout's, which says what it cut, never that it drained, and
 * what held it: "cut 3 connections at the drain timeout (30001 ms); pid 8107 holds one, the shim
 * counted 3" (`holder` 0: the kernel showed no holder). */
const char *draintext_cut(char *buf, size_t size, const char *reason, long conns, long datagrams, int64_t drain_ms,
                          int holder, long shim_conns);

/* How a stopped generation's drain ended, for a reload's outcome: "drained 4 connections in
 * 11 ms", or, cut, "cut 3 connections at the drain timeout in 30001 ms" ("cut 1 connection
 * (--max-draining 2: connections cut) in 40 ms"). */
struct generation;
const char *draintext_ended(char *buf, size_t size, const struct generation *g);

#endif
