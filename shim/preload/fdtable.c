/* fdtable.c: the per-fd kinds and the open-connection count. The lowest layer: whoever changes a
 * count tells the drain (countreport.h), and an accepted connection's state (conn.h). */
#include "fdtable.h"

_Atomic unsigned char fd_kinds[FDSLOTS_STATIC];
struct fdslots fd_kinds_above;
atomic_int fd_high_water;
static atomic_long open_conns;
static atomic_long accepts_in_flight;
static atomic_long datagrams_unanswered;
static atomic_long datagram_receives;

void fdtable_note_conn(int conn)
{
    _Atomic unsigned char *kind = fd_kind_slot(conn, true);
    if (!kind)
        return; /* no memory for its record (said once): the kernel's view counts it */
    /* An fd closed behind our back (fclose, a raw syscall) may come back from accept: it was
     * already counted, so count it once. */
    fd_raise_high_water(conn);
    if (atomic_exchange(kind, FD_CONN) != FD_CONN)
        atomic_fetch_add(&open_conns, 1);
}

void fdtable_accept_begin(void)
{
    atomic_fetch_add(&accepts_in_flight, 1);
}

void fdtable_after_fork(void)
{
    /* The child has only the thread that forked, which was in no accept(): another thread's
     * accept in flight is the parent's, and counted there. */
    atomic_store(&accepts_in_flight, 0);
    atomic_store(&datagram_receives, 0);
}

void fdtable_accept_end(int conn)
{
    if (conn >= 0)
        fdtable_note_conn(conn);
    atomic_fetch_sub(&accepts_in_flight, 1);
}

bool fdtable_forget_conn(int fd)
{
    _Atomic unsigned char *kind = fd_kind_slot(fd, false);
    unsigned char expected = FD_CONN;
    if (!kind || !atomic_compare_exchange_strong(kind, &expected, FD_OTHER))
        return false;
    atomic_fetch_sub(&open_conns, 1);
    return true;
}

bool fdtable_conn_handed(int fd)
{
    _Atomic unsigned char *kind = fd_kind_slot(fd, false);
    unsigned char expected = FD_CONN;
    if (!kind || !atomic_compare_exchange_strong(kind, &expected, FD_HANDED))
        return false;
    atomic_fetch_sub(&open_conns, 1);
    return true;
}

void fdtable_note_datagrams(long received, long sent)
{
    long before = atomic_load(&datagrams_unanswered), after;
    do {
        after = before + received - sent;
        if (after < 0)
            after = 0; /* a server that sends unprompted (or twice) owes nothing */
    } while (!atomic_compare_exchange_weak(&datagrams_unanswered, &before, after));
}

long fdtable_open_conns(void)
{
    return atomic_load(&open_conns) + atomic_load(&accepts_in_flight);
}

void fdtable_dgram_receive_begin(void)
{
    atomic_fetch_add(&datagram_receives, 1);
}

void fdtable_dgram_receive_end(long received)
{
    /* Owed first, out of the receive after: at no moment is the datagram in neither count. */
    if (received > 0)
        fdtable_note_datagrams(received, 0);
    atomic_fetch_sub(&datagram_receives, 1);
}

long fdtable_datagrams_owed(void)
{
    /* Receives first: a datagram leaves them only after it is counted unanswered, so read in this
     * order (both seq_cst) it is seen in one or the other, however a thread moves it meanwhile. */
    long receiving = atomic_load(&datagram_receives);
    return receiving + atomic_load(&datagrams_unanswered);
}
