/* genmsg.c: what a generation's processes say: its channel's messages (hello, ready, listeners,
 * counts, hand-overs, the evidence of a server that cannot run twice), checked against what the
 * kernel shows before anything is believed; and READY=1 on its own NOTIFY_SOCKET. */
#define _GNU_SOURCE
#include "generation.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dgramowed.h"
#include "evidence.h"
#include "fdpass.h"
#include "genproc.h"
#include "listeners.h"
#include "log.h"
#include "members.h"
#include "relay.h"

static void take_listener(struct generation *g, const struct hs_msg *msg, int fd)
{
    if (fd < 0) {
        hs_log("gen %d pid %d announced a listener without its fd: ignored", g->number, msg->pid);
        return;
    }
    int added = listeners_add(fd, g->number, msg->pid);
    if (added < 0) {
        hs_log("gen %d pid %d: cannot hold its listener (fd %d): not a bound socket, or too many", g->number, msg->pid,
               msg->fd);
        return;
    }
    if (added > 0)
        return; /* a socket handed over to it, announced again: held already */
    const struct held_listener *held = listeners_get(listeners_count() - 1);
    hs_log("gen %d pid %d listens on %s: held", g->number, msg->pid, held->name);
}

/* A FORKED message names a child of its sender, or one the launcher inherited when the sender
 * exited since (it is the subreaper); a child that is gone already needs no watching. Anything
 * else is a lie a process could tell to make the launcher wait for, or count, a stranger. */
static bool forked_by(struct generation *g, pid_t child, pid_t sender)
{
    pid_t parent = members_parent_of(child);
    if (parent == 0 || parent == sender || parent == getpid())
        return parent != 0;
    if (!g->told_false_child)
        hs_log("gen %d pid %d: says pid %d is its child, which it is not: ignored", g->number, (int)sender, (int)child);
    g->told_false_child = true;
    return false;
}

static bool private_known(const struct generation *g, unsigned long inode)
{
    for (int i = 0; i < g->private_count; i++)
        if (g->private_listeners[i] == inode)
            return true;
    return false;
}

/* DRAINING or CONNS with a count no process can have (channel.h, HS_COUNT_MAX). The process has
 * begun its drain (only a shim's drain sends these), but its counts are never believed again: it
 * is counted as holding nothing, and the kernel's tables alone say when it is drained. */
static void refuse_counts(struct generation *g, pid_t sender, const struct hs_msg *msg)
{
    if (!g->told_false_count)
        hs_log("gen %d pid %d: reported %lld connections and %lld datagrams, more than a process can hold "
               "(%d): not believed, the kernel's count decides its drain",
               g->number, (int)sender, (long long)msg->value, (long long)msg->datagrams, HS_COUNT_MAX);
    g->told_false_count = true;
    struct gen_proc *proc = gen_add_proc(g, sender);
    if (!proc)
        return;
    proc->said_hello = true;
    proc->drain_reported = true;
    proc->counts_refused = true;
    proc->conns = proc->datagrams = 0;
}

static void handle_message(struct generation *g, const struct hs_msg *msg, int fd)
{
    struct gen_proc *proc = gen_add_proc(g, msg->pid);
    if (proc)
        proc->said_hello = true; /* any message: the shim is in charge there */
    switch (msg->type) {
    case HS_MSG_HELLO:
        /* a new program in it (exec): a drain signal it was sent before was dropped across the
         * exec (ignored), so the next look sends it again */
        if (proc && !proc->drain_reported)
            proc->drain_sent = false;
        if (proc)
            proc->waited = false;
        if (!g->hello_ms)
            g->hello_ms = now_ms(); /* the shim's constructor ran: exec and loading are done */
        g->said_hello = true;
        break;
    case HS_MSG_READY:
        g->said_hello = true;
        if (proc)
            proc->waited = true;
        if (g->state == GEN_STARTING && !gen_waits_for_notify(g))
            gen_mark_ready(g);
        break;
    case HS_MSG_LISTENER:
        take_listener(g, msg, fd);
        fd = -1;
        break;
    case HS_MSG_FORKED:
        if (forked_by(g, (pid_t)msg->value, msg->pid))
            gen_add_proc(g, (pid_t)msg->value);
        break;
    case HS_MSG_HANDOVER:
        if (fd >= 0 && relay_take(fd))
            g->handed_over++;
        fd = -1;
        break;
    case HS_MSG_CLAIM:
        if (fd >= 0)
            relay_claim((int)msg->value, fd);
        fd = -1;
        break;
    case HS_MSG_CLAIMED:
        if (msg->value >= 0 && msg->value < LISTENERS_MAX) /* a number from a shim: checked */
            g->claimed_listeners[msg->value / 64] |= 1ULL << (msg->value % 64);
        break;
    case HS_MSG_PRIVATE: /* once per listen(): a second one on the same socket takes no room */
        if (!private_known(g, (unsigned long)msg->value) &&
            g->private_count < (int)(sizeof g->private_listeners / sizeof g->private_listeners[0]))
            g->private_listeners[g->private_count++] = (unsigned long)msg->value;
        break;
    case HS_MSG_LOCK_FAILED: /* hints, checked against /proc/locks when they matter (sequential.c) */
        evidence_note_lock_failed(g->number, msg->pid, (uint64_t)msg->datagrams, (uint64_t)msg->value);
        break;
    case HS_MSG_PROBE_REFUSED: /* a diagnosis, said once: the refusal itself was the shim's */
        if (!g->told_probe && listeners_get((int)msg->value)) {
            g->told_probe = true;
            hs_log("gen %d pid %d probed %s before binding it: refused, as on a plain start", g->number, (int)msg->pid,
                   listeners_get((int)msg->value)->name);
        }
        break;
    case HS_MSG_FOLLOW:
        if (fd >= 0)
            gen_follow(g, msg->pid, msg->value, fd);
        break;
    case HS_MSG_PID_PROBED:
        evidence_note_pid_probed(g->number, msg->pid, (pid_t)msg->value);
        break;
    case HS_MSG_READ_OPENED:
        if (g->state == GEN_STARTING) /* (after it, the takeover has been judged) */
            evidence_note_read_opened(g->number, (uint64_t)msg->datagrams, (uint64_t)msg->value);
        break;
    case HS_MSG_DRAINING:
    case HS_MSG_CONNS:
        if (proc) {
            proc->drain_reported = true;
            if (proc->counts_refused)
                break; /* it lied once: the kernel's count alone decides its drain */
            proc->conns = msg->value;
            dgram_owed_note(proc, msg->datagrams, msg->type == HS_MSG_DRAINING, now_ms());
            proc->datagrams = msg->datagrams;
            if (msg->type == HS_MSG_DRAINING) { /* (a shim says DRAINING again after an exec) */
                g->drained_conns = gen_add_counts(g->drained_conns, msg->value);
                g->drained_datagrams = gen_add_counts(g->drained_datagrams, msg->datagrams);
            }
        }
        break;
    default:
        break;
    }
    if (fd >= 0)
        close(fd);
}

void gen_read_messages(struct generation *g)
{
    for (;;) {
        struct hs_msg msg;
        char raw[sizeof msg];
        struct iovec iov = {.iov_base = raw, .iov_len = sizeof raw};
        union {
            char buf[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(struct ucred))];
            struct cmsghdr align;
        } control;
        struct msghdr header = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
        ssize_t n = recvmsg(g->channel_fd, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno != EAGAIN))
            g->channel_closed = true;
        if (n <= 0)
            return;
        int fd = -1;
        pid_t sender = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof cred);
                sender = cred.pid;
            }
        }
        fd = fdpass_first(&header);
        int decoded = (header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || sender <= 0
                          ? HS_DECODE_MALFORMED
                          : hs_msg_decode(raw, (size_t)n, &msg);
        if (decoded == HS_DECODE_COUNT_RANGE) {
            refuse_counts(g, sender, &msg);
        } else if (decoded != HS_DECODE_OK && !g->told_malformed) {
            hs_log("gen %d: malformed channel message (%zd bytes) ignored, and any more after it", g->number, n);
            g->told_malformed = true;
        }
        if (decoded != HS_DECODE_OK) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        /* A process the launcher has not met (a worker the server exec'd, which says hello when
         * it takes part) is believed only if the kernel shows it in the generation. One gone
         * already (a fork-per-connection child's last count, or the connection it handed over)
         * cannot be looked up: believed, but for a READY, which no process gone can be. */
        unsigned long long start;
        if (!gen_find_proc(g, sender) && !members_include(g->members, g->pid, sender) &&
            (members_start_of(sender, &start) || msg.type == HS_MSG_READY)) {
            if (!g->told_stranger_message)
                hs_log("gen %d: a message on its channel from pid %d, not one of its processes: ignored", g->number,
                       (int)sender);
            g->told_stranger_message = true;
            if (fd >= 0)
                close(fd);
            continue;
        }
        /* The sender is who the kernel says (a process in a pid namespace of its own also has
         * its pid as the launcher sees it), whoever the message claims to be from. */
        if (msg.pid != sender && !g->told_false_sender) {
            hs_log("gen %d pid %d: sent a message as pid %d: taken as its own", g->number, (int)sender, (int)msg.pid);
            g->told_false_sender = true;
        }
        msg.pid = sender;
        handle_message(g, &msg, fd);
    }
}

static bool is_member(void *ctx, pid_t pid)
{
    struct generation *g = ctx;
    if (gen_find_proc(g, pid))
        return true;
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    for (int i = 0; i < count; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

void gen_read_notify(struct generation *g)
{
    pid_t refused = 0, ready = ready_notify_read(g->ready.socket_fd, is_member, g, &refused);
    if (refused && !g->told_stranger_ready) {
        hs_log("gen %d: READY=1 on its NOTIFY_SOCKET from pid %d, not one of its processes: ignored", g->number,
               (int)refused);
        g->told_stranger_ready = true;
    }
    if (ready && g->state == GEN_STARTING) {
        g->ready_by = ready;
        gen_mark_ready(g);
    }
}
