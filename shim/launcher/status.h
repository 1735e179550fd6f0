/* status.h: `hotswap status`: what the launcher is running, as a table for people or one JSON
 * object for programs. */
#ifndef HOTSWAP_STATUS_H
#define HOTSWAP_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "generation.h"
#include "metrics.h"
#include "restart.h"

enum status_format { STATUS_TABLE, STATUS_JSON, STATUS_PROMETHEUS };

/* The outcome of the last reload, or the last crash restart. */
#include "reloadproof.h"

struct status_event {
    bool happened, ok;
    int64_t at_ms; /* monotonic */
    char text[1000];
    bool has_proof; /* a reload that started a generation: what the kernel saw meanwhile */
    struct reload_proof proof;
};

struct status_view {
    pid_t pid;
    int64_t started_ms;
    const char *control_path;
    bool stopping;
    const struct restarter *restarter;
    struct generation *const *gens;
    int gen_count;
    const struct generation *serving;
    const struct metrics *metrics;
    const struct status_event *last_reload, *last_restart;
    const char *overlap; /* sequential_describe(): how reloads go (NULL: not shown) */
};

/* The document (malloc'd), or NULL when out of memory. Reads /proc to count connections. */
char *status_render(const struct status_view *view, enum status_format format);

#endif
