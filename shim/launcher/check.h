/* check.h: --check CMD, the operator's test of the new configuration (nginx -t, haproxy -c),
 * run before each reload: the reload goes on only if it exits 0. It runs beside the launcher's
 * loop, so a slow check stalls neither signals, nor the control socket, nor the seccomp route's
 * answers; its output is kept for the refusal. One check at a time (one reload starts at a
 * time). */
#ifndef HOTSWAP_CHECK_H
#define HOTSWAP_CHECK_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CHECK_OUTPUT_MAX 2048

/* Starts `/bin/sh -c command`, stdin /dev/null, stdout and stderr captured, in a process group
 * of its own; it is killed if it runs past `deadline_ms` (now_ms() clock). False (errno set) if
 * it cannot be started. */
bool check_start(const char *command, int64_t deadline_ms);

/* While one runs: its output pipe, to poll for input (0 or 1 entries written). */
int check_pollfd(struct pollfd *out);

/* Its output pipe is readable: takes what is there. */
void check_read(void);

/* A child was reaped: true if it was the check (its status is kept). */
bool check_note_reaped(pid_t pid, int status);

/* Kills a check past its deadline (its result then says so). */
void check_on_deadline(int64_t now);

/* The next deadline, or 0 when none runs. */
int64_t check_deadline(void);

/* The check has exited and its output is read: true, with `passed`, and a one-line `verdict`
 * ("exit status 1", "killed after 30000 ms"); the output lines are in `output`. The check is
 * then forgotten. False while it runs. */
bool check_finished(bool *passed, char *verdict, size_t size, char *output, size_t output_size);

/* Stops a running check (the launcher is stopping); its result is dropped. */
void check_cancel(void);

bool check_running(void);

#endif
