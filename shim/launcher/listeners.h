/* listeners.h: the listening sockets the launcher holds for the whole of its life, so the kernel
 * keeps queueing connections between generations. */
#ifndef HOTSWAP_LISTENERS_H
#define HOTSWAP_LISTENERS_H

#include <stddef.h>
#include <sys/types.h>

#define LISTENERS_MAX 256
#define LISTENER_NAME_MAX 256 /* "unix:" and a path made absolute against its binder's directory */

/* Generation number recorded for the listeners socket activation handed the launcher
 * (activation.h): no generation created them, none drops them, and their Unix paths belong to
 * the service manager (never removed by the launcher). */
#define ACTIVATION_GENERATION 0

struct held_listener {
    int fd;
    int from_generation;          /* the generation that created it */
    char name[LISTENER_NAME_MAX]; /* "127.0.0.1:8080", "[::1]:8080", "unix:/run/app.sock" */
};

/* Takes ownership of `fd`, a listener generation `gen` created, process `binder` bound (0 if
 * unknown). Returns 0; 1 if that very socket is held already (the copy is closed); -1 when full
 * or when `fd` is not a bound socket (then closes it). */
int listeners_add(int fd, int gen, pid_t binder);

/* The name a held listener gets ("127.0.0.1:8080", "udp:[::1]:53", "unix:/run/app.sock") of
 * the bound socket `fd`; -1 if it is not one. A relative Unix path names a file in its binder's
 * working directory: with `binder` (a pid, or 0), it is shown made absolute against that. */
int listeners_describe(int fd, pid_t binder, char *name, size_t size);

/* A generation that failed: the listeners it created go with it. */
void listeners_drop_from(int gen);

int listeners_count(void);
const struct held_listener *listeners_get(int index);

/* A listener no generation uses any more (release.c): its path goes, the socket is shut down
 * (whoever still holds a copy) and it is no longer handed over. Later indexes move down. */
void listeners_release(int index);

/* At the final stop: Unix listeners' paths go, as the server's own clean-up would have done. */
void listeners_remove_paths(void);

#endif
