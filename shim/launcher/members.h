/* members.h: which processes belong to a generation, as the kernel shows it.
 *
 * A generation is every process descended from its first one, whatever it exec'd, however it
 * changed process group or session. Where the launcher can make a cgroup v2 group per
 * generation, its cgroup.procs is the answer (a fork lands in its parent's group before it can
 * run). Elsewhere the process tree in /proc is: the launcher is a child subreaper, so a process
 * whose parent died comes back to it, and is still known by the parent it had when last seen, or
 * by the HOTSWAP_GENERATION in its environment. */
#ifndef HOTSWAP_MEMBERS_H
#define HOTSWAP_MEMBERS_H

#include <stdbool.h>
#include <sys/types.h>

enum track_mode { TRACK_AUTO, TRACK_CGROUP, TRACK_TREE };

/* Chooses how generations are tracked, once, at start: with TRACK_AUTO a cgroup where one can
 * be made, else the tree; the choice is logged. -1 (with a line saying why) when TRACK_CGROUP
 * was asked for and no cgroup can be made. */
int members_init(enum track_mode want);

/* "cgroup /sys/fs/cgroup/..." or "process tree", for status and the log. */
const char *members_describe(void);

struct members;

/* The tracker of generation `number` (in cgroup mode, makes its group); NULL without memory. */
struct members *members_new(int number);

/* In the child, after fork and before exec: moves the calling process into the generation's
 * group (cgroup mode). Only write(): safe after fork. False if it could not. */
bool members_join_child(const struct members *m);

/* The generation's cgroup directory, for a child to be born in (clone3's CLONE_INTO_CGROUP),
 * or -1 where it has none. */
int members_cgroup_fd(const struct members *m);

/* After the start: whether the command's process joined its group (if not, this generation is
 * tracked by the process tree instead, and the log says so). */
void members_started(struct members *m, pid_t leader, bool joined);

/* The live processes of the generation now (zombies excluded): a count, the pids in *pids
 * (owned by `m`, valid until the next call). -1 if they cannot be read. */
int members_list(struct members *m, pid_t leader, const pid_t **pids);

/* `pid` is a live process of the generation now; also true where the processes cannot be read
 * (the caller then believes what it believed before). */
bool members_include(struct members *m, pid_t leader, pid_t pid);

/* Whether the generation's processes are those of its cgroup (else: its process tree). */
bool members_by_cgroup(const struct members *m);

/* SIGKILL, at once, to every process in the generation's cgroup and its subgroups (cgroup.kill,
 * Linux 5.14): nothing forked meanwhile escapes it, and no pid the kernel may have given to
 * another process since is named. False in tree mode, or where the file is missing (an older
 * kernel) or cannot be written: the caller signals the processes one by one. */
bool members_kill_all(const struct members *m);

/* A generation a killed launcher left running (adopt.c): tracked in the cgroup `group` (a name
 * under the launcher's own group, as members_group() said) where there is one, else by its
 * process tree from `leader`. NULL without memory. */
struct members *members_adopt(int number, pid_t leader, const char *group);

/* What identifies the generation for a later launcher: the leader's start time (clock ticks
 * after boot), and the name of its cgroup (NULL in tree mode). */
unsigned long long members_leader_start(const struct members *m);
const char *members_group(const struct members *m);

/* The start time of a live process; false if it is gone (or a zombie). */
bool members_start_of(pid_t pid, unsigned long long *start);

/* The real uid of a process, from /proc/PID/status; false if it is gone. */
bool members_uid_of(pid_t pid, uid_t *uid);

/* Proof that `pid` was started as generation `number` of a launcher (adopt.c): its environment
 * holds HOTSWAP_GENERATION=number, as spawn.c sets it. */
bool members_environ_names(pid_t pid, int number);

/* Proof that `pid` is in the group `group` (one path component, as members_group() names it)
 * directly under this launcher's own cgroup, or in a group below that one. */
bool members_in_group(pid_t pid, const char *group);

/* The parent of a live process (from /proc); 0 for a process gone or a zombie. */
pid_t members_parent_of(pid_t pid);

/* Removes the group (cgroup mode; it must be empty by then) and frees the tracker. */
void members_free(struct members *m);

#endif
