/*  geak_prom.h - a small thread-safe metrics registry: counters, gauges and
    histograms (fixed buckets), each a family of series told apart by label
    values, rendered in the Prometheus text exposition format 0.0.4
    (docs/observability.md lists the metrics geak-c exports).

    Usage:
        geak_prom_t *reg = geak_prom_new ();
        geak_prom_family_t *requests = geak_prom_counter (reg, "geak_broker_requests_total",
            "Requests accepted.", GEAK_PROM_LABELS ("service"));
        geak_prom_series_t *s = geak_prom_series (requests, GEAK_PROM_VALUES ("geak.evaluator"));
        geak_prom_inc (s);
        char *text = geak_prom_render (reg, NULL);

    Families and series live as long as the registry: a series pointer may be
    kept and updated from any thread without a lookup (updates are lock-free
    atomics; lookups and rendering take the registry's lock). Every call
    accepts NULL families / series and then does nothing, so code can be
    instrumented unconditionally and given no registry when metrics are off.

    Label values are stored sanitised (bytes outside printable ASCII become
    '_', at most GEAK_PROM_MAX_VALUE bytes) and escaped on output. A family
    holds at most GEAK_PROM_MAX_SERIES label sets; further ones share one
    series whose values are all "_overflow" (so bytes from the wire cannot
    grow the registry without bound). */
#ifndef GEAK_PROM_H_INCLUDED
#define GEAK_PROM_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_PROM_MAX_LABELS    4
#define GEAK_PROM_MAX_SERIES    256
#define GEAK_PROM_MAX_BUCKETS   32
#define GEAK_PROM_MAX_VALUE     128

//  NULL-terminated label name / value lists as compound literals
#define GEAK_PROM_LABELS(...) ((const char *const []) { __VA_ARGS__, NULL })
#define GEAK_PROM_VALUES(...) ((const char *const []) { __VA_ARGS__, NULL })

typedef struct geak_prom_t geak_prom_t;
typedef struct geak_prom_family_t geak_prom_family_t;
typedef struct geak_prom_series_t geak_prom_series_t;

typedef enum {
    GEAK_PROM_COUNTER,
    GEAK_PROM_GAUGE,
    GEAK_PROM_HISTOGRAM
} geak_prom_type_t;

//  Called at the start of every render, outside the registry's lock, to
//  refresh series from state kept elsewhere (e.g. geak_broker_stats).
typedef void (geak_prom_collect_fn) (void *arg);

//  Latency buckets in seconds used by geak-c's request histograms
//  (1 ms .. 10 min); GEAK_PROM_LATENCY_COUNT entries.
extern const double geak_prom_latency_buckets [];
#define GEAK_PROM_LATENCY_COUNT 18

geak_prom_t *geak_prom_new (void);
void geak_prom_destroy (geak_prom_t **self_p);

//  Register a family. labels: NULL-terminated names (GEAK_PROM_LABELS) or
//  NULL for none. Registering an existing name again with the same type and
//  labels returns the existing family. Returns NULL on a bad name, more than
//  GEAK_PROM_MAX_LABELS labels, a clash with an existing family, or bad
//  buckets (histograms: 1..GEAK_PROM_MAX_BUCKETS finite bounds, strictly
//  increasing; the +Inf bucket is implicit). Strings are copied.
geak_prom_family_t *geak_prom_counter (geak_prom_t *self, const char *name, const char *help,
                                       const char *const *labels);
geak_prom_family_t *geak_prom_gauge (geak_prom_t *self, const char *name, const char *help,
                                     const char *const *labels);
geak_prom_family_t *geak_prom_histogram (geak_prom_t *self, const char *name, const char *help,
                                         const char *const *labels,
                                         const double *bounds, size_t nbounds);

//  The series for these label values (as many as the family has labels;
//  NULL for none), created on first use. NULL only when family is NULL or
//  the number of values is wrong.
geak_prom_series_t *geak_prom_series (geak_prom_family_t *family, const char *const *values);

//  Counters: add v >= 0 (negative or NaN ignored). Gauges: add any v.
void geak_prom_inc (geak_prom_series_t *series);
void geak_prom_add (geak_prom_series_t *series, double v);
//  Gauges: set the value (also shows a removed series again). Counters:
//  only to mirror a monotonic total kept elsewhere (from a collector).
void geak_prom_set (geak_prom_series_t *series, double v);
//  Gauges only: stop rendering this series until the next set / add.
void geak_prom_remove (geak_prom_series_t *series);
//  Histograms only: count one observation.
void geak_prom_observe (geak_prom_series_t *series, double v);
//  Counter / gauge value, histogram sum; 0 for NULL.
double geak_prom_value (geak_prom_series_t *series);
//  Histogram observation count; 0 for NULL or other types.
uint64_t geak_prom_count (geak_prom_series_t *series);

//  Shorthands: look up the series and update it.
void geak_prom_inc_with (geak_prom_family_t *family, const char *const *values);
void geak_prom_add_with (geak_prom_family_t *family, const char *const *values, double v);
void geak_prom_set_with (geak_prom_family_t *family, const char *const *values, double v);
void geak_prom_observe_with (geak_prom_family_t *family, const char *const *values, double v);

//  Register a collector (at most 8).
geak_rc_t geak_prom_add_collector (geak_prom_t *self, geak_prom_collect_fn *fn, void *arg);

//  Text format 0.0.4 of every family, in registration order; series in
//  creation order. Caller frees. *size_p (if not NULL) gets the length.
char *geak_prom_render (geak_prom_t *self, size_t *size_p);

//  Content-Type of the rendered text.
#define GEAK_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

int geak_prom_test (bool verbose);

#endif
