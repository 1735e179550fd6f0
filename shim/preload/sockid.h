/* sockid.h: what a socket is (domain, type, protocol, local address, IPV6_V6ONLY), read from
 * the fd itself, and whether a bind() asks for the same thing. */
#ifndef HOTSWAP_SOCKID_H
#define HOTSWAP_SOCKID_H

#include <stdbool.h>
#include <sys/socket.h>

#include "unixdiag.h"

struct sockid {
    int domain, type, protocol;
    int v6only; /* AF_INET6 only */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool has_file;               /* a Unix path socket whose file the kernel named (sockid_read) */
    struct unix_bound_file file; /* then: what its path named at bind */
};

/* Reads the identity of the socket on `fd`, local address included, and for a Unix path socket
 * the file it is bound to (one sock_diag query: only for such sockets). -1 if it is not a socket. */
int sockid_read(int fd, struct sockid *id);

/* Reads domain, type, protocol and v6only only (a socket not yet bound). */
int sockid_read_kind(int fd, struct sockid *id);

/* True when binding a socket of kind `want` to `addr` would make the bound socket `have`.
 * Never true for port 0 or an autobound Unix address: those ask for "any", not for this one.
 * A Unix path is compared as the file it names here and now (relative to this process's working
 * directory, as bind() resolves it) with the file `have` is bound to; by its bytes only where
 * the kernel did not say which file that is. */
bool sockid_matches(const struct sockid *have, const struct sockid *want, const struct sockaddr *addr,
                    socklen_t addrlen);

/* The filesystem path of a bound Unix socket (NULL for other sockets and abstract names). */
const char *sockid_unix_path(const struct sockid *id);

/* True if `path`, looked up here and now without following a last symlink, is the file `id`
 * (a Unix path socket) is bound to; where the kernel did not say which file that is, if `path`
 * is byte for byte its path. Preserves errno. */
bool sockid_is_bound_path(const struct sockid *id, const char *path);

#endif
