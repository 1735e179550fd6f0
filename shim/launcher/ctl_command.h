/* ctl_command.h: a command line over the control socket ("reload with", ctl_proto.h). */
#ifndef HOTSWAP_CTL_COMMAND_H
#define HOTSWAP_CTL_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

/* Replaces the request in `buf` (CTL_COMMAND_MAX bytes) by "reload with" and `argv`; false if
 * it does not fit or an argument holds a control character other than tab. */
bool ctl_command_encode(char *const *argv, char *buf, size_t *len);

/* The request is a "reload with": 1; not one: 0; one that is malformed: -1. */
int ctl_command_is(const char *buf, size_t len);

/* Why a request, as received, is not taken; NULL if it may be read as one. `received`: the bytes
 * in `request` (no more than the buffer held); `length`: the message's real length (recvmsg's
 * answer with MSG_TRUNC, larger when the message did not fit); `flags`: recvmsg's msg_flags.
 * Reads `received` bytes at most. The text may be static: use it before the next call. */
const char *ctl_request_refusal(const char *request, size_t received, size_t length, int flags);

/* The command line of a well-formed "reload with" request, as one allocation (free() it);
 * NULL without memory. */
char **ctl_command_decode(const char *buf, size_t len);

/* A copy of `argv` in one allocation (free() it); NULL without memory. */
char **argv_copy(char *const *argv);

#endif
