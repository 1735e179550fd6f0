/* threadid.c: the per-thread cache behind thread_id() (threadid.h). */
#define _GNU_SOURCE
#include "threadid.h"

__thread pid_t thread_id_known __attribute__((tls_model("initial-exec")));
