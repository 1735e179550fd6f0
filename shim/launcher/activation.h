/* activation.h: listeners handed to the launcher itself by socket activation (systemd's
 * LISTEN_FDS), held from the start and passed to every generation like the server's own. */
#ifndef HOTSWAP_ACTIVATION_H
#define HOTSWAP_ACTIVATION_H

/* Takes fds 3.. when LISTEN_PID is this process and LISTEN_FDS counts them; then removes
 * LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES from the environment. Returns how many are held. */
int activation_take(void);

#endif
