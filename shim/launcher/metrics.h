/* metrics.h: what the launcher counts over its life, for `hotswap status --prometheus` (the
 * Prometheus text exposition format): reloads by outcome, reload and drain durations as
 * histograms, and the kernel's counters seen during reloads. */
#ifndef HOTSWAP_METRICS_H
#define HOTSWAP_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define METRICS_BUCKETS 11 /* upper bounds in seconds: metrics_bucket_bounds */
extern const double metrics_bucket_bounds[METRICS_BUCKETS];

struct histogram {
    uint64_t counts[METRICS_BUCKETS]; /* observations <= each bound (not cumulative here) */
    uint64_t count;
    double sum;
};

enum reload_outcome { RELOAD_OK, RELOAD_FAILED, RELOAD_REFUSED, RELOAD_OUTCOMES };
extern const char *const reload_outcome_names[RELOAD_OUTCOMES];

struct metrics {
    uint64_t reloads[RELOAD_OUTCOMES];
    struct histogram reload_seconds; /* asked for -> its outcome */
    struct histogram drain_seconds;  /* an old generation's drain: its start -> its stop or parking */
    uint64_t rollbacks;              /* hotswap rollback, and a parked generation brought back */
    uint64_t reload_listen_overflows, reload_listen_drops; /* the kernel's, during reloads */
};

void metrics_observe(struct histogram *h, double seconds);

/* One histogram in the exposition format, its HELP and TYPE lines first. */
void metrics_write_histogram(FILE *out, const char *name, const char *help, const struct histogram *h);

#endif
