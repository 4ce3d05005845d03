/*  geak status - runs in the store, or one run's progress (docs/report.md).

    geak status [--json]                      every run: id, status, created, counters
    geak status RUN [--last N] [--json]       config summary, counters, lineages
                                              done/total, the latest attempts */
#include "geak_prelude.h"
#include "geak_taskstatus.h"
#include "geak_log.h"
#include "geak_proto.h"
#include "geak_store.h"
#include "commands.h"
#include "runview.h"

#include <math.h>
#include <cjson/cJSON.h>

#define LAST_DEFAULT 10

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: geak status [RUN] [--last N] [--json]\n"
             "\n"
             "Without RUN: every run in the store (oldest first) with its status, creation\n"
             "time and counters. With RUN: its config, counters (attempts, evaluated,\n"
             "call_ok, exec_ok, tokens), lineages done / total and its latest attempts\n"
             "(the last attempt of each lineage, newest first, at most N, default %d).\n"
             "\n"
             "A lineage is one (task, sample) of a scanned task (every task but broken\n"
             "and flaky ones); total = scanned tasks x k. A lineage is done when its last\n"
             "attempt is not pending and either it holds `iterations` attempts, or the\n"
             "optimizer is off and one of its attempts passed (exec_ok).\n"
             "Redis: GEAK_REDIS_HOST/PORT/PASSWORD[_FILE]/PREFIX. --json prints one JSON\n"
             "document instead of text.\n", LAST_DEFAULT);
}

static int64_t
s_counter (const geak_store_counters_t *counters, const char *name)
{
    return counters ? geak_store_counters_get (counters, name, 0) : 0;
}

static const char *s_counter_names [] = {
    "attempts", "evaluated", "failed", "call_ok", "exec_ok", "tokens_in", "tokens_out"
};
#define NCOUNTERS (sizeof s_counter_names / sizeof s_counter_names [0])

// ------------------------------------------------------------------ all runs

static int
s_list (geak_store_t *store, bool json)
{
    geak_store_list_t *runs = NULL;
    geak_rc_t rc = geak_store_runs_list (store, &runs);
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak status: cannot list runs: %s\n", geak_rc_str (rc));
        return 1;
    }
    cJSON *array = cJSON_CreateArray ();
    runview_table_t *table = runview_table_new (9);
    runview_table_row (table, "run", "status", "created", "attempts", "evaluated", "call_ok",
                       "exec_ok", "tokens_in", "tokens_out");
    int status = 0;
    for (size_t i = 0; i < runs->size; i++) {
        const char *id = runs->items [i];
        char *config = NULL, *run_status = NULL;
        rc = geak_store_run_get (store, id, &config, &run_status);
        if (rc == GEAK_E_NOT_FOUND)
            continue;           //  listed but gone: nothing to show
        geak_store_counters_t *counters = NULL;
        if (rc == GEAK_OK)
            rc = geak_store_run_counters (store, id, &counters);
        if (rc != GEAK_OK) {
            fprintf (stderr, "geak status: cannot read run %s: %s\n", id, geak_rc_str (rc));
            free (config);
            free (run_status);
            status = 1;
            break;
        }
        int64_t created = 0;
        cJSON *parsed = config ? cJSON_Parse (config) : NULL;
        const cJSON *created_item = cJSON_GetObjectItemCaseSensitive (parsed, "created_ms");
        if (cJSON_IsNumber (created_item) && created_item->valuedouble > 0)
            created = (int64_t) created_item->valuedouble;
        cJSON_Delete (parsed);
        char when [64];
        runview_time (created, when, sizeof when);
        char values [NCOUNTERS][32];
        for (size_t c = 0; c < NCOUNTERS; c++)
            snprintf (values [c], sizeof values [c], "%lld",
                      (long long) s_counter (counters, s_counter_names [c]));
        //  columns: attempts evaluated call_ok exec_ok tokens_in tokens_out
        runview_table_row (table, id, run_status ? run_status : "", when, values [0], values [1],
                           values [3], values [4], values [5], values [6]);
        cJSON *row = cJSON_CreateObject ();
        cJSON_AddStringToObject (row, "run_id", id);
        cJSON_AddStringToObject (row, "status", run_status ? run_status : "");
        cJSON_AddNumberToObject (row, "created_ms", (double) created);
        cJSON *counts = cJSON_AddObjectToObject (row, "counters");
        for (size_t c = 0; c < NCOUNTERS; c++)
            cJSON_AddNumberToObject (counts, s_counter_names [c],
                                     (double) s_counter (counters, s_counter_names [c]));
        cJSON_AddItemToArray (array, row);
        geak_store_counters_destroy (&counters);
        free (config);
        free (run_status);
    }
    if (status == 0) {
        if (json) {
            char *text = cJSON_Print (array);
            printf ("%s\n", text);
            free (text);
        }
        else
        if (runs->size == 0)
            printf ("no runs in the store (prefix %s)\n", geak_store_prefix (store));
        else
            runview_table_print (table, stdout, "");
    }
    runview_table_destroy (&table);
    cJSON_Delete (array);
    geak_store_list_destroy (&runs);
    return status;
}

// ------------------------------------------------------------------ one run

typedef struct {
    Geak__Attempt *attempt;     //  the lineage's last attempt (owned)
    int64_t when;               //  finished, else created
} latest_t;

static int
s_latest_cmp (const void *a, const void *b)
{
    const latest_t *x = a, *y = b;
    if (x->when != y->when)
        return x->when > y->when ? -1 : 1;
    return strcmp (x->attempt->attempt_id, y->attempt->attempt_id);
}

static const char *
s_verdict (const Geak__Attempt *a)
{
    if (strcmp (a->status, "evaluated") != 0 || !a->result)
        return a->status;
    if (a->result->exec_ok)
        return "pass";
    if (a->result->error_class == GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED)
        return "fail";
    return geak_proto_class_name (a->result->error_class);
}

static int
s_show (geak_store_t *store, const char *run_id, long last, bool json)
{
    runview_t *run = runview_open (store, "status", run_id);
    if (!run)
        return 1;
    geak_store_counters_t *counters = NULL;
    geak_rc_t rc = geak_store_run_counters (store, run_id, &counters);
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak status: cannot read counters of %s: %s\n", run_id, geak_rc_str (rc));
        runview_destroy (&run);
        return 1;
    }
    //  Lineages: done / total, and the last attempt of each
    size_t total = 0, done = 0, started = 0, nlatest = 0;
    latest_t *latest = NULL;
    //  ok, broken, flaky, unsupported_on_device (geak_task_statuses), unchecked, other
    enum { UNCHECKED = 4, OTHER = 5 };
    size_t by_status [6] = { 0 };
    int status = 0;
    for (size_t t = 0; t < run->ntasks && status == 0; t++) {
        const runview_task_t *task = &run->tasks [t];
        size_t slot = geak_task_status_index (task->status);
        if (slot == UNCHECKED)
            slot = strcmp (task->status, "unchecked") == 0 ? UNCHECKED : OTHER;
        by_status [slot]++;
        if (!runview_scanned (task))
            continue;
        for (uint32_t s = 0; s < run->k; s++) {
            total++;
            geak_store_list_t *ids = NULL;
            rc = geak_store_lineage (store, run_id, task->name, s, &ids);
            if (rc == GEAK_E_INVALID)
                continue;       //  a name the store cannot hold has no attempts
            if (rc != GEAK_OK) {
                fprintf (stderr, "geak status: cannot read lineage %s/%u: %s\n",
                         task->name, s, geak_rc_str (rc));
                status = 1;
                break;
            }
            if (ids->size == 0) {
                geak_store_list_destroy (&ids);
                continue;
            }
            started++;
            Geak__Attempt *tail = NULL;
            rc = geak_store_attempt_get (store, ids->items [ids->size - 1], &tail);
            bool finished = rc == GEAK_OK && strcmp (tail->status, "pending") != 0;
            bool is_done = false;
            if (finished && ids->size >= run->iterations)
                is_done = true;
            else
            if (finished && !run->optimizer) {
                //  stops at its first pass: look for one, newest first
                for (size_t i = ids->size; i-- > 0 && !is_done;) {
                    Geak__Attempt *a = NULL;
                    if (geak_store_attempt_get (store, ids->items [i], &a) != GEAK_OK)
                        continue;
                    is_done = a->result && a->result->exec_ok;
                    geak__attempt__free_unpacked (a, NULL);
                }
            }
            done += is_done;
            if (rc == GEAK_OK) {
                latest = realloc (latest, (nlatest + 1) * sizeof *latest);
                assert (latest);
                latest [nlatest].attempt = tail;
                latest [nlatest].when = tail->finished_ms > 0 ? tail->finished_ms : tail->created_ms;
                nlatest++;
            }
            geak_store_list_destroy (&ids);
        }
    }
    if (status == 0) {
        if (nlatest > 0)        //  qsort's pointer must be valid even for 0 items
            qsort (latest, nlatest, sizeof *latest, s_latest_cmp);
        size_t shown = nlatest < (size_t) last ? nlatest : (size_t) last;
        char when [64];
        runview_time (run->created_ms, when, sizeof when);
        if (json) {
            cJSON *root = cJSON_CreateObject ();
            runview_json_head (run, root);
            cJSON *cfg = cJSON_AddObjectToObject (root, "config");
            cJSON_AddStringToObject (cfg, "llm", run->llm);
            cJSON_AddStringToObject (cfg, "tasks_root", run->tasks_root);
            runview_json_settings (run, cfg, NULL);
            cJSON *tasks = cJSON_AddObjectToObject (root, "tasks");
            cJSON_AddNumberToObject (tasks, "total", (double) run->ntasks);
            for (size_t i = 0; geak_task_statuses [i]; i++)
                cJSON_AddNumberToObject (tasks, geak_task_statuses [i], (double) by_status [i]);
            cJSON_AddNumberToObject (tasks, "unchecked", (double) by_status [UNCHECKED]);
            cJSON_AddNumberToObject (tasks, "other", (double) by_status [OTHER]);
            cJSON *counts = cJSON_AddObjectToObject (root, "counters");
            for (size_t c = 0; c < NCOUNTERS; c++)
                cJSON_AddNumberToObject (counts, s_counter_names [c],
                                         (double) s_counter (counters, s_counter_names [c]));
            cJSON *lineages = cJSON_AddObjectToObject (root, "lineages");
            cJSON_AddNumberToObject (lineages, "total", (double) total);
            cJSON_AddNumberToObject (lineages, "started", (double) started);
            cJSON_AddNumberToObject (lineages, "done", (double) done);
            cJSON *rows = cJSON_AddArrayToObject (root, "latest");
            for (size_t i = 0; i < shown; i++) {
                const Geak__Attempt *a = latest [i].attempt;
                cJSON *row = cJSON_CreateObject ();
                cJSON_AddStringToObject (row, "attempt_id", a->attempt_id);
                cJSON_AddStringToObject (row, "status", a->status);
                cJSON_AddStringToObject (row, "verdict", s_verdict (a));
                const Geak__Lineage *lin = a->candidate ? a->candidate->lineage : NULL;
                cJSON_AddStringToObject (row, "role", lin ? geak_proto_role_name (lin->role) : "");
                cJSON_AddNumberToObject (row, "iteration", lin ? lin->iteration : 0);
                if (a->result && a->result->exec_ok && a->result->timed && a->result->speedup > 0)
                    cJSON_AddNumberToObject (row, "speedup", a->result->speedup);
                else
                    cJSON_AddNullToObject (row, "speedup");
                cJSON_AddNumberToObject (row, "when_ms", (double) latest [i].when);
                cJSON_AddItemToArray (rows, row);
            }
            char *text = cJSON_Print (root);
            printf ("%s\n", text);
            free (text);
            cJSON_Delete (root);
        }
        else {
            printf ("run %s: %s, created %s\n", run->run_id, run->status, when);
            if (run->reason && *run->reason)
                printf ("  reason: %s\n", run->reason);
            printf ("  llm %s; tasks_root %s\n", *run->llm ? run->llm : "-",
                    *run->tasks_root ? run->tasks_root : "-");
            printf ("  k %u, iterations %u, max_debug %u%s; knowledge %s, one_shot %s, reflector %s, "
                    "optimizer %s; prices $%g in / $%g out per Mtok\n",
                    run->k, run->iterations, run->max_debug,
                    run->correctness_only ? ", correctness only" : "",
                    run->knowledge ? "on" : "off", run->one_shot ? "on" : "off",
                    run->reflector ? "on" : "off", run->optimizer ? "on" : "off",
                    run->price_in, run->price_out);
            printf ("  tasks %zu: %zu ok, %zu broken, %zu flaky, %zu unchecked", run->ntasks,
                    by_status [0], by_status [1], by_status [2], by_status [UNCHECKED]);
            if (by_status [3])
                printf (", %zu unsupported on this device", by_status [3]);
            if (by_status [OTHER])
                printf (", %zu other", by_status [OTHER]);
            printf ("\n  counters:");
            for (size_t c = 0; c < NCOUNTERS; c++)
                printf (" %s %lld", s_counter_names [c], (long long) s_counter (counters, s_counter_names [c]));
            printf ("\n  lineages: %zu/%zu done, %zu started\n", done, total, started);
            if (shown) {
                printf ("\nlatest attempts\n");
                runview_table_t *table = runview_table_new (6);
                runview_table_row (table, "attempt", "role", "iteration", "verdict", "speedup", "when");
                for (size_t i = 0; i < shown; i++) {
                    const Geak__Attempt *a = latest [i].attempt;
                    const Geak__Lineage *lin = a->candidate ? a->candidate->lineage : NULL;
                    char iteration [16], speedup [32], at [64];
                    snprintf (iteration, sizeof iteration, "%u", lin ? lin->iteration : 0);
                    runview_speedup (a->result && a->result->exec_ok && a->result->timed
                                     ? a->result->speedup : NAN, speedup, sizeof speedup);
                    runview_time (latest [i].when, at, sizeof at);
                    runview_table_row (table, a->attempt_id, lin ? geak_proto_role_name (lin->role) : "-",
                                       iteration, s_verdict (a), speedup, at);
                }
                runview_table_print (table, stdout, "  ");
                runview_table_destroy (&table);
            }
        }
    }
    for (size_t i = 0; i < nlatest; i++)
        geak__attempt__free_unpacked (latest [i].attempt, NULL);
    free (latest);
    geak_store_counters_destroy (&counters);
    runview_destroy (&run);
    return status;
}

int
geak_cmd_status (int argc, char **argv)
{
    const char *run_id = NULL;
    long last = LAST_DEFAULT;
    bool json = false;
    const runview_opt_t opts [] = {
        { .name = "--json", .flag = &json },
        { .name = "--last", .number = &last, .min = 0, .max = 1000000 },
        { .name = NULL }
    };
    geak_store_t *store = NULL;
    int done = runview_start (argc, argv, "status", opts, &run_id, false, s_usage, &store);
    if (done >= 0)
        return done;
    int status = run_id ? s_show (store, run_id, last, json) : s_list (store, json);
    geak_store_destroy (&store);
    return status;
}
