/* reloadproof.h: what the kernel saw during one reload, so that an operator can tell whether it
 * lost anything without a load client of their own: the network namespace's counters of
 * connections refused or dropped before any server saw them (TcpExt ListenOverflows and
 * ListenDrops in /proc/net/netstat; Tcp OutRsts and EstabResets in /proc/net/snmp) at its start
 * and its end, and each held TCP listener's accept-queue peak (TCP_INFO on the launcher's copy:
 * for a listening socket, the queue's length and its limit), sampled every few milliseconds while
 * it runs. The counters are the whole namespace's: other traffic counts too, and the log says so. */
#ifndef HOTSWAP_RELOADPROOF_H
#define HOTSWAP_RELOADPROOF_H

#include <stdbool.h>
#include <stddef.h>

#include "listeners.h"

#define PROOF_SAMPLE_MS 10 /* how often the accept queues are looked at while a reload runs */

struct kernel_counters {
    bool read; /* /proc/net/netstat and /proc/net/snmp could be read */
    long long listen_overflows, listen_drops, out_resets, estab_resets;
};

struct reload_proof {
    struct kernel_counters before, delta; /* delta: filled in by proof_end */
    int queue_peak[LISTENERS_MAX];        /* per held listener (index at the reload's start) */
    int queue_limit[LISTENERS_MAX];       /* -1: not a TCP listener */
    int listeners;
    bool ended;
};

void proof_begin(struct reload_proof *p);
void proof_sample(struct reload_proof *p);
/* The counters' deltas, and one sentence for the log and the client ("kernel: ..."). */
void proof_end(struct reload_proof *p, char *sentence, size_t size);
/* Might the kernel have refused or dropped a connection during it (overflows or drops)? */
bool proof_may_have_dropped(const struct reload_proof *p);

#endif
