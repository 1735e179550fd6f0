/* hooks_lock.h: a failed lock call, told to the launcher (hooks_lock.c). */
#ifndef HOTSWAP_HOOKS_LOCK_H
#define HOTSWAP_HOOKS_LOCK_H

/* fcntl(fd, cmd, ...) returned -1 with errno as it left it: if cmd set a lock and another holds
 * it, the launcher hears of the file. errno is kept. */
void lockreport_fcntl_failed(int fd, int cmd);

#endif
