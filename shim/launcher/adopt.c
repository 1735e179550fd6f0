/* adopt.c: the state file a later launcher adopts a killed one's generations from.
 *
 * The file holds only what the kernel can confirm: each generation's command's pid with its
 * start time (a reused pid has another), its cgroup's name, and the names of the held listeners.
 * The listeners themselves are taken from the adopted processes' fd tables (pidfd_getfd), found
 * by what each socket is, never by an fd number written down. It lives in the control socket's
 * directory (the user's own, 0700, or the operator's choice) and is believed only if it is the
 * user's own and nobody else may write it. */
#define _GNU_SOURCE
#include "adopt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "listeners.h"
#include "log.h"
#include "members.h"
#include "procsockets.h"

#define STATE_MAX 65536 /* 256 listeners of 136-byte names fit */
#define STATE_HEADER "hotswap-state 1"

static char state_path[300];
static char written[STATE_MAX]; /* what the file holds now */

void adopt_init(const char *control_path)
{
    if (control_path && strlen(control_path) + sizeof ".state" <= sizeof state_path)
        snprintf(state_path, sizeof state_path, "%s.state", control_path);
}

/* ---- writing ------------------------------------------------------------------------------- */

static void append(char *text, size_t *len, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void append(char *text, size_t *len, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text + *len, STATE_MAX - *len, format, args);
    va_end(args);
    if (n > 0)
        *len = *len + (size_t)n < STATE_MAX ? *len + (size_t)n : STATE_MAX - 1;
}

/* Written beside and renamed over, so a reader never sees half of it; the temporary name is
 * created, never opened as it stands (the directory is ours, but a name is still a name). */
static void write_state(const char *text)
{
    char tmp[sizeof state_path + 32];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", state_path, (int)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    size_t len = strlen(text);
    bool whole = write(fd, text, len) == (ssize_t)len;
    close(fd);
    if (!whole || rename(tmp, state_path) < 0) {
        unlink(tmp);
        return;
    }
    snprintf(written, sizeof written, "%s", text);
}

/* What the file says changes only with these: a cheap look first, since the launcher's loop
 * calls adopt_save() after every event (on the seccomp route, every accept). */
static unsigned long long fingerprint(struct generation *const *gens, int count, const struct generation *serving)
{
    unsigned long long sum = (unsigned long long)count * 1000003u + (unsigned long long)listeners_count();
    for (int i = 0; i < count; i++) {
        const struct generation *g = gens[i];
        unsigned long long one = (unsigned long long)g->number << 40 ^ (unsigned long long)g->pid << 8 ^
                                 (unsigned long long)g->state << 4 ^ (unsigned long long)(g == serving) << 3 ^
                                 (unsigned long long)g->failed << 2 ^ (unsigned long long)g->leader_reaped << 1;
        sum = sum * 31 + one;
    }
    return sum;
}

void adopt_save(struct generation *const *gens, int count, const struct generation *serving)
{
    static unsigned long long last_fingerprint, launcher_start;
    static bool saved_once;
    if (!state_path[0])
        return;
    unsigned long long now = fingerprint(gens, count, serving);
    if (saved_once && now == last_fingerprint)
        return;
    saved_once = true;
    last_fingerprint = now;
    static char text[STATE_MAX];
    size_t len = 0;
    if (!launcher_start)
        members_start_of(getpid(), &launcher_start);
    append(text, &len, STATE_HEADER "\nlauncher %d %llu\n", (int)getpid(), launcher_start);
    for (int i = 0; i < count; i++) {
        const struct generation *g = gens[i];
        if (g->state == GEN_GONE || g->failed || g->leader_reaped)
            continue;
        const char *group = members_group(g->members);
        append(text, &len, "gen %d %d %llu %d %s\n", g->number, (int)g->pid, members_leader_start(g->members),
               g == serving, group ? group : "-");
    }
    for (int i = 0; i < listeners_count(); i++) {
        const struct held_listener *held = listeners_get(i);
        append(text, &len, "listener %d %s\n", held->from_generation, held->name);
    }
    if (strcmp(text, written) != 0)
        write_state(text);
}

void adopt_forget(void)
{
    if (state_path[0] && written[0])
        unlink(state_path);
    written[0] = '\0';
}

/* ---- reading ------------------------------------------------------------------------------- */

struct recorded_gen {
    int number;
    pid_t pid;
    unsigned long long start;
    bool serving;
    char group[64];
};

struct recorded_listener {
    int from_generation;
    char name[136];
    int fd; /* found in an adopted process; -1 until then */
};

struct state {
    pid_t launcher;
    unsigned long long launcher_start;
    struct recorded_gen gens[16];
    int gen_count;
    struct recorded_listener listeners[LISTENERS_MAX];
    int listener_count;
};

/* The file, if it is the user's own regular file that nobody else may write; false (with a line
 * for anything but its absence) otherwise. */
static bool read_state(char *text, size_t size)
{
    int fd = open(state_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            hs_log("state file %s: %s: adopting nothing", state_path, strerror(errno));
        return false;
    }
    struct stat st;
    bool trusted = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022);
    ssize_t n = trusted ? read(fd, text, size - 1) : -1;
    close(fd);
    if (!trusted) {
        hs_log("state file %s is not this user's own, or others may write it: adopting nothing", state_path);
        return false;
    }
    text[n > 0 ? n : 0] = '\0';
    return n > 0;
}

static bool parse_state(char *text, struct state *out)
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    if (!line || strcmp(line, STATE_HEADER) != 0)
        return false;
    *out = (struct state){0};
    while ((line = strtok_r(NULL, "\n", &save))) {
        int pid, number, serving, from, at = 0;
        if (sscanf(line, "launcher %d %llu", &pid, &out->launcher_start) == 2) {
            out->launcher = pid;
        } else if (out->gen_count < 16) {
            struct recorded_gen *g = &out->gens[out->gen_count];
            if (sscanf(line, "gen %d %d %llu %d %63s", &number, &pid, &g->start, &serving, g->group) == 5 &&
                number > 0 && pid > 1) {
                g->number = number;
                g->pid = pid;
                g->serving = serving == 1;
                out->gen_count++;
                continue;
            }
        }
        if (sscanf(line, "listener %d %n", &from, &at) == 1 && at > 0 && out->listener_count < LISTENERS_MAX) {
            struct recorded_listener *l = &out->listeners[out->listener_count++];
            l->from_generation = from;
            l->fd = -1;
            snprintf(l->name, sizeof l->name, "%s", line + at);
        }
    }
    return out->launcher > 0;
}

/* A listening socket (or a bound datagram socket) of a process's, copied into the launcher,
 * matched against the recorded listeners by name: the first copy of each is kept. */
static bool take_if_recorded(int copy, int fd, void *ctx)
{
    (void)fd;
    struct state *st = ctx;
    int listening = 0, type = 0;
    socklen_t len = sizeof listening, type_len = sizeof type;
    getsockopt(copy, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
    getsockopt(copy, SOL_SOCKET, SO_TYPE, &type, &type_len);
    char name[136];
    if ((listening || type == SOCK_DGRAM) && listeners_describe(copy, name, sizeof name) == 0)
        for (int i = 0; i < st->listener_count; i++)
            if (st->listeners[i].fd < 0 && strcmp(st->listeners[i].name, name) == 0) {
                fcntl(copy, F_SETFD, FD_CLOEXEC);
                st->listeners[i].fd = copy;
                return true;
            }
    close(copy);
    return true;
}

/* The recorded launcher still runs (the same process, not a reused pid). */
static bool launcher_alive(const struct state *st)
{
    unsigned long long start;
    return members_start_of(st->launcher, &start) && start == st->launcher_start;
}

int adopt_take(struct generation **out, int room, const struct gen_settings *settings, int *next_number,
               struct generation **serving)
{
    *serving = NULL;
    static char text[STATE_MAX];
    static struct state st;
    if (!state_path[0] || !read_state(text, sizeof text))
        return 0;
    if (!parse_state(text, &st)) {
        hs_log("state file %s is malformed: adopting nothing", state_path);
        return 0;
    }
    if (launcher_alive(&st)) {
        hs_log("state file %s: its launcher (pid %d) still runs: adopting nothing", state_path, (int)st.launcher);
        return 0;
    }
    /* the serving generation first: it serves on; any other was draining, and drains again */
    int count = 0, highest = 0, serving_number = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < st.gen_count && count < room; i++) {
            const struct recorded_gen *r = &st.gens[i];
            unsigned long long start;
            if (r->serving != (pass == 0))
                continue;
            if (!members_start_of(r->pid, &start) || start != r->start) {
                hs_log("gen %d pid %d, left by launcher pid %d, is gone", r->number, (int)r->pid, (int)st.launcher);
                continue;
            }
            struct generation *g = gen_adopt(r->number, r->pid, strcmp(r->group, "-") ? r->group : NULL, settings);
            if (!g)
                continue;
            out[count++] = g;
            if (r->serving)
                serving_number = r->number;
            highest = r->number > highest ? r->number : highest;
            const pid_t *pids;
            int members = gen_processes(g, &pids);
            for (int p = 0; p < members; p++)
                proc_sockets_each(pids[p], -1, take_if_recorded, &st);
        }
    int held = 0;
    for (int i = 0; i < st.listener_count; i++) {
        struct recorded_listener *l = &st.listeners[i];
        if (l->fd >= 0 && listeners_add(l->fd, l->from_generation) >= 0)
            held++;
        else if (count > 0)
            hs_log("listener %s, held by launcher pid %d, is not open in what it left: not held", l->name,
                   (int)st.launcher);
    }
    for (int i = 0; i < count; i++) {
        bool serves = i == 0 && out[0]->number == serving_number;
        hs_log("gen %d pid %d adopted from launcher pid %d, which is gone: %s", out[i]->number, (int)out[i]->pid,
               (int)st.launcher, serves ? "it serves on" : "it was draining, and drains again");
        if (serves)
            *serving = out[0];
        else
            gen_drain(out[i]);
    }
    if (count > 0)
        hs_log("%d listener%s held again, taken from the adopted processes", held, held == 1 ? "" : "s");
    *next_number = highest + 1;
    return count;
}
