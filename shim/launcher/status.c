/* status.c: rendering the launcher's state. Connections are counted from /proc (conncount.c),
 * the rest is what the launcher already knows. */
#define _GNU_SOURCE
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conncount.h"
#include "listeners.h"
#include "log.h"
#include "textsafe.h"

#define PIDS_SHOWN 64 /* a prefork server's pids beyond this are counted, not listed */

struct gen_row {
    const struct generation *g;
    pid_t pids[PIDS_SHOWN];
    int pid_count; /* listed */
    int alive;     /* all live processes */
    long conns;    /* -1: unknown */
};

static const char *state_name(const struct generation *g, bool serving)
{
    switch (g->state) {
    case GEN_STARTING:
        return g->failed ? "failed" : "starting";
    case GEN_READY:
        return serving ? "serving" : "ready";
    case GEN_DRAINING:
        return "draining";
    case GEN_PARKED:
        return "parked";
    case GEN_STOPPING:
        return g->failed ? "failed" : "stopping";
    case GEN_GONE:
    default:
        return "gone";
    }
}

/* 850ms, 41s, 3m02s, 2h03m, 3d04h */
static const char *human_duration(int64_t ms, char *buf, size_t size)
{
    long long s = ms / 1000;
    if (ms < 1000)
        snprintf(buf, size, "%lldms", (long long)ms);
    else if (s < 60)
        snprintf(buf, size, "%llds", s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

/* A JSON string holding the text as the table and the log show it (textsafe.h): printable ASCII
 * only, so the document always parses, and `jq -r` prints what an operator sees elsewhere. */
static void json_string(FILE *out, const char *text)
{
    char *safe = NULL;
    size_t size = 0;
    FILE *escaped = open_memstream(&safe, &size);
    if (escaped) {
        textsafe_fputs(text, escaped);
        if (fclose(escaped) != 0)
            safe = NULL;
    }
    fputc('"', out);
    for (const char *p = safe ? safe : ""; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        fputc(*p, out);
    }
    fputc('"', out);
    free(safe);
}

static void fill_row(struct gen_row *row, struct generation *g, const struct conn_sockets *sockets)
{
    memset(row, 0, sizeof *row);
    row->g = g;
    const pid_t *alive;
    int count = gen_processes(g, &alive);
    if (count < 0)
        count = 0;
    row->alive = count;
    row->pid_count = count < PIDS_SHOWN ? count : PIDS_SHOWN;
    memcpy(row->pids, alive, (size_t)row->pid_count * sizeof *alive);
    row->conns = count ? conncount_held_by(sockets, alive, count) : 0;
}

/* Newest generation first. */
static int compare_rows(const void *a, const void *b)
{
    return ((const struct gen_row *)b)->g->number - ((const struct gen_row *)a)->g->number;
}

static const char *listener_origin(const struct held_listener *l, char *buf, size_t size)
{
    if (l->from_generation == ACTIVATION_GENERATION)
        snprintf(buf, size, "socket activation");
    else
        snprintf(buf, size, "gen %d", l->from_generation);
    return buf;
}

static void render_table(FILE *out, const struct status_view *v, const struct gen_row *rows, int count, int64_t now)
{
    char up[32], origin[32];
    fprintf(out, "hotswap pid %d: %s, up %s; restart %s", (int)v->pid, v->stopping ? "stopping" : "running",
            human_duration(now - v->started_ms, up, sizeof up), restart_policy_name(v->restarter->policy));
    if (v->restarter->total)
        fprintf(out, " (%ld restart%s)", v->restarter->total, v->restarter->total == 1 ? "" : "s");
    fputs("\ncontrol: ", out);
    textsafe_fputs(v->control_path, out);
    fputs("\n", out);
    fprintf(out, "listeners:");
    if (!listeners_count())
        fprintf(out, " none yet");
    for (int i = 0; i < listeners_count(); i++) {
        const struct held_listener *l = listeners_get(i);
        fprintf(out, "%s ", i ? "," : "");
        textsafe_fputs(l->name, out);
        fprintf(out, " (%s)", listener_origin(l, origin, sizeof origin));
    }
    fprintf(out, "\n");
    if (v->overlap) {
        fputs("overlap: ", out);
        textsafe_fputs(v->overlap, out); /* it quotes a file name */
        fputs("\n", out);
    }
    if (v->last_reload->happened) {
        fprintf(out, "last reload: %s %s ago: ", v->last_reload->ok ? "ok" : "failed",
                human_duration(now - v->last_reload->at_ms, up, sizeof up));
        textsafe_fputs(v->last_reload->text, out);
        fputs("\n", out);
    } else {
        fprintf(out, "last reload: none\n");
    }
    if (v->last_restart->happened) {
        fprintf(out, "last restart: %s ago: ", human_duration(now - v->last_restart->at_ms, up, sizeof up));
        textsafe_fputs(v->last_restart->text, out);
        fputs("\n", out);
    }
    long cut_conns, cut_datagrams;
    gen_cut_totals(&cut_conns, &cut_datagrams);
    if (cut_conns || cut_datagrams)
        fprintf(out, "cut at drains: %ld connection%s, %ld datagram%s (drain timeouts, --max-draining)\n", cut_conns,
                cut_conns == 1 ? "" : "s", cut_datagrams, cut_datagrams == 1 ? "" : "s");
    if (v->restarter->pending)
        fprintf(out, "no generation serving: restart due in %lld ms\n", (long long)restart_wait_ms(v->restarter, now));
    fprintf(out, "\n%-4s %-9s %-8s %-6s %-9s %-8s %-6s %s\n", "GEN", "STATE", "PID", "PROCS", "READY IN", "UP", "CONNS",
            "ROUTE");
    for (int i = 0; i < count; i++) {
        const struct generation *g = rows[i].g;
        char ready[32] = "-", conns[24] = "?";
        if (g->ready_ms)
            snprintf(ready, sizeof ready, "%lld ms", (long long)(g->ready_ms - g->started_ms));
        if (rows[i].conns >= 0)
            snprintf(conns, sizeof conns, "%ld", rows[i].conns);
        fprintf(out, "%-4d %-9s %-8d %-6d %-9s %-8s %-6s %s\n", g->number, state_name(g, g == v->serving), (int)g->pid,
                rows[i].alive, ready, human_duration(now - g->started_ms, up, sizeof up), conns,
                g->seccomp ? "seccomp" : "preload");
    }
    for (int i = 0; i < count; i++)
        if (rows[i].g->state == GEN_PARKED)
            fprintf(out, "gen %d parked: %s left for hotswap rollback\n", rows[i].g->number,
                    human_duration(rows[i].g->deadline_ms - now, up, sizeof up));
    fprintf(out, "\n");
    for (int i = 0; i < count; i++) {
        const struct generation *g = rows[i].g;
        fprintf(out, "gen %d:", g->number);
        for (char *const *arg = g->argv; arg && *arg; arg++) {
            fputc(' ', out);
            textsafe_fputs(*arg, out);
        }
        fprintf(out, "%s\n", g->argv ? "" : " (adopted: its command line was the killed launcher's)");
    }
}

static void json_event(FILE *out, const struct status_event *e, int64_t now)
{
    if (!e->happened) {
        fputs("null", out);
        return;
    }
    fprintf(out, "{\"ok\": %s, \"ago_ms\": %lld, \"text\": ", e->ok ? "true" : "false", (long long)(now - e->at_ms));
    json_string(out, e->text);
    if (e->has_proof && e->proof.delta.read) {
        const struct kernel_counters *d = &e->proof.delta;
        fprintf(out,
                ", \"kernel\": {\"counters_of\": \"network namespace\", \"listen_overflows\": %lld, "
                "\"listen_drops\": %lld, \"resets_sent\": %lld, \"established_resets\": %lld, "
                "\"may_have_dropped\": %s, \"accept_queue_peaks\": [",
                d->listen_overflows, d->listen_drops, d->out_resets, d->estab_resets,
                proof_may_have_dropped(&e->proof) ? "true" : "false");
        for (int i = 0, shown = 0; i < e->proof.listeners; i++)
            if (e->proof.queue_limit[i] >= 0)
                fprintf(out, "%s{\"listener\": %d, \"peak\": %d, \"limit\": %d}", shown++ ? ", " : "", i,
                        e->proof.queue_peak[i], e->proof.queue_limit[i]);
        fputs("]}", out);
    }
    fputs("}", out);
}

static void render_json(FILE *out, const struct status_view *v, const struct gen_row *rows, int count, int64_t now)
{
    char origin[32];
    fprintf(out, "{\n  \"launcher\": {\"pid\": %d, \"state\": \"%s\", \"uptime_ms\": %lld, \"control\": ", (int)v->pid,
            v->stopping ? "stopping" : "running", (long long)(now - v->started_ms));
    json_string(out, v->control_path);
    long cut_conns, cut_datagrams;
    gen_cut_totals(&cut_conns, &cut_datagrams);
    fprintf(out, ", \"connections_cut\": %ld, \"datagrams_cut\": %ld", cut_conns, cut_datagrams);
    fprintf(out, ", \"restart_policy\": \"%s\", \"restarts\": %ld, \"restart_due_in_ms\": ",
            restart_policy_name(v->restarter->policy), v->restarter->total);
    if (v->restarter->pending)
        fprintf(out, "%lld", (long long)restart_wait_ms(v->restarter, now));
    else
        fputs("null", out);
    fprintf(out, "},\n  \"serving\": ");
    if (v->serving)
        fprintf(out, "%d", v->serving->number);
    else
        fputs("null", out);
    if (v->overlap) {
        fputs(",\n  \"overlap\": ", out);
        json_string(out, v->overlap);
    }
    fputs(",\n  \"last_reload\": ", out);
    json_event(out, v->last_reload, now);
    fputs(",\n  \"last_restart\": ", out);
    json_event(out, v->last_restart, now);
    fputs(",\n  \"listeners\": [", out);
    for (int i = 0; i < listeners_count(); i++) {
        const struct held_listener *l = listeners_get(i);
        fprintf(out, "%s\n    {\"address\": ", i ? "," : "");
        json_string(out, l->name);
        fprintf(out, ", \"from_generation\": %d, \"origin\": ", l->from_generation);
        json_string(out, listener_origin(l, origin, sizeof origin));
        fputs("}", out);
    }
    fputs(listeners_count() ? "\n  ],\n  \"generations\": [" : "],\n  \"generations\": [", out);
    for (int i = 0; i < count; i++) {
        const struct generation *g = rows[i].g;
        fprintf(out, "%s\n    {\"number\": %d, \"state\": \"%s\", \"serving\": %s, \"pid\": %d, \"pids\": [",
                i ? "," : "", g->number, state_name(g, g == v->serving), g == v->serving ? "true" : "false",
                (int)g->pid);
        for (int p = 0; p < rows[i].pid_count; p++)
            fprintf(out, "%s%d", p ? ", " : "", (int)rows[i].pids[p]);
        fprintf(out, "], \"processes\": %d, \"uptime_ms\": %lld, \"ready_in_ms\": ", rows[i].alive,
                (long long)(now - g->started_ms));
        if (g->ready_ms)
            fprintf(out, "%lld", (long long)(g->ready_ms - g->started_ms));
        else
            fputs("null", out);
        fputs(", \"connections\": ", out);
        if (rows[i].conns >= 0)
            fprintf(out, "%ld", rows[i].conns);
        else
            fputs("null", out);
        if (g->state == GEN_PARKED)
            fprintf(out, ", \"parked_left_ms\": %lld", (long long)(g->deadline_ms - now));
        if (g->cut) {
            fprintf(out, ", \"cut\": {\"connections\": %ld, \"datagrams\": %ld, \"why\": ", g->cut_conns,
                    g->cut_datagrams);
            json_string(out, g->cut_why);
            fputs("}", out);
        }
        fprintf(out, ", \"route\": \"%s\", \"command\": ", g->seccomp ? "seccomp" : "preload");
        if (g->argv) {
            fputs("[", out);
            for (char *const *arg = g->argv; *arg; arg++) {
                fputs(arg == g->argv ? "" : ", ", out);
                json_string(out, *arg);
            }
            fputs("]", out);
        } else {
            fputs("null", out);
        }
        if (g->failed) {
            fputs(", \"failure\": ", out);
            json_string(out, g->failure);
        }
        fputs("}", out);
    }
    fputs(count ? "\n  ]\n}\n" : "]\n}\n", out);
}

/* The Prometheus text exposition format: each family's HELP and TYPE, then its samples. */
static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_prometheus(FILE *out, const struct status_view *v, const struct gen_row *rows, int count,
                              int64_t now)
{
    const struct metrics *m = v->metrics;
    family(out, "hotswap_up", "gauge", "1 while the launcher runs; its pid and version as labels.");
    fprintf(out, "hotswap_up{pid=\"%d\",version=\"%s\"} 1\n", (int)v->pid, HOTSWAP_VERSION);
    family(out, "hotswap_uptime_seconds", "gauge", "Seconds since the launcher started.");
    fprintf(out, "hotswap_uptime_seconds %.3f\n", (double)(now - v->started_ms) / 1000);
    family(out, "hotswap_reloads_total", "counter",
           "Reloads by outcome: ok (the new generation serves), failed (it rolled back), refused (nothing started).");
    for (int i = 0; i < RELOAD_OUTCOMES; i++)
        fprintf(out, "hotswap_reloads_total{outcome=\"%s\"} %llu\n", reload_outcome_names[i],
                (unsigned long long)m->reloads[i]);
    metrics_write_histogram(out, "hotswap_reload_duration_seconds",
                            "From a reload's request to its outcome (the old generation gone, parked or kept).",
                            &m->reload_seconds);
    metrics_write_histogram(out, "hotswap_drain_duration_seconds",
                            "An old generation's drain, from its start to its stop (or its parking).",
                            &m->drain_seconds);
    long cut_conns, cut_datagrams;
    gen_cut_totals(&cut_conns, &cut_datagrams);
    family(out, "hotswap_connections_cut_total", "counter",
           "Connections a drain cut: open at its timeout, or when --max-draining stopped it.");
    fprintf(out, "hotswap_connections_cut_total %ld\n", cut_conns);
    family(out, "hotswap_datagrams_cut_total", "counter",
           "Datagrams still owed a reply (within --datagram-timeout) when a drain was cut.");
    fprintf(out, "hotswap_datagrams_cut_total %ld\n", cut_datagrams);
    family(out, "hotswap_rollbacks_total", "counter",
           "Parked generations brought back (hotswap rollback, or the new one died).");
    fprintf(out, "hotswap_rollbacks_total %llu\n", (unsigned long long)m->rollbacks);
    family(out, "hotswap_restarts_total", "counter", "Generations started again after one died outside a reload.");
    fprintf(out, "hotswap_restarts_total %ld\n", v->restarter->total);
    family(out, "hotswap_reload_listen_overflows_total", "counter",
           "The network namespace's TCP listen overflows (a full accept queue) seen during reloads; other "
           "traffic included.");
    fprintf(out, "hotswap_reload_listen_overflows_total %llu\n", (unsigned long long)m->reload_listen_overflows);
    family(out, "hotswap_reload_listen_drops_total", "counter",
           "The network namespace's TCP listen drops seen during reloads; other traffic included.");
    fprintf(out, "hotswap_reload_listen_drops_total %llu\n", (unsigned long long)m->reload_listen_drops);
    family(out, "hotswap_last_reload_may_have_dropped", "gauge",
           "1 if the kernel counted listen overflows or drops during the last reload.");
    fprintf(out, "hotswap_last_reload_may_have_dropped %d\n",
            v->last_reload->has_proof && proof_may_have_dropped(&v->last_reload->proof));
    static const char *const states[] = {"starting", "serving", "ready", "draining", "parked", "stopping", "failed"};
    family(out, "hotswap_generations", "gauge", "Generations by state.");
    for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
        int n = 0;
        for (int i = 0; i < count; i++)
            n += rows[i].g->state != GEN_GONE && strcmp(state_name(rows[i].g, rows[i].g == v->serving), states[s]) == 0;
        fprintf(out, "hotswap_generations{state=\"%s\"} %d\n", states[s], n);
    }
    family(out, "hotswap_serving_generation", "gauge", "The number of the generation that serves (0: none).");
    fprintf(out, "hotswap_serving_generation %d\n", v->serving ? v->serving->number : 0);
    family(out, "hotswap_connections", "gauge",
           "Connections on held listeners' addresses that a generation's processes hold, as the kernel shows them.");
    for (int i = 0; i < count; i++)
        if (rows[i].g->state != GEN_GONE && rows[i].conns >= 0)
            fprintf(out, "hotswap_connections{generation=\"%d\",state=\"%s\"} %ld\n", rows[i].g->number,
                    state_name(rows[i].g, rows[i].g == v->serving), rows[i].conns);
    family(out, "hotswap_processes", "gauge", "Live processes of each generation.");
    for (int i = 0; i < count; i++)
        if (rows[i].g->state != GEN_GONE)
            fprintf(out, "hotswap_processes{generation=\"%d\",state=\"%s\"} %d\n", rows[i].g->number,
                    state_name(rows[i].g, rows[i].g == v->serving), rows[i].alive);
}

char *status_render(const struct status_view *v, enum status_format format)
{
    struct gen_row *rows = calloc((size_t)(v->gen_count ? v->gen_count : 1), sizeof *rows);
    struct conn_sockets *sockets = conncount_load(true);
    char *text = NULL;
    size_t size = 0;
    FILE *out = rows ? open_memstream(&text, &size) : NULL;
    if (out) {
        for (int i = 0; i < v->gen_count; i++)
            fill_row(&rows[i], v->gens[i], sockets);
        qsort(rows, (size_t)v->gen_count, sizeof *rows, compare_rows);
        int64_t now = now_ms();
        if (format == STATUS_JSON)
            render_json(out, v, rows, v->gen_count, now);
        else if (format == STATUS_PROMETHEUS)
            render_prometheus(out, v, rows, v->gen_count, now);
        else
            render_table(out, v, rows, v->gen_count, now);
        if (fclose(out) != 0) {
            free(text);
            text = NULL;
        }
    }
    conncount_free(sockets);
    free(rows);
    return text;
}
