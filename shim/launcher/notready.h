/* notready.h: why a starting generation is not ready. */
#ifndef HOTSWAP_NOTREADY_H
#define HOTSWAP_NOTREADY_H

#include <stddef.h>

#include "genstate.h"

/* Not ready, and the kernel shows why: "it listens on ... but the shim never saw it", or "". */
const char *gen_unseen_listener(struct generation *g);

/* What keeps `g` from being ready, for its failure's reason ("not ready within ...: ..."). */
void gen_explain_not_ready(struct generation *g, char *why, size_t size);

#endif
