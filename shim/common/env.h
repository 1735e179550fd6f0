/* env.h: every environment variable the launcher and the shim pass, each named once.
 * docs/libhotswap.7 documents each (tests/manpages.bats checks both ways). */
#ifndef HOTSWAP_ENV_H
#define HOTSWAP_ENV_H

/* (Unformatted: each name with its comment beside it, as written.) */
/* clang-format off */

/* Set by the launcher for each generation. */
#define HS_ENV_CHANNEL_FD "HOTSWAP_CHANNEL_FD"   /* fd number of the generation's channel (channel.h) */
#define HS_ENV_GENERATION "HOTSWAP_GENERATION"   /* 1, 2, ... (informational; servers may print it) */
#define HS_ENV_DRAIN_SIGNAL "HOTSWAP_DRAIN_SIGNAL" /* signal number that starts a drain */
#define HS_ENV_HANDOVER_IDLE "HOTSWAP_HANDOVER_IDLE" /* "1": a drain passes idle connections to the
                                                        next generation instead of closing them */
#define HS_ENV_HANDOVER_MAP "HOTSWAP_HANDOVER_MAP" /* fd number of the handover map (channel.h) */
#define HS_ENV_READY_GATE "HOTSWAP_READY_GATE" /* --ready notify: fd number of an eventfd that
                                                    turns readable once the generation said
                                                    READY=1; until then its listeners take no
                                                    connection (gate.h) */
#define HS_ENV_IDLE_CLOSE "HOTSWAP_IDLE_CLOSE" /* --idle-close: "turn" (the default), "http" or
                                                    "never" (idleturn.h) */
#define HS_ENV_KEEP_OLD "HOTSWAP_KEEP_OLD"   /* "1" (--keep-old): a drain keeps each listener
                                                    hidden in the process, so that a re-arm
                                                    (hotswap rollback) can put it back */
#define HS_ENV_PID "HOTSWAP_PID"                 /* the pid the launcher started: the shim's fds
                                                    survive an exec by this pid only, but for the
                                                    channel, which a program another process of
                                                    the generation execs keeps unused until it
                                                    receives a connection (received.h) */
#define HS_ENV_LISTEN_FDS "HOTSWAP_LISTEN_FDS"   /* N: the held listeners are at fds 3..3+N-1, for
                                                    the process HOTSWAP_PID. Not systemd's
                                                    LISTEN_FDS, which a server may read and adopt
                                                    with its own defaults (--socket-activation
                                                    passes those too) */
#define HS_LISTEN_FDS_START 3                  /* where the hand-over puts the first listener (as systemd) */

/* Standalone mode (no launcher): read by the shim, set by the user or by an upgrade. */
#define HS_ENV_STANDALONE "HOTSWAP_STANDALONE"         /* set in a process started by an upgrade */
#define HS_ENV_STANDALONE_PID "HOTSWAP_STANDALONE_PID" /* the process in charge of upgrades */
#define HS_ENV_TRIGGER_SIGNAL "HOTSWAP_TRIGGER_SIGNAL" /* default SIGHUP */
#define HS_ENV_STOP_SIGNAL "HOTSWAP_STOP_SIGNAL"       /* default SIGTERM */
#define HS_ENV_PIDFILE "HOTSWAP_PIDFILE"
/* clang-format on */

#endif
