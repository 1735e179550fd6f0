/* conncount.c: matching the socket inodes in /proc/PID/fd against the kernel's socket tables:
 * TCP from a sock_diag netlink dump (the text of /proc/net/tcp if that fails), Unix from
 * /proc/net/unix. */
#define _GNU_SOURCE
#include "conncount.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "listeners.h"

#define TCP_LISTEN 0x0A
#define TCP_TIME_WAIT 0x06
/* States a socket with an fd can be in: no LISTEN, and no SYN_RECV or TIME_WAIT (no fd yet, or
 * none any more; a busy host has tens of thousands in TIME_WAIT). */
#define TCP_STATES_WITH_FD ((1u << 1) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 7) | (1u << 8) | \
                            (1u << 9) | (1u << 11))
#define UNIX_CONNECTED 3
#define UNIX_ACCEPTCON 0x10000 /* __SO_ACCEPTCON: a listening socket */

struct listener_key {
    int family;                /* AF_INET, AF_INET6, AF_UNIX */
    unsigned char addr[16];
    unsigned port;
    bool any;                  /* bound to the wildcard address: match the port alone */
    char path[sizeof ((struct sockaddr_un *)0)->sun_path + 1];
};

struct conn_sockets {
    unsigned long *inodes;     /* sorted */
    size_t count, room;
    bool unreadable;
};

static int listener_keys(struct listener_key *keys)
{
    int n = 0;
    for (int i = 0; i < listeners_count(); i++) {
        int fd = listeners_get(i)->fd, type = 0;
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

static void add_inode(struct conn_sockets *s, unsigned long inode)
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

static void note_tcp(struct conn_sockets *s, int family, const unsigned char *addr, unsigned port,
                     unsigned long inode, const struct listener_key *keys, int key_count)
{
    size_t addr_len = family == AF_INET ? 4 : 16;
    for (int k = 0; k < key_count; k++) {
        const struct listener_key *key = &keys[k];
        if (key->family == family && key->port == port && (key->any || memcmp(key->addr, addr, addr_len) == 0)) {
            add_inode(s, inode);
            return;
        }
    }
}

/* A sock_diag dump of one family's TCP sockets in the states that can have an fd. -1 if the
 * kernel would not answer (then the text table is read instead). */
static int load_tcp_netlink(struct conn_sockets *s, int family, const struct listener_key *keys, int key_count)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -1;
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } dump = {
        .header = {.nlmsg_len = sizeof dump, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .request = {.sdiag_family = (unsigned char)family, .sdiag_protocol = IPPROTO_TCP,
                    .idiag_states = TCP_STATES_WITH_FD},
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
            note_tcp(s, family, (const unsigned char *)msg->id.idiag_src, ntohs(msg->id.idiag_sport),
                     msg->idiag_inode, keys, key_count);
        }
    }
done:
    close(fd);
    return result;
}

static void load_tcp(struct conn_sockets *s, const char *table, int family, const struct listener_key *keys,
                     int key_count)
{
    size_t before = s->count;
    if (load_tcp_netlink(s, family, keys, key_count) == 0)
        return;
    s->count = before; /* a dump cut short: read the text table instead */
    FILE *f = fopen(table, "re");
    if (!f) {
        s->unreadable = s->unreadable || family == AF_INET; /* tcp6 is missing without IPv6 */
        return;
    }
    char line[512];
    int words = family == AF_INET ? 1 : 4;
    while (fgets(line, sizeof line, f)) {
        char local[40];
        unsigned port, state;
        unsigned long inode;
        if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*s %*s %*s %*u %*u %lu", local, &port,
                   &state, &inode) != 4 ||
            state == TCP_LISTEN || state == TCP_TIME_WAIT || inode == 0)
            continue;
        unsigned char addr[16];
        if (parse_hex_addr(local, addr, words))
            note_tcp(s, family, addr, port, inode, keys, key_count);
    }
    fclose(f);
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
                add_inode(s, inode);
                break;
            }
    }
    fclose(f);
}

static int compare_inodes(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

struct conn_sockets *conncount_load(void)
{
    struct conn_sockets *s = calloc(1, sizeof *s);
    struct listener_key *keys = calloc(LISTENERS_MAX, sizeof *keys);
    if (!s || !keys) {
        free(s);
        free(keys);
        return NULL;
    }
    int key_count = listener_keys(keys);
    load_tcp(s, "/proc/net/tcp", AF_INET, keys, key_count);
    load_tcp(s, "/proc/net/tcp6", AF_INET6, keys, key_count);
    load_unix(s, keys, key_count);
    free(keys);
    if (s->count)
        qsort(s->inodes, s->count, sizeof *s->inodes, compare_inodes);
    return s;
}

void conncount_free(struct conn_sockets *s)
{
    if (s) {
        free(s->inodes);
        free(s);
    }
}

/* Appends the inode of every socket open in `pid` to `found`. */
static bool socket_inodes_of(pid_t pid, struct conn_sockets *found)
{
    char dir_path[64];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(dir_path);
    if (!dir)
        return false;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        char link_path[sizeof dir_path + sizeof entry->d_name + 1], target[64];
        if (entry->d_name[0] == '.')
            continue;
        snprintf(link_path, sizeof link_path, "%s/%s", dir_path, entry->d_name);
        ssize_t n = readlink(link_path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        unsigned long inode;
        if (sscanf(target, "socket:[%lu]", &inode) == 1)
            add_inode(found, inode);
    }
    closedir(dir);
    return true;
}

long conncount_held_by(const struct conn_sockets *sockets, const pid_t *pids, int count)
{
    if (!sockets || sockets->unreadable)
        return -1;
    struct conn_sockets held = {0};
    for (int i = 0; i < count; i++)
        socket_inodes_of(pids[i], &held); /* a process that just exited holds nothing */
    long total = 0;
    if (held.count && sockets->count)
        qsort(held.inodes, held.count, sizeof *held.inodes, compare_inodes);
    for (size_t i = 0; sockets->count && i < held.count; i++) {
        if (i > 0 && held.inodes[i] == held.inodes[i - 1])
            continue; /* shared by a fork, or dup'ed */
        if (bsearch(&held.inodes[i], sockets->inodes, sockets->count, sizeof *sockets->inodes, compare_inodes))
            total++;
    }
    free(held.inodes);
    return total;
}
