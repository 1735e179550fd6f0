/* init.c: the shim's constructor and its fork handler: inherited listeners parsed, the mode
 * chosen once (mode.c), and, when the shim is in charge, the drain, --handover-idle and
 * standalone upgrades armed. The hooks themselves are in hooks_*.c, one file per call family. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>

#include "drain.h"
#include "fdtable.h"
#include "gate.h"
#include "handover.h"
#include "inherit.h"
#include "listenaddr.h"
#include "mode.h"
#include "real.h"
#include "report.h"
#include "standalone.h"
#include "threadid.h"

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
        pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
    }
    errno = saved;
}
