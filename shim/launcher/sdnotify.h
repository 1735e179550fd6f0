/* sdnotify.h: telling a service manager how the launcher is doing (systemd's Type=notify
 * protocol: datagrams of "KEY=value" lines to the socket named by NOTIFY_SOCKET). */
#ifndef HOTSWAP_SDNOTIFY_H
#define HOTSWAP_SDNOTIFY_H

#include <stdbool.h>

/* Reads NOTIFY_SOCKET (a path, or "@name" for an abstract address) and removes it from the
 * environment, so no generation ever talks to the service manager in the launcher's stead.
 * Says so in one line if it is set but unusable. */
void sdnotify_open(void);

bool sdnotify_enabled(void);

/* Sends one datagram; a no-op without NOTIFY_SOCKET. Never blocks. */
void sdnotify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC=. */
unsigned long long sdnotify_monotonic_usec(void);

#endif
