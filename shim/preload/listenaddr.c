/* listenaddr.c: a small table, written when a listener appears (rare), read by the drain. */
#define _GNU_SOURCE
#include "listenaddr.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/un.h>

#include "real.h"

#define LISTENADDR_MAX 64

static struct sockaddr_storage addrs[LISTENADDR_MAX];
static socklen_t lens[LISTENADDR_MAX];
static atomic_int count; /* entries below it are complete: readers need no lock */
static atomic_flag writing = ATOMIC_FLAG_INIT;

static bool same(const struct sockaddr *listener, socklen_t listener_len, const struct sockaddr *local, socklen_t len)
{
    if (listener->sa_family != local->sa_family)
        return false;
    if (local->sa_family == AF_INET) {
        const struct sockaddr_in *l = (const void *)listener, *s = (const void *)local;
        return l->sin_port == s->sin_port &&
               (l->sin_addr.s_addr == htonl(INADDR_ANY) || l->sin_addr.s_addr == s->sin_addr.s_addr);
    }
    if (local->sa_family == AF_INET6) {
        const struct sockaddr_in6 *l = (const void *)listener, *s = (const void *)local;
        return l->sin6_port == s->sin6_port &&
               (IN6_IS_ADDR_UNSPECIFIED(&l->sin6_addr) || memcmp(&l->sin6_addr, &s->sin6_addr, 16) == 0);
    }
    /* Unix: an accepted socket carries its listener's name */
    return listener_len == len && memcmp(listener, local, len) == 0;
}

void listenaddr_note(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (real.getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        listenaddr_add((struct sockaddr *)&addr, len);
}

void listenaddr_add(const struct sockaddr *listener, socklen_t len)
{
    if (len > sizeof(struct sockaddr_storage))
        return;
    struct sockaddr_storage addr;
    memcpy(&addr, listener, len);
    while (atomic_flag_test_and_set(&writing))
        ;
    int n = atomic_load(&count);
    bool known = false;
    for (int i = 0; i < n && !known; i++)
        known = lens[i] == len && memcmp(&addrs[i], &addr, len) == 0;
    if (!known && n < LISTENADDR_MAX) {
        memcpy(&addrs[n], &addr, len);
        lens[n] = len;
        atomic_store(&count, n + 1);
    }
    atomic_flag_clear(&writing);
}

void listenaddr_fork_prepare(void)
{
    while (atomic_flag_test_and_set(&writing))
        ;
}

void listenaddr_fork_done(void)
{
    atomic_flag_clear(&writing);
}

bool listenaddr_is_listeners(const struct sockaddr *local, socklen_t len)
{
    int n = atomic_load(&count);
    for (int i = 0; i < n; i++)
        if (same((const struct sockaddr *)&addrs[i], lens[i], local, len))
            return true;
    return false;
}
