/* listeners.c: the held listeners, in the order they were created (their LISTEN_FDS order). */
#define _GNU_SOURCE
#include "listeners.h"

#include <stdbool.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sockpath.h"

static struct held_listener held[LISTENERS_MAX];
static int held_count;

/* A relative Unix path as the binder meant it: against its working directory (read once, when
 * the listener is first held; a name for operators, while removing a path checks the file). */
static void describe_unix_path(const char *path, pid_t binder, char *name, size_t size)
{
    char link[64], cwd[LISTENER_NAME_MAX];
    ssize_t n = -1;
    if (path[0] != '/' && binder > 0) {
        snprintf(link, sizeof link, "/proc/%d/cwd", (int)binder);
        n = readlink(link, cwd, sizeof cwd - 1);
    }
    if (n > 0 && (size_t)n < sizeof cwd - 1 && cwd[0] == '/') {
        cwd[n] = '\0';
        int len = snprintf(name, size, "unix:%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path);
        if (len > 0 && (size_t)len < size)
            return;
    }
    snprintf(name, size, "unix:%s", path);
}

int listeners_describe(int fd, pid_t binder, char *name, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return -1;
    char ip[INET6_ADDRSTRLEN];
    int type = 0;
    socklen_t type_len = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len);
    const char *udp = type == SOCK_DGRAM ? "udp:" : "";
    if (addr.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&addr;
        snprintf(name, size, "%s%s:%u", udp, inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip), ntohs(in->sin_port));
    } else if (addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
        snprintf(name, size, "%s[%s]:%u", udp, inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip),
                 ntohs(in6->sin6_port));
    } else if (addr.ss_family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&addr;
        if (un->sun_path[0])
            describe_unix_path(un->sun_path, binder, name, size);
        else
            snprintf(name, size, "unix:@abstract");
    } else {
        snprintf(name, size, "family %d", addr.ss_family);
    }
    return 0;
}

/* The same socket (not just the same address) as a held one: sockets have an inode in sockfs. */
static bool already_held(int fd)
{
    struct stat mine, theirs;
    if (fstat(fd, &mine) < 0)
        return false;
    for (int i = 0; i < held_count; i++)
        if (fstat(held[i].fd, &theirs) == 0 && theirs.st_ino == mine.st_ino && theirs.st_dev == mine.st_dev)
            return true;
    return false;
}

int listeners_add(int fd, int gen, pid_t binder)
{
    if (already_held(fd)) {
        close(fd);
        return 1;
    }
    struct held_listener *slot = &held[held_count];
    if (held_count >= LISTENERS_MAX || listeners_describe(fd, binder, slot->name, sizeof slot->name) < 0) {
        close(fd);
        return -1;
    }
    slot->fd = fd;
    slot->from_generation = gen;
    held_count++;
    return 0;
}

void listeners_drop_from(int gen)
{
    int kept = 0;
    for (int i = 0; i < held_count; i++) {
        if (held[i].from_generation == gen) {
            hs_log("gen %d failed: dropping the listener it created on %s", gen, held[i].name);
            close(held[i].fd);
        } else {
            held[kept++] = held[i];
        }
    }
    held_count = kept;
}

int listeners_count(void)
{
    return held_count;
}

const struct held_listener *listeners_get(int index)
{
    return index >= 0 && index < held_count ? &held[index] : NULL;
}

/* Only the socket that was held is removed, never whatever the path names by now: a
 * generation's process may have swapped a directory on the path for a symlink (sockpath.c). */
static void remove_path(const struct held_listener *l)
{
    if (strncmp(l->name, "unix:/", 6) != 0 || l->from_generation == ACTIVATION_GENERATION)
        return; /* a socket-activated path is the service manager's */
    const char *path = l->name + 5;
    char why[160];
    int rc = sockpath_remove(l->fd, path, why, sizeof why);
    if (rc > 0)
        hs_log("%s left in place: %s", path, why);
    else if (rc < 0)
        hs_log("cannot remove %s: %s", path, strerror(errno));
}

void listeners_remove_paths(void)
{
    for (int i = 0; i < held_count; i++)
        remove_path(&held[i]);
}

void listeners_release(int index)
{
    if (index < 0 || index >= held_count)
        return;
    struct held_listener *l = &held[index];
    remove_path(l);
    /* The socket, not just our fd: a process of the generation may still hold a copy it was
     * handed and never used, which would keep the port bound and queueing for nobody. */
    shutdown(l->fd, SHUT_RDWR);
    close(l->fd);
    memmove(l, l + 1, (size_t)(held_count - index - 1) * sizeof *l);
    held_count--;
}
