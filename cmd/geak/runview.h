/*  runview.h - what `geak report` and `geak status` read of a stored run:
    its config JSON (docs/run.md) and status, the union of the config's
    tasks and the tasks the store saw attempts for, a lineage's attempts,
    plus small text-table and formatting helpers for the terminal. Reads
    only: never writes to the store. */
#ifndef GEAK_CMD_RUNVIEW_H_INCLUDED
#define GEAK_CMD_RUNVIEW_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_store.h"

#include <cjson/cJSON.h>

typedef struct {
    char *name;
    char *category;
    char *status;               //  "ok", "broken", "flaky", "unchecked"; "unlisted" when
                                //  the store has attempts for a task the config lacks
    char *reason;
    uint32_t difficulty;        //  0 = unknown
} runview_task_t;

typedef struct {
    char *run_id;
    char *status;               //  the run's status ("running", "done", ...)
    char *reason;               //  why it is in that state ("" when none)
    int64_t created_ms;         //  0 when the config has none
    char *tasks_root;
    char *llm;
    uint32_t k;
    uint32_t iterations;
    uint32_t max_debug;
    bool correctness_only;
    bool knowledge, one_shot, reflector, optimizer;
    double price_in, price_out; //  USD per million tokens
    runview_task_t *tasks;      //  config order, then unlisted ones sorted
    size_t ntasks;
} runview_t;

//  Read run_id's config and status, and its task set. On failure returns
//  the error (GEAK_E_NOT_FOUND: no such run; GEAK_E_MALFORMED: the config
//  is not usable) with *error a malloc'd sentence.
geak_rc_t runview_load (geak_store_t *store, const char *run_id, runview_t **out, char **error);
void runview_destroy (runview_t **self_p);

//  One option of a command line: it sets *flag, or takes the next argument
//  into *value, or parses it into *number (min..max).
typedef struct {
    const char *name;           //  "--out"
    bool *flag;                 //  a switch, or
    const char **value;         //  a string value, or
    long *number;               //  a whole number in [min, max]
    long min, max;
} runview_opt_t;

//  The start of `geak report` and `geak status`: parse one positional RUN
//  and the options in opts (ending with a NULL name), then open the store
//  from GEAK_REDIS_* into *store. Returns 0 after --help / -h (usage to
//  stdout), 2 on a bad or missing argument (usage to stderr), 1 when the
//  store cannot be opened ("geak TOOL: cannot open the store: ..." to
//  stderr), else -1 to go on with *store (caller owns).
int runview_start (int argc, char **argv, const char *tool, const runview_opt_t *opts,
                   const char **run_id, bool run_required, void (*usage) (FILE *out),
                   geak_store_t **store);

//  runview_load, printing its error as "geak TOOL: ..." to stderr; NULL then.
runview_t *runview_open (geak_store_t *store, const char *tool, const char *run_id);

//  Add the run's run_id, status, reason and created_ms to obj.
void runview_json_head (const runview_t *self, cJSON *obj);
//  Add k, iterations, max_debug, correctness_only and the four ablation
//  switches to obj: the switches into a new sub-object ablation_key, or
//  into obj itself when ablation_key is NULL.
void runview_json_settings (const runview_t *self, cJSON *obj, const char *ablation_key);

//  A task the run scans: every status but "broken" and "flaky".
bool runview_scanned (const runview_task_t *task);

//  The attempts of (run, task, sample) in stored order; an id whose record
//  is missing or unreadable is skipped with a warning. Free with
//  geak_store_attempts_free (out, n).
geak_rc_t runview_lineage (geak_store_t *store, const char *run_id, const char *task,
                           uint32_t sample, Geak__Attempt ***out, size_t *n);

//  "2026-11-25 06:20:00Z" (UTC), or "-" for 0.
void runview_time (int64_t ms, char *buf, size_t size);
//  "12.5%" or "-" for NAN; "1.43x" or "-" for NAN / <= 0.
void runview_pct (double share, char *buf, size_t size);
void runview_speedup (double value, char *buf, size_t size);

//  A text table: add a header row then data rows (cells copied), print
//  with columns padded to their widest cell; numeric-looking cells are
//  right-aligned.
typedef struct runview_table_t runview_table_t;
runview_table_t *runview_table_new (size_t columns);
void runview_table_row (runview_table_t *self, ...);     //  `columns` const char * cells
void runview_table_print (const runview_table_t *self, FILE *out, const char *indent);
void runview_table_destroy (runview_table_t **self_p);

#endif
