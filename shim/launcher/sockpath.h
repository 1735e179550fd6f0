/* sockpath.h: removing a Unix socket's path, only if it is still the socket the launcher holds. */
#ifndef HOTSWAP_SOCKPATH_H
#define HOTSWAP_SOCKPATH_H

#include <stddef.h>

/* Removes `path` if it names the file that the socket `fd` is bound to (the kernel's record of
 * that file, read with sock_diag, compared with what the path's last component is, looked at
 * without following it, in its directory opened once). Returns 0 if removed or already gone;
 * 1 if the path names something else, or cannot be checked: left in place, `why` says why;
 * -1 with errno if the unlink itself failed. */
int sockpath_remove(int fd, const char *path, char *why, size_t size);

#endif
