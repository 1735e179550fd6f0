/* mode.c: choosing what the shim does in this process. */
#define _GNU_SOURCE
#include "mode.h"

#include <stdlib.h>
#include <sys/auxv.h>

#include "channel.h"
#include "env.h"
#include "real.h"
#include "report.h"
#include "shimlog.h"
#include "standalone.h"

enum shim_mode shim_mode;

/* A setuid or setgid program, or one with file capabilities (the shim reached it through
 * /etc/ld.so.preload): its environment comes from a less trusted user, so nothing in it (a
 * pidfile path, fd numbers, signals) may steer what the shim does. Silently, as libc does. */
bool mode_secure_execution(void)
{
    return getauxval(AT_SECURE) != 0;
}

/* Judged from the environment alone, before anything is looked up: a program the server execs
 * (a CGI script, a helper) passes calls through, and pays for no lookup of the functions it never
 * calls. */
static bool may_take_charge(void)
{
    if (getenv(HS_ENV_CHANNEL_FD))
        return !report_in_descendant();
    return standalone_eligible();
}

enum shim_mode mode_choose(void)
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
    case CHANNEL_BAD:
        /* A program the server execs (a CGI script) inherits the environment but, rightly, not
         * the channel: that is no fault worth a line. */
        if (!report_in_descendant())
            shim_say(HS_ENV_CHANNEL_FD "=", getenv(HS_ENV_CHANNEL_FD),
                     " is not a hotswap channel: passing calls through", NULL);
        return MODE_PASSTHROUGH;
    case CHANNEL_UNSET:
    default:
        return standalone_eligible() ? MODE_STANDALONE : MODE_PASSTHROUGH;
    }
}
