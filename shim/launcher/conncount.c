/* conncount.c: matching the socket inodes in /proc/PID/fd against the kernel's socket tables:
 * TCP from a sock_diag netlink dump (the text of /proc/net/tcp if that fails), Unix from
 * /proc/net/unix, with each Unix connection's peer from a sock_diag dump. */
#define _GNU_SOURCE
#include "conncount.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listeners.h"
#include "procsockets.h"

#define TCP_LISTEN 0x0A
#define TCP_TIME_WAIT 0x06
/* States a socket with an fd can be in: no LISTEN, and no SYN_RECV or TIME_WAIT (no fd yet, or
 * none any more; a busy host has tens of thousands in TIME_WAIT). */
#define TCP_STATES_WITH_FD \
    ((1u << 1) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 7) | (1u << 8) | (1u << 9) | (1u << 11))
#define TCP_STATES_LISTEN (1u << TCP_LISTEN)
#define UNIX_CONNECTED 3
#define UNIX_ESTABLISHED 1     /* sock_diag gives a Unix socket's state in TCP's numbers */
#define UNIX_ACCEPTCON 0x10000 /* __SO_ACCEPTCON: a listening socket */

struct listener_key {
    int family; /* AF_INET, AF_INET6, AF_UNIX */
    unsigned char addr[16];
    unsigned port;
    bool any; /* bound to the wildcard address: match the port alone */
    char path[sizeof((struct sockaddr_un *)0)->sun_path + 1];
};

struct inode_set {
    unsigned long *inodes; /* sorted once loaded */
    size_t count, room;
};

struct peer {
    unsigned long inode, peer;
    struct conn_tuple tuple; /* a TCP connection's (family 0: a Unix one) */
};

struct conn_sockets {
    struct inode_set conns;     /* connections on held listeners' addresses */
    struct inode_set listeners; /* the held listening sockets themselves */
    struct peer *peers;         /* the other end of those whose peer the host holds, sorted by inode */
    size_t peer_count, peer_room;
    bool unreadable;
};

/* ---- inode sets ----------------------------------------------------------------------------- */

static void add_inode(struct inode_set *s, unsigned long inode)
{
    if (s->count == s->room) {
        size_t room = s->room ? s->room * 2 : 64;
        unsigned long *grown = realloc(s->inodes, room * sizeof *grown);
        if (!grown)
            return;
        s->inodes = grown;
        s->room = room;
    }
    s->inodes[s->count++] = inode;
}

static int compare_inodes(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

/* Sorted, each inode once. */
static void settle(struct inode_set *s)
{
    if (s->count < 2)
        return;
    qsort(s->inodes, s->count, sizeof *s->inodes, compare_inodes);
    size_t kept = 1;
    for (size_t i = 1; i < s->count; i++)
        if (s->inodes[i] != s->inodes[kept - 1])
            s->inodes[kept++] = s->inodes[i];
    s->count = kept;
}

static bool contains(const struct inode_set *s, unsigned long inode)
{
    return s->count && bsearch(&inode, s->inodes, s->count, sizeof *s->inodes, compare_inodes);
}

/* ---- the held listeners' addresses ------------------------------------------------------------ */

static int listener_keys(struct listener_key *keys, struct inode_set *inodes)
{
    int n = 0;
    for (int i = 0; i < listeners_count(); i++) {
        int fd = listeners_get(i)->fd, type = 0;
        struct stat st;
        if (fstat(fd, &st) == 0)
            add_inode(inodes, (unsigned long)st.st_ino);
        socklen_t type_len = sizeof type;
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        memset(&addr, 0, sizeof addr);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) < 0 || type == SOCK_DGRAM ||
            getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
            continue;
        struct listener_key *key = &keys[n];
        memset(key, 0, sizeof *key);
        key->family = addr.ss_family;
        if (addr.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&addr;
            memcpy(key->addr, &in->sin_addr, 4);
            key->port = ntohs(in->sin_port);
            key->any = in->sin_addr.s_addr == htonl(INADDR_ANY);
        } else if (addr.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
            memcpy(key->addr, &in6->sin6_addr, 16);
            key->port = ntohs(in6->sin6_port);
            key->any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
        } else if (addr.ss_family == AF_UNIX) {
            struct sockaddr_un *un = (struct sockaddr_un *)&addr;
            if (!un->sun_path[0])
                continue; /* abstract or unnamed: /proc/net/unix shows those with '@'; rare, skipped */
            memcpy(key->path, un->sun_path, strnlen(un->sun_path, sizeof un->sun_path));
        } else {
            continue;
        }
        n++;
    }
    return n;
}

/* /proc/net/tcp prints each 32-bit word of the address as the kernel holds it (network order
 * bytes read as a host integer), in %08X: copying the parsed words back gives the bytes. */
static bool parse_hex_addr(const char *hex, unsigned char *out, int words)
{
    if (strlen(hex) != (size_t)words * 8)
        return false;
    for (int i = 0; i < words; i++) {
        char word[9];
        memcpy(word, hex + i * 8, 8);
        word[8] = '\0';
        uint32_t value = (uint32_t)strtoul(word, NULL, 16);
        memcpy(out + i * 4, &value, 4);
    }
    return true;
}

/* A TCP connection seen from one end: the client's address and port (`near`), the server's
 * (`far`), and the inode of this end's socket. Both ends of one connection compare equal. */
struct tcp_end {
    unsigned long inode;
    int family;
    unsigned char near_addr[16], far_addr[16];
    unsigned near_port, far_port;
};

struct tcp_ends {
    struct tcp_end *at;
    size_t count, room;
};

struct key_match {
    struct inode_set *found;
    const struct listener_key *keys;
    int key_count;
    struct tcp_ends remotes; /* each connection found, seen from its server end */
    struct tcp_ends clients; /* each socket connected *to* a held address: a client end */
};

static void add_end(struct tcp_ends *ends, int family, const unsigned char *client, unsigned client_port,
                    const unsigned char *server, unsigned server_port, unsigned long inode)
{
    if (ends->count == ends->room) {
        size_t room = ends->room ? ends->room * 2 : 64;
        struct tcp_end *grown = realloc(ends->at, room * sizeof *grown);
        if (!grown)
            return; /* a peer not found: the connection counts, as if it were a client's */
        ends->at = grown;
        ends->room = room;
    }
    struct tcp_end *e = &ends->at[ends->count++];
    memset(e, 0, sizeof *e);
    e->inode = inode;
    e->family = family;
    memcpy(e->near_addr, client, family == AF_INET ? 4 : 16);
    memcpy(e->far_addr, server, family == AF_INET ? 4 : 16);
    e->near_port = client_port;
    e->far_port = server_port;
}

static bool matches_key(const struct key_match *m, int family, const unsigned char *addr, unsigned port)
{
    size_t addr_len = family == AF_INET ? 4 : 16;
    for (int k = 0; k < m->key_count; k++) {
        const struct listener_key *key = &m->keys[k];
        if (key->family == family && key->port == port && (key->any || memcmp(key->addr, addr, addr_len) == 0))
            return true;
    }
    return false;
}

/* A socket whose local address is a held listener's is a connection; one whose remote address is
 * is the client's end of one, kept to find the peer of a connection a generation made to itself. */
static void note_tcp(void *ctx, int family, const unsigned char *local, unsigned local_port,
                     const unsigned char *remote, unsigned remote_port, unsigned long inode)
{
    struct key_match *m = ctx;
    if (matches_key(m, family, local, local_port)) {
        add_inode(m->found, inode);
        add_end(&m->remotes, family, remote, remote_port, local, local_port, inode);
    } else if (matches_key(m, family, remote, remote_port)) {
        add_end(&m->clients, family, local, local_port, remote, remote_port, inode);
    }
}

typedef void tcp_socket_fn(void *ctx, int family, const unsigned char *local, unsigned local_port,
                           const unsigned char *remote, unsigned remote_port, unsigned long inode);

/* A sock_diag dump of one family's TCP sockets in `states`, each with an inode passed to `each`.
 * -1 if the kernel would not answer (then the text table is read instead). */
static int dump_tcp_netlink(int family, unsigned states, tcp_socket_fn *each, void *ctx)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -1;
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } dump = {
        .header = {.nlmsg_len = sizeof dump,
                   .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .request = {.sdiag_family = (unsigned char)family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = states},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, &dump, sizeof dump, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        close(fd);
        return -1;
    }
    static long buf[8192]; /* 64 KiB, aligned for nlmsghdr */
    int result = -1;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                result = 0;
                goto done;
            }
            if (h->nlmsg_type == NLMSG_ERROR)
                goto done;
            const struct inet_diag_msg *msg = NLMSG_DATA(h);
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof *msg) || msg->idiag_inode == 0)
                continue;
            each(ctx, family, (const unsigned char *)msg->id.idiag_src, ntohs(msg->id.idiag_sport),
                 (const unsigned char *)msg->id.idiag_dst, ntohs(msg->id.idiag_dport), msg->idiag_inode);
        }
    }
done:
    close(fd);
    return result;
}

/* The same from /proc/net/tcp or tcp6; false if the table cannot be read. */
static bool dump_tcp_text(int family, bool listening, tcp_socket_fn *each, void *ctx)
{
    FILE *f = fopen(family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6", "re");
    if (!f)
        return false;
    char line[512];
    int words = family == AF_INET ? 1 : 4;
    while (fgets(line, sizeof line, f)) {
        char local[40], remote[40];
        unsigned port, remote_port, state;
        unsigned long inode;
        if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x %*s %*s %*s %*u %*u %lu", local, &port, remote,
                   &remote_port, &state, &inode) != 6 ||
            (state == TCP_LISTEN) != listening || state == TCP_TIME_WAIT || inode == 0)
            continue;
        unsigned char addr[16], remote_addr[16];
        if (parse_hex_addr(local, addr, words) && parse_hex_addr(remote, remote_addr, words))
            each(ctx, family, addr, port, remote_addr, remote_port, inode);
    }
    fclose(f);
    return true;
}

/* Every TCP socket of `family` in `states` (TCP_STATES_WITH_FD or TCP_STATES_LISTEN), dumped
 * with sock_diag, else read from the text table; false if neither could be read. */
static bool dump_tcp(int family, unsigned states, tcp_socket_fn *each, void *ctx, size_t *const undo[])
{
    size_t before[4];
    int n = 0;
    for (; n < 4 && undo[n]; n++)
        before[n] = *undo[n];
    if (dump_tcp_netlink(family, states, each, ctx) == 0)
        return true;
    for (int i = 0; i < n; i++)
        *undo[i] = before[i]; /* a dump cut short: read the text table instead */
    return dump_tcp_text(family, states == TCP_STATES_LISTEN, each, ctx);
}

static void load_unix(struct conn_sockets *s, const struct listener_key *keys, int key_count)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f) {
        s->unreadable = true;
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long flags, inode;
        unsigned type, state;
        char path[sizeof keys[0].path];
        if (sscanf(line, "%*s %*x %*x %lx %x %x %lu %108s", &flags, &type, &state, &inode, path) != 5 ||
            state != UNIX_CONNECTED || (flags & UNIX_ACCEPTCON))
            continue;
        for (int k = 0; k < key_count; k++)
            if (keys[k].family == AF_UNIX && strcmp(keys[k].path, path) == 0) {
                add_inode(&s->conns, inode);
                break;
            }
    }
    fclose(f);
}

static int compare_peers(const void *a, const void *b)
{
    const struct peer *x = a, *y = b;
    return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static bool add_peer(struct conn_sockets *s, unsigned long inode, unsigned long peer, const struct conn_tuple *tuple)
{
    if (s->peer_count == s->peer_room) {
        size_t room = s->peer_room ? s->peer_room * 2 : 64;
        struct peer *grown = realloc(s->peers, room * sizeof *grown);
        if (!grown)
            return false;
        s->peers = grown;
        s->peer_room = room;
    }
    s->peers[s->peer_count++] = (struct peer){inode, peer, tuple ? *tuple : (struct conn_tuple){0}};
    return true;
}

static int compare_ends(const void *a, const void *b)
{
    const struct tcp_end *x = a, *y = b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    if (x->near_port != y->near_port)
        return x->near_port < y->near_port ? -1 : 1;
    if (x->far_port != y->far_port)
        return x->far_port < y->far_port ? -1 : 1;
    int near = memcmp(x->near_addr, y->near_addr, sizeof x->near_addr);
    return near ? near : memcmp(x->far_addr, y->far_addr, sizeof x->far_addr);
}

/* The peer of each TCP connection whose client is a socket of this host: the one with the same
 * two addresses and ports, the other way round (a generation connecting to its own port, as
 * etcd's gateway does). */
static void pair_tcp_peers(struct conn_sockets *s, struct key_match *m)
{
    if (!m->clients.count)
        return;
    qsort(m->clients.at, m->clients.count, sizeof *m->clients.at, compare_ends);
    for (size_t i = 0; i < m->remotes.count; i++) {
        const struct tcp_end *remote = &m->remotes.at[i];
        const struct tcp_end *client = bsearch(remote, m->clients.at, m->clients.count, sizeof *remote, compare_ends);
        if (!client)
            continue;
        struct conn_tuple tuple = {
            .family = remote->family, .client_port = remote->near_port, .server_port = remote->far_port};
        memcpy(tuple.client_addr, remote->near_addr, sizeof tuple.client_addr);
        memcpy(tuple.server_addr, remote->far_addr, sizeof tuple.server_addr);
        if (!add_peer(s, remote->inode, client->inode, &tuple))
            return;
    }
}

/* The peer of every connection in s->conns that is a Unix socket, from a sock_diag dump (no
 * table shows it as text), added to the TCP ones. Without it every Unix connection counts. */
static void load_unix_peers(struct conn_sockets *s)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return;
    struct {
        struct nlmsghdr header;
        struct unix_diag_req request;
    } dump = {
        .header = {.nlmsg_len = sizeof dump,
                   .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .request = {.sdiag_family = AF_UNIX, .udiag_states = 1u << UNIX_ESTABLISHED, .udiag_show = UDIAG_SHOW_PEER},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, &dump, sizeof dump, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        goto done;
    static long buf[8192]; /* 64 KiB, aligned for nlmsghdr */
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            goto done;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
                goto done;
            const struct unix_diag_msg *msg = NLMSG_DATA(h);
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof *msg) || !contains(&s->conns, msg->udiag_ino))
                continue;
            int attrs_len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
            for (struct rtattr *a = (struct rtattr *)(msg + 1); RTA_OK(a, attrs_len); a = RTA_NEXT(a, attrs_len)) {
                if (a->rta_type != UNIX_DIAG_PEER || RTA_PAYLOAD(a) < sizeof(uint32_t))
                    continue;
                if (!add_peer(s, msg->udiag_ino, *(uint32_t *)RTA_DATA(a), NULL))
                    goto done;
            }
        }
    }
done:
    close(fd);
}

struct conn_sockets *conncount_load(bool connections)
{
    struct conn_sockets *s = calloc(1, sizeof *s);
    struct listener_key *keys = calloc(LISTENERS_MAX, sizeof *keys);
    if (!s || !keys) {
        free(s);
        free(keys);
        return NULL;
    }
    int key_count = listener_keys(keys, &s->listeners);
    struct key_match match = {.found = &s->conns, .keys = keys, .key_count = key_count};
    size_t *const undo[] = {&s->conns.count, &match.remotes.count, &match.clients.count, NULL};
    /* A family's table only where a held listener is of that family (a socket matches a key of
     * its own family alone): each dump walks every TCP socket on the host. */
    bool inet = false, inet6 = false;
    for (int k = 0; k < key_count; k++) {
        inet |= keys[k].family == AF_INET;
        inet6 |= keys[k].family == AF_INET6;
    }
    if (connections && inet && !dump_tcp(AF_INET, TCP_STATES_WITH_FD, note_tcp, &match, undo))
        s->unreadable = true;
    if (connections) {
        if (inet6)
            dump_tcp(AF_INET6, TCP_STATES_WITH_FD, note_tcp, &match, undo); /* missing without IPv6 */
        load_unix(s, keys, key_count);
        pair_tcp_peers(s, &match);
    }
    free(keys);
    free(match.remotes.at);
    free(match.clients.at);
    settle(&s->conns);
    settle(&s->listeners);
    if (connections)
        load_unix_peers(s);
    if (s->peer_count > 1)
        qsort(s->peers, s->peer_count, sizeof *s->peers, compare_peers);
    return s;
}

void conncount_free(struct conn_sockets *s)
{
    if (s) {
        free(s->conns.inodes);
        free(s->listeners.inodes);
        free(s->peers);
        free(s);
    }
}

/* ---- what a process holds ------------------------------------------------------------------- */

static bool note_socket(int fd, const char *target, void *ctx)
{
    (void)fd;
    unsigned long inode;
    if (sscanf(target, "socket:[%lu]", &inode) == 1)
        add_inode(ctx, inode);
    return true;
}

/* Appends the inode of every socket open in `pid` to `found`. */
static bool socket_inodes_of(pid_t pid, struct inode_set *found)
{
    return proc_fds_each(pid, note_socket, found);
}

/* A connection whose other end is open in one of the processes too (`own`): the server talking
 * to itself, a master and its helpers (dovecot's anvil) over a Unix socket, a gateway calling its
 * own TCP port (etcd), which ends only with them. */
static const struct peer *peer_of(const struct conn_sockets *sockets, unsigned long inode)
{
    struct peer key = {.inode = inode};
    return sockets->peer_count ? bsearch(&key, sockets->peers, sockets->peer_count, sizeof key, compare_peers) : NULL;
}

static bool between_own_processes(const struct conn_sockets *sockets, const struct inode_set *own, unsigned long inode)
{
    const struct peer *found = peer_of(sockets, inode);
    return found && contains(own, found->peer);
}

unsigned long conncount_tcp_peer(const struct conn_sockets *sockets, unsigned long inode, struct conn_tuple *tuple)
{
    const struct peer *found = peer_of(sockets, inode);
    if (!found || !found->tuple.family)
        return 0;
    *tuple = found->tuple;
    return found->peer;
}

void conncount_held_among(const pid_t *pids, int count, const unsigned long *inodes, int n, bool *held)
{
    struct inode_set all = {0};
    for (int i = 0; i < count; i++)
        socket_inodes_of(pids[i], &all);
    settle(&all);
    for (int i = 0; i < n; i++)
        held[i] = contains(&all, inodes[i]);
    free(all.inodes);
}

long conncount_inspect(const struct conn_sockets *sockets, const pid_t *pids, int count, struct proc_sockets *each,
                       conn_excused_fn *excused, void *ctx)
{
    if (!sockets || sockets->unreadable)
        return -1;
    struct inode_set *held = calloc((size_t)count, sizeof *held);
    if (!held && count > 0)
        return -1;
    struct inode_set all = {0}, own = {0};
    for (int i = 0; i < count; i++) {
        bool readable = socket_inodes_of(pids[i], &held[i]); /* a process that just exited holds nothing */
        if (each)
            each[i] = (struct proc_sockets){.readable = readable};
        for (size_t k = 0; k < held[i].count; k++)
            add_inode(&own, held[i].inodes[k]);
    }
    settle(&own);
    for (int i = 0; i < count; i++) {
        for (size_t k = 0; k < held[i].count; k++) {
            unsigned long inode = held[i].inodes[k];
            if (contains(&sockets->conns, inode)) {
                if (between_own_processes(sockets, &own, inode) || (excused && excused(ctx, inode)))
                    continue;
                add_inode(&all, inode);
                if (each)
                    each[i].conns++;
            } else if (each && contains(&sockets->listeners, inode)) {
                each[i].holds_listener = true;
            }
        }
        free(held[i].inodes);
    }
    settle(&all); /* a socket shared by forked processes, or dup'ed, counts once */
    long total = (long)all.count;
    free(all.inodes);
    free(own.inodes);
    free(held);
    return total;
}

long conncount_held_by(const struct conn_sockets *sockets, const pid_t *pids, int count)
{
    return conncount_inspect(sockets, pids, count, NULL, NULL, NULL);
}

/* ---- listeners the shim never reported -------------------------------------------------------- */

struct listening {
    struct inode_set *inodes;
    struct {
        unsigned long inode;
        char name[INET6_ADDRSTRLEN + 16];
    } named[16];
    int named_count;
};

static void note_listening(void *ctx, int family, const unsigned char *addr, unsigned port, const unsigned char *remote,
                           unsigned remote_port, unsigned long inode)
{
    (void)remote;
    (void)remote_port;
    struct listening *l = ctx;
    add_inode(l->inodes, inode);
    if (l->named_count >= (int)(sizeof l->named / sizeof l->named[0]))
        return;
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(family, addr, ip, sizeof ip);
    snprintf(l->named[l->named_count].name, sizeof l->named[0].name, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
             port);
    l->named[l->named_count++].inode = inode;
}

bool conncount_unheld_listener(const pid_t *pids, int count, const unsigned long *known, int known_count,
                               bool (*prefer)(pid_t pid, void *ctx), void *ctx, pid_t *holder, char *name, size_t size)
{
    struct inode_set held = {0}, listening = {0}, mine = {0};
    struct listener_key *keys = calloc(LISTENERS_MAX, sizeof *keys);
    if (!keys)
        return false;
    listener_keys(keys, &held);
    free(keys);
    for (int i = 0; i < known_count; i++)
        add_inode(&held, known[i]);
    settle(&held);
    struct listening found = {.inodes = &listening};
    size_t *const undo[] = {&listening.count, NULL};
    dump_tcp(AF_INET, TCP_STATES_LISTEN, note_listening, &found, undo);
    dump_tcp(AF_INET6, TCP_STATES_LISTEN, note_listening, &found, undo);
    settle(&listening);
    unsigned long unheld = 0;
    bool preferred = false;
    for (int i = 0; i < count && !preferred; i++) {
        mine.count = 0;
        socket_inodes_of(pids[i], &mine);
        for (size_t k = 0; k < mine.count; k++) {
            unsigned long inode = mine.inodes[k];
            if (!contains(&listening, inode) || contains(&held, inode) || (unheld && inode != unheld))
                continue;
            if (!unheld) {
                unheld = inode;
                *holder = pids[i];
            }
            if (prefer && prefer(pids[i], ctx)) {
                *holder = pids[i];
                preferred = true;
            }
            break;
        }
    }
    if (unheld) {
        snprintf(name, size, "a TCP port");
        for (int n = 0; n < found.named_count; n++)
            if (found.named[n].inode == unheld)
                snprintf(name, size, "%s", found.named[n].name);
    }
    free(held.inodes);
    free(listening.inodes);
    free(mine.inodes);
    return unheld != 0;
}
