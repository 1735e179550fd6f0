/* envfile.h: --env-file FILE, read again at every reload: the next generation's environment
 * gets its KEY=VALUE lines on top of the launcher's. */
#ifndef HOTSWAP_ENVFILE_H
#define HOTSWAP_ENVFILE_H

#include <stddef.h>

/* Reads `path`: lines KEY=VALUE (KEY a shell name; VALUE the rest of the line, as it is), blank
 * lines and lines starting with '#' skipped. 0 with *out a NULL-terminated array of "KEY=VALUE"
 * in one allocation (free() it); -1 with one line in `why` ("FILE line 3: not KEY=VALUE") and
 * *out NULL. */
int envfile_read(const char *path, char ***out, char *why, size_t size);

#endif
