/*  runview.c - read a stored run for `geak report` and `geak status`
    (see runview.h). */
#include "runview.h"
#include "privstore.h"
#include "geak_config.h"
#include "geak_taskstatus.h"
#include "geak_log.h"
#include "geak_score.h"

#include <math.h>
#include <stdarg.h>
#include <time.h>

static char *
s_str (const cJSON *obj, const char *name, const char *dflt)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return geak_strdup (cJSON_IsString (item) && item->valuestring ? item->valuestring : dflt);
}

static bool
s_bool (const cJSON *obj, const char *name, bool dflt)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsBool (item) ? cJSON_IsTrue (item) : dflt;
}

//  A whole number in [min, max]; dflt when absent; -1 when present but bad
static double
s_uint (const cJSON *obj, const char *name, double min, double max, double dflt)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!item)
        return dflt;
    if (!cJSON_IsNumber (item) || item->valuedouble != floor (item->valuedouble)
    ||  item->valuedouble < min || item->valuedouble > max)
        return -1;
    return item->valuedouble;
}

static double
s_price (const cJSON *prices, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (prices, name);
    return cJSON_IsNumber (item) && isfinite (item->valuedouble) && item->valuedouble >= 0
           ? item->valuedouble : 0;
}

static void
s_task_free (runview_task_t *task)
{
    free (task->name);
    free (task->category);
    free (task->status);
    free (task->reason);
}

void
runview_destroy (runview_t **self_p)
{
    assert (self_p);
    runview_t *self = *self_p;
    if (!self)
        return;
    free (self->run_id);
    free (self->status);
    free (self->reason);
    free (self->tasks_root);
    free (self->llm);
    for (size_t i = 0; i < self->ntasks; i++)
        s_task_free (&self->tasks [i]);
    free (self->tasks);
    free (self);
    *self_p = NULL;
}

static bool
s_has_task (const runview_t *self, const char *name)
{
    for (size_t i = 0; i < self->ntasks; i++)
        if (strcmp (self->tasks [i].name, name) == 0)
            return true;
    return false;
}

static runview_task_t *
s_push_task (runview_t *self)
{
    runview_task_t *tasks = realloc (self->tasks, (self->ntasks + 1) * sizeof *tasks);
    assert (tasks);
    self->tasks = tasks;
    runview_task_t *task = &tasks [self->ntasks++];
    memset (task, 0, sizeof *task);
    return task;
}

//  Fill self from the config JSON text
static geak_rc_t
s_parse_config (runview_t *self, const char *text, char **error)
{
    cJSON *root = text && *text ? cJSON_Parse (text) : NULL;
    if (!cJSON_IsObject (root)) {
        cJSON_Delete (root);
        *error = geak_strdupf ("run %s: the stored config is not a JSON object", self->run_id);
        return GEAK_E_MALFORMED;
    }
    double k = s_uint (root, "k", 1, GEAK_SCORE_K_MAX, -1);
    double iterations = s_uint (root, "iterations", 1, GEAK_SCORE_ITERATIONS_MAX, -1);
    double max_debug = s_uint (root, "max_debug", 0, 1e9, 0);
    double created = s_uint (root, "created_ms", 0, 9.0e15, 0);
    if (k < 0 || iterations < 0 || max_debug < 0 || created < 0) {
        cJSON_Delete (root);
        *error = geak_strdupf ("run %s: the config needs k in 1..%d and iterations in 1..%d",
                          self->run_id, GEAK_SCORE_K_MAX, GEAK_SCORE_ITERATIONS_MAX);
        return GEAK_E_MALFORMED;
    }
    self->k = (uint32_t) k;
    self->iterations = (uint32_t) iterations;
    self->max_debug = (uint32_t) max_debug;
    self->created_ms = (int64_t) created;
    self->tasks_root = s_str (root, "tasks_root", "");
    self->llm = s_str (root, "llm", "");
    self->correctness_only = s_bool (root, "correctness_only", false);
    const cJSON *ablation = cJSON_GetObjectItemCaseSensitive (root, "ablation");
    self->knowledge = s_bool (ablation, "knowledge", true);
    self->one_shot = s_bool (ablation, "one_shot", true);
    self->reflector = s_bool (ablation, "reflector", true);
    self->optimizer = s_bool (ablation, "optimizer", true);
    const cJSON *prices = cJSON_GetObjectItemCaseSensitive (root, "prices");
    self->price_in = s_price (prices, "in_per_mtok");
    self->price_out = s_price (prices, "out_per_mtok");
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive (root, "tasks");
    const cJSON *item;
    cJSON_ArrayForEach (item, tasks) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive (item, "name");
        if (!cJSON_IsString (name) || !name->valuestring || !*name->valuestring
        ||  s_has_task (self, name->valuestring)) {
            geak_warn ("report_config_task_skipped", "run=%s why=%s", self->run_id,
                       cJSON_IsString (name) && name->valuestring && *name->valuestring
                       ? "duplicate" : "no_name");
            continue;
        }
        runview_task_t *task = s_push_task (self);
        task->name = geak_strdup (name->valuestring);
        task->category = s_str (item, "category", "");
        task->status = s_str (item, "status", "unchecked");
        if (!*task->status) {
            free (task->status);
            task->status = geak_strdup ("unchecked");
        }
        task->reason = s_str (item, "reason", "");
        double difficulty = s_uint (item, "difficulty", 0, GEAK_SCORE_DIFFICULTY_MAX, 0);
        task->difficulty = difficulty < 0 ? 0 : (uint32_t) difficulty;
    }
    cJSON_Delete (root);
    return GEAK_OK;
}

geak_rc_t
runview_load (geak_store_t *store, const char *run_id, runview_t **out, char **error)
{
    assert (store && run_id && out && error);
    *out = NULL;
    *error = NULL;
    char *config = NULL, *status = NULL;
    geak_rc_t rc = geak_store_run_get (store, run_id, &config, &status);
    if (rc == GEAK_E_NOT_FOUND) {
        *error = geak_strdupf ("no run '%s' in the store (prefix %s)", run_id, geak_store_prefix (store));
        return rc;
    }
    if (rc != GEAK_OK) {
        *error = geak_strdupf ("cannot read run '%s': %s", run_id, geak_rc_str (rc));
        return rc;
    }
    runview_t *self = geak_malloc0 (sizeof *self);
    self->run_id = geak_strdup (run_id);
    self->status = status ? status : geak_strdup ("");
    if (geak_store_run_reason (store, run_id, &self->reason) != GEAK_OK || !self->reason) {
        free (self->reason);
        self->reason = geak_strdup ("");
    }
    rc = s_parse_config (self, config, error);
    free (config);
    if (rc != GEAK_OK) {
        runview_destroy (&self);
        return rc;
    }
    //  Tasks the store saw attempts for but the config does not name
    geak_store_list_t *stored = NULL;
    rc = geak_store_run_tasks (store, run_id, &stored);
    if (rc != GEAK_OK) {
        *error = geak_strdupf ("cannot read the tasks of run '%s': %s", run_id, geak_rc_str (rc));
        runview_destroy (&self);
        return rc;
    }
    for (size_t i = 0; i < stored->size; i++)
        if (!s_has_task (self, stored->items [i])) {
            runview_task_t *task = s_push_task (self);
            task->name = geak_strdup (stored->items [i]);
            task->category = geak_strdup ("");
            task->status = geak_strdup ("unlisted");
            task->reason = geak_strdup ("attempts stored for a task the run config does not name");
        }
    geak_store_list_destroy (&stored);
    *out = self;
    return GEAK_OK;
}

//  1 when opt took argv [*i] (and maybe its value), 0 when it is not that
//  option, -1 when its value is missing or bad
static int
s_take_opt (const runview_opt_t *opt, int argc, char **argv, int *i)
{
    if (strcmp (argv [*i], opt->name) != 0)
        return 0;
    if (opt->flag) {
        *opt->flag = true;
        return 1;
    }
    if (*i + 1 >= argc)
        return 0;
    const char *text = argv [++*i];
    if (opt->value)
        *opt->value = text;
    else
    if (geak_config_parse_long (text, opt->min, opt->max, opt->number) != GEAK_OK)
        return -1;
    return 1;
}

int
runview_start (int argc, char **argv, const char *tool, const runview_opt_t *opts,
               const char **run_id, bool run_required, void (*usage) (FILE *out),
               geak_store_t **store)
{
    assert (tool && opts && run_id && usage && store);
    *run_id = NULL;
    *store = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--help") == 0 || strcmp (argv [i], "-h") == 0) {
            usage (stdout);
            return 0;
        }
        int took = 0;
        for (const runview_opt_t *opt = opts; opt->name && !took; opt++)
            took = s_take_opt (opt, argc, argv, &i);
        if (took == 0 && argv [i][0] != '-' && !*run_id)
            *run_id = argv [i];
        else
        if (took <= 0) {
            usage (stderr);
            return 2;
        }
    }
    if (run_required && !*run_id) {
        usage (stderr);
        return 2;
    }
    geak_rc_t rc;
    //  no Redis configured: the private one geak run uses (privstore.h)
    char who [64];
    snprintf (who, sizeof who, "geak %s", tool);
    if (privstore_ensure (who) != 0)
        return 1;
    *store = geak_store_new_from_env (&rc);
    if (!*store) {
        fprintf (stderr, "geak %s: cannot open the store: %s\n", tool, geak_rc_str (rc));
        return 1;
    }
    return -1;
}

runview_t *
runview_open (geak_store_t *store, const char *tool, const char *run_id)
{
    runview_t *self = NULL;
    char *error = NULL;
    if (runview_load (store, run_id, &self, &error) != GEAK_OK) {
        fprintf (stderr, "geak %s: %s\n", tool, error);
        free (error);
    }
    return self;
}

void
runview_json_head (const runview_t *self, cJSON *obj)
{
    cJSON_AddStringToObject (obj, "run_id", self->run_id);
    cJSON_AddStringToObject (obj, "status", self->status);
    cJSON_AddStringToObject (obj, "reason", self->reason ? self->reason : "");
    cJSON_AddNumberToObject (obj, "created_ms", (double) self->created_ms);
}

void
runview_json_settings (const runview_t *self, cJSON *obj, const char *ablation_key)
{
    cJSON_AddNumberToObject (obj, "k", self->k);
    cJSON_AddNumberToObject (obj, "iterations", self->iterations);
    cJSON_AddNumberToObject (obj, "max_debug", self->max_debug);
    cJSON_AddBoolToObject (obj, "correctness_only", self->correctness_only);
    cJSON *switches = ablation_key ? cJSON_AddObjectToObject (obj, ablation_key) : obj;
    cJSON_AddBoolToObject (switches, "knowledge", self->knowledge);
    cJSON_AddBoolToObject (switches, "one_shot", self->one_shot);
    cJSON_AddBoolToObject (switches, "reflector", self->reflector);
    cJSON_AddBoolToObject (switches, "optimizer", self->optimizer);
}

bool
runview_scanned (const runview_task_t *task)
{
    return !geak_task_status_excluded (task->status);
}

geak_rc_t
runview_lineage (geak_store_t *store, const char *run_id, const char *task, uint32_t sample,
                 Geak__Attempt ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    geak_store_list_t *ids = NULL;
    geak_rc_t rc = geak_store_lineage (store, run_id, task, sample, &ids);
    if (rc != GEAK_OK)
        return rc;
    Geak__Attempt **list = ids->size ? calloc (ids->size, sizeof *list) : NULL;
    assert (ids->size == 0 || list);
    size_t count = 0;
    for (size_t i = 0; i < ids->size; i++) {
        Geak__Attempt *attempt = NULL;
        rc = geak_store_attempt_get (store, ids->items [i], &attempt);
        if (rc == GEAK_E_NOT_FOUND || rc == GEAK_E_MALFORMED) {
            geak_warn ("report_attempt_skipped", "run=%s task=%s sample=%u attempt=%s why=%s",
                       run_id, task, sample, ids->items [i], geak_rc_name (rc));
            continue;
        }
        if (rc != GEAK_OK) {
            geak_store_attempts_free (&list, count);
            geak_store_list_destroy (&ids);
            return rc;
        }
        list [count++] = attempt;
    }
    geak_store_list_destroy (&ids);
    if (count == 0) {
        free (list);
        list = NULL;
    }
    *out = list;
    *n = count;
    return GEAK_OK;
}

// ------------------------------------------------------------------ formatting

void
runview_time (int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        snprintf (buf, size, "-");
        return;
    }
    time_t secs = (time_t) (ms / 1000);
    struct tm tm;
    if (!gmtime_r (&secs, &tm) || strftime (buf, size, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf (buf, size, "%lld", (long long) ms);
}

void
runview_pct (double share, char *buf, size_t size)
{
    if (isfinite (share))
        snprintf (buf, size, "%.1f%%", share * 100);
    else
        snprintf (buf, size, "-");
}

void
runview_speedup (double value, char *buf, size_t size)
{
    if (isfinite (value) && value > 0)
        snprintf (buf, size, "%.2fx", value);
    else
        snprintf (buf, size, "-");
}

// ------------------------------------------------------------------ tables

struct runview_table_t {
    size_t columns;
    char **cells;               //  rows * columns
    size_t rows, cap;
};

runview_table_t *
runview_table_new (size_t columns)
{
    assert (columns > 0);
    runview_table_t *self = geak_malloc0 (sizeof *self);
    self->columns = columns;
    return self;
}

void
runview_table_row (runview_table_t *self, ...)
{
    assert (self);
    if (self->rows == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 16;
        self->cells = realloc (self->cells, self->cap * self->columns * sizeof (char *));
        assert (self->cells);
    }
    va_list args;
    va_start (args, self);
    for (size_t c = 0; c < self->columns; c++) {
        const char *cell = va_arg (args, const char *);
        self->cells [self->rows * self->columns + c] = geak_strdup (cell ? cell : "");
    }
    va_end (args);
    self->rows++;
}

//  Numbers, percentages, speedups, "-" and "a/b" align right
static bool
s_numeric (const char *cell)
{
    if (!*cell)
        return false;
    for (const char *p = cell; *p; p++)
        if (!strchr ("0123456789.-+%x/$e", *p))
            return false;
    return true;
}

void
runview_table_print (const runview_table_t *self, FILE *out, const char *indent)
{
    assert (self);
    size_t *width = geak_malloc0 (self->columns * sizeof (size_t));
    bool *right = geak_malloc0 (self->columns * sizeof (bool));
    for (size_t c = 0; c < self->columns; c++) {
        right [c] = self->rows > 1;
        for (size_t r = 0; r < self->rows; r++) {
            const char *cell = self->cells [r * self->columns + c];
            if (strlen (cell) > width [c])
                width [c] = strlen (cell);
            if (r > 0 && !s_numeric (cell))
                right [c] = false;
        }
    }
    for (size_t r = 0; r < self->rows; r++) {
        fputs (indent ? indent : "", out);
        for (size_t c = 0; c < self->columns; c++) {
            const char *cell = self->cells [r * self->columns + c];
            bool last = c + 1 == self->columns;
            if (right [c])
                fprintf (out, "%*s", (int) width [c], cell);
            else
            if (last)
                fputs (cell, out);
            else
                fprintf (out, "%-*s", (int) width [c], cell);
            if (!last)
                fputs ("  ", out);
        }
        fputc ('\n', out);
    }
    free (width);
    free (right);
}

void
runview_table_destroy (runview_table_t **self_p)
{
    assert (self_p);
    runview_table_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->rows * self->columns; i++)
        free (self->cells [i]);
    free (self->cells);
    free (self);
    *self_p = NULL;
}
