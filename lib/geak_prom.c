/*  geak_prom.c - metrics registry and Prometheus text format 0.0.4
    (see geak_prom.h). */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_prom.h"

#include <math.h>
#include <pthread.h>

#define MAX_COLLECTORS 8
#define OVERFLOW_VALUE "_overflow"

const double geak_prom_latency_buckets [GEAK_PROM_LATENCY_COUNT] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5, 5, 10, 30, 60, 120, 300, 600
};

struct geak_prom_series_t {
    geak_prom_family_t *family;
    char *values [GEAK_PROM_MAX_LABELS];
    uint64_t bits;              //  atomic: a double (value, or histogram sum)
    uint64_t *buckets;          //  histograms: nbounds + 1 atomic counts (not cumulative)
    int hidden;                 //  atomic: removed gauge
    geak_prom_series_t *next;
};

struct geak_prom_family_t {
    geak_prom_t *registry;
    char *name;
    char *help;
    geak_prom_type_t type;
    size_t nlabels;
    char *labels [GEAK_PROM_MAX_LABELS];
    double bounds [GEAK_PROM_MAX_BUCKETS];
    size_t nbounds;
    geak_prom_series_t *head, *tail;
    size_t nseries;
    geak_prom_series_t *overflow;
    geak_prom_family_t *next;
};

struct geak_prom_t {
    pthread_mutex_t lock;
    geak_prom_family_t *head, *tail;
    struct {
        geak_prom_collect_fn *fn;
        void *arg;
    } collectors [MAX_COLLECTORS];
    size_t ncollectors;
};

//  ------------------------------------------------------------ atomics

static double
s_load (const uint64_t *bits)
{
    uint64_t raw = __atomic_load_n (bits, __ATOMIC_RELAXED);
    double value;
    memcpy (&value, &raw, sizeof value);
    return value;
}

static void
s_store (uint64_t *bits, double value)
{
    uint64_t raw;
    memcpy (&raw, &value, sizeof raw);
    __atomic_store_n (bits, raw, __ATOMIC_RELAXED);
}

static void
s_add (uint64_t *bits, double delta)
{
    uint64_t old = __atomic_load_n (bits, __ATOMIC_RELAXED);
    uint64_t new;
    do {
        double value;
        memcpy (&value, &old, sizeof value);
        value += delta;
        memcpy (&new, &value, sizeof new);
    } while (!__atomic_compare_exchange_n (bits, &old, new, true,
                                           __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

//  ------------------------------------------------------------ registry

geak_prom_t *
geak_prom_new (void)
{
    geak_prom_t *self = geak_malloc0 (sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

static void
s_series_free (geak_prom_series_t *series)
{
    for (size_t i = 0; i < GEAK_PROM_MAX_LABELS; i++)
        free (series->values [i]);
    free (series->buckets);
    free (series);
}

void
geak_prom_destroy (geak_prom_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_prom_t *self = *self_p;
    while (self->head) {
        geak_prom_family_t *family = self->head;
        self->head = family->next;
        while (family->head) {
            geak_prom_series_t *series = family->head;
            family->head = series->next;
            s_series_free (series);
        }
        if (family->overflow)
            s_series_free (family->overflow);
        for (size_t i = 0; i < family->nlabels; i++)
            free (family->labels [i]);
        free (family->name);
        free (family->help);
        free (family);
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static bool
s_valid_name (const char *name, bool metric)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
                  || (metric && c == ':');
        if (!alpha && !(p > name && c >= '0' && c <= '9'))
            return false;
    }
    return metric || strncmp (name, "__", 2) != 0;
}

static geak_prom_series_t *s_series_new (geak_prom_family_t *family, const char *const *values);

static geak_prom_family_t *
s_family (geak_prom_t *self, geak_prom_type_t type, const char *name, const char *help,
          const char *const *labels, const double *bounds, size_t nbounds)
{
    if (!self || !s_valid_name (name, true))
        return NULL;
    size_t nlabels = 0;
    while (labels && labels [nlabels]) {
        if (nlabels == GEAK_PROM_MAX_LABELS || !s_valid_name (labels [nlabels], false)
        ||  (type == GEAK_PROM_HISTOGRAM && strcmp (labels [nlabels], "le") == 0))
            return NULL;
        for (size_t j = 0; j < nlabels; j++)
            if (strcmp (labels [j], labels [nlabels]) == 0)
                return NULL;
        nlabels++;
    }
    if (type == GEAK_PROM_HISTOGRAM) {
        if (!bounds || nbounds < 1 || nbounds > GEAK_PROM_MAX_BUCKETS)
            return NULL;
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite (bounds [i]) || (i && bounds [i] <= bounds [i - 1]))
                return NULL;
    }
    pthread_mutex_lock (&self->lock);
    geak_prom_family_t *family;
    for (family = self->head; family; family = family->next)
        if (strcmp (family->name, name) == 0)
            break;
    if (family) {
        //  the same family again, or a clash
        bool same = family->type == type && family->nlabels == nlabels;
        for (size_t i = 0; same && i < nlabels; i++)
            same = strcmp (family->labels [i], labels [i]) == 0;
        if (same && type == GEAK_PROM_HISTOGRAM)
            same = family->nbounds == nbounds
                && memcmp (family->bounds, bounds, nbounds * sizeof (double)) == 0;
        pthread_mutex_unlock (&self->lock);
        return same ? family : NULL;
    }
    family = geak_malloc0 (sizeof *family);
    family->registry = self;
    family->name = geak_strdup (name);
    family->help = geak_strdup (help ? help : "");
    family->type = type;
    family->nlabels = nlabels;
    for (size_t i = 0; i < nlabels; i++)
        family->labels [i] = geak_strdup (labels [i]);
    if (type == GEAK_PROM_HISTOGRAM) {
        memcpy (family->bounds, bounds, nbounds * sizeof (double));
        family->nbounds = nbounds;
    }
    if (self->tail)
        self->tail->next = family;
    else
        self->head = family;
    self->tail = family;
    //  a family without labels has its one series from the start (renders 0)
    if (nlabels == 0) {
        family->head = family->tail = s_series_new (family, NULL);
        family->nseries = 1;
    }
    pthread_mutex_unlock (&self->lock);
    return family;
}

geak_prom_family_t *
geak_prom_counter (geak_prom_t *self, const char *name, const char *help, const char *const *labels)
{
    return s_family (self, GEAK_PROM_COUNTER, name, help, labels, NULL, 0);
}

geak_prom_family_t *
geak_prom_gauge (geak_prom_t *self, const char *name, const char *help, const char *const *labels)
{
    return s_family (self, GEAK_PROM_GAUGE, name, help, labels, NULL, 0);
}

geak_prom_family_t *
geak_prom_histogram (geak_prom_t *self, const char *name, const char *help,
                     const char *const *labels, const double *bounds, size_t nbounds)
{
    return s_family (self, GEAK_PROM_HISTOGRAM, name, help, labels, bounds, nbounds);
}

geak_rc_t
geak_prom_add_collector (geak_prom_t *self, geak_prom_collect_fn *fn, void *arg)
{
    if (!self || !fn)
        return GEAK_E_INVALID;
    pthread_mutex_lock (&self->lock);
    geak_rc_t rc = GEAK_E_INVALID;
    if (self->ncollectors < MAX_COLLECTORS) {
        self->collectors [self->ncollectors].fn = fn;
        self->collectors [self->ncollectors].arg = arg;
        self->ncollectors++;
        rc = GEAK_OK;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

//  ------------------------------------------------------------ series

//  Printable ASCII only, at most GEAK_PROM_MAX_VALUE bytes.
static char *
s_sanitize (const char *value)
{
    if (!value)
        value = "";
    size_t size = strlen (value);
    if (size > GEAK_PROM_MAX_VALUE)
        size = GEAK_PROM_MAX_VALUE;
    char *copy = geak_malloc0 (size + 1);
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char) value [i];
        copy [i] = (c >= 0x20 && c < 0x7f) ? (char) c : '_';
    }
    return copy;
}

static bool
s_same_values (const geak_prom_series_t *series, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *want = values [i] ? values [i] : "";
        const char *have = series->values [i];
        //  compare as stored (sanitised, truncated)
        size_t j = 0;
        for (; j < GEAK_PROM_MAX_VALUE && want [j]; j++) {
            unsigned char c = (unsigned char) want [j];
            char stored = (c >= 0x20 && c < 0x7f) ? (char) c : '_';
            if (have [j] != stored)
                return false;
        }
        if (have [j] != '\0')
            return false;
    }
    return true;
}

//  Caller holds the lock (or owns the family exclusively).
static geak_prom_series_t *
s_series_new (geak_prom_family_t *family, const char *const *values)
{
    geak_prom_series_t *series = geak_malloc0 (sizeof *series);
    series->family = family;
    for (size_t i = 0; i < family->nlabels; i++)
        series->values [i] = s_sanitize (values ? values [i] : OVERFLOW_VALUE);
    if (family->type == GEAK_PROM_HISTOGRAM)
        series->buckets = geak_malloc0 ((family->nbounds + 1) * sizeof (uint64_t));
    return series;
}

geak_prom_series_t *
geak_prom_series (geak_prom_family_t *family, const char *const *values)
{
    if (!family)
        return NULL;
    size_t n = 0;
    while (values && values [n])
        n++;
    if (n != family->nlabels)
        return NULL;
    geak_prom_t *registry = family->registry;
    pthread_mutex_lock (&registry->lock);
    geak_prom_series_t *series;
    for (series = family->head; series; series = series->next)
        if (s_same_values (series, values, n))
            break;
    if (!series) {
        if (family->nseries < GEAK_PROM_MAX_SERIES) {
            series = s_series_new (family, values);
            if (family->tail)
                family->tail->next = series;
            else
                family->head = series;
            family->tail = series;
            family->nseries++;
        }
        else {
            if (!family->overflow) {
                family->overflow = s_series_new (family, NULL);
                geak_warn ("metric_series_overflow", "metric=%s limit=%d", family->name,
                           GEAK_PROM_MAX_SERIES);
            }
            series = family->overflow;
        }
    }
    pthread_mutex_unlock (&registry->lock);
    return series;
}

void
geak_prom_add (geak_prom_series_t *series, double v)
{
    if (!series || isnan (v))
        return;
    geak_prom_type_t type = series->family->type;
    if (type == GEAK_PROM_COUNTER) {
        if (v < 0)
            return;
        s_add (&series->bits, v);
    }
    else
    if (type == GEAK_PROM_GAUGE) {
        s_add (&series->bits, v);
        __atomic_store_n (&series->hidden, 0, __ATOMIC_RELAXED);
    }
}

void
geak_prom_inc (geak_prom_series_t *series)
{
    geak_prom_add (series, 1);
}

void
geak_prom_set (geak_prom_series_t *series, double v)
{
    if (!series || series->family->type == GEAK_PROM_HISTOGRAM)
        return;
    s_store (&series->bits, v);
    __atomic_store_n (&series->hidden, 0, __ATOMIC_RELAXED);
}

void
geak_prom_remove (geak_prom_series_t *series)
{
    if (!series || series->family->type != GEAK_PROM_GAUGE)
        return;
    __atomic_store_n (&series->hidden, 1, __ATOMIC_RELAXED);
    s_store (&series->bits, 0);
}

void
geak_prom_observe (geak_prom_series_t *series, double v)
{
    if (!series || series->family->type != GEAK_PROM_HISTOGRAM || isnan (v))
        return;
    const geak_prom_family_t *family = series->family;
    size_t index = 0;
    while (index < family->nbounds && v > family->bounds [index])
        index++;
    __atomic_fetch_add (&series->buckets [index], 1, __ATOMIC_RELAXED);
    s_add (&series->bits, v);
}

double
geak_prom_value (geak_prom_series_t *series)
{
    return series ? s_load (&series->bits) : 0;
}

uint64_t
geak_prom_count (geak_prom_series_t *series)
{
    if (!series || series->family->type != GEAK_PROM_HISTOGRAM)
        return 0;
    uint64_t count = 0;
    for (size_t i = 0; i <= series->family->nbounds; i++)
        count += __atomic_load_n (&series->buckets [i], __ATOMIC_RELAXED);
    return count;
}

void
geak_prom_inc_with (geak_prom_family_t *family, const char *const *values)
{
    geak_prom_inc (geak_prom_series (family, values));
}

void
geak_prom_add_with (geak_prom_family_t *family, const char *const *values, double v)
{
    geak_prom_add (geak_prom_series (family, values), v);
}

void
geak_prom_set_with (geak_prom_family_t *family, const char *const *values, double v)
{
    geak_prom_set (geak_prom_series (family, values), v);
}

void
geak_prom_observe_with (geak_prom_family_t *family, const char *const *values, double v)
{
    geak_prom_observe (geak_prom_series (family, values), v);
}

//  ------------------------------------------------------------ rendering

typedef struct {
    char *data;
    size_t size;
    size_t cap;
} s_buf_t;

static void
s_put (s_buf_t *buf, const char *text, size_t size)
{
    if (buf->size + size + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        while (cap < buf->size + size + 1)
            cap *= 2;
        char *data = realloc (buf->data, cap);
        assert (data);      //  as geak_malloc0: out of memory is fatal
        buf->data = data;
        buf->cap = cap;
    }
    memcpy (buf->data + buf->size, text, size);
    buf->size += size;
    buf->data [buf->size] = '\0';
}

static void
s_puts (s_buf_t *buf, const char *text)
{
    s_put (buf, text, strlen (text));
}

//  HELP text: escape backslash and newline; label values also '"'
static void
s_put_escaped (s_buf_t *buf, const char *text, bool quote)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            s_puts (buf, "\\\\");
        else
        if (*p == '\n')
            s_puts (buf, "\\n");
        else
        if (quote && *p == '"')
            s_puts (buf, "\\\"");
        else
            s_put (buf, p, 1);
    }
}

//  Shortest decimal form that reads back as the same double
static void
s_put_number (s_buf_t *buf, double value)
{
    char text [40];
    if (isnan (value))
        snprintf (text, sizeof text, "NaN");
    else
    if (isinf (value))
        snprintf (text, sizeof text, value > 0 ? "+Inf" : "-Inf");
    else
    if (value == floor (value) && fabs (value) < 1e15)
        snprintf (text, sizeof text, "%.0f", value);
    else {
        for (int precision = 1; precision <= 17; precision++) {
            snprintf (text, sizeof text, "%.*g", precision, value);
            if (strtod (text, NULL) == value)
                break;
        }
    }
    s_puts (buf, text);
}

static void
s_put_labels (s_buf_t *buf, const geak_prom_family_t *family, const geak_prom_series_t *series,
              const char *le)
{
    if (family->nlabels == 0 && !le)
        return;
    s_puts (buf, "{");
    for (size_t i = 0; i < family->nlabels; i++) {
        if (i)
            s_puts (buf, ",");
        s_puts (buf, family->labels [i]);
        s_puts (buf, "=\"");
        s_put_escaped (buf, series->values [i], true);
        s_puts (buf, "\"");
    }
    if (le) {
        if (family->nlabels)
            s_puts (buf, ",");
        s_puts (buf, "le=\"");
        s_puts (buf, le);
        s_puts (buf, "\"");
    }
    s_puts (buf, "}");
}

static void
s_render_series (s_buf_t *buf, const geak_prom_family_t *family, geak_prom_series_t *series)
{
    if (family->type != GEAK_PROM_HISTOGRAM) {
        if (__atomic_load_n (&series->hidden, __ATOMIC_RELAXED))
            return;
        s_puts (buf, family->name);
        s_put_labels (buf, family, series, NULL);
        s_puts (buf, " ");
        s_put_number (buf, s_load (&series->bits));
        s_puts (buf, "\n");
        return;
    }
    //  Cumulative buckets; the count is the +Inf bucket, so the two agree
    //  even while observations race with the scrape
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= family->nbounds; i++) {
        cumulative += __atomic_load_n (&series->buckets [i], __ATOMIC_RELAXED);
        s_buf_t le = { 0 };
        if (i < family->nbounds)
            s_put_number (&le, family->bounds [i]);
        else
            s_puts (&le, "+Inf");
        s_puts (buf, family->name);
        s_puts (buf, "_bucket");
        s_put_labels (buf, family, series, le.data);
        free (le.data);
        s_puts (buf, " ");
        s_put_number (buf, (double) cumulative);
        s_puts (buf, "\n");
    }
    s_puts (buf, family->name);
    s_puts (buf, "_sum");
    s_put_labels (buf, family, series, NULL);
    s_puts (buf, " ");
    s_put_number (buf, s_load (&series->bits));
    s_puts (buf, "\n");
    s_puts (buf, family->name);
    s_puts (buf, "_count");
    s_put_labels (buf, family, series, NULL);
    s_puts (buf, " ");
    s_put_number (buf, (double) cumulative);
    s_puts (buf, "\n");
}

char *
geak_prom_render (geak_prom_t *self, size_t *size_p)
{
    if (size_p)
        *size_p = 0;
    if (!self)
        return NULL;
    //  collectors update series, which takes the lock: call them outside it
    pthread_mutex_lock (&self->lock);
    size_t ncollectors = self->ncollectors;
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; i < ncollectors; i++)
        self->collectors [i].fn (self->collectors [i].arg);

    static const char *type_names [] = { "counter", "gauge", "histogram" };
    s_buf_t buf = { 0 };
    s_puts (&buf, "");
    pthread_mutex_lock (&self->lock);
    for (geak_prom_family_t *family = self->head; family; family = family->next) {
        s_puts (&buf, "# HELP ");
        s_puts (&buf, family->name);
        s_puts (&buf, " ");
        s_put_escaped (&buf, family->help, false);
        s_puts (&buf, "\n# TYPE ");
        s_puts (&buf, family->name);
        s_puts (&buf, " ");
        s_puts (&buf, type_names [family->type]);
        s_puts (&buf, "\n");
        for (geak_prom_series_t *series = family->head; series; series = series->next)
            s_render_series (&buf, family, series);
        if (family->overflow)
            s_render_series (&buf, family, family->overflow);
    }
    pthread_mutex_unlock (&self->lock);
    if (size_p)
        *size_p = buf.size;
    return buf.data;
}

//  ------------------------------------------------------------ selftest

typedef struct {
    geak_prom_series_t *series;
    int calls;
} s_collect_arg_t;

static void
s_collect (void *arg)
{
    s_collect_arg_t *self = arg;
    self->calls++;
    geak_prom_set (self->series, 42);
}

typedef struct {
    geak_prom_series_t *counter;
    geak_prom_series_t *histogram;
    geak_prom_family_t *family;
    int rounds;
} s_race_arg_t;

static void *
s_race (void *arg)
{
    s_race_arg_t *self = arg;
    char value [32];
    for (int i = 0; i < self->rounds; i++) {
        geak_prom_inc (self->counter);
        geak_prom_observe (self->histogram, (i % 7) * 0.01);
        snprintf (value, sizeof value, "v%d", i % 5);
        geak_prom_inc_with (self->family, GEAK_PROM_VALUES (value));
    }
    return NULL;
}

static bool
s_contains (const char *text, const char *needle)
{
    return strstr (text, needle) != NULL;
}

int
geak_prom_test (bool verbose)
{
    int saved = geak_log_level_current;
    geak_log_set_level (GEAK_LOG_OFF);
    geak_prom_t *reg = geak_prom_new ();
    GEAK_CHECK (reg);

    //  bad names, labels and buckets
    GEAK_CHECK (!geak_prom_counter (reg, "1bad", "", NULL));
    GEAK_CHECK (!geak_prom_counter (reg, "bad-name", "", NULL));
    GEAK_CHECK (!geak_prom_counter (reg, "ok_name", "", GEAK_PROM_LABELS ("__reserved")));
    GEAK_CHECK (!geak_prom_counter (reg, "ok_name", "", GEAK_PROM_LABELS ("a", "a")));
    GEAK_CHECK (!geak_prom_counter (reg, "ok_name", "", GEAK_PROM_LABELS ("a", "b", "c", "d", "e")));
    const double bad [] = { 1, 1 };
    GEAK_CHECK (!geak_prom_histogram (reg, "h_bad", "", NULL, bad, 2));
    GEAK_CHECK (!geak_prom_histogram (reg, "h_bad", "", NULL, bad, 0));
    GEAK_CHECK (!geak_prom_histogram (reg, "h_bad", "", GEAK_PROM_LABELS ("le"), bad, 1));

    //  a counter without labels renders 0 from the start
    geak_prom_family_t *up = geak_prom_counter (reg, "geak_test_events_total",
                                                "Events.\nWith \\ escapes", NULL);
    GEAK_CHECK (up);
    GEAK_CHECK (geak_prom_counter (reg, "geak_test_events_total", "", NULL) == up);
    GEAK_CHECK (!geak_prom_gauge (reg, "geak_test_events_total", "", NULL));
    geak_prom_series_t *ups = geak_prom_series (up, NULL);
    GEAK_CHECK (ups && geak_prom_value (ups) == 0);
    geak_prom_inc (ups);
    geak_prom_add (ups, 2.5);
    geak_prom_add (ups, -1);            //  ignored on a counter
    GEAK_CHECK (geak_prom_value (ups) == 3.5);

    //  labelled counter, escaping and sanitising of values
    geak_prom_family_t *req = geak_prom_counter (reg, "geak_test_requests_total", "Requests.",
                                                 GEAK_PROM_LABELS ("service", "code"));
    GEAK_CHECK (req);
    GEAK_CHECK (!geak_prom_series (req, GEAK_PROM_VALUES ("only one")));
    geak_prom_series_t *a = geak_prom_series (req, GEAK_PROM_VALUES ("echo", "ok"));
    GEAK_CHECK (a == geak_prom_series (req, GEAK_PROM_VALUES ("echo", "ok")));
    geak_prom_inc (a);
    geak_prom_inc_with (req, GEAK_PROM_VALUES ("we\"ird\\", "line\nbreak\x01"));

    //  gauge set / remove
    geak_prom_family_t *depth = geak_prom_gauge (reg, "geak_test_queue_depth", "Depth.",
                                                 GEAK_PROM_LABELS ("service"));
    geak_prom_series_t *d1 = geak_prom_series (depth, GEAK_PROM_VALUES ("gone"));
    geak_prom_set (d1, 5);
    geak_prom_add (d1, -7);
    GEAK_CHECK (geak_prom_value (d1) == -2);
    geak_prom_remove (d1);
    geak_prom_set_with (depth, GEAK_PROM_VALUES ("kept"), 3);

    //  histogram with two bounds
    const double bounds [] = { 0.1, 1 };
    geak_prom_family_t *lat = geak_prom_histogram (reg, "geak_test_latency_seconds", "Latency.",
                                                   GEAK_PROM_LABELS ("service"), bounds, 2);
    GEAK_CHECK (lat);
    geak_prom_series_t *h = geak_prom_series (lat, GEAK_PROM_VALUES ("echo"));
    geak_prom_observe (h, 0.05);
    geak_prom_observe (h, 0.1);         //  le is inclusive
    geak_prom_observe (h, 0.5);
    geak_prom_observe (h, 7);
    GEAK_CHECK (geak_prom_count (h) == 4);
    GEAK_CHECK (fabs (geak_prom_value (h) - 7.65) < 1e-9);

    //  collector
    geak_prom_family_t *col = geak_prom_gauge (reg, "geak_test_collected", "Collected.", NULL);
    s_collect_arg_t carg = { geak_prom_series (col, NULL), 0 };
    GEAK_CHECK (geak_prom_add_collector (reg, s_collect, &carg) == GEAK_OK);

    size_t size = 0;
    char *text = geak_prom_render (reg, &size);
    GEAK_CHECK (text && size == strlen (text));
    if (verbose)
        printf ("%s", text);
    GEAK_CHECK (carg.calls == 1);
    GEAK_CHECK (s_contains (text, "# HELP geak_test_events_total Events.\\nWith \\\\ escapes\n"));
    GEAK_CHECK (s_contains (text, "# TYPE geak_test_events_total counter\ngeak_test_events_total 3.5\n"));
    GEAK_CHECK (s_contains (text, "geak_test_requests_total{service=\"echo\",code=\"ok\"} 1\n"));
    GEAK_CHECK (s_contains (text, "{service=\"we\\\"ird\\\\\",code=\"line_break_\"} 1\n"));
    GEAK_CHECK (!s_contains (text, "\"gone\""));
    GEAK_CHECK (s_contains (text, "geak_test_queue_depth{service=\"kept\"} 3\n"));
    GEAK_CHECK (s_contains (text, "# TYPE geak_test_latency_seconds histogram\n"));
    GEAK_CHECK (s_contains (text, "geak_test_latency_seconds_bucket{service=\"echo\",le=\"0.1\"} 2\n"));
    GEAK_CHECK (s_contains (text, "geak_test_latency_seconds_bucket{service=\"echo\",le=\"1\"} 3\n"));
    GEAK_CHECK (s_contains (text, "geak_test_latency_seconds_bucket{service=\"echo\",le=\"+Inf\"} 4\n"));
    GEAK_CHECK (s_contains (text, "geak_test_latency_seconds_sum{service=\"echo\"} 7.65\n"));
    GEAK_CHECK (s_contains (text, "geak_test_latency_seconds_count{service=\"echo\"} 4\n"));
    GEAK_CHECK (s_contains (text, "geak_test_collected 42\n"));
    free (text);

    //  the series cap: further label sets share one overflow series
    geak_prom_family_t *many = geak_prom_counter (reg, "geak_test_many_total", "Many.",
                                                  GEAK_PROM_LABELS ("k"));
    geak_prom_series_t *first_overflow = NULL;
    for (int i = 0; i < GEAK_PROM_MAX_SERIES + 10; i++) {
        char value [16];
        snprintf (value, sizeof value, "k%d", i);
        geak_prom_series_t *s = geak_prom_series (many, GEAK_PROM_VALUES (value));
        GEAK_CHECK (s);
        geak_prom_inc (s);
        if (i == GEAK_PROM_MAX_SERIES)
            first_overflow = s;
        if (i > GEAK_PROM_MAX_SERIES)
            GEAK_CHECK (s == first_overflow);
    }
    text = geak_prom_render (reg, NULL);
    GEAK_CHECK (s_contains (text, "geak_test_many_total{k=\"_overflow\"} 10\n"));
    free (text);

    //  concurrent updates and renders: totals are exact
    geak_prom_family_t *rc = geak_prom_counter (reg, "geak_test_race_total", "Race.", NULL);
    geak_prom_family_t *rh = geak_prom_histogram (reg, "geak_test_race_seconds", "Race.", NULL,
                                                  geak_prom_latency_buckets, GEAK_PROM_LATENCY_COUNT);
    geak_prom_family_t *rl = geak_prom_counter (reg, "geak_test_race_labels_total", "Race.",
                                                GEAK_PROM_LABELS ("v"));
    s_race_arg_t race = { geak_prom_series (rc, NULL), geak_prom_series (rh, NULL), rl, 20000 };
    pthread_t threads [3];
    for (int i = 0; i < 3; i++)
        pthread_create (&threads [i], NULL, s_race, &race);
    for (int i = 0; i < 20; i++)
        free (geak_prom_render (reg, NULL));
    for (int i = 0; i < 3; i++)
        pthread_join (threads [i], NULL);
    GEAK_CHECK (geak_prom_value (race.counter) == 60000);
    GEAK_CHECK (geak_prom_count (race.histogram) == 60000);
    double total = 0;
    for (int i = 0; i < 5; i++) {
        char value [16];
        snprintf (value, sizeof value, "v%d", i);
        total += geak_prom_value (geak_prom_series (rl, GEAK_PROM_VALUES (value)));
    }
    GEAK_CHECK (total == 60000);

    //  NULL is a no-op everywhere
    geak_prom_inc (NULL);
    geak_prom_observe (NULL, 1);
    geak_prom_inc_with (NULL, NULL);
    GEAK_CHECK (geak_prom_series (NULL, NULL) == NULL);
    GEAK_CHECK (geak_prom_render (NULL, NULL) == NULL);

    geak_prom_destroy (&reg);
    geak_prom_destroy (&reg);
    geak_log_set_level ((geak_log_level_t) saved);
    return 0;
}
