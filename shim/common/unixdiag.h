/* unixdiag.h: which file a bound Unix socket is, as the kernel records it (sock_diag's
 * UNIX_DIAG_VFS: the device and inode of the file its path named at bind, kept by the socket
 * whatever happens to the name since). A path is only a name: relative, it means another file in
 * another working directory; absolute, it may be swapped. Both programs compare files, not
 * names. Only the query and the reply are here; each program does its own I/O (the shim reaches
 * libc only through real.*). */
#ifndef HOTSWAP_UNIXDIAG_H
#define HOTSWAP_UNIXDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct unix_bound_file {
    uint32_t dev; /* the kernel's own encoding: major << 20 | minor */
    uint32_t ino;
};

/* The sock_diag request for the socket whose inode (fstat's st_ino on the fd) is `socket_ino`,
 * written to `buf`; its length, or 0 if `size` is too small. Send it to NETLINK_SOCK_DIAG. */
size_t unixdiag_query(void *buf, size_t size, uint32_t socket_ino);

/* Reads the kernel's reply (`len` bytes, aligned for nlmsghdr) to that request: true and `out`
 * set if it names the file socket `socket_ino` is bound to; false for an unbound or abstract
 * socket, an error, or a reply about another socket. */
bool unixdiag_read_reply(const void *reply, size_t len, uint32_t socket_ino, struct unix_bound_file *out);

/* True if `st` (an lstat of a path) is that very file. */
bool unixdiag_is_file(const struct unix_bound_file *bound, const struct stat *st);

#endif
