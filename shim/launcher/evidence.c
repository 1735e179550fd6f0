/* evidence.c: whether a new generation cannot run beside its old one: the shim's hints (a failed
 * lock call, a pid probed alive), checked against /proc/locks and the generations' processes.
 * Nothing here acts; sequential.c decides what the evidence means. */
#define _GNU_SOURCE
#include "evidence.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "generation.h"
#include "log.h"

#define FACTS_MAX 32
/* Failed calls count as retries only this long after the first: a process that shares the file
 * takes its shared lock a moment after its failed exclusive ones, and a busy machine may run the
 * launcher's look in between. A retrier's second try comes later than this (50 ms for bbolt). */
#define SHARE_GRACE_MS 40

struct lock_fact {
    int gen;
    pid_t pid;
    uint64_t dev, ino;
    int failures;
    int64_t first_ms; /* the first failed call's time (now_ms) */
};

struct pid_fact {
    int gen;
    pid_t prober, target;
};

/* A regular file a starting generation opened for reading: a server reads its configuration,
 * its certificates, its data, so these come in larger numbers (the shim sends 64 at most). */
#define READ_FACTS_MAX 128

struct read_fact {
    int gen;
    uint64_t dev, ino;
};

static struct read_fact read_facts[READ_FACTS_MAX];
static int read_next;
static unsigned reads_seen;
static struct lock_fact lock_facts[FACTS_MAX];
static struct pid_fact pid_facts[FACTS_MAX];
static int lock_next, pid_next; /* ring positions: a server that probes more forgets the oldest */

void evidence_note_lock_failed(int gen, pid_t pid, uint64_t dev, uint64_t ino)
{
    for (int i = 0; i < FACTS_MAX; i++) {
        struct lock_fact *f = &lock_facts[i];
        if (f->gen == gen && f->dev == dev && f->ino == ino) {
            f->failures++;
            f->pid = pid;
            return;
        }
    }
    lock_facts[lock_next] =
        (struct lock_fact){.gen = gen, .pid = pid, .dev = dev, .ino = ino, .failures = 1, .first_ms = now_ms()};
    lock_next = (lock_next + 1) % FACTS_MAX;
}

void evidence_note_pid_probed(int gen, pid_t prober, pid_t target)
{
    for (int i = 0; i < FACTS_MAX; i++)
        if (pid_facts[i].gen == gen && pid_facts[i].target == target)
            return;
    pid_facts[pid_next] = (struct pid_fact){.gen = gen, .prober = prober, .target = target};
    pid_next = (pid_next + 1) % FACTS_MAX;
}

void evidence_note_read_opened(int gen, uint64_t dev, uint64_t ino)
{
    for (int i = 0; i < READ_FACTS_MAX; i++)
        if (read_facts[i].gen == gen && read_facts[i].dev == dev && read_facts[i].ino == ino)
            return;
    read_facts[read_next] = (struct read_fact){.gen = gen, .dev = dev, .ino = ino};
    read_next = (read_next + 1) % READ_FACTS_MAX;
    reads_seen++;
}

unsigned evidence_reads_seen(void)
{
    return reads_seen;
}

void evidence_forget(int gen)
{
    for (int i = 0; i < READ_FACTS_MAX; i++)
        if (read_facts[i].gen == gen)
            read_facts[i] = (struct read_fact){0};
    for (int i = 0; i < FACTS_MAX; i++) {
        if (lock_facts[i].gen == gen)
            lock_facts[i] = (struct lock_fact){0};
        if (pid_facts[i].gen == gen)
            pid_facts[i] = (struct pid_fact){0};
    }
}

static bool is_process_of(struct generation *g, pid_t pid)
{
    if (pid <= 0)
        return false;
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    for (int i = 0; i < count; i++)
        if (pids[i] == pid)
            return true;
    return pid == g->pid && !g->leader_reaped;
}

/* One line of /proc/locks: "1: POSIX  ADVISORY  WRITE 812 08:01:1234 0 EOF", or a waiter,
 * "1: -> FLOCK  ADVISORY  WRITE 813 08:01:1234 0 EOF". An OFD lock shows pid -1. */
struct lock_line {
    int id;
    bool waiter;
    pid_t pid;
    unsigned major, minor;
    uint64_t ino;
};

static bool parse_lock_line(const char *text, struct lock_line *out)
{
    char type[16], kind[16], mode[16];
    unsigned long long ino;
    int pid;
    *out = (struct lock_line){0};
    const char *rest = strchr(text, ':');
    if (!rest || sscanf(text, "%d:", &out->id) != 1)
        return false;
    rest++;
    while (*rest == ' ')
        rest++;
    if (strncmp(rest, "->", 2) == 0) {
        out->waiter = true;
        rest += 2;
    }
    if (sscanf(rest, "%15s %15s %15s %d %x:%x:%llu", type, kind, mode, &pid, &out->major, &out->minor, &ino) != 7)
        return false;
    out->pid = pid;
    out->ino = ino;
    return true;
}

static bool same_file(const struct lock_line *line, uint64_t dev, uint64_t ino)
{
    return line->ino == ino && (dev == 0 || (line->major == major(dev) && line->minor == minor(dev)));
}

/* A process of `g` with the file dev:ino open, its path in `path`: the holder of an OFD lock
 * (/proc/locks names no pid), and the file's name for the log either way. */
static pid_t opener_of(struct generation *g, pid_t first, uint64_t ino, char *path, size_t size)
{
    const pid_t *pids;
    int count = gen_processes(g, &pids);
    for (int i = -1; i < count; i++) {
        pid_t pid = i < 0 ? first : pids[i];
        if (pid <= 0)
            continue;
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            char link[384];
            struct stat st;
            snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
            if (e->d_name[0] == '.' || stat(link, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != ino)
                continue;
            ssize_t n = readlink(link, path, size - 1);
            path[n > 0 ? n : 0] = '\0';
            closedir(d);
            return pid;
        }
        closedir(d);
    }
    return 0;
}

/* The process of `old` that holds a lock on dev:ino (0: none), by the kernel. */
static pid_t holder_in(struct generation *old, uint64_t dev, uint64_t ino, uint64_t *found_ino)
{
    FILE *f = fopen("/proc/locks", "re");
    if (!f)
        return 0;
    char text[256];
    pid_t holder = 0;
    struct lock_line line;
    while (!holder && fgets(text, sizeof text, f))
        if (parse_lock_line(text, &line) && !line.waiter && (ino == 0 || same_file(&line, dev, ino))) {
            if (is_process_of(old, line.pid))
                holder = line.pid;
            else if (line.pid == -1 && ino) /* an OFD lock: whoever of it has the file open */
                holder = -1;
            if (holder)
                *found_ino = line.ino;
        }
    fclose(f);
    return holder;
}

/* The process of `old` that holds a lock on the file dev:ino (0:0: on any file), and that file's
 * path (or "inode N"); 0 if none does. */
static pid_t lock_holder(struct generation *old, uint64_t dev, uint64_t ino, char *path, size_t size)
{
    uint64_t found = 0;
    pid_t holder = holder_in(old, dev, ino, &found);
    if (!holder)
        return 0;
    path[0] = '\0';
    pid_t opener = opener_of(old, holder, found, path, size);
    if (holder < 0 && !(holder = opener))
        return 0;
    if (!path[0])
        snprintf(path, size, "inode %llu", (unsigned long long)found);
    return holder;
}

/* "gen 2 could not lock PATH: held by gen 1 pid N" for the file dev:ino, if old holds it. */
static bool describe_holder(struct generation *next, struct generation *old, uint64_t dev, uint64_t ino,
                            const char *verb, char *why, size_t size)
{
    char path[256];
    pid_t holder = lock_holder(old, dev, ino, path, sizeof path);
    if (!holder)
        return false;
    snprintf(why, size, "gen %d %s %s: held by gen %d pid %d", next->number, verb, path, old->number, (int)holder);
    return true;
}

/* A process of `next` holds a lock on dev:ino: after its failed calls it took the lock the file's
 * own protocol gives a second user (LMDB: exclusive if it can, shared if not, as every process
 * of a multi-process database does), so it shares the file with `old`, it does not wait for it. */
static bool shares_lock(struct generation *next, uint64_t dev, uint64_t ino)
{
    uint64_t found = 0;
    return holder_in(next, dev, ino, &found) > 0;
}

bool evidence_lock_held(struct generation *next, struct generation *old, int failures, char *why, size_t size)
{
    for (int i = 0; i < FACTS_MAX; i++) {
        const struct lock_fact *f = &lock_facts[i];
        if (f->gen == next->number && f->failures >= failures && f->ino &&
            (failures <= 1 || now_ms() - f->first_ms >= SHARE_GRACE_MS) && !shares_lock(next, f->dev, f->ino) &&
            describe_holder(next, old, f->dev, f->ino, "could not lock", why, size))
            return true;
    }
    return false;
}

bool evidence_lock_waited(struct generation *next, struct generation *old, char *why, size_t size)
{
    FILE *f = fopen("/proc/locks", "re");
    if (!f)
        return false;
    char text[256];
    struct lock_line line, blocker = {0};
    bool found = false;
    while (!found && fgets(text, sizeof text, f)) {
        if (!parse_lock_line(text, &line))
            continue;
        if (!line.waiter) {
            blocker = line; /* its waiters follow it, under its number */
            continue;
        }
        if (line.id == blocker.id && is_process_of(next, line.pid) &&
            (is_process_of(old, blocker.pid) || blocker.pid == -1)) {
            fclose(f);
            return describe_holder(next, old, makedev(blocker.major, blocker.minor), blocker.ino, "waits to lock", why,
                                   size);
        }
    }
    fclose(f);
    return false;
}

bool evidence_open_on_held_lock(struct generation *next, struct generation *old, char *why, size_t size)
{
    FILE *f = fopen("/proc/locks", "re");
    if (!f)
        return false;
    char text[256], path[256];
    struct lock_line line;
    pid_t opener = 0, holder = 0;
    while (!opener && fgets(text, sizeof text, f))
        if (parse_lock_line(text, &line) && !line.waiter && (line.pid == -1 || is_process_of(old, line.pid)) &&
            (opener = opener_of(next, next->pid, line.ino, path, sizeof path)))
            holder = line.pid;
    fclose(f);
    if (!opener)
        return false;
    if (holder == -1) { /* an OFD lock: whoever of old has the file open, if anyone */
        char unused[256];
        if (!(holder = opener_of(old, old->pid, line.ino, unused, sizeof unused)))
            return false;
    }
    snprintf(why, size, "gen %d has %s open, which gen %d pid %d holds locked", next->number, path, old->number,
             (int)holder);
    return true;
}

bool evidence_pid_probed(struct generation *next, struct generation *old, char *why, size_t size)
{
    for (int i = 0; i < FACTS_MAX; i++) {
        const struct pid_fact *f = &pid_facts[i];
        if (f->gen == next->number && f->target > 0 && is_process_of(old, f->target)) {
            snprintf(why, size, "gen %d found gen %d pid %d alive (kill(%d, 0): a pid file's check)", next->number,
                     old->number, (int)f->target, (int)f->target);
            return true;
        }
    }
    return false;
}

bool evidence_old_holds_lock(struct generation *next, struct generation *old, char *why, size_t size)
{
    char path[256];
    pid_t holder = lock_holder(old, 0, 0, path, sizeof path);
    if (!holder)
        return false;
    snprintf(why, size, "gen %d exited before it was ready while gen %d pid %d holds a lock on %s", next->number,
             old->number, (int)holder, path);
    return true;
}

static bool read_by(int gen, const struct stat *st)
{
    for (int i = 0; i < READ_FACTS_MAX; i++)
        if (read_facts[i].gen == gen && read_facts[i].ino == st->st_ino && read_facts[i].dev == st->st_dev)
            return true;
    return false;
}

/* The access mode /proc/PID/fdinfo/FD shows ("flags:\t0100002", octal), or -1. */
static int access_mode(pid_t pid, const char *fd)
{
    char path[320], text[256];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%s", (int)pid, fd);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int mode = -1;
    unsigned flags;
    while (fgets(text, sizeof text, f))
        if (sscanf(text, "flags: %o", &flags) == 1) {
            mode = (int)(flags & O_ACCMODE);
            break;
        }
    fclose(f);
    return mode;
}

bool evidence_loaded_what_old_writes(struct generation *next, struct generation *old, char *why, size_t size)
{
    bool any = false;
    for (int i = 0; i < READ_FACTS_MAX && !any; i++)
        any = read_facts[i].gen == next->number;
    if (!any)
        return false;
    const pid_t *pids;
    int count = gen_processes(old, &pids);
    for (int i = 0; i < count; i++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pids[i]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            char link[384], path[256];
            struct stat st;
            snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
            if (e->d_name[0] == '.' || stat(link, &st) < 0 || !S_ISREG(st.st_mode) || !read_by(next->number, &st))
                continue;
            int mode = access_mode(pids[i], e->d_name);
            if (mode != O_WRONLY && mode != O_RDWR)
                continue;
            ssize_t n = readlink(link, path, sizeof path - 1);
            path[n > 0 ? n : 0] = '\0';
            snprintf(why, size, "gen %d loaded %s, which gen %d pid %d holds open for writing", next->number, path,
                     old->number, (int)pids[i]);
            closedir(d);
            return true;
        }
        closedir(d);
    }
    return false;
}
