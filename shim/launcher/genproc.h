/* genproc.h: a generation's processes and what the kernel says of them, for the files that make
 * up a generation (generation.c, genmsg.c, gendrain.c, notready.c). */
#ifndef HOTSWAP_GENPROC_H
#define HOTSWAP_GENPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "genstate.h"

/* The live processes of the generation (-1 if unknown); pids valid until the next call. */
int gen_processes(struct generation *g, const pid_t **pids);

/* The process `pid` of generation `g`, or NULL if it is not in its table. */
struct gen_proc *gen_find_proc(struct generation *g, pid_t pid);

/* Adds `pid` to the table (with a pidfd), or finds it there; NULL when the table cannot grow. */
struct gen_proc *gen_add_proc(struct generation *g, pid_t pid);

/* a + b for counts, saturating at LONG_MAX. */
long gen_add_counts(long a, long b);

/* `sig` to `pid` through its pidfd (kill() without one). */
void gen_send_signal(pid_t pid, int pidfd, int sig);

/* The process has a handler for `sig` (the kernel's SigCgt): the shim is in charge there. */
bool gen_catches_signal(pid_t pid, int sig);

/* libhotswap.so is mapped in the process (/proc/PID/maps). */
bool gen_shim_mapped_in(pid_t pid);

/* The process's executable (/proc/PID/exe), or "?". */
void gen_exe_of(pid_t pid, char *exe, size_t size);

#endif
