/* launcher.c: the steps the launcher's parts share (launcher.h), on the state they are given:
 * start a generation, take its command line as the one to start again, bring a parked generation
 * back, record an event for status, and forget the generations that are gone. */
#define _GNU_SOURCE
#include "launcher.h"

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

#include "evidence.h"
#include "genproc.h"
#include "log.h"
#include "textsafe.h"

struct generation *start_generation(struct launcher *l, char **argv, char **env, struct gen_failure *failure)
{
    if (l->gen_count >= GENERATIONS_MAX) {
        errno = EAGAIN;
        *failure = (struct gen_failure){.launcher_side = true};
        snprintf(failure->why, sizeof failure->why, "%s", strerror(errno));
        return NULL;
    }
    struct generation *g = gen_start(l->next_generation, argv, env, l->shim_path, &l->opt.gen, failure);
    if (!g)
        return NULL;
    l->next_generation++;
    l->gens[l->gen_count++] = g;
    return g;
}

/* A command line as one line of text, for the log and status. */
void describe_command(char *const *argv, char *out, size_t size)
{
    size_t at = 0;
    out[0] = '\0';
    for (char *const *arg = argv; arg && *arg && at + 1 < size; arg++)
        at += (size_t)snprintf(out + at, size - at, "%s%s", arg == argv ? "" : " ", *arg);
}

bool reload_starting(const struct launcher *l)
{
    for (int i = 0; i < GENERATIONS_MAX; i++)
        if (l->reloads[i].active && (l->reloads[i].checking || l->reloads[i].sequential))
            return true;
    for (int i = 0; i < l->gen_count; i++)
        if (l->gens[i]->state == GEN_STARTING && l->gens[i] != l->serving)
            return true;
    return false;
}

/* The parked generation (--keep-old), if any: at most one, the last to drain. */
struct generation *parked_generation(const struct launcher *l)
{
    for (int i = 0; i < l->gen_count; i++)
        if (l->gens[i]->state == GEN_PARKED)
            return l->gens[i];
    return NULL;
}

/* A reload's generation with a new command line serves: that command line is the one later
 * reloads and crash restarts run. */
void take_command_of(struct launcher *l, const struct generation *g)
{
    for (int i = 0; i < GENERATIONS_MAX; i++) {
        struct reload *r = &l->reloads[i];
        if (r->active && r->next == g && r->argv) {
            free(l->command);
            l->command = r->argv;
            r->argv = NULL;
        }
        if (r->active && r->next == g && r->env) {
            free(l->env);
            l->env = r->env;
            r->env = NULL;
        }
    }
}

/* The parked generation serves again and `from` (the one serving) drains to its stop. */
void bring_back(struct launcher *l, struct generation *parked, struct generation *from)
{
    gen_rearm(parked);
    l->serving = parked;
    take_command_of(l, parked);
    l->serving_daemonized = false;
    if (from && (from->state == GEN_READY || from->state == GEN_STARTING)) {
        from->unparkable = true;
        gen_drain(from);
    }
}

void note_event(struct status_event *event, bool ok, const char *text)
{
    *event = (struct status_event){.happened = true, .ok = ok, .at_ms = now_ms()};
    snprintf(event->text, sizeof event->text, "%s", text);
}

/* Its command has exited and no process of it the shim knows of is left: it serves no more. */
bool gen_dead(const struct generation *g)
{
    return g->leader_reaped && !gen_others_alive(g);
}

/* A text for the service manager, escaped: a name in it (a program's path, a listener's) could
 * hold a newline, and each line of a notification is an assignment ("MAINPID=1"). */
const char *notify_text(const char *text, char *safe, size_t size)
{
    textsafe_escape(safe, size, text, strlen(text), 0);
    return safe;
}

void forget_gone(struct launcher *l)
{
    for (int i = 0; i < l->gen_count;) {
        struct generation *g = l->gens[i];
        bool in_reload = false;
        for (int r = 0; r < GENERATIONS_MAX; r++)
            if (l->reloads[r].active && (l->reloads[r].next == g || l->reloads[r].previous == g))
                in_reload = true;
        if (g->state != GEN_GONE || in_reload || g == l->serving) {
            i++;
            continue;
        }
        if (g->failed)
            listeners_drop_from(g->number);
        evidence_forget(g->number);
        gen_free(g);
        l->gens[i] = l->gens[--l->gen_count];
    }
}

int newer_processes(void *ctx, int number, pid_t *pids, int room)
{
    struct launcher *l = ctx;
    int n = 0;
    for (int i = 0; i < l->gen_count && n < room; i++) {
        struct generation *g = l->gens[i];
        if (g->number <= number || g->state == GEN_GONE)
            continue;
        const pid_t *members;
        int count = gen_processes(g, &members);
        for (int k = 0; k < count && n < room; k++)
            pids[n++] = members[k];
    }
    return n;
}
