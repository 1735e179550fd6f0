/* release.h: listeners the server's configuration no longer binds. After a reload, once the new
 * generation has been serving for a while and no older one is left, a held listener that none
 * of its processes uses is released: the port stops queueing connections nobody will accept. */
#ifndef HOTSWAP_RELEASE_H
#define HOTSWAP_RELEASE_H

#include "generation.h"

/* How long the only generation left must have been ready before its listeners are looked at
 * (a server may bind some only after its first accept). */
#define RELEASE_AFTER_MS 2000

/* Releases the held listeners that no process of `g` uses, logging each; once per generation. */
void release_unused_listeners(struct generation *g);

#endif
