/* try.h: `hotswap try`: run a server, load it, reload it, and say whether anything was lost. */
#ifndef HOTSWAP_TRY_H
#define HOTSWAP_TRY_H

#include "options.h"

/* `argv` is the whole command line (the launcher's own options are passed through). Returns the
 * exit status: 0 only if nothing was lost. */
int try_run(const struct options *opt, int argc, char **argv);

#endif
