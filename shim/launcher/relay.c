/* relay.c: idle clients between two generations (--handover-idle). See relay.h, channel.h. */
#define _GNU_SOURCE
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "fdpass.h"
#include "log.h"

/* Long enough for a loaded server to come round to accept(); a client that waits longer is
 * closed like an idle keep-alive connection, which it may retry. */
#define CLAIM_DEADLINE_MS 5000
/* How often a wake-up still connecting is looked at again (see nudge()). */
#define NUDGE_MS 100

static struct hs_handover_map *map;
static int map_fd = -1;

static struct {
    int client, wake; /* -1: slot free */
    int64_t deadline_ms;
    int64_t nudge_ms; /* when to look at the wake-up again; 0: its FIN is out, nothing to do */
} held[HS_HANDOVER_SLOTS];

int relay_init(void)
{
    map_fd = memfd_create("hotswap-handover", MFD_CLOEXEC);
    if (map_fd < 0)
        return -1;
    if (ftruncate(map_fd, sizeof *map) < 0)
        return -1;
    void *mapped = mmap(NULL, sizeof *map, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (mapped == MAP_FAILED)
        return -1;
    map = mapped;
    for (int i = 0; i < HS_HANDOVER_SLOTS; i++)
        held[i].client = held[i].wake = -1;
    atomic_store(&map->accepting, 1);
    return 0;
}

int relay_map_fd(void)
{
    return map_fd;
}

void relay_set_accepting(bool accepting)
{
    if (map)
        atomic_store(&map->accepting, accepting ? 1 : 0);
}

static void release(int i)
{
    close(held[i].client);
    close(held[i].wake);
    held[i].client = held[i].wake = -1;
    atomic_store(&map->slots[i].state, HS_SLOT_FREE);
    atomic_fetch_sub(&map->waiting, 1);
}

/* Publishes where the wake-up connection comes from: the peer address its accept() returns. */
static bool publish(struct hs_handover_slot *slot, int wake)
{
    struct sockaddr_storage mine;
    memset(&mine, 0, sizeof mine);
    socklen_t len = sizeof mine;
    if (getsockname(wake, (struct sockaddr *)&mine, &len) < 0)
        return false;
    memset(slot->addr, 0, sizeof slot->addr);
    slot->family = mine.ss_family;
    if (mine.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&mine;
        slot->port = in->sin_port;
        memcpy(slot->addr, &in->sin_addr, 4);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&mine;
        slot->port = in6->sin6_port;
        memcpy(slot->addr, &in6->sin6_addr, 16);
    }
    return true;
}

/* A wake-up must reach the server's accept queue, and a silent one can be lost on the way: when
 * the queue is full (a burst of wake-ups against a small backlog: Python's socketserver listens
 * with 5) and the listener answers with a SYN cookie, the handshake's last ACK is dropped, the
 * listener keeps no trace of it, and nothing is ever retransmitted. This end thinks it is
 * connected, the server never accepts it, the client waits out CLAIM_DEADLINE_MS and is closed.
 * (A TCP_DEFER_ACCEPT listener, nginx's `deferred` or Apache's default, never queues a silent
 * connection in time either: it waits for data or a FIN.) So once connected the wake-up shuts its
 * writing side: TCP retransmits a FIN until it is acknowledged, and each one completes the
 * handshake again, until the queue has room. The server's end reads end-of-file, which nobody
 * sees: the shim puts the client on its number. */
static void nudge(int i, int64_t now)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (getpeername(held[i].wake, (struct sockaddr *)&peer, &len) < 0) {
        held[i].nudge_ms = now + NUDGE_MS; /* still connecting (the kernel retransmits the SYN) */
        return;
    }
    shutdown(held[i].wake, SHUT_WR);
    held[i].nudge_ms = 0;
}

bool relay_take(int client)
{
    struct sockaddr_storage local = {0};
    socklen_t len = sizeof local;
    int free_slot = -1;
    for (int i = 0; i < HS_HANDOVER_SLOTS && free_slot < 0; i++)
        if (held[i].client < 0)
            free_slot = i;
    if (!map || !atomic_load(&map->accepting) || free_slot < 0 ||
        getsockname(client, (struct sockaddr *)&local, &len) < 0 ||
        (local.ss_family != AF_INET && local.ss_family != AF_INET6)) {
        close(client);
        return false;
    }
    /* The client reached the listener at the connection's local address: so does the wake-up,
     * from that address too. Its port is bound, and published, before it connects: the next
     * generation may accept it the moment the handshake is done. */
    struct sockaddr_storage from = local;
    if (from.ss_family == AF_INET)
        ((struct sockaddr_in *)&from)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&from)->sin6_port = 0;
    int wake = socket(local.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct hs_handover_slot *slot = &map->slots[free_slot];
    if (wake < 0 || bind(wake, (struct sockaddr *)&from, len) < 0 || !publish(slot, wake)) {
        hs_log("handover: cannot wake the next generation (%s): a client is closed", strerror(errno));
        if (wake >= 0)
            close(wake);
        close(client);
        return false;
    }
    held[free_slot].client = client;
    held[free_slot].wake = wake;
    held[free_slot].deadline_ms = now_ms() + CLAIM_DEADLINE_MS;
    atomic_fetch_add(&map->waiting, 1);
    atomic_store(&slot->state, HS_SLOT_WAITING); /* after the fields: the shim reads them then */
    if (connect(wake, (struct sockaddr *)&local, len) < 0 && errno != EINPROGRESS) {
        hs_log("handover: cannot wake the next generation (%s): a client is closed", strerror(errno));
        release(free_slot);
        return false;
    }
    nudge(free_slot, now_ms()); /* over loopback the handshake is usually done already */
    return true;
}

void relay_claim(int slot, int reply)
{
    if (!map || slot < 0 || slot >= HS_HANDOVER_SLOTS || held[slot].client < 0 ||
        atomic_load(&map->slots[slot].state) != HS_SLOT_CLAIMED) {
        close(reply);
        return;
    }
    if (!fdpass_send(reply, held[slot].client, MSG_DONTWAIT))
        hs_log("handover: cannot pass a client on (%s): it is closed", strerror(errno));
    close(reply);
    release(slot);
}

void relay_expire(int64_t now)
{
    if (!map)
        return;
    int expired = 0;
    for (int i = 0; i < HS_HANDOVER_SLOTS; i++) {
        if (held[i].client >= 0 && now >= held[i].deadline_ms) {
            release(i);
            expired++;
        } else if (held[i].client >= 0 && held[i].nudge_ms && now >= held[i].nudge_ms) {
            nudge(i, now);
        }
    }
    if (expired)
        hs_log("handover: %d client%s not taken by the next generation in %d ms: closed", expired,
               expired == 1 ? "" : "s", CLAIM_DEADLINE_MS);
}

int64_t relay_next_deadline(void)
{
    int64_t next = 0;
    for (int i = 0; map && i < HS_HANDOVER_SLOTS; i++)
        if (held[i].client >= 0) {
            if (!next || held[i].deadline_ms < next)
                next = held[i].deadline_ms;
            if (held[i].nudge_ms && held[i].nudge_ms < next)
                next = held[i].nudge_ms;
        }
    return next;
}
