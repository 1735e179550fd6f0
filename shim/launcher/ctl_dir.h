/* ctl_dir.h: hotswap's default control socket directory (/tmp/hotswap-UID, /run/hotswap,
 * $XDG_RUNTIME_DIR/hotswap): taken only if it is this user's alone, by the launcher that makes
 * its socket there and by the client that connects to one. */
#ifndef HOTSWAP_CTL_DIR_H
#define HOTSWAP_CTL_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What a file's mode says it is, in words for a refusal: "a directory", "a FIFO"... */
const char *file_kind_name(mode_t mode);

/* Checks that `dir` is a real directory (not a symlink to one), this user's, mode 0700. With
 * `may_make`, it is made 0700 if missing (the launcher); without, a missing one is -1 ENOENT
 * (the client: no launcher there). Returns 0; -1 with errno if it cannot look; -2 if it refuses,
 * having said why in `why`. */
int ctl_dir_check(const char *dir, bool may_make, char *why, size_t size);

#endif
