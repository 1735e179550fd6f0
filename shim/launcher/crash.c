/* crash.c: replacing a generation that died (crash.h). */
#define _GNU_SOURCE
#include "crash.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"
/* The dead serving generation `g` is being replaced: `line` says how, in the log, in status and to
 * the service manager, and what is left of `g` is stopped. */
static void replace_dead(struct launcher *l, struct generation *g, const char *line)
{
    hs_log("%s", line);
    note_event(&l->last_restart, true, line);
    char safe[4 * sizeof l->last_restart.text];
    sdnotify("STATUS=%s", notify_text(line, safe, sizeof safe));
    if (g->state == GEN_READY || g->state == GEN_STARTING)
        gen_stop(g);
}

/* The serving generation died during a reload whose new generation failed, or it is the
 * generation started in its place and died before it was ready: no generation serves, and the
 * listeners are held with clients queued. Whatever --restart says (it governs deaths outside a
 * reload only), the last good command line starts again, cold: at once the first time, then
 * with the crash restart's back-off until one is ready or a stop is asked. */
static void restart_after_failed_reload(struct launcher *l, struct generation *g)
{
    char how[sizeof g->failure], line[sizeof l->last_restart.text];
    if (g->failed)
        snprintf(how, sizeof how, "%s", g->failure);
    else
        describe_wait_status(g->leader_status, how, sizeof how);
    int64_t now = now_ms();
    if (!l->rescuing)
        l->restarter.streak = 0; /* it served until the reload: the first start is at once */
    int64_t delay = restart_schedule(&l->restarter, now, 0);
    if (!l->rescuing && l->orphaned_in_sequence)
        snprintf(line, sizeof line,
                 "gen %d failed after gen %d had stopped for a reload in sequence: starting gen %d "
                 "from gen %d's command line, cold, in %lld ms",
                 l->orphaning_gen, g->number, l->next_generation, g->number, (long long)delay);
    else if (!l->rescuing)
        snprintf(line, sizeof line,
                 "gen %d failed and gen %d had died meanwhile (%s): starting gen %d from gen %d's "
                 "command line, cold, in %lld ms (whatever --restart says)",
                 l->orphaning_gen, g->number, how, l->next_generation, g->number, (long long)delay);
    else
        snprintf(line, sizeof line,
                 "gen %d, started after a failed reload, %s before it was ready: restarting in "
                 "%lld ms (restart %ld)",
                 g->number, how, (long long)delay, l->restarter.total);
    replace_dead(l, g, line);
    l->orphaned_by_reload = NULL;
    l->orphaned_in_sequence = false;
    l->rescuing = true;
    l->serving = NULL;
    l->serving_daemonized = false;
}

/* The serving generation died outside a reload. If the policy wants it replaced (and the
 * service has been ready at all: before that, a death is a start-up error the launcher exits
 * with), the replacement is scheduled; otherwise the launcher exits with its status once it is
 * gone, as with --restart never. */
void check_crash(struct launcher *l)
{
    struct generation *g = l->serving;
    if (!g || l->stopping || !gen_dead(g) || reload_starting(l))
        return; /* during a reload, its new generation takes over once ready */
    bool clean =
        !g->failed && !l->serving_daemonized && WIFEXITED(g->leader_status) && WEXITSTATUS(g->leader_status) == 0;
    struct generation *parked = parked_generation(l);
    if (parked && !clean) { /* the old one, kept: back at once instead of a cold restart */
        char how[sizeof g->failure], line[sizeof l->last_restart.text];
        if (g->failed)
            snprintf(how, sizeof how, "%s", g->failure);
        else
            describe_wait_status(g->leader_status, how, sizeof how);
        snprintf(line, sizeof line, "gen %d pid %d %s: gen %d, parked, serves again", g->number, (int)g->pid, how,
                 parked->number);
        replace_dead(l, g, line);
        bring_back(l, parked, NULL);
        l->metrics.rollbacks++;
        l->orphaned_by_reload = NULL; /* (a failed reload's too: the parked one serves, warm) */
        return;
    }
    if (l->orphaned_by_reload == g || l->rescuing) {
        restart_after_failed_reload(l, g);
        return;
    }
    if (!l->ever_ready || !restart_wanted(&l->restarter, clean))
        return;
    int64_t now = now_ms();
    int64_t delay = restart_schedule(&l->restarter, now, g->ready_ms ? now - g->ready_ms : 0);
    char how[sizeof g->failure], line[sizeof l->last_restart.text];
    if (g->failed)
        snprintf(how, sizeof how, "%s", g->failure);
    else
        describe_wait_status(g->leader_status, how, sizeof how);
    snprintf(line, sizeof line, "gen %d pid %d %s outside a reload: restarting in %lld ms (restart %ld, --restart %s)",
             g->number, (int)g->pid, how, (long long)delay, l->restarter.total,
             restart_policy_name(l->restarter.policy));
    hs_log("%s", line);
    note_event(&l->last_restart, true, line);
    char safe[4 * sizeof how];
    sdnotify("STATUS=gen %d died (%s): restarting in %lld ms", g->number, notify_text(how, safe, sizeof safe),
             (long long)delay);
    /* Not gone yet: processes without the shim (helpers in its group) outlived it; stop them. */
    if (g->state == GEN_READY || g->state == GEN_STARTING)
        gen_stop(g);
    l->serving = NULL;
    l->serving_daemonized = false;
}

void restart_if_due(struct launcher *l, int64_t now)
{
    if (l->stopping || !restart_due(&l->restarter, now))
        return;
    restart_cancel(&l->restarter);
    struct gen_failure failure;
    struct generation *g = start_generation(l, l->command, l->env, &failure);
    if (!g) { /* (a NOTIFY_SOCKET the launcher could not make too: fds or memory may come back) */
        int64_t delay = restart_schedule(&l->restarter, now, 0);
        hs_log("restart: cannot start gen %d (%s): next try in %lld ms", l->next_generation, failure.why,
               (long long)delay);
        return;
    }
    l->serving = g; /* like generation 1: it serves from the held listeners as soon as it accepts */
    l->serving_daemonized = false;
}
