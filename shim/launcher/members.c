/* members.c: a generation's processes, from a cgroup v2 group of its own or from /proc. */
#define _GNU_SOURCE
#include "members.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "env.h"
#include "log.h"
#include "procstat.h"

struct proc_entry {
    pid_t pid, ppid;
    unsigned long long start; /* clock ticks after boot: tells a reused pid from the process */
};

struct pid_list {
    struct proc_entry *items;
    int count, room;
};

struct members {
    int number;
    bool in_cgroup; /* this generation's processes are in its own group */
    int dir_fd;     /* the group's directory; -1 in tree mode */
    int procs_fd;   /* its cgroup.procs, open for writing (the child joins through it) */
    char name[64];
    struct proc_entry leader;  /* the command's process, as it started */
    struct pid_list known;     /* tree mode: the members seen last time */
    struct pid_list strangers; /* tree mode: the launcher's children whose environment names
                                  another generation (read once each, not at every look) */
    pid_t *listed;             /* what members_list returned */
    int listed_room;
};

static struct {
    enum track_mode mode; /* TRACK_CGROUP or TRACK_TREE once chosen */
    char root[PATH_MAX];  /* cgroup mode: the launcher's own group */
    char description[PATH_MAX + 16];
} M;

/* ---- small lists ---------------------------------------------------------------------------- */

static bool list_add(struct pid_list *list, struct proc_entry entry)
{
    if (list->count == list->room) {
        int room = list->room ? list->room * 2 : 32;
        struct proc_entry *grown = realloc(list->items, (size_t)room * sizeof *grown);
        if (!grown)
            return false;
        list->items = grown;
        list->room = room;
    }
    list->items[list->count++] = entry;
    return true;
}

static const struct proc_entry *list_find(const struct pid_list *list, pid_t pid)
{
    for (int i = 0; i < list->count; i++)
        if (list->items[i].pid == pid)
            return &list->items[i];
    return NULL;
}

/* ---- /proc ---------------------------------------------------------------------------------- */

/* pid, parent and start time from /proc/PID/stat; false for a zombie or a process gone. */
static bool read_stat(pid_t pid, struct proc_entry *out)
{
    struct proc_stat st;
    if (!proc_stat_read(pid, 0, &st) || st.state == 'Z' || st.state == 'X')
        return false;
    *out = (struct proc_entry){.pid = pid, .ppid = st.ppid, .start = st.start};
    return true;
}

bool members_start_of(pid_t pid, unsigned long long *start)
{
    struct proc_entry entry;
    if (!read_stat(pid, &entry))
        return false;
    *start = entry.start;
    return true;
}

bool members_uid_of(pid_t pid, uid_t *uid)
{
    char path[64], text[2048];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!proc_read_text(path, text, sizeof text))
        return false;
    const char *line = strstr(text, "\nUid:");
    unsigned long real;
    if (!line || sscanf(line + 5, "%lu", &real) != 1)
        return false;
    *uid = (uid_t)real;
    return true;
}

/* The "0::" line of /proc/PID/cgroup: the process's cgroup v2 group, from the root of the
 * cgroup namespace. */
static bool cgroup_path_of(const char *proc_cgroup, char *out, size_t size)
{
    static char text[8192];
    if (!proc_read_text(proc_cgroup, text, sizeof text))
        return false;
    const char *line = strncmp(text, "0::", 3) == 0 ? text : strstr(text, "\n0::");
    if (!line)
        return false;
    line += line == text ? 3 : 4;
    size_t len = strcspn(line, "\n");
    if (len == 0 || len >= size)
        return false;
    memcpy(out, line, len);
    out[len] = '\0';
    return true;
}

/* Only a process with write access to the group's cgroup.procs (ours: root's, 0644, or the
 * launcher's user's) can put a process there, so membership is proof a start time is not. */
bool members_in_group(pid_t pid, const char *group)
{
    char mine[PATH_MAX], theirs[PATH_MAX], want[PATH_MAX + 64], path[64];
    if (!group[0] || strchr(group, '/') || strcmp(group, ".") == 0 || strcmp(group, "..") == 0)
        return false;
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    if (!cgroup_path_of("/proc/self/cgroup", mine, sizeof mine) || !cgroup_path_of(path, theirs, sizeof theirs))
        return false;
    int len = snprintf(want, sizeof want, "%s/%s", strcmp(mine, "/") == 0 ? "" : mine, group);
    /* the group itself, or a group the server made inside it (members.c reads those too) */
    return strncmp(theirs, want, (size_t)len) == 0 && (theirs[len] == '\0' || theirs[len] == '/');
}

pid_t members_parent_of(pid_t pid)
{
    struct proc_entry entry;
    return read_stat(pid, &entry) ? entry.ppid : 0;
}

/* Every live process on the host, read at most once per 20 ms (several generations ask in a row). */
static const struct pid_list *process_table(void)
{
    static struct pid_list table;
    static int64_t read_at;
    int64_t now = now_ms();
    if (read_at && now - read_at < 20)
        return &table;
    table.count = 0;
    DIR *proc = opendir("/proc");
    if (!proc)
        return NULL;
    struct dirent *entry;
    while ((entry = readdir(proc))) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        struct proc_entry stat;
        if (*end == '\0' && pid > 0 && read_stat((pid_t)pid, &stat))
            list_add(&table, stat);
    }
    closedir(proc);
    read_at = now;
    return &table;
}

/* An orphan the launcher inherited before it was ever seen: its environment still says which
 * generation it came from (a fork keeps the environment block; so does an exec that passes it). */
bool members_environ_names(pid_t pid, int number)
{
    char path[64], want[48];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    int want_len = snprintf(want, sizeof want, "%s=%d", HS_ENV_GENERATION, number);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    static char block[65536];
    ssize_t n = read(fd, block, sizeof block - 1);
    close(fd);
    if (n <= 0)
        return false;
    block[n] = '\0';
    for (const char *var = block; var < block + n; var += strlen(var) + 1)
        if (strncmp(var, want, (size_t)want_len) == 0 && var[want_len] == '\0')
            return true;
    return false;
}

/* ---- choosing the mode ------------------------------------------------------------------------ */

/* The directory of the launcher's own cgroup v2 group: the "0::" line of /proc/self/cgroup under
 * the cgroup2 mount of /proc/self/mountinfo (less the mount's own root, for a bind mount). */
static bool own_cgroup_dir(char *out, size_t size)
{
    char line[PATH_MAX + 256], group[PATH_MAX] = "";
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return false;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(group, sizeof group, "%.4000s", line + 3);
            group[strcspn(group, "\n")] = '\0';
        }
    fclose(f);
    if (!group[0])
        return false;
    f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char root[PATH_MAX], mount[PATH_MAX / 2];
        const char *dash = strstr(line, " - ");
        if (!dash || strncmp(dash + 3, "cgroup2 ", 8) != 0 ||
            sscanf(line, "%*s %*s %*s %4095s %2047s", root, mount) != 2)
            continue;
        size_t root_len = strcmp(root, "/") == 0 ? 0 : strlen(root);
        if (strncmp(group, root, root_len) != 0)
            continue;
        found = (size_t)snprintf(out, size, "%s%s", mount, group + root_len) < size;
    }
    fclose(f);
    return found;
}

/* Groups a killed launcher left behind, empty now: removed (a live one's are left alone). */
static void remove_stale_groups(void)
{
    DIR *dir = opendir(M.root);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        int pid, number;
        char proc[64];
        if (sscanf(entry->d_name, "hotswap-%d-gen%d", &pid, &number) != 2 || pid == getpid())
            continue;
        snprintf(proc, sizeof proc, "/proc/%d", pid);
        if (access(proc, F_OK) == 0)
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", M.root, entry->d_name);
        rmdir(path); /* fails, harmlessly, while a process is still in it */
    }
    closedir(dir);
}

/* Can a group be made here? Tried with a real one, removed at once. */
static int try_cgroup(void)
{
    if (!own_cgroup_dir(M.root, sizeof M.root)) {
        errno = ENOENT;
        return -1;
    }
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/hotswap-%d-probe", M.root, (int)getpid());
    if (mkdir(probe, 0755) < 0 && errno != EEXIST)
        return -1;
    char procs[PATH_MAX + 96];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", probe);
    int writable = access(procs, W_OK);
    int saved = errno;
    rmdir(probe);
    errno = saved;
    return writable;
}

int members_init(enum track_mode want)
{
    if (want != TRACK_TREE) {
        if (try_cgroup() == 0) {
            M.mode = TRACK_CGROUP;
            snprintf(M.description, sizeof M.description, "cgroup %s", M.root);
            remove_stale_groups();
            hs_log("tracking each generation's processes in a cgroup under %s", M.root);
            return 0;
        }
        int err = errno;
        if (want == TRACK_CGROUP) {
            hs_log("--track cgroup: cannot make a cgroup v2 group (%s%s%s)", strerror(err), M.root[0] ? " in " : "",
                   M.root);
            return -1;
        }
        hs_log("no cgroup v2 group can be made here (%s): tracking generations by the process tree", strerror(err));
    }
    M.mode = TRACK_TREE;
    snprintf(M.description, sizeof M.description, "process tree");
    return 0;
}

const char *members_describe(void)
{
    return M.description;
}

/* ---- one generation -------------------------------------------------------------------------- */

struct members *members_new(int number)
{
    struct members *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->number = number;
    m->dir_fd = m->procs_fd = -1;
    if (M.mode != TRACK_CGROUP)
        return m;
    snprintf(m->name, sizeof m->name, "hotswap-%d-gen%d", (int)getpid(), number);
    int root = open(M.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root >= 0 && (mkdirat(root, m->name, 0755) == 0 || errno == EEXIST))
        m->dir_fd = openat(root, m->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m->dir_fd >= 0)
        m->procs_fd = openat(m->dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (root >= 0)
        close(root);
    if (m->procs_fd < 0)
        hs_log("gen %d: cannot make its cgroup %s/%s (%s): tracking it by the process tree", number, M.root, m->name,
               strerror(errno));
    return m;
}

struct members *members_adopt(int number, pid_t leader, const char *group)
{
    struct members *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->number = number;
    m->dir_fd = m->procs_fd = -1;
    if (M.mode == TRACK_CGROUP && group && strncmp(group, "hotswap-", 8) == 0 && !strchr(group, '/')) {
        snprintf(m->name, sizeof m->name, "%s", group);
        char path[PATH_MAX + 96];
        snprintf(path, sizeof path, "%s/%s", M.root, m->name);
        m->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        m->in_cgroup = m->dir_fd >= 0;
    }
    if (!read_stat(leader, &m->leader))
        m->leader = (struct proc_entry){.pid = leader};
    return m;
}

unsigned long long members_leader_start(const struct members *m)
{
    return m->leader.start;
}

const char *members_group(const struct members *m)
{
    return m->in_cgroup ? m->name : NULL;
}

bool members_join_child(const struct members *m)
{
    if (!m || m->procs_fd < 0)
        return true;
    char pid[16];
    int n = snprintf(pid, sizeof pid, "%d", (int)getpid());
    return write(m->procs_fd, pid, (size_t)n) == n;
}

int members_cgroup_fd(const struct members *m)
{
    return m && m->procs_fd >= 0 ? m->dir_fd : -1;
}

/* Appends the pids listed in the group at `dir_fd` and in its own subgroups (a server may make
 * some) to `out`. */
static void read_group(int dir_fd, struct pid_list *out, int depth)
{
    int procs = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (procs >= 0) {
        FILE *f = fdopen(procs, "re");
        int pid;
        if (f) {
            while (fscanf(f, "%d", &pid) == 1)
                list_add(out, (struct proc_entry){.pid = pid});
            fclose(f);
        } else {
            close(procs);
        }
    }
    if (depth >= 8)
        return;
    int copy = dup(dir_fd);
    DIR *dir = copy >= 0 ? fdopendir(copy) : NULL;
    if (!dir) {
        if (copy >= 0)
            close(copy);
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)))
        if (entry->d_type == DT_DIR && entry->d_name[0] != '.') {
            int sub = openat(dir_fd, entry->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub >= 0) {
                read_group(sub, out, depth + 1);
                close(sub);
            }
        }
    closedir(dir);
}

/* The leader as it started: a zombie too (a command that daemonizes has often exited by now, and
 * the launcher has not reaped it yet). Without its start time, a process given its pid after the
 * reap would be taken for it. */
static void note_leader(struct members *m, pid_t leader)
{
    struct proc_stat st;
    if (proc_stat_read(leader, 0, &st) && st.state != 'X')
        m->leader = (struct proc_entry){.pid = leader, .ppid = st.ppid, .start = st.start};
    else
        m->leader = (struct proc_entry){.pid = leader};
}

void members_started(struct members *m, pid_t leader, bool joined)
{
    note_leader(m, leader);
    if (m->procs_fd < 0)
        return;
    m->in_cgroup = joined;
    if (!joined)
        hs_log("gen %d pid %d could not join its cgroup %s/%s: tracking it by the process tree", m->number, (int)leader,
               M.root, m->name);
}

static bool known_stranger(const struct members *m, const struct proc_entry *p)
{
    const struct proc_entry *was = list_find(&m->strangers, p->pid);
    return was && was->start == p->start;
}

static void note_stranger(struct members *m, const struct proc_entry *p)
{
    if (m->strangers.count >= 1024)
        m->strangers.count = 0; /* pids come and go: forget the old ones now and then */
    list_add(&m->strangers, *p);
}

/* Tree mode: the leader, the members known before (the same processes, not a reused pid), and
 * every descendant of those; an orphan the launcher inherited joins by its environment. */
static int tree_members(struct members *m, pid_t leader, struct pid_list *out)
{
    const struct pid_list *table = process_table();
    if (!table)
        return -1;
    for (int i = 0; i < table->count; i++) {
        const struct proc_entry *p = &table->items[i];
        const struct proc_entry *was = list_find(&m->known, p->pid);
        bool is_leader = p->pid == leader && (!m->leader.start || p->start == m->leader.start);
        if (is_leader || (was && was->start == p->start))
            list_add(out, *p);
    }
    for (bool grew = true; grew;) {
        grew = false;
        for (int i = 0; i < table->count; i++) {
            const struct proc_entry *p = &table->items[i];
            if (list_find(out, p->pid))
                continue;
            bool orphan = false;
            if (p->ppid == getpid() && !known_stranger(m, p)) {
                orphan = members_environ_names(p->pid, m->number);
                if (!orphan)
                    note_stranger(m, p);
            }
            if (orphan || list_find(out, p->ppid)) {
                list_add(out, *p);
                grew = true;
            }
        }
    }
    /* Remembered as they are now: their children found later are members too. */
    m->known.count = 0;
    for (int i = 0; i < out->count; i++)
        list_add(&m->known, out->items[i]);
    return out->count;
}

int members_list(struct members *m, pid_t leader, const pid_t **pids)
{
    struct pid_list found = {0};
    int count;
    if (m->in_cgroup) {
        read_group(m->dir_fd, &found, 0);
        count = found.count;
    } else {
        count = tree_members(m, leader, &found);
    }
    if (count > m->listed_room) {
        pid_t *grown = realloc(m->listed, (size_t)count * sizeof *grown);
        if (!grown) {
            free(found.items);
            return -1;
        }
        m->listed = grown;
        m->listed_room = count;
    }
    for (int i = 0; i < count; i++)
        m->listed[i] = found.items[i].pid;
    free(found.items);
    *pids = m->listed;
    return count;
}

bool members_include(struct members *m, pid_t leader, pid_t pid)
{
    const pid_t *pids;
    int count = members_list(m, leader, &pids);
    if (count < 0)
        return true;
    for (int i = 0; i < count; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

bool members_by_cgroup(const struct members *m)
{
    return m && m->in_cgroup;
}

bool members_kill_all(const struct members *m)
{
    if (!members_by_cgroup(m))
        return false;
    int fd = openat(m->dir_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool written = write(fd, "1", 1) == 1;
    close(fd);
    return written;
}

void members_free(struct members *m)
{
    if (!m)
        return;
    if (m->procs_fd >= 0)
        close(m->procs_fd);
    if (m->dir_fd >= 0) {
        close(m->dir_fd);
        char path[PATH_MAX + 96];
        snprintf(path, sizeof path, "%s/%s", M.root, m->name);
        if (rmdir(path) < 0 && errno != ENOENT)
            hs_log("gen %d: cannot remove its cgroup %s (%s)", m->number, path, strerror(errno));
    }
    free(m->known.items);
    free(m->strangers.items);
    free(m->listed);
    free(m);
}
