/* adopt.h: surviving the launcher's own death. The launcher keeps a small state file next to its
 * control socket (the generations it runs, the listeners it holds); a launcher started later with
 * the same --control finds the generations a killed one left running, takes their listeners
 * back from them (pidfd_getfd) and carries on: the next reload is a zero-loss reload again. */
#ifndef HOTSWAP_ADOPT_H
#define HOTSWAP_ADOPT_H

#include "generation.h"

/* The state file is the control socket's path plus ".state"; a NULL path keeps none. */
void adopt_init(const char *control_path);

/* The generations a killed launcher left, as far as the kernel confirms them (each command's
 * process alive, with the start time recorded, and proof that it was a generation: its cgroup,
 * or its HOTSWAP_GENERATION and uid): made into generations in `out` (at most
 * `room`), with their listeners held again. The one that served serves on (*serving; NULL if it
 * is gone); the others drain again. Returns how many (0: none to adopt, or no state file);
 * *next_number is then the number the next generation takes. */
int adopt_take(struct generation **out, int room, const struct gen_settings *settings, int *next_number,
               struct generation **serving);

/* Records the generations and the held listeners, if they changed since the last call. */
void adopt_save(struct generation *const *gens, int count, const struct generation *serving);

/* Milliseconds until a state file write the disk refused is tried again (adopt_save() does it);
 * -1 when none is waiting. For the launcher's poll timeout. */
int adopt_retry_ms(void);

/* A clean exit: nothing is left to adopt. */
void adopt_forget(void);

#endif
