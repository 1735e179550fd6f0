/* log.h: the launcher's log: one line per event on stderr, "hotswap: gen 3 pid 812 ready in 41 ms". */
#ifndef HOTSWAP_LOG_H
#define HOTSWAP_LOG_H

#include <stdint.h>
#include <time.h>

void hs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A listener of log lines (the control client waiting for a reload), or NULL. */
typedef void (*log_tap_fn)(const char *line);
void log_set_tap(log_tap_fn tap);

/* Monotonic milliseconds. */
int64_t now_ms(void);

/* A wait status in words: "exited with status 1", "killed by signal 9 (Killed)". */
void describe_wait_status(int status, char *text, size_t size);

#endif
