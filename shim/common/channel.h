/* channel.h: the channel, the protocol the shim (libhotswap.so) and the launcher (hotswap) share.
 *
 * One Unix SOCK_SEQPACKET socket per generation, the channel: the launcher keeps one end, every
 * process of the generation inherits the other (its number in HOTSWAP_CHANNEL_FD, env.h). Each
 * datagram is one fixed-layout struct hs_msg; a listener travels with its message as SCM_RIGHTS.
 * SEQPACKET keeps message boundaries, so processes forked from one another can share the one
 * socket. */
#ifndef HOTSWAP_CHANNEL_H
#define HOTSWAP_CHANNEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HOTSWAP_VERSION "0.1.0"

/* SIGRTMIN+N is a number only at run time: glibc reserves the first two real-time signals
 * (32, 33) for itself. 34+10 is far from the handful a server plausibly uses (HUP, USR1, USR2,
 * WINCH, TERM, INT, QUIT, URG, PIPE, and SIGRTMIN itself for timers). */
#define HS_DEFAULT_DRAIN_SIGNAL_OFFSET 10

/* The drain signal sent with sigqueue(3) and this value is not a drain: it re-arms a drained
 * (parked, --keep-old) process, which takes connections again (hotswap rollback). */
#define HS_SIGVAL_REARM 0x48535241 /* "HSRA" */
/* ... and with this value, sent by the shim to its own threads after a re-arm, nothing but an
 * end to the wait a thread is in (see drain.c, wake_every_thread). */
#define HS_SIGVAL_WAKE 0x48535757 /* "HSWW" */
/* ... and with this value, sent by the launcher to a draining process now and then
 * (--idle-close turn), a look for connections idle by turn (conn.c): the client's acknowledgement
 * that makes one idle comes while the server sleeps, and wakes nothing in it. */
#define HS_SIGVAL_TURN 0x48535454 /* "HSTT" */

#define HS_MAGIC 0x48535750u /* "HSWP" */
#define HS_PROTOCOL 3

enum hs_msg_type {
    HS_MSG_HELLO = 1,     /* a process of the generation started (exec or fork); value: parent pid */
    HS_MSG_READY,         /* first wait for connections on a listener; value: listener fd */
    HS_MSG_LISTENER,      /* a listener the server created itself; its fd rides as SCM_RIGHTS */
    HS_MSG_DRAINING,      /* drain begun in this process; value: connections still open (accepts in
                         flight included), datagrams: datagrams received and not yet answered */
    HS_MSG_CONNS,         /* while draining: the same two counts, changed */
    HS_MSG_FORKED,        /* the sender forked; value: the child's pid (sent before fork returns) */
    HS_MSG_HANDOVER,      /* draining, --handover-idle: an idle client connection rides as SCM_RIGHTS,
                         for the next generation */
    HS_MSG_CLAIM,         /* the next generation accepted the wake-up connection of handover slot
                         `value`; a reply socket rides as SCM_RIGHTS, the client comes back on it */
    HS_MSG_CLAIMED,       /* the server bound (or took as it is) a handed-over listener; value: its
                         index in HOTSWAP_LISTEN_FDS (0..63) */
    HS_MSG_PRIVATE,       /* a listener on a port the kernel chose (a control socket): the server's own,
                         neither held nor handed over; value: its socket's inode */
    HS_MSG_LOCK_FAILED,   /* a lock call (flock, fcntl F_SETLK/F_OFD_SETLK, lockf F_TLOCK) failed:
                           the file is locked by another; value: its inode, datagrams: its device
                           (st_dev), fd: the fd. The launcher asks /proc/locks who holds it */
    HS_MSG_PID_PROBED,    /* kill(pid, 0) found `value` alive (a pid file's check); the launcher
                           knows whether that process is an older generation's */
    HS_MSG_READ_OPENED,   /* before it is ready, the process opened a regular file read-only:
                           value: its inode, datagrams: its device. A file the old
                           generation holds open for writing is state the new one loads */
    HS_MSG_PROBE_REFUSED, /* a connect() to a handed-over listener's address before its claim was
                             refused, as on a plain start; value: the listener's index (fd - 3) */
    HS_MSG_FOLLOW,        /* the sender is about to exec a program the preload shim cannot reach; value:
                         its kind (HS_FOLLOW_GO, HS_FOLLOW_STATIC). A reply socket rides as
                         SCM_RIGHTS, its first message the program's path. The launcher answers
                         on it one byte: HS_FOLLOW_TRAP_ACCEPT or HS_FOLLOW_TRAP_SIGRETURN (the
                         seccomp route's filter to install), or HS_FOLLOW_NO. After a yes the
                         sender sends back on it an int, 0 with the filter's notification fd as
                         SCM_RIGHTS, or the errno that stopped the filter's install */
    HS_MSG_LAST = HS_MSG_FOLLOW,
};

/* HS_MSG_FOLLOW: the program's kind, and the launcher's answers (elfkind.h, seccompfilter.h). */
#define HS_FOLLOW_GO 1
#define HS_FOLLOW_STATIC 2
#define HS_FOLLOW_TRAP_ACCEPT 'a'
#define HS_FOLLOW_TRAP_SIGRETURN 's'
#define HS_FOLLOW_NO 'n'

/* --handover-idle: a handed-over client waits in the launcher, which makes the next generation's
 * server accept() by connecting to the listener itself (a wake-up connection). The shim knows
 * that connection by its peer address, published in this table, shared read-write between the
 * launcher and every generation (a memfd; its fd number in HOTSWAP_HANDOVER_MAP, env.h). */
#define HS_HANDOVER_SLOTS 128

enum hs_slot_state { HS_SLOT_FREE, HS_SLOT_WAITING, HS_SLOT_CLAIMED };

struct hs_handover_slot {
    _Atomic uint32_t state; /* enum hs_slot_state; the launcher frees, the shim claims */
    uint32_t family;        /* AF_INET or AF_INET6 */
    uint16_t port;          /* the wake-up connection's local port, network order */
    uint8_t addr[16];       /* and address (4 bytes for AF_INET) */
};

struct hs_handover_map {
    _Atomic uint32_t accepting; /* the launcher takes clients now: a reload's drain, not a stop's */
    _Atomic uint32_t waiting;   /* slots in HS_SLOT_WAITING: zero costs accept() one load */
    struct hs_handover_slot slots[HS_HANDOVER_SLOTS];
};

struct hs_msg {
    uint32_t magic;
    uint16_t protocol;
    uint16_t type;
    int32_t pid; /* sender */
    int32_t fd;  /* the server's fd number, where one is meant */
    int64_t value;
    int64_t datagrams; /* DRAINING, CONNS: work in flight the kernel cannot show (0 otherwise) */
};

/* The most a count in DRAINING or CONNS can be. A process holds no more fds than fs.nr_open,
 * which the kernel caps at INT_MAX rounded down (sysctl_nr_open_max): a larger connection count
 * is a lie, whatever the host's settings; datagrams owed a reply get the same bound (a server
 * that owes two billion replies is not draining anyway). Under it, the launcher's sums over every
 * process of a generation (at most pid_max, 2^22) fit in 64 bits with room to spare. */
#define HS_COUNT_MAX INT32_MAX

/* hs_msg_decode's answers. A count out of range comes from a well-formed message: its type and
 * pid are in *out, so the launcher knows whose counts it stops believing. */
enum hs_decode {
    HS_DECODE_OK = 0,
    HS_DECODE_MALFORMED = -1,   /* size, magic, protocol, type or a value: ignore it */
    HS_DECODE_COUNT_RANGE = -2, /* DRAINING or CONNS with a count below 0 or above HS_COUNT_MAX */
};

/* Checks a received datagram: exact size, magic, protocol, known type, sane values.
 * HS_DECODE_OK and *out filled, or why not (enum hs_decode). */
int hs_msg_decode(const void *buf, size_t len, struct hs_msg *out);

#endif
