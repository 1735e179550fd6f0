/* reloadproof.c: what the kernel saw during a reload. See reloadproof.h. */
#define _GNU_SOURCE
#include "reloadproof.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The values of `wanted[0..count-1]` in the two-line block `section` of a /proc/net file
 * ("TcpExt:" names on one line, their values on the next), read once; -1 for any absent. */
static void proc_net_values(const char *path, const char *section, const char *const wanted[], long long out[],
                            int count)
{
    for (int i = 0; i < count; i++)
        out[i] = -1;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char names[16384], values[16384]; /* TcpExt: about 2,200 bytes a line on Linux 6.18 */
    size_t section_len = strlen(section);
    while (fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
        if (strncmp(names, section, section_len) != 0 || strncmp(values, section, section_len) != 0)
            continue;
        char *name_save, *value_save;
        char *n = strtok_r(names + section_len, " \n", &name_save);
        char *v = strtok_r(values + section_len, " \n", &value_save);
        for (; n && v; n = strtok_r(NULL, " \n", &name_save), v = strtok_r(NULL, " \n", &value_save))
            for (int i = 0; i < count; i++)
                if (out[i] < 0 && strcmp(n, wanted[i]) == 0)
                    out[i] = strtoll(v, NULL, 10);
        break;
    }
    fclose(f);
}

/* Each file once: a reload reads them before its generation starts. */
static struct kernel_counters read_counters(void)
{
    static const char *const netstat[] = {"ListenOverflows", "ListenDrops"}, *const snmp[] = {"OutRsts", "EstabResets"};
    long long listen[2], tcp[2];
    proc_net_values("/proc/net/netstat", "TcpExt:", netstat, listen, 2);
    proc_net_values("/proc/net/snmp", "Tcp:", snmp, tcp, 2);
    struct kernel_counters c = {
        .listen_overflows = listen[0], .listen_drops = listen[1], .out_resets = tcp[0], .estab_resets = tcp[1]};
    c.read = c.listen_overflows >= 0 && c.listen_drops >= 0 && c.out_resets >= 0 && c.estab_resets >= 0;
    return c;
}

/* A TCP listener's accept queue now, and its limit; false for anything else. */
static bool accept_queue(int fd, int *length, int *limit)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    int type = 0;
    socklen_t type_len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) < 0 || type != SOCK_STREAM ||
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || info.tcpi_state != TCP_LISTEN)
        return false;
    *length = (int)info.tcpi_unacked; /* for a listener: the accept queue (sk_ack_backlog) */
    *limit = (int)info.tcpi_sacked;   /* ... and its limit (sk_max_ack_backlog) */
    return true;
}

void proof_begin(struct reload_proof *p)
{
    *p = (struct reload_proof){.before = read_counters(), .listeners = listeners_count()};
    for (int i = 0; i < p->listeners; i++)
        if (!accept_queue(listeners_get(i)->fd, &p->queue_peak[i], &p->queue_limit[i]))
            p->queue_limit[i] = -1;
}

void proof_sample(struct reload_proof *p)
{
    int count = listeners_count() < p->listeners ? listeners_count() : p->listeners;
    for (int i = 0; !p->ended && i < count; i++) {
        int length, limit;
        if (p->queue_limit[i] >= 0 && accept_queue(listeners_get(i)->fd, &length, &limit) && length > p->queue_peak[i])
            p->queue_peak[i] = length;
    }
}

bool proof_may_have_dropped(const struct reload_proof *p)
{
    return p->ended && p->before.read && (p->delta.listen_overflows > 0 || p->delta.listen_drops > 0);
}

void proof_end(struct reload_proof *p, char *sentence, size_t size)
{
    proof_sample(p);
    p->ended = true;
    struct kernel_counters after = read_counters();
    if (!p->before.read || !after.read) {
        snprintf(sentence, size, "kernel: its TCP counters could not be read (/proc/net)");
        return;
    }
    p->delta = (struct kernel_counters){
        .read = true,
        .listen_overflows = after.listen_overflows - p->before.listen_overflows,
        .listen_drops = after.listen_drops - p->before.listen_drops,
        .out_resets = after.out_resets - p->before.out_resets,
        .estab_resets = after.estab_resets - p->before.estab_resets,
    };
    int n = snprintf(sentence, size,
                     "kernel: %lld listen overflow%s, %lld listen drop%s%s, %lld reset%s sent "
                     "(the whole network namespace's counters, other traffic included)",
                     p->delta.listen_overflows, p->delta.listen_overflows == 1 ? "" : "s", p->delta.listen_drops,
                     p->delta.listen_drops == 1 ? "" : "s",
                     proof_may_have_dropped(p) ? ": connections may have been dropped" : "", p->delta.out_resets,
                     p->delta.out_resets == 1 ? "" : "s");
    /* the four fullest queues, so that one of 128 listeners that came near its limit is named */
    bool shown[LISTENERS_MAX] = {false};
    int tcp = 0;
    for (int i = 0; i < p->listeners; i++)
        tcp += p->queue_limit[i] >= 0;
    for (int count = 0; count < 4 && count < tcp && n > 0 && (size_t)n < size; count++) {
        int best = -1;
        for (int i = 0; i < p->listeners; i++)
            if (p->queue_limit[i] >= 0 && !shown[i] &&
                (best < 0 ||
                 (long)p->queue_peak[i] * p->queue_limit[best] > (long)p->queue_peak[best] * p->queue_limit[i]))
                best = i;
        if (best < 0)
            break;
        shown[best] = true;
        n += snprintf(sentence + n, size - (size_t)n, "%s %s %d/%d", count ? "," : "; accept queue peak",
                      best < listeners_count() ? listeners_get(best)->name : "?", p->queue_peak[best],
                      p->queue_limit[best]);
    }
    if (tcp > 4 && n > 0 && (size_t)n < size)
        snprintf(sentence + n, size - (size_t)n, " (the 4 fullest of %d)", tcp);
}
