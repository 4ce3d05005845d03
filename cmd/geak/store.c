/*  geak store check RUN [--json] - audit a stored run (docs/store.md).

    For every lineage (task, sample) the run scans: the lineage list holds
    exactly the attempt ids RUN.TASK.SAMPLE.0, .1, ... in order, each once;
    every attempt is readable and names that run, task, sample and
    iteration; a parent is an earlier attempt of the same lineage; only the
    last attempt may be pending; the attempts follow the run's GEAK policy
    (lib/geak_scan); a run marked done has every lineage complete; the run's
    counters agree with what is stored. Exit 0 when nothing is wrong, 1 when
    something is (each problem one line), 2 for bad usage. */
#include "geak_prelude.h"
#include "geak_proto.h"
#include "geak_scan.h"
#include "geak_store.h"
#include "commands.h"
#include "runview.h"

#include <cjson/cJSON.h>

#define PROBLEMS_SHOWN 200

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: geak store check RUN [--json]\n"
                  "Audit a stored run: every lineage complete and in order, each attempt once and\n"
                  "readable, parents inside the lineage, the GEAK policy followed, counters in\n"
                  "agreement. Exit 0: nothing wrong; 1: problems (one line each).\n");
}

typedef struct {
    cJSON *problems;
    size_t count;
    size_t lineages, complete, attempts, pending, missing;
} s_audit_t;

static void
s_problem (s_audit_t *audit, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_problem (s_audit_t *audit, const char *fmt, ...)
{
    char text [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    audit->count++;
    if (audit->count <= PROBLEMS_SHOWN)
        cJSON_AddItemToArray (audit->problems, cJSON_CreateString (text));
}

static void
s_check_lineage (geak_store_t *store, const runview_t *run, const runview_task_t *task,
                 uint32_t sample, s_audit_t *audit)
{
    geak_store_list_t *ids = NULL;
    geak_rc_t rc = geak_store_lineage (store, run->run_id, task->name, sample, &ids);
    if (rc != GEAK_OK) {
        s_problem (audit, "%s/%u: cannot read the lineage: %s", task->name, sample, geak_rc_str (rc));
        return;
    }
    audit->lineages++;
    Geak__Attempt **att = geak_malloc0 ((ids->size + 1) * sizeof *att);
    geak_scan_attempt_t *list = geak_malloc0 ((ids->size + 1) * sizeof *list);
    bool readable = true;
    for (size_t i = 0; i < ids->size; i++) {
        char want [512];
        snprintf (want, sizeof want, "%s.%s.%u.%zu", run->run_id, task->name, sample, i);
        if (strcmp (ids->items [i], want) != 0)
            s_problem (audit, "%s/%u: position %zu holds %s, expected %s", task->name, sample, i,
                       ids->items [i], want);
        for (size_t j = 0; j < i; j++)
            if (strcmp (ids->items [j], ids->items [i]) == 0)
                s_problem (audit, "%s/%u: %s is listed twice (positions %zu and %zu)", task->name,
                           sample, ids->items [i], j, i);
        rc = geak_store_attempt_get (store, ids->items [i], &att [i]);
        if (rc != GEAK_OK) {
            s_problem (audit, "%s/%u: attempt %s %s", task->name, sample, ids->items [i],
                       rc == GEAK_E_NOT_FOUND ? "is listed but missing" : "cannot be read");
            audit->missing++;
            readable = false;
            continue;
        }
        audit->attempts++;
        const Geak__Lineage *lin = att [i]->candidate ? att [i]->candidate->lineage : NULL;
        if (!lin || strcmp (lin->run_id, run->run_id) || strcmp (lin->task, task->name)
        ||  lin->sample != sample || lin->iteration != i) {
            s_problem (audit, "%s/%u: attempt %s names another place (run %s, task %s, sample %u, "
                       "iteration %u)", task->name, sample, ids->items [i], lin ? lin->run_id : "?",
                       lin ? lin->task : "?", lin ? lin->sample : 0, lin ? lin->iteration : 0);
            readable = false;
            continue;
        }
        if (lin->parent_attempt && *lin->parent_attempt) {
            bool earlier = false;
            for (size_t j = 0; j < i && !earlier; j++)
                earlier = strcmp (ids->items [j], lin->parent_attempt) == 0;
            if (!earlier)
                s_problem (audit, "%s/%u: attempt %s has parent %s, not an earlier attempt of its "
                           "lineage", task->name, sample, ids->items [i], lin->parent_attempt);
        }
        if (strcmp (att [i]->status, "pending") == 0) {
            audit->pending++;
            if (i + 1 < ids->size)
                s_problem (audit, "%s/%u: attempt %s is pending but not the last", task->name,
                           sample, ids->items [i]);
        }
        if (geak_scan_attempt_from_pb (att [i], &list [i]) != GEAK_OK)
            readable = false;
    }
    if (readable) {
        geak_scan_options_t options = { .iterations = run->iterations, .max_debug = run->max_debug,
                                        .reflector = run->reflector, .optimizer = run->optimizer };
        geak_scan_state_t state;
        rc = geak_scan_fold (&options, list, ids->size, &state);
        if (rc != GEAK_OK)
            s_problem (audit, "%s/%u: the %zu stored attempts do not follow the run's GEAK policy",
                       task->name, sample, ids->size);
        else
        if (state.action == GEAK_SCAN_DONE)
            audit->complete++;
        else
        if (strcmp (run->status, "done") == 0)
            s_problem (audit, "%s/%u: the run is done but this lineage is not (%zu attempts, next: %s)",
                       task->name, sample, ids->size, geak_scan_action_name (state.action));
    }
    for (size_t i = 0; i < ids->size; i++)
        if (att [i])
            geak__attempt__free_unpacked (att [i], NULL);
    free (att);
    free (list);
    geak_store_list_destroy (&ids);
}

static int
s_check (geak_store_t *store, const char *run_id, bool json)
{
    runview_t *run = runview_open (store, "store check", run_id);
    if (!run)
        return 1;
    s_audit_t audit = { .problems = cJSON_CreateArray () };
    for (size_t t = 0; t < run->ntasks; t++) {
        if (!runview_scanned (&run->tasks [t]))
            continue;
        for (uint32_t s = 0; s < run->k; s++)
            s_check_lineage (store, run, &run->tasks [t], s, &audit);
    }
    geak_store_counters_t *counters = NULL;
    if (geak_store_run_counters (store, run_id, &counters) == GEAK_OK) {
        int64_t stored = geak_store_counters_get (counters, "attempts", 0);
        if (stored != (int64_t) (audit.attempts + audit.missing))
            s_problem (&audit, "counter attempts is %lld, the lineages list %zu",
                       (long long) stored, audit.attempts + audit.missing);
    }
    else
        s_problem (&audit, "cannot read the run's counters");
    geak_store_counters_destroy (&counters);
    if (json) {
        cJSON *root = cJSON_CreateObject ();
        runview_json_head (run, root);
        cJSON_AddNumberToObject (root, "lineages", (double) audit.lineages);
        cJSON_AddNumberToObject (root, "lineages_complete", (double) audit.complete);
        cJSON_AddNumberToObject (root, "attempts", (double) audit.attempts);
        cJSON_AddNumberToObject (root, "pending", (double) audit.pending);
        cJSON_AddNumberToObject (root, "missing", (double) audit.missing);
        cJSON_AddNumberToObject (root, "problem_count", (double) audit.count);
        cJSON_AddItemToObject (root, "problems", audit.problems);
        audit.problems = NULL;
        char *text = cJSON_Print (root);
        printf ("%s\n", text);
        free (text);
        cJSON_Delete (root);
    }
    else {
        printf ("run %s (%s): %zu lineages, %zu complete, %zu attempts (%zu pending, %zu missing), "
                "%zu problems\n", run->run_id, run->status, audit.lineages, audit.complete,
                audit.attempts, audit.pending, audit.missing, audit.count);
        const cJSON *item = NULL;
        cJSON_ArrayForEach (item, audit.problems)
            printf ("  %s\n", item->valuestring);
        if (audit.count > PROBLEMS_SHOWN)
            printf ("  ... and %zu more\n", audit.count - PROBLEMS_SHOWN);
    }
    cJSON_Delete (audit.problems);
    size_t problems = audit.count;
    runview_destroy (&run);
    return problems ? 1 : 0;
}

int
geak_cmd_store (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp (argv [1], "check") != 0) {
        fprintf (stderr, "geak store: unknown subcommand '%s'\n", argv [1]);
        s_usage (stderr);
        return 2;
    }
    const char *run_id = NULL;
    bool json = false;
    const runview_opt_t opts [] = {
        { .name = "--json", .flag = &json },
        { .name = NULL }
    };
    geak_store_t *store = NULL;
    int done = runview_start (argc - 1, argv + 1, "store check", opts, &run_id, true, s_usage, &store);
    if (done >= 0)
        return done;
    int status = s_check (store, run_id, json);
    geak_store_destroy (&store);
    return status;
}
