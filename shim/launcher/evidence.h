/* evidence.h: whether a new generation cannot run beside its old one, by what the kernel shows.
 *
 * The shim reports two facts (channel.h): a lock call that failed because another holds the
 * lock (the file's device and inode), and a kill(pid, 0) that found a process alive. They are
 * only hints: the kernel decides. /proc/locks says who holds a lock on that file, or who is
 * blocked waiting for one; the launcher knows which processes are whose generation. */
#ifndef HOTSWAP_EVIDENCE_H
#define HOTSWAP_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct generation;

/* What the shim of generation `gen` reported. */
void evidence_note_lock_failed(int gen, pid_t pid, uint64_t dev, uint64_t ino);
void evidence_note_pid_probed(int gen, pid_t prober, pid_t target);
void evidence_note_read_opened(int gen, uint64_t dev, uint64_t ino);

/* Grows with each new file a generation read: a look at the old generation's files is due only
 * when it changed. */
unsigned evidence_reads_seen(void);

/* Forgets what generation `gen` reported (it is gone). */
void evidence_forget(int gen);

/* A lock call of `next` failed at least `failures` times on one file that the kernel shows a
 * process of `old` holding. True with the log's diagnosis in `why` ("gen 2 could not lock
 * /var/lib/x/LOCK: held by gen 1 pid 812"). */
bool evidence_lock_held(struct generation *next, struct generation *old, int failures, char *why, size_t size);

/* /proc/locks shows a process of `next` blocked waiting for a lock a process of `old` holds
 * (F_SETLKW, a blocking flock): `why` as above, "waits to lock". */
bool evidence_lock_waited(struct generation *next, struct generation *old, char *why, size_t size);

/* The seccomp route, which sees no lock call: a process of `next` has open a file on which a
 * process of `old` holds a lock (a retrier polling with LOCK_NB, as Go's bbolt does, shows no
 * waiter). `why`: "gen 2 has /var/lib/x/db open, which gen 1 pid 812 holds locked". */
bool evidence_open_on_held_lock(struct generation *next, struct generation *old, char *why, size_t size);

/* A process of `next` found, with kill(pid, 0), a process of `old` alive: a pid file's check.
 * `why`: "gen 2 found gen 1 pid 812 alive (kill(812, 0), a pid file's check)". */
bool evidence_pid_probed(struct generation *next, struct generation *old, char *why, size_t size);

/* The seccomp route, which sees no lock call: a process of `old` holds a lock (any file).
 * `why`: "gen 2 exited while gen 1 pid 812 holds a lock on /var/lib/x/LOCK". */
bool evidence_old_holds_lock(struct generation *next, struct generation *old, char *why, size_t size);

/* `next` opened for reading, before it was ready, a regular file that a process of `old` holds
 * open for writing (/proc/PID/fdinfo's flags): state the old one still changes, loaded by the
 * new one (an append-only file). `why`: "gen 2 loaded /var/lib/x/data.aof, which gen 1 pid 812
 * holds open for writing". */
bool evidence_loaded_what_old_writes(struct generation *next, struct generation *old, char *why, size_t size);

#endif
