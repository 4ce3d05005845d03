/*  geak_score.c - pass@k and the aggregation of a run's lineages (see
    geak_score.h and docs/report.md). */
#include "geak_score.h"

#include <math.h>

#define DIFFICULTIES (GEAK_SCORE_DIFFICULTY_MAX + 1)

//  Private per-lineage state behind the public geak_score_lineage_t
typedef struct {
    char *timed_best;               //  correct timed attempt with the highest speedup
    uint32_t timed_best_iteration;
    char *first_correct;            //  correct attempt with the lowest iteration
    uint32_t first_correct_iteration;
    bool has_correct;
    char *last;                     //  attempt with the highest iteration
} s_lineage_t;

typedef struct {
    geak_score_task_t pub;
    s_lineage_t *priv;              //  [k]
} s_task_t;

struct _geak_score_t {
    uint32_t k;
    uint32_t iterations;            //  configured
    uint32_t iterations_seen;       //  max (configured, highest seen + 1)
    double price_in, price_out;     //  USD per million tokens
    bool score_unchecked;
    s_task_t *tasks;
    size_t ntasks, cap;
    bool computed;
    geak_score_group_t overall;
    geak_score_group_t by_difficulty [DIFFICULTIES];
    bool has_difficulty [DIFFICULTIES];
    geak_score_totals_t totals;
};

// ------------------------------------------------------------------ pass@k

double
geak_score_pass_at_k (uint32_t n, uint32_t c, uint32_t k)
{
    if (n == 0 || k == 0 || k > n || c > n)
        return NAN;
    if (n - c < k)
        return 1.0;
    //  C(n-c, k) / C(n, k) = prod_{i=n-c+1..n} (1 - k / i): no huge binomials
    double fail = 1.0;
    for (uint32_t i = n - c + 1; i <= n; i++)
        fail *= 1.0 - (double) k / (double) i;
    return 1.0 - fail;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y ? 1 : 0;
}

geak_score_dist_t
geak_score_dist (const double *values, size_t n)
{
    geak_score_dist_t d = { n, NAN, NAN, NAN, NAN, NAN };
    if (n == 0)
        return d;
    double *sorted = malloc (n * sizeof *sorted);
    assert (sorted);
    memcpy (sorted, values, n * sizeof *sorted);
    qsort (sorted, n, sizeof *sorted, s_cmp_double);
    double sum = 0, logsum = 0;
    size_t positive = 0;
    for (size_t i = 0; i < n; i++) {
        sum += sorted [i];
        if (sorted [i] > 0) {
            logsum += log (sorted [i]);
            positive++;
        }
    }
    d.mean = sum / (double) n;
    d.median = n % 2 ? sorted [n / 2] : (sorted [n / 2 - 1] + sorted [n / 2]) / 2.0;
    d.geomean = positive ? exp (logsum / (double) positive) : NAN;
    d.min = sorted [0];
    d.max = sorted [n - 1];
    free (sorted);
    return d;
}

// ------------------------------------------------------------------ lifecycle

geak_score_t *
geak_score_new (uint32_t k, uint32_t iterations, double price_in, double price_out)
{
    if (k == 0 || k > GEAK_SCORE_K_MAX || iterations == 0 || iterations > GEAK_SCORE_ITERATIONS_MAX
    ||  !(price_in >= 0) || !(price_out >= 0) || !isfinite (price_in) || !isfinite (price_out))
        return NULL;
    geak_score_t *self = geak_malloc0 (sizeof *self);
    self->k = k;
    self->iterations = iterations;
    self->iterations_seen = iterations;
    self->price_in = price_in;
    self->price_out = price_out;
    return self;
}

static void
s_group_free (geak_score_group_t *group)
{
    free (group->pass_at_k);
    free (group->call_pass_at_k);
    free (group->exec_at_iteration);
    free (group->call_at_iteration);
    memset (group, 0, sizeof *group);
}

static void
s_groups_free (geak_score_t *self)
{
    s_group_free (&self->overall);
    for (int d = 0; d < DIFFICULTIES; d++) {
        s_group_free (&self->by_difficulty [d]);
        self->has_difficulty [d] = false;
    }
    self->computed = false;
}

void
geak_score_destroy (geak_score_t **self_p)
{
    assert (self_p);
    geak_score_t *self = *self_p;
    if (!self)
        return;
    for (size_t t = 0; t < self->ntasks; t++) {
        s_task_t *task = &self->tasks [t];
        free (task->pub.name);
        free (task->pub.category);
        free (task->pub.status);
        free (task->pub.reason);
        free (task->pub.examples);
        for (uint32_t s = 0; s < self->k; s++) {
            free (task->priv [s].timed_best);
            free (task->priv [s].first_correct);
            free (task->priv [s].last);
        }
        free (task->priv);
        free (task->pub.lineage);
    }
    free (self->tasks);
    s_groups_free (self);
    free (self);
    *self_p = NULL;
}

void
geak_score_set_score_unchecked (geak_score_t *self, bool on)
{
    assert (self);
    self->score_unchecked = on;
    for (size_t t = 0; t < self->ntasks; t++) {
        geak_score_task_t *task = &self->tasks [t].pub;
        if (strcmp (task->status, "unchecked") == 0)
            task->scored = on;
    }
    s_groups_free (self);
}

// ------------------------------------------------------------------ input

static s_task_t *
s_find (const geak_score_t *self, const char *name)
{
    for (size_t t = 0; t < self->ntasks; t++)
        if (strcmp (self->tasks [t].pub.name, name) == 0)
            return &self->tasks [t];
    return NULL;
}

bool
geak_score_has_task (const geak_score_t *self, const char *name)
{
    assert (self);
    return name && s_find (self, name) != NULL;
}

geak_rc_t
geak_score_add_task (geak_score_t *self, const char *name, const char *category,
                     uint32_t difficulty, const char *status, const char *reason)
{
    assert (self);
    if (!name || !*name || difficulty > GEAK_SCORE_DIFFICULTY_MAX)
        return GEAK_E_INVALID;
    if (s_find (self, name))
        return GEAK_E_EXISTS;
    if (self->ntasks == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        s_task_t *tasks = realloc (self->tasks, cap * sizeof *tasks);
        if (!tasks)
            return GEAK_E_NOMEM;
        self->tasks = tasks;
        self->cap = cap;
    }
    s_task_t *task = &self->tasks [self->ntasks++];
    memset (task, 0, sizeof *task);
    task->pub.name = geak_strdup (name);
    task->pub.category = geak_strdup (category ? category : "");
    task->pub.status = geak_strdup (status && *status ? status : "unchecked");
    task->pub.reason = geak_strdup (reason ? reason : "");
    task->pub.examples = geak_strdup ("");
    task->pub.difficulty = difficulty;
    task->pub.scored = strcmp (task->pub.status, "ok") == 0
                    || (self->score_unchecked && strcmp (task->pub.status, "unchecked") == 0);
    task->pub.lineages = self->k;
    task->pub.lineage = geak_malloc0 (self->k * sizeof (geak_score_lineage_t));
    task->priv = geak_malloc0 (self->k * sizeof (s_lineage_t));
    for (uint32_t s = 0; s < self->k; s++) {
        task->pub.lineage [s].sample = s;
        task->pub.lineage [s].first_call_iteration = -1;
        task->pub.lineage [s].first_exec_iteration = -1;
    }
    s_groups_free (self);
    return GEAK_OK;
}

static void
s_set_id (char **slot, const char *id)
{
    free (*slot);
    *slot = geak_strdup (id ? id : "");
}

//  Keep each distinct example name once (a task's k samples usually share one)
static void
s_add_example (geak_score_task_t *task, const char *example)
{
    if (!example || !*example || strlen (task->examples) > 400)
        return;
    size_t n = strlen (example);
    for (const char *p = task->examples; (p = strstr (p, example)); p += n)
        if ((p == task->examples || p [-1] == ' ') && (p [n] == ',' || p [n] == '\0'))
            return;
    char *joined = geak_strdupf ("%s%s%s", task->examples, *task->examples ? ", " : "", example);
    free (task->examples);
    task->examples = joined;
}

static bool
s_valid_speedup (const geak_score_attempt_t *a)
{
    return a->exec_ok && a->timed && isfinite (a->speedup) && a->speedup > 0;
}

geak_rc_t
geak_score_add_attempt (geak_score_t *self, const char *task_name, uint32_t sample,
                        const geak_score_attempt_t *a)
{
    assert (self);
    assert (a);
    s_task_t *task = task_name ? s_find (self, task_name) : NULL;
    if (!task)
        return GEAK_E_NOT_FOUND;
    if (sample >= self->k || a->iteration >= GEAK_SCORE_ITERATIONS_MAX)
        return GEAK_E_INVALID;
    geak_score_lineage_t *lin = &task->pub.lineage [sample];
    s_lineage_t *priv = &task->priv [sample];
    int32_t iteration = (int32_t) a->iteration;
    bool call_ok = a->evaluated && (a->call_ok || a->exec_ok);
    bool exec_ok = a->evaluated && a->exec_ok;

    lin->attempts++;
    if (a->evaluated)
        lin->evaluated++;
    s_add_example (&task->pub, a->example);
    if (call_ok) {
        lin->call_ok = true;
        if (lin->first_call_iteration < 0 || iteration < lin->first_call_iteration)
            lin->first_call_iteration = iteration;
    }
    if (exec_ok) {
        lin->exec_ok = true;
        if (lin->first_exec_iteration < 0 || iteration < lin->first_exec_iteration)
            lin->first_exec_iteration = iteration;
        if (!priv->has_correct || a->iteration < priv->first_correct_iteration) {
            s_set_id (&priv->first_correct, a->attempt_id);
            priv->first_correct_iteration = a->iteration;
        }
        priv->has_correct = true;
        if (s_valid_speedup (a) && a->speedup > lin->best_speedup) {
            lin->best_speedup = a->speedup;
            s_set_id (&priv->timed_best, a->attempt_id);
            priv->timed_best_iteration = a->iteration;
        }
    }
    if (!priv->last || a->iteration >= lin->last_iteration) {
        s_set_id (&priv->last, a->attempt_id);
        lin->last_iteration = a->iteration;
    }
    task->pub.tokens_in += a->tokens_in;
    task->pub.tokens_out += a->tokens_out;
    if (a->iteration + 1 > self->iterations_seen)
        self->iterations_seen = a->iteration + 1;
    s_groups_free (self);
    return GEAK_OK;
}

// ------------------------------------------------------------------ compute

static double
s_cost (const geak_score_t *self, uint64_t tokens_in, uint64_t tokens_out)
{
    return (double) tokens_in / 1e6 * self->price_in + (double) tokens_out / 1e6 * self->price_out;
}

//  Fold the lineages of a task into its public summary
static void
s_task_summarise (geak_score_t *self, s_task_t *task)
{
    geak_score_task_t *pub = &task->pub;
    pub->lineages_seen = pub->call_ok = pub->exec_ok = pub->attempts = pub->evaluated = 0;
    pub->best_speedup = 0;
    pub->best_attempt = NULL;
    for (uint32_t s = 0; s < self->k; s++) {
        geak_score_lineage_t *lin = &pub->lineage [s];
        s_lineage_t *priv = &task->priv [s];
        if (priv->timed_best) {
            lin->best_attempt = priv->timed_best;
            lin->best_iteration = priv->timed_best_iteration;
        }
        else
        if (priv->has_correct) {
            lin->best_attempt = priv->first_correct;
            lin->best_iteration = priv->first_correct_iteration;
        }
        else
            lin->best_attempt = NULL;
        lin->last_attempt = priv->last;
        lin->final_attempt = lin->best_attempt ? lin->best_attempt : lin->last_attempt;
        lin->final_iteration = lin->best_attempt ? lin->best_iteration : lin->last_iteration;
        if (lin->attempts)
            pub->lineages_seen++;
        pub->call_ok += lin->call_ok;
        pub->exec_ok += lin->exec_ok;
        pub->attempts += lin->attempts;
        pub->evaluated += lin->evaluated;
        if (lin->best_speedup > pub->best_speedup) {
            pub->best_speedup = lin->best_speedup;
            pub->best_attempt = lin->best_attempt;
        }
    }
}

//  difficulty < 0: every scored task
static void
s_group_compute (geak_score_t *self, geak_score_group_t *g, int difficulty)
{
    s_group_free (g);
    uint32_t k = self->k, iters = self->iterations_seen;
    g->k = k;
    g->iterations = iters;
    g->pass_at_k = geak_malloc0 (k * sizeof (double));
    g->call_pass_at_k = geak_malloc0 (k * sizeof (double));
    g->exec_at_iteration = geak_malloc0 (iters * sizeof (double));
    g->call_at_iteration = geak_malloc0 (iters * sizeof (double));
    size_t *exec_by = geak_malloc0 (iters * sizeof (size_t));
    size_t *call_by = geak_malloc0 (iters * sizeof (size_t));
    double *speedups = geak_malloc0 ((self->ntasks * k + 1) * sizeof (double));
    double *task_best = geak_malloc0 ((self->ntasks + 1) * sizeof (double));
    size_t nspeedups = 0, ntask_best = 0;

    for (size_t t = 0; t < self->ntasks; t++) {
        const geak_score_task_t *task = &self->tasks [t].pub;
        if (!task->scored || (difficulty >= 0 && task->difficulty != (uint32_t) difficulty))
            continue;
        g->tasks++;
        g->lineages += k;
        g->call_ok += task->call_ok;
        g->exec_ok += task->exec_ok;
        g->attempts += task->attempts;
        g->evaluated += task->evaluated;
        g->tokens_in += task->tokens_in;
        g->tokens_out += task->tokens_out;
        for (uint32_t j = 1; j <= k; j++) {
            g->pass_at_k [j - 1] += geak_score_pass_at_k (k, task->exec_ok, j);
            g->call_pass_at_k [j - 1] += geak_score_pass_at_k (k, task->call_ok, j);
        }
        for (uint32_t s = 0; s < k; s++) {
            const geak_score_lineage_t *lin = &task->lineage [s];
            if (lin->first_exec_iteration >= 0)
                exec_by [lin->first_exec_iteration]++;
            if (lin->first_call_iteration >= 0)
                call_by [lin->first_call_iteration]++;
            if (lin->best_speedup > 0)
                speedups [nspeedups++] = lin->best_speedup;
        }
        if (task->best_speedup > 0)
            task_best [ntask_best++] = task->best_speedup;
    }
    if (g->tasks) {
        for (uint32_t j = 0; j < k; j++) {
            g->pass_at_k [j] /= (double) g->tasks;
            g->call_pass_at_k [j] /= (double) g->tasks;
        }
        g->call_accuracy = (double) g->call_ok / (double) g->lineages;
        g->exec_accuracy = (double) g->exec_ok / (double) g->lineages;
        size_t exec_cum = 0, call_cum = 0;
        for (uint32_t i = 0; i < iters; i++) {
            exec_cum += exec_by [i];
            call_cum += call_by [i];
            g->exec_at_iteration [i] = (double) exec_cum / (double) g->lineages;
            g->call_at_iteration [i] = (double) call_cum / (double) g->lineages;
        }
    }
    else {
        for (uint32_t j = 0; j < k; j++)
            g->pass_at_k [j] = g->call_pass_at_k [j] = NAN;
        for (uint32_t i = 0; i < iters; i++)
            g->exec_at_iteration [i] = g->call_at_iteration [i] = NAN;
        g->call_accuracy = g->exec_accuracy = NAN;
    }
    g->speedup = geak_score_dist (speedups, nspeedups);
    g->task_best_speedup = geak_score_dist (task_best, ntask_best);
    g->cost_usd = s_cost (self, g->tokens_in, g->tokens_out);
    free (exec_by);
    free (call_by);
    free (speedups);
    free (task_best);
}

geak_rc_t
geak_score_compute (geak_score_t *self)
{
    assert (self);
    s_groups_free (self);
    memset (&self->totals, 0, sizeof self->totals);
    for (size_t t = 0; t < self->ntasks; t++) {
        s_task_t *task = &self->tasks [t];
        s_task_summarise (self, task);
        self->totals.attempts += task->pub.attempts;
        self->totals.evaluated += task->pub.evaluated;
        self->totals.tokens_in += task->pub.tokens_in;
        self->totals.tokens_out += task->pub.tokens_out;
        if (task->pub.scored)
            self->has_difficulty [task->pub.difficulty] = true;
    }
    self->totals.cost_usd = s_cost (self, self->totals.tokens_in, self->totals.tokens_out);
    s_group_compute (self, &self->overall, -1);
    for (int d = 0; d < DIFFICULTIES; d++)
        if (self->has_difficulty [d])
            s_group_compute (self, &self->by_difficulty [d], d);
    self->computed = true;
    return GEAK_OK;
}

// ------------------------------------------------------------------ accessors

uint32_t geak_score_k (const geak_score_t *self) { assert (self); return self->k; }
uint32_t geak_score_iterations (const geak_score_t *self) { assert (self); return self->iterations_seen; }
double geak_score_price_in (const geak_score_t *self) { assert (self); return self->price_in; }
double geak_score_price_out (const geak_score_t *self) { assert (self); return self->price_out; }

size_t
geak_score_tasks (const geak_score_t *self)
{
    assert (self);
    return self->ntasks;
}

const geak_score_task_t *
geak_score_task (const geak_score_t *self, size_t index)
{
    assert (self);
    return index < self->ntasks ? &self->tasks [index].pub : NULL;
}

const geak_score_group_t *
geak_score_overall (const geak_score_t *self)
{
    assert (self);
    return self->computed ? &self->overall : NULL;
}

const geak_score_group_t *
geak_score_difficulty (const geak_score_t *self, uint32_t difficulty)
{
    assert (self);
    if (!self->computed || difficulty > GEAK_SCORE_DIFFICULTY_MAX || !self->has_difficulty [difficulty])
        return NULL;
    return &self->by_difficulty [difficulty];
}

const geak_score_totals_t *
geak_score_totals (const geak_score_t *self)
{
    assert (self);
    return self->computed ? &self->totals : NULL;
}

// ------------------------------------------------------------------ JSON

static void
s_num (cJSON *obj, const char *name, double value)
{
    if (isfinite (value))
        cJSON_AddNumberToObject (obj, name, value);
    else
        cJSON_AddNullToObject (obj, name);
}

static cJSON *
s_dist_json (const geak_score_dist_t *d)
{
    cJSON *obj = cJSON_CreateObject ();
    cJSON_AddNumberToObject (obj, "n", (double) d->n);
    s_num (obj, "mean", d->mean);
    s_num (obj, "median", d->median);
    s_num (obj, "geomean", d->geomean);
    s_num (obj, "min", d->min);
    s_num (obj, "max", d->max);
    return obj;
}

static cJSON *
s_curve_json (const double *values, uint32_t n)
{
    cJSON *arr = cJSON_CreateArray ();
    for (uint32_t i = 0; i < n; i++)
        cJSON_AddItemToArray (arr, isfinite (values [i]) ? cJSON_CreateNumber (values [i])
                                                         : cJSON_CreateNull ());
    return arr;
}

cJSON *
geak_score_group_json (const geak_score_group_t *g)
{
    assert (g);
    cJSON *obj = cJSON_CreateObject ();
    cJSON_AddNumberToObject (obj, "tasks", (double) g->tasks);
    cJSON_AddNumberToObject (obj, "lineages", (double) g->lineages);
    cJSON_AddNumberToObject (obj, "call_ok", (double) g->call_ok);
    cJSON_AddNumberToObject (obj, "exec_ok", (double) g->exec_ok);
    cJSON_AddNumberToObject (obj, "attempts", (double) g->attempts);
    cJSON_AddNumberToObject (obj, "evaluated", (double) g->evaluated);
    s_num (obj, "call_accuracy", g->call_accuracy);
    s_num (obj, "exec_accuracy", g->exec_accuracy);
    cJSON *passk = cJSON_AddArrayToObject (obj, "pass_at_k");
    for (uint32_t j = 0; j < g->k; j++) {
        cJSON *row = cJSON_CreateObject ();
        cJSON_AddNumberToObject (row, "k", j + 1);
        s_num (row, "exec", g->pass_at_k [j]);
        s_num (row, "call", g->call_pass_at_k [j]);
        cJSON_AddItemToArray (passk, row);
    }
    cJSON_AddItemToObject (obj, "exec_accuracy_at_iteration",
                           s_curve_json (g->exec_at_iteration, g->iterations));
    cJSON_AddItemToObject (obj, "call_accuracy_at_iteration",
                           s_curve_json (g->call_at_iteration, g->iterations));
    cJSON *speedup = cJSON_AddObjectToObject (obj, "speedup");
    cJSON_AddItemToObject (speedup, "lineage_best", s_dist_json (&g->speedup));
    cJSON_AddItemToObject (speedup, "task_best", s_dist_json (&g->task_best_speedup));
    cJSON_AddNumberToObject (obj, "tokens_in", (double) g->tokens_in);
    cJSON_AddNumberToObject (obj, "tokens_out", (double) g->tokens_out);
    s_num (obj, "cost_usd", g->cost_usd);
    return obj;
}

static cJSON *
s_task_json (const geak_score_task_t *task)
{
    cJSON *obj = cJSON_CreateObject ();
    cJSON_AddStringToObject (obj, "name", task->name);
    cJSON_AddStringToObject (obj, "category", task->category);
    cJSON_AddNumberToObject (obj, "difficulty", task->difficulty);
    cJSON_AddStringToObject (obj, "status", task->status);
    if (*task->reason)
        cJSON_AddStringToObject (obj, "reason", task->reason);
    cJSON_AddStringToObject (obj, "examples", task->examples);
    cJSON_AddBoolToObject (obj, "scored", task->scored);
    cJSON_AddNumberToObject (obj, "lineages", task->lineages);
    cJSON_AddNumberToObject (obj, "lineages_seen", task->lineages_seen);
    cJSON_AddNumberToObject (obj, "call_ok", task->call_ok);
    cJSON_AddNumberToObject (obj, "exec_ok", task->exec_ok);
    cJSON_AddNumberToObject (obj, "attempts", task->attempts);
    cJSON_AddNumberToObject (obj, "evaluated", task->evaluated);
    s_num (obj, "pass_at_1", geak_score_pass_at_k (task->lineages, task->exec_ok, 1));
    if (task->best_speedup > 0) {
        cJSON_AddNumberToObject (obj, "best_speedup", task->best_speedup);
        cJSON_AddStringToObject (obj, "best_attempt", task->best_attempt ? task->best_attempt : "");
    }
    else {
        cJSON_AddNullToObject (obj, "best_speedup");
        cJSON_AddNullToObject (obj, "best_attempt");
    }
    cJSON_AddNumberToObject (obj, "tokens_in", (double) task->tokens_in);
    cJSON_AddNumberToObject (obj, "tokens_out", (double) task->tokens_out);
    cJSON *lineages = cJSON_AddArrayToObject (obj, "lineage");
    for (uint32_t s = 0; s < task->lineages; s++) {
        const geak_score_lineage_t *lin = &task->lineage [s];
        cJSON *row = cJSON_CreateObject ();
        cJSON_AddNumberToObject (row, "sample", lin->sample);
        cJSON_AddNumberToObject (row, "attempts", lin->attempts);
        cJSON_AddBoolToObject (row, "call_ok", lin->call_ok);
        cJSON_AddBoolToObject (row, "exec_ok", lin->exec_ok);
        if (lin->first_exec_iteration >= 0)
            cJSON_AddNumberToObject (row, "first_exec_iteration", lin->first_exec_iteration);
        else
            cJSON_AddNullToObject (row, "first_exec_iteration");
        if (lin->best_speedup > 0)
            cJSON_AddNumberToObject (row, "best_speedup", lin->best_speedup);
        else
            cJSON_AddNullToObject (row, "best_speedup");
        if (lin->final_attempt)
            cJSON_AddStringToObject (row, "final_attempt", lin->final_attempt);
        else
            cJSON_AddNullToObject (row, "final_attempt");
        cJSON_AddItemToArray (lineages, row);
    }
    return obj;
}

cJSON *
geak_score_json (const geak_score_t *self)
{
    assert (self);
    if (!self->computed)
        return NULL;
    cJSON *root = cJSON_CreateObject ();
    cJSON_AddNumberToObject (root, "k", self->k);
    cJSON_AddNumberToObject (root, "iterations", self->iterations_seen);
    cJSON *prices = cJSON_AddObjectToObject (root, "prices");
    cJSON_AddNumberToObject (prices, "in_per_mtok", self->price_in);
    cJSON_AddNumberToObject (prices, "out_per_mtok", self->price_out);
    cJSON *totals = cJSON_AddObjectToObject (root, "totals");
    cJSON_AddNumberToObject (totals, "attempts", (double) self->totals.attempts);
    cJSON_AddNumberToObject (totals, "evaluated", (double) self->totals.evaluated);
    cJSON_AddNumberToObject (totals, "tokens_in", (double) self->totals.tokens_in);
    cJSON_AddNumberToObject (totals, "tokens_out", (double) self->totals.tokens_out);
    s_num (totals, "cost_usd", self->totals.cost_usd);
    cJSON_AddItemToObject (root, "overall", geak_score_group_json (&self->overall));
    cJSON *by_difficulty = cJSON_AddObjectToObject (root, "by_difficulty");
    for (int d = 0; d < DIFFICULTIES; d++)
        if (self->has_difficulty [d]) {
            char key [16];
            snprintf (key, sizeof key, "%d", d);
            cJSON_AddItemToObject (by_difficulty, key, geak_score_group_json (&self->by_difficulty [d]));
        }
    cJSON *tasks = cJSON_AddArrayToObject (root, "tasks");
    cJSON *excluded = cJSON_AddArrayToObject (root, "excluded");
    for (size_t t = 0; t < self->ntasks; t++) {
        const geak_score_task_t *task = &self->tasks [t].pub;
        if (task->scored)
            cJSON_AddItemToArray (tasks, s_task_json (task));
        else {
            cJSON *row = s_task_json (task);
            if (!cJSON_HasObjectItem (row, "reason"))
                cJSON_AddStringToObject (row, "reason", "");
            cJSON_AddItemToArray (excluded, row);
        }
    }
    return root;
}

// ------------------------------------------------------------------ selftest

static int s_failures;
#define CHECK(cond) do { if (!(cond)) { s_failures++; \
    fprintf (stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define NEAR(a, b) (fabs ((a) - (b)) < 1e-9)

static bool
streq_safe (const char *a, const char *b)
{
    return a && b && strcmp (a, b) == 0;
}

//  C(n, k) / C(m, k) by lgamma, for checking the product form on big n
static double
s_ref_pass_at_k (double n, double c, double k)
{
    if (n - c < k)
        return 1.0;
    double log_ratio = lgamma (n - c + 1) - lgamma (n - c - k + 1) - lgamma (n + 1) + lgamma (n - k + 1);
    return 1.0 - exp (log_ratio);
}

//  Adds an evaluated attempt; speedup 0 = untimed
static void
s_add (geak_score_t *score, const char *task, uint32_t sample, uint32_t iteration,
       bool call_ok, bool exec_ok, double speedup)
{
    char id [64];
    snprintf (id, sizeof id, "r.%s.%u.%u", task, sample, iteration);
    geak_score_attempt_t a = {
        .attempt_id = id, .iteration = iteration, .evaluated = true,
        .call_ok = call_ok, .exec_ok = exec_ok, .timed = speedup > 0, .speedup = speedup,
        .tokens_in = 1000, .tokens_out = 200
    };
    CHECK (geak_score_add_attempt (score, task, sample, &a) == GEAK_OK);
}

static void
s_test_pass_at_k (void)
{
    //  n = 10, c = 3, by hand: 3/10; 1 - C(7,2)/C(10,2) = 1 - 21/45;
    //  1 - C(7,5)/C(10,5) = 1 - 21/252
    CHECK (NEAR (geak_score_pass_at_k (10, 3, 1), 0.3));
    CHECK (NEAR (geak_score_pass_at_k (10, 3, 2), 1.0 - 21.0 / 45.0));
    CHECK (NEAR (geak_score_pass_at_k (10, 3, 2), 0.5333333333333333));
    CHECK (NEAR (geak_score_pass_at_k (10, 3, 5), 1.0 - 21.0 / 252.0));
    CHECK (NEAR (geak_score_pass_at_k (10, 3, 5), 0.9166666666666666));
    //  n - c < k: every draw of k contains a correct sample
    CHECK (geak_score_pass_at_k (10, 3, 8) == 1.0);
    CHECK (geak_score_pass_at_k (10, 3, 10) == 1.0);
    CHECK (geak_score_pass_at_k (3, 2, 2) == 1.0);
    CHECK (geak_score_pass_at_k (10, 10, 1) == 1.0);
    CHECK (geak_score_pass_at_k (10, 0, 5) == 0.0);
    CHECK (geak_score_pass_at_k (1, 1, 1) == 1.0);
    CHECK (geak_score_pass_at_k (1, 0, 1) == 0.0);
    //  n = 3, c = 1, k = 2: 1 - C(2,2)/C(3,2) = 2/3
    CHECK (NEAR (geak_score_pass_at_k (3, 1, 2), 2.0 / 3.0));
    //  invalid
    CHECK (isnan (geak_score_pass_at_k (0, 0, 1)));
    CHECK (isnan (geak_score_pass_at_k (10, 3, 0)));
    CHECK (isnan (geak_score_pass_at_k (10, 3, 11)));
    CHECK (isnan (geak_score_pass_at_k (10, 11, 1)));
    //  large n stays accurate where binomials overflow a double
    CHECK (fabs (geak_score_pass_at_k (2000, 7, 100) - s_ref_pass_at_k (2000, 7, 100)) < 1e-9);
    CHECK (fabs (geak_score_pass_at_k (5000, 2500, 3) - s_ref_pass_at_k (5000, 2500, 3)) < 1e-9);
    //  pass@1 is always c / n
    for (uint32_t c = 0; c <= 7; c++)
        CHECK (NEAR (geak_score_pass_at_k (7, c, 1), c / 7.0));
}

static void
s_test_dist (void)
{
    double v [] = { 2.0, 0.8, 1.5 };
    geak_score_dist_t d = geak_score_dist (v, 3);
    CHECK (d.n == 3);
    CHECK (NEAR (d.mean, 4.3 / 3.0));
    CHECK (NEAR (d.median, 1.5));
    CHECK (NEAR (d.geomean, cbrt (2.4)));
    CHECK (d.min == 0.8 && d.max == 2.0);
    CHECK (v [0] == 2.0);                     //  input untouched
    double w [] = { 4.0, 1.0 };
    d = geak_score_dist (w, 2);
    CHECK (NEAR (d.median, 2.5) && NEAR (d.geomean, 2.0));
    d = geak_score_dist (NULL, 0);
    CHECK (d.n == 0 && isnan (d.mean) && isnan (d.median) && isnan (d.min));
}

//  The run of tests/c/test_report.c, by hand (docs/report.md walks it):
//  K = 3, N = 3, prices 2 / 10 USD per Mtok, 1000 in + 200 out per attempt.
//    alpha (d1, ok):  s0: it0 ok 1.2x, it1 ok 1.5x, it2 ok 1.4x
//                     s1: it0 no call, it1 call only, it2 ok 0.8x
//                     s2: call only x3
//    beta (d2, ok):   s0: it0 no call, it1 ok 2.0x, it2 ok untimed
//                     s1: no call x3
//                     s2: it0 call only, it1 pending
//    delta (d2, unchecked): s0: it0 ok 3.0x           (kept apart)
//    gamma (d3, broken): no attempts                    (kept apart)
static void
s_test_aggregate (bool verbose)
{
    CHECK (geak_score_new (0, 3, 0, 0) == NULL);
    CHECK (geak_score_new (3, 0, 0, 0) == NULL);
    CHECK (geak_score_new (3, 3, -1, 0) == NULL);
    geak_score_t *score = geak_score_new (3, 3, 2.0, 10.0);
    CHECK (score);
    if (!score)
        return;
    CHECK (geak_score_add_task (score, "alpha", "elementwise", 1, "ok", "") == GEAK_OK);
    CHECK (geak_score_add_task (score, "beta", "reduction", 2, "ok", NULL) == GEAK_OK);
    CHECK (geak_score_add_task (score, "delta", "gemm", 2, "unchecked", "no evaluator") == GEAK_OK);
    CHECK (geak_score_add_task (score, "gamma", "attention", 3, "broken", "reference mismatch") == GEAK_OK);
    CHECK (geak_score_add_task (score, "alpha", "x", 1, "ok", "") == GEAK_E_EXISTS);
    CHECK (geak_score_add_task (score, "", "x", 1, "ok", "") == GEAK_E_INVALID);
    CHECK (geak_score_add_task (score, "omega", "x", 6, "ok", "") == GEAK_E_INVALID);

    s_add (score, "alpha", 0, 0, true, true, 1.2);
    s_add (score, "alpha", 0, 1, true, true, 1.5);
    s_add (score, "alpha", 0, 2, true, true, 1.4);
    s_add (score, "alpha", 1, 0, false, false, 0);
    s_add (score, "alpha", 1, 1, true, false, 0);
    s_add (score, "alpha", 1, 2, true, true, 0.8);
    for (uint32_t i = 0; i < 3; i++)
        s_add (score, "alpha", 2, i, true, false, 0);
    s_add (score, "beta", 0, 0, false, false, 0);
    s_add (score, "beta", 0, 1, true, true, 2.0);
    s_add (score, "beta", 0, 2, true, true, 0);
    for (uint32_t i = 0; i < 3; i++)
        s_add (score, "beta", 1, i, false, false, 0);
    s_add (score, "beta", 2, 0, true, false, 0);
    geak_score_attempt_t pending = { .attempt_id = "r.beta.2.1", .iteration = 1,
                                     .tokens_in = 1000, .tokens_out = 200 };
    CHECK (geak_score_add_attempt (score, "beta", 2, &pending) == GEAK_OK);
    s_add (score, "delta", 0, 0, true, true, 3.0);
    CHECK (geak_score_add_attempt (score, "nope", 0, &pending) == GEAK_E_NOT_FOUND);
    CHECK (geak_score_add_attempt (score, "beta", 3, &pending) == GEAK_E_INVALID);

    CHECK (geak_score_overall (score) == NULL);
    CHECK (geak_score_compute (score) == GEAK_OK);
    const geak_score_group_t *g = geak_score_overall (score);
    CHECK (g);
    if (!g) {
        geak_score_destroy (&score);
        return;
    }
    CHECK (g->tasks == 2 && g->lineages == 6);
    CHECK (g->call_ok == 5 && g->exec_ok == 3);
    CHECK (g->attempts == 17 && g->evaluated == 16);
    CHECK (NEAR (g->call_accuracy, 5.0 / 6.0));
    CHECK (NEAR (g->exec_accuracy, 0.5));
    //  exec: alpha c=2 -> 2/3, 1, 1; beta c=1 -> 1/3, 2/3, 1
    CHECK (g->k == 3);
    CHECK (NEAR (g->pass_at_k [0], 0.5));
    CHECK (NEAR (g->pass_at_k [1], (1.0 + 2.0 / 3.0) / 2.0));
    CHECK (NEAR (g->pass_at_k [2], 1.0));
    //  call: alpha c=3 -> 1, 1, 1; beta c=2 -> 2/3, 1, 1
    CHECK (NEAR (g->call_pass_at_k [0], (1.0 + 2.0 / 3.0) / 2.0));
    CHECK (NEAR (g->call_pass_at_k [1], 1.0));
    CHECK (NEAR (g->call_pass_at_k [2], 1.0));
    //  first exec iterations: alpha s0 0, alpha s1 2, beta s0 1
    CHECK (g->iterations == 3);
    CHECK (NEAR (g->exec_at_iteration [0], 1.0 / 6.0));
    CHECK (NEAR (g->exec_at_iteration [1], 2.0 / 6.0));
    CHECK (NEAR (g->exec_at_iteration [2], 3.0 / 6.0));
    //  first call iterations: alpha 0, 1, 0; beta 1, -, 0
    CHECK (NEAR (g->call_at_iteration [0], 3.0 / 6.0));
    CHECK (NEAR (g->call_at_iteration [1], 5.0 / 6.0));
    CHECK (NEAR (g->call_at_iteration [2], 5.0 / 6.0));
    //  lineage bests 1.5, 0.8, 2.0; task bests 1.5, 2.0
    CHECK (g->speedup.n == 3);
    CHECK (NEAR (g->speedup.mean, 4.3 / 3.0));
    CHECK (NEAR (g->speedup.median, 1.5));
    CHECK (NEAR (g->speedup.geomean, cbrt (2.4)));
    CHECK (g->task_best_speedup.n == 2);
    CHECK (NEAR (g->task_best_speedup.mean, 1.75));
    CHECK (NEAR (g->task_best_speedup.median, 1.75));
    //  17 scored attempts; cost = 17000/1e6*2 + 3400/1e6*10
    CHECK (g->tokens_in == 17000 && g->tokens_out == 3400);
    CHECK (NEAR (g->cost_usd, 0.068));
    const geak_score_totals_t *totals = geak_score_totals (score);
    CHECK (totals->attempts == 18 && totals->evaluated == 17);
    CHECK (totals->tokens_in == 18000 && totals->tokens_out == 3600);
    CHECK (NEAR (totals->cost_usd, 0.072));

    //  per difficulty: d1 = alpha, d2 = beta (delta is kept apart), no d3
    const geak_score_group_t *d1 = geak_score_difficulty (score, 1);
    const geak_score_group_t *d2 = geak_score_difficulty (score, 2);
    CHECK (d1 && d2);
    CHECK (geak_score_difficulty (score, 3) == NULL);
    CHECK (geak_score_difficulty (score, 0) == NULL);
    CHECK (geak_score_difficulty (score, 99) == NULL);
    if (d1 && d2) {
        CHECK (d1->tasks == 1 && NEAR (d1->exec_accuracy, 2.0 / 3.0) && NEAR (d1->call_accuracy, 1.0));
        CHECK (NEAR (d1->pass_at_k [0], 2.0 / 3.0) && NEAR (d1->pass_at_k [1], 1.0));
        CHECK (d1->speedup.n == 2 && NEAR (d1->speedup.mean, 1.15));
        CHECK (d2->tasks == 1 && NEAR (d2->exec_accuracy, 1.0 / 3.0) && NEAR (d2->call_accuracy, 2.0 / 3.0));
        CHECK (NEAR (d2->pass_at_k [1], 2.0 / 3.0));
        CHECK (d2->speedup.n == 1 && NEAR (d2->speedup.median, 2.0));
    }
    //  tasks and lineages
    CHECK (geak_score_tasks (score) == 4);
    const geak_score_task_t *alpha = geak_score_task (score, 0);
    const geak_score_task_t *beta = geak_score_task (score, 1);
    const geak_score_task_t *delta = geak_score_task (score, 2);
    const geak_score_task_t *gamma = geak_score_task (score, 3);
    CHECK (geak_score_task (score, 4) == NULL);
    CHECK (alpha->scored && beta->scored && !delta->scored && !gamma->scored);
    CHECK (alpha->exec_ok == 2 && alpha->call_ok == 3 && alpha->attempts == 9);
    CHECK (alpha->best_speedup == 1.5 && streq_safe (alpha->best_attempt, "r.alpha.0.1"));
    CHECK (streq_safe (alpha->lineage [0].final_attempt, "r.alpha.0.1"));
    CHECK (streq_safe (alpha->lineage [1].final_attempt, "r.alpha.1.2"));
    CHECK (alpha->lineage [2].best_attempt == NULL);
    CHECK (streq_safe (alpha->lineage [2].final_attempt, "r.alpha.2.2"));    //  last
    CHECK (beta->best_speedup == 2.0 && streq_safe (beta->best_attempt, "r.beta.0.1"));
    CHECK (streq_safe (beta->lineage [2].final_attempt, "r.beta.2.1"));
    CHECK (beta->lineage [2].attempts == 2 && beta->lineage [2].evaluated == 1);
    CHECK (beta->lineages_seen == 3 && delta->lineages_seen == 1 && gamma->lineages_seen == 0);
    CHECK (gamma->lineage [0].final_attempt == NULL);
    CHECK (delta->best_speedup == 3.0 && delta->tokens_in == 1000);

    //  The JSON carries the same numbers, excluded tasks apart
    cJSON *json = geak_score_json (score);
    CHECK (json);
    const cJSON *overall = cJSON_GetObjectItem (json, "overall");
    CHECK (NEAR (cJSON_GetNumberValue (cJSON_GetObjectItem (overall, "exec_accuracy")), 0.5));
    const cJSON *passk = cJSON_GetObjectItem (overall, "pass_at_k");
    CHECK (cJSON_GetArraySize (passk) == 3);
    CHECK (NEAR (cJSON_GetNumberValue (cJSON_GetObjectItem (cJSON_GetArrayItem (passk, 1), "exec")),
                 (1.0 + 2.0 / 3.0) / 2.0));
    CHECK (cJSON_GetArraySize (cJSON_GetObjectItem (json, "tasks")) == 2);
    const cJSON *excluded = cJSON_GetObjectItem (json, "excluded");
    CHECK (cJSON_GetArraySize (excluded) == 2);
    CHECK (strcmp (cJSON_GetStringValue (cJSON_GetObjectItem (cJSON_GetArrayItem (excluded, 1), "reason")),
                   "reference mismatch") == 0);
    CHECK (cJSON_HasObjectItem (cJSON_GetObjectItem (json, "by_difficulty"), "2"));
    CHECK (!cJSON_HasObjectItem (cJSON_GetObjectItem (json, "by_difficulty"), "3"));
    if (verbose) {
        char *text = cJSON_Print (json);
        printf ("%s\n", text);
        free (text);
    }
    cJSON_Delete (json);

    //  Scoring unchecked tasks brings delta in
    geak_score_set_score_unchecked (score, true);
    CHECK (geak_score_overall (score) == NULL);
    CHECK (geak_score_compute (score) == GEAK_OK);
    g = geak_score_overall (score);
    CHECK (g->tasks == 3 && g->lineages == 9 && g->exec_ok == 4);
    CHECK (NEAR (g->pass_at_k [0], (2.0 / 3.0 + 1.0 / 3.0 + 1.0 / 3.0) / 3.0));
    geak_score_destroy (&score);
    geak_score_destroy (&score);
    CHECK (score == NULL);

    //  No scored task: metrics are NAN, JSON null
    score = geak_score_new (2, 1, 0, 0);
    CHECK (geak_score_add_task (score, "only", "", 0, "flaky", "differs between runs") == GEAK_OK);
    CHECK (geak_score_compute (score) == GEAK_OK);
    g = geak_score_overall (score);
    CHECK (g->tasks == 0 && isnan (g->exec_accuracy) && isnan (g->pass_at_k [0]));
    json = geak_score_json (score);
    CHECK (cJSON_IsNull (cJSON_GetObjectItem (cJSON_GetObjectItem (json, "overall"), "exec_accuracy")));
    cJSON_Delete (json);
    //  an iteration beyond the configured count lengthens the curve
    CHECK (geak_score_add_task (score, "late", "", 1, "ok", "") == GEAK_OK);
    geak_score_attempt_t late = { .attempt_id = "x", .iteration = 4, .evaluated = true,
                                  .call_ok = true, .exec_ok = true };
    CHECK (geak_score_add_attempt (score, "late", 1, &late) == GEAK_OK);
    late.iteration = GEAK_SCORE_ITERATIONS_MAX;
    CHECK (geak_score_add_attempt (score, "late", 1, &late) == GEAK_E_INVALID);
    CHECK (geak_score_compute (score) == GEAK_OK);
    g = geak_score_overall (score);
    CHECK (g->iterations == 5 && geak_score_iterations (score) == 5);
    CHECK (NEAR (g->exec_at_iteration [3], 0.0) && NEAR (g->exec_at_iteration [4], 0.5));
    CHECK (g->speedup.n == 0 && isnan (g->speedup.mean));
    CHECK (streq_safe (geak_score_task (score, 1)->lineage [1].final_attempt, "x"));
    //  untimed passes only: the earliest is the best (as geak_scan's best)
    late.iteration = 2;
    late.attempt_id = "y";
    CHECK (geak_score_add_attempt (score, "late", 1, &late) == GEAK_OK);
    CHECK (geak_score_compute (score) == GEAK_OK);
    CHECK (streq_safe (geak_score_task (score, 1)->lineage [1].final_attempt, "y"));
    CHECK (streq_safe (geak_score_task (score, 1)->lineage [1].last_attempt, "x"));
    CHECK (geak_score_task (score, 1)->lineage [1].first_exec_iteration == 2);
    geak_score_destroy (&score);
}

int
geak_score_test (bool verbose)
{
    s_failures = 0;
    s_test_pass_at_k ();
    s_test_dist ();
    s_test_aggregate (verbose);
    return s_failures ? 1 : 0;
}
