/* mode.h: what the shim does in this process, decided once by the constructor. */
#ifndef HOTSWAP_MODE_H
#define HOTSWAP_MODE_H

#include <stdbool.h>

enum shim_mode {
    MODE_PASSTHROUGH, /* nothing: every call goes straight to libc */
    MODE_SUPERVISED,  /* under the hotswap launcher, which holds the listeners */
    MODE_STANDALONE,  /* no launcher: the process upgrades itself on the trigger signal */
};

extern enum shim_mode shim_mode;

/* The kernel marked this execution secure (AT_SECURE): the shim takes nothing from the
 * environment and stays out of the way. */
bool mode_secure_execution(void);

/* Tracking listeners, readiness and drains: true unless passing through. */
static inline bool shim_in_charge(void)
{
    return shim_mode != MODE_PASSTHROUGH;
}

/* A program passing calls through because another process of the generation exec'd it, and
 * which now holds a connection on a held listener's address, takes part from here on: the
 * dormant channel used, hello said, the drain armed (init.c). False if it cannot. */
bool shim_take_part(void);

#endif
