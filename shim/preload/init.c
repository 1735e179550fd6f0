/* init.c: the shim's constructor and its fork handler: inherited listeners parsed, the mode
 * chosen once (mode.h), and, when the shim is in charge, the drain, --handover-idle and
 * standalone upgrades armed. The hooks themselves are in hooks_*.c, one file per call family. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "channel.h"
#include "drain.h"
#include "env.h"
#include "fdtable.h"
#include "gate.h"
#include "handover.h"
#include "inherit.h"
#include "listenaddr.h"
#include "mode.h"
#include "real.h"
#include "received.h"
#include "report.h"
#include "shimlog.h"
#include "sigwatch.h"
#include "standalone.h"
#include "threadid.h"

/* Judged from the environment alone, before anything is looked up: a program the server execs
 * (a CGI script, a helper) passes calls through, and pays for no lookup of the functions it never
 * calls. */
static bool may_take_charge(void)
{
    if (getenv(HS_ENV_CHANNEL_FD))
        return !report_in_descendant();
    return standalone_eligible();
}

/* Reads the environment and decides; the constructor stores the answer in shim_mode. */
static enum shim_mode mode_choose(void)
{
    if (mode_secure_execution())
        return MODE_PASSTHROUGH;
    if (may_take_charge() && real_missing()) {
        shim_say("libc has no ", real_missing(), "(): passing calls through", NULL);
        return MODE_PASSTHROUGH;
    }
    switch (report_open()) {
    case CHANNEL_OK:
        report_hello();
        /* a channel and HOTSWAP_STANDALONE: started by a standalone predecessor's upgrade */
        return getenv(HS_ENV_STANDALONE) ? MODE_STANDALONE : MODE_SUPERVISED;
    case CHANNEL_DORMANT:
        /* exec'd by a process of the generation: it takes part only if it is handed a
         * connection on a listener's address, or waits on a listener it got (received.c) */
        received_scan_inherited();
        return MODE_PASSTHROUGH;
    case CHANNEL_BAD:
        /* A program the server execs (a CGI script) inherits the environment but not always
         * the channel (not from a dormant one): that is no fault worth a line. */
        if (!report_in_descendant())
            shim_say(HS_ENV_CHANNEL_FD "=", getenv(HS_ENV_CHANNEL_FD),
                     " is not a hotswap channel: passing calls through", NULL);
        return MODE_PASSTHROUGH;
    case CHANNEL_UNSET:
    default:
        return standalone_eligible() ? MODE_STANDALONE : MODE_PASSTHROUGH;
    }
}

/* Every lock of the shim is held across fork() (taken in the order the hooks nest them), so a
 * child never starts with one held by a thread it does not have. */
static void on_fork_prepare(void)
{
    inherit_fork_prepare();
    listenaddr_fork_prepare();
}

static void on_fork_parent(void)
{
    listenaddr_fork_done();
    inherit_fork_done();
}

static void on_fork_child(void)
{
    on_fork_parent();
    thread_id_after_fork();
    standalone_after_fork();
    fdtable_after_fork();
    drain_after_fork();
    report_after_fork();
}

bool shim_take_part(void)
{
    if (shim_in_charge())
        return true;
    if (!report_dormant() || real_missing())
        return false;
    if (!report_wake())
        return report_active(); /* another thread woke it first: its hello is on its way */
    int saved = errno;
    drain_init();
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
    shim_mode = MODE_SUPERVISED;
    sigwatch_init();
    report_hello();
    errno = saved;
    return true;
}

__attribute__((constructor)) static void shim_init(void)
{
    int saved = errno;
    if (!mode_secure_execution())
        inherit_init();
    shim_mode = mode_choose();
    if (shim_in_charge()) {
        drain_init();
        handover_init();
        gate_init();
        if (shim_mode == MODE_STANDALONE)
            standalone_init();
        sigwatch_init();
        pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
    }
    errno = saved;
}
