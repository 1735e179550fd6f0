/* shimlog.h: the shim's few words on stderr. Every message is printed at most once per
 * process and is async-signal-safe (one write(2), no stdio). */
#ifndef HOTSWAP_SHIMLOG_H
#define HOTSWAP_SHIMLOG_H

/* Writes "libhotswap: <parts...>\n" to stderr as one write. Parts end with a NULL. */
void shim_say(const char *first, ...) __attribute__((sentinel));

#endif
