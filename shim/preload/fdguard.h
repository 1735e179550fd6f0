/* fdguard.h: keeping fd kinds right when the server duplicates or mass-closes fds, and keeping
 * the shim's own fds (the channel, unclaimed inherited listeners) alive through it. */
#ifndef HOTSWAP_FDGUARD_H
#define HOTSWAP_FDGUARD_H

/* `to` is now a duplicate of `from` (dup, dup2, dup3, F_DUPFD*): it is what `from` is. */
void fdguard_copied(int from, int to);

/* dup2/dup3 is about to put something on `fd`: a shim fd there moves out of the way; a
 * connection or listener there is closed by it. Returns 0, or -1 if a shim fd could not move. */
int fdguard_before_overwrite(int fd);

/* close_range() that skips the shim's fds and counts closed connections out. */
int fdguard_close_range(unsigned first, unsigned last, int flags);

#endif
