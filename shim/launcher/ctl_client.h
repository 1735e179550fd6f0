/* ctl_client.h: the `hotswap reload` / `hotswap stop` side of the launcher's control socket. */
#ifndef HOTSWAP_CTL_CLIENT_H
#define HOTSWAP_CTL_CLIENT_H

#include "options.h"

/* Sends the request, prints the progress, returns the exit status (0 only on success). */
int ctl_client_run(const struct options *opt);

#endif
