/*  geak_score.h - the metrics of a run: the unbiased pass@k estimator of
    Chen et al. 2021 and the aggregation of lineage outcomes into call and
    execution accuracy, pass@k, the sequential-scaling curve (execution
    accuracy at iteration <= i), speedups, tokens and cost, overall and per
    difficulty. Pure: no I/O; `geak report` feeds it from the store.
    Every definition is in docs/report.md.

    Model
    - A run has K samples per task (lineages, sample 0..K-1) and up to N
      iterations per lineage. Each task is declared with its self-check
      status; only tasks whose status is scored ("ok", and "unchecked"
      when geak_score_set_score_unchecked is on) enter the denominators.
      Every other task (broken, flaky, unchecked, unlisted, ...) is kept
      apart: listed, its tokens counted in the totals, never in a metric.
    - A scored task always has K lineages: a lineage that has no attempt
      counts as a failure (n = K in pass@k).
    - Lineage outcomes: call_ok = any attempt call_ok; exec_ok = any attempt
      exec_ok; best = the correct timed attempt with the highest speedup,
      the earlier on a tie (when none was timed: the earliest correct one,
      as geak_scan's best); final = best, else the attempt with the highest
      iteration (the later added on a tie).

    Ownership: the score owns every string it was given (copied) and every
    result struct; results stay valid until the next add or destroy. */
#ifndef GEAK_SCORE_H_INCLUDED
#define GEAK_SCORE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include <cjson/cJSON.h>

//  Limits on what a config or an attempt may claim
#define GEAK_SCORE_K_MAX            10000
#define GEAK_SCORE_ITERATIONS_MAX   10000
#define GEAK_SCORE_DIFFICULTY_MAX   5       //  difficulties 1..5; 0 = unknown

typedef struct _geak_score_t geak_score_t;

//  One attempt as the score sees it. attempt_id is copied (may be NULL).
typedef struct {
    const char *attempt_id;
    uint32_t iteration;
    bool evaluated;             //  it has an evaluation result
    bool call_ok;
    bool exec_ok;
    bool timed;
    double speedup;             //  used when exec_ok && timed && finite > 0
    uint64_t tokens_in;
    uint64_t tokens_out;
    const char *example;        //  the 1-shot example its prompt carried (copied; NULL/"": none)
} geak_score_attempt_t;

//  A distribution of values; every statistic is NAN when n == 0.
typedef struct {
    size_t n;
    double mean, median, geomean, min, max;
} geak_score_dist_t;

typedef struct {
    uint32_t sample;
    uint32_t attempts;
    uint32_t evaluated;
    bool call_ok;
    bool exec_ok;
    int32_t first_call_iteration;   //  -1 when none
    int32_t first_exec_iteration;   //  -1 when none
    double best_speedup;            //  0 when no correct timed attempt
    const char *best_attempt;       //  NULL when no correct attempt (or no id given)
    uint32_t best_iteration;
    const char *last_attempt;       //  highest iteration; NULL when no attempt
    uint32_t last_iteration;
    const char *final_attempt;      //  best, else last: the lineage's final candidate
    uint32_t final_iteration;
} geak_score_lineage_t;

typedef struct {
    char *name;
    char *category;
    char *status;                   //  "ok", "broken", "flaky", "unchecked", ...
    char *reason;
    uint32_t difficulty;            //  0 = unknown
    bool scored;                    //  in the denominators
    uint32_t lineages;              //  K
    uint32_t lineages_seen;         //  with at least one attempt
    uint32_t call_ok;               //  lineages
    uint32_t exec_ok;               //  lineages
    uint32_t attempts;
    uint32_t evaluated;
    double best_speedup;            //  best over lineages; 0 when none
    const char *best_attempt;       //  borrowed from its lineage; NULL when none
    char *examples;                 //  the distinct 1-shot examples its prompts carried, ", "-joined ("" none)
    uint64_t tokens_in;
    uint64_t tokens_out;
    geak_score_lineage_t *lineage;  //  [lineages], by sample
} geak_score_task_t;

//  Metrics over a set of scored tasks. Accuracies are NAN when lineages == 0.
typedef struct {
    size_t tasks;
    size_t lineages;
    size_t call_ok;                 //  lineages
    size_t exec_ok;                 //  lineages
    size_t attempts;
    size_t evaluated;
    double call_accuracy;           //  call_ok / lineages
    double exec_accuracy;           //  exec_ok / lineages
    uint32_t k;
    double *pass_at_k;              //  [k]: pass_at_k [j] = exec pass@(j+1), mean over tasks
    double *call_pass_at_k;         //  [k]: the same with call_ok
    uint32_t iterations;
    double *exec_at_iteration;      //  [iterations]: share of lineages exec_ok at iteration <= i
    double *call_at_iteration;      //  [iterations]: the same with call_ok
    geak_score_dist_t speedup;      //  over correct timed lineages' best
    geak_score_dist_t task_best_speedup;    //  over tasks' best
    uint64_t tokens_in;
    uint64_t tokens_out;
    double cost_usd;
} geak_score_group_t;

//  Everything the run spent, excluded tasks included.
typedef struct {
    size_t attempts;
    size_t evaluated;
    uint64_t tokens_in;
    uint64_t tokens_out;
    double cost_usd;
} geak_score_totals_t;

//  The unbiased estimator of Chen et al. 2021: 1 - C(n-c, k) / C(n, k),
//  computed as 1 - prod_{i=n-c+1..n} (1 - k/i); exactly 1 when n - c < k.
//  NAN when n == 0, k == 0, k > n or c > n.
double geak_score_pass_at_k (uint32_t n, uint32_t c, uint32_t k);

//  Statistics of values [n] (copied and sorted inside). Geomean uses only
//  values > 0 (NAN when there is none).
geak_score_dist_t geak_score_dist (const double *values, size_t n);

//  k in 1..GEAK_SCORE_K_MAX, iterations in 1..GEAK_SCORE_ITERATIONS_MAX;
//  prices in USD per million tokens (>= 0). NULL on a bad argument.
geak_score_t *geak_score_new (uint32_t k, uint32_t iterations, double price_in, double price_out);
void geak_score_destroy (geak_score_t **self_p);

//  Score tasks whose status is "unchecked" too (default: kept apart).
void geak_score_set_score_unchecked (geak_score_t *self, bool on);

//  Declare a task. status NULL or "" means "unchecked"; category and reason
//  may be NULL. GEAK_E_EXISTS when the name is taken, GEAK_E_INVALID for an
//  empty name or a difficulty above GEAK_SCORE_DIFFICULTY_MAX.
geak_rc_t geak_score_add_task (geak_score_t *self, const char *name, const char *category,
                               uint32_t difficulty, const char *status, const char *reason);
bool geak_score_has_task (const geak_score_t *self, const char *name);

//  Add one attempt of lineage (task, sample). GEAK_E_NOT_FOUND for an
//  undeclared task, GEAK_E_INVALID when sample >= K or the iteration is
//  above GEAK_SCORE_ITERATIONS_MAX.
geak_rc_t geak_score_add_attempt (geak_score_t *self, const char *task, uint32_t sample,
                                  const geak_score_attempt_t *attempt);

//  Compute every result from what was added (call again after more adds).
geak_rc_t geak_score_compute (geak_score_t *self);

uint32_t geak_score_k (const geak_score_t *self);
//  The curve's length: max (configured iterations, highest seen + 1).
uint32_t geak_score_iterations (const geak_score_t *self);
double geak_score_price_in (const geak_score_t *self);
double geak_score_price_out (const geak_score_t *self);

//  Tasks in the order they were declared.
size_t geak_score_tasks (const geak_score_t *self);
const geak_score_task_t *geak_score_task (const geak_score_t *self, size_t index);

//  After compute: every scored task, and the scored tasks of one difficulty
//  (NULL when no scored task has it; 0 = unknown difficulty).
const geak_score_group_t *geak_score_overall (const geak_score_t *self);
const geak_score_group_t *geak_score_difficulty (const geak_score_t *self, uint32_t difficulty);
const geak_score_totals_t *geak_score_totals (const geak_score_t *self);

//  After compute: the metrics as JSON (caller owns; cJSON_Delete):
//  {"k", "iterations", "prices", "totals", "overall", "by_difficulty",
//   "tasks", "excluded"}; NAN values are null. NULL before compute.
cJSON *geak_score_json (const geak_score_t *self);
//  One group as JSON (caller owns).
cJSON *geak_score_group_json (const geak_score_group_t *group);

int geak_score_test (bool verbose);

#endif
