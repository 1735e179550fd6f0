/* gensignal.h: signals to every process of a generation, and never to a stranger that took a
 * reaped process's pid.
 *
 * The command's process leads the generation's process group, whose id is its pid. Once the
 * launcher has reaped it, that pid is free, and so is the group's id once no process is left in
 * the group: an unrelated process may be given the pid and make it its own group's id
 * (setpgid(0, 0)). kill(-pgid) would then reach it, and kill(-pgid, 0) would say the generation
 * still runs. */
#ifndef HOTSWAP_GENSIGNAL_H
#define HOTSWAP_GENSIGNAL_H

#include <stdbool.h>

struct generation;

/* Is the process group named by the command's pid still the generation's? Until the command's
 * process is reaped, yes (its pid cannot be another's). After, only while a process the launcher
 * tracks (met, or counted as a member) is alive and in that group: that keeps the id taken. */
bool gen_group_is_own(struct generation *g);

/* `sig` to every process of the generation. With a cgroup: SIGKILL through cgroup.kill, any other
 * signal to each process in cgroup.procs. With the process tree: the process group while it is
 * the generation's own, and each member outside it (setsid, setpgid), each through a pidfd. */
void gen_signal_all(struct generation *g, int sig);

#endif
