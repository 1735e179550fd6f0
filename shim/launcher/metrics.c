/* metrics.c: the launcher's counts over its life, and histograms in the Prometheus text format.
 * See metrics.h. */
#include "metrics.h"

const double metrics_bucket_bounds[METRICS_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

const char *const reload_outcome_names[RELOAD_OUTCOMES] = {
    [RELOAD_OK] = "ok",
    [RELOAD_FAILED] = "failed",
    [RELOAD_REFUSED] = "refused",
};

void metrics_observe(struct histogram *h, double seconds)
{
    for (int i = 0; i < METRICS_BUCKETS; i++)
        if (seconds <= metrics_bucket_bounds[i]) {
            h->counts[i]++;
            break;
        }
    h->count++;
    h->sum += seconds;
}

void metrics_write_histogram(FILE *out, const char *name, const char *help, const struct histogram *h)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        cumulative += h->counts[i];
        fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, metrics_bucket_bounds[i], (unsigned long long)cumulative);
    }
    fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)h->count, name,
            h->sum, name, (unsigned long long)h->count);
}
