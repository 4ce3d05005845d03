/*  geak report - the metrics of a stored run (docs/report.md).

    geak report RUN [--out DIR] [--json FILE] [--include-unchecked]

    Reads the run's config and every attempt of every lineage from Redis
    (GEAK_REDIS_* as the other commands), aggregates them with geak_score,
    prints tables (overall, per difficulty, pass@k, per iteration, per task,
    excluded tasks) and writes into DIR (default ./report-RUN):
      summary.json            every number (or --json FILE)
      pass_at_k.svg           pass@k against k (execution and call)
      exec_by_iteration.svg   accuracy at iteration <= i (sequential scaling)
      speedup_hist.svg        speedups of correct lineages' best attempts
      final.jsonl             one final candidate per lineage, GEAK-eval shape */
#include "geak_prelude.h"
#include "geak_taskstatus.h"
#include "geak_log.h"
#include "geak_proto.h"
#include "geak_score.h"
#include "geak_store.h"
#include "geak_svg.h"
#include "commands.h"
#include "runview.h"

#include <math.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: geak report RUN [--out DIR] [--json FILE] [--include-unchecked]\n"
             "\n"
             "Aggregates a stored run (Redis: GEAK_REDIS_HOST/PORT/PASSWORD[_FILE]/PREFIX)\n"
             "into call and execution accuracy, pass@k for k = 1..K, accuracy at\n"
             "iteration <= i, speedups, tokens and cost, overall and per difficulty.\n"
             "Tasks whose reference self-check was broken, flaky or unchecked stay out\n"
             "of every denominator and are listed apart (--include-unchecked scores\n"
             "unchecked ones). Writes DIR/summary.json (or --json FILE), three SVG\n"
             "plots and DIR/final.jsonl (GEAK-eval input shape); DIR defaults to\n"
             "./report-RUN. Definitions: docs/report.md.\n");
}

// ------------------------------------------------------------------ files

static geak_rc_t
s_mkdir_p (const char *path)
{
    char *copy = geak_strdup (path);
    for (char *p = copy + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (copy, 0755) != 0 && errno != EEXIST) {
                free (copy);
                return GEAK_E_IO;
            }
            *p = '/';
        }
    int rc = mkdir (copy, 0755);
    free (copy);
    if (rc != 0 && errno != EEXIST)
        return GEAK_E_IO;
    struct stat st;
    return stat (path, &st) == 0 && S_ISDIR (st.st_mode) ? GEAK_OK : GEAK_E_IO;
}

static char *
s_join (const char *dir, const char *name)
{
    char *path = NULL;
    if (asprintf (&path, "%s/%s", dir, name) < 0)
        return NULL;
    return path;
}

static geak_rc_t
s_write_text (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return GEAK_E_IO;
    size_t len = strlen (text);
    bool ok = fwrite (text, 1, len, f) == len && fputc ('\n', f) != EOF;
    ok = (fclose (f) == 0) && ok;
    return ok ? GEAK_OK : GEAK_E_IO;
}

// ------------------------------------------------------------------ loading

static void
s_to_score (const Geak__Attempt *a, size_t index, geak_score_attempt_t *out)
{
    memset (out, 0, sizeof *out);
    out->attempt_id = a->attempt_id;
    out->iteration = (uint32_t) index;
    if (a->candidate && a->candidate->lineage)
        out->iteration = a->candidate->lineage->iteration;
    if (a->candidate)
        out->example = a->candidate->example;
    if (a->candidate && a->candidate->usage) {
        out->tokens_in = a->candidate->usage->tokens_in;
        out->tokens_out = a->candidate->usage->tokens_out;
    }
    const Geak__EvalResult *r = a->result;
    if (r && strcmp (a->status, "evaluated") == 0) {
        out->evaluated = true;
        out->call_ok = r->call_ok;
        out->exec_ok = r->exec_ok;
        out->timed = r->timed;
        out->speedup = r->speedup;
    }
}

//  Declare every task and feed every attempt of every lineage
static geak_rc_t
s_load (geak_store_t *store, const runview_t *run, geak_score_t *score)
{
    for (size_t t = 0; t < run->ntasks; t++) {
        const runview_task_t *task = &run->tasks [t];
        geak_rc_t rc = geak_score_add_task (score, task->name, task->category, task->difficulty,
                                            task->status, task->reason);
        if (rc != GEAK_OK) {
            fprintf (stderr, "geak report: task '%s': %s\n", task->name, geak_rc_str (rc));
            return rc;
        }
    }
    for (size_t t = 0; t < run->ntasks; t++) {
        const runview_task_t *task = &run->tasks [t];
        for (uint32_t s = 0; s < run->k; s++) {
            Geak__Attempt **attempts = NULL;
            size_t n = 0;
            geak_rc_t rc = runview_lineage (store, run->run_id, task->name, s, &attempts, &n);
            if (rc == GEAK_E_INVALID) {
                //  a name the store cannot hold: it cannot have attempts
                geak_warn ("report_task_name_invalid", "run=%s task=%s", run->run_id, task->name);
                break;
            }
            if (rc != GEAK_OK) {
                fprintf (stderr, "geak report: cannot read lineage %s/%u: %s\n",
                         task->name, s, geak_rc_str (rc));
                return rc;
            }
            for (size_t i = 0; i < n; i++) {
                geak_score_attempt_t a;
                s_to_score (attempts [i], i, &a);
                rc = geak_score_add_attempt (score, task->name, s, &a);
                if (rc != GEAK_OK)
                    geak_warn ("report_attempt_ignored", "attempt=%s why=%s",
                               attempts [i]->attempt_id, geak_rc_name (rc));
            }
            geak_store_attempts_free (&attempts, n);
        }
    }
    return geak_score_compute (score);
}

// ------------------------------------------------------------------ tables

static const char *
s_onoff (bool on)
{
    return on ? "on" : "off";
}

static void
s_group_row (runview_table_t *table, const char *label, const geak_score_group_t *g, uint32_t k)
{
    char tasks [32], lineages [32], call [32], exec [32], p1 [32], pk [32], mean [32], median [32],
         geo [32], n [32];
    snprintf (tasks, sizeof tasks, "%zu", g->tasks);
    snprintf (lineages, sizeof lineages, "%zu", g->lineages);
    runview_pct (g->call_accuracy, call, sizeof call);
    runview_pct (g->exec_accuracy, exec, sizeof exec);
    runview_pct (g->pass_at_k [0], p1, sizeof p1);
    runview_pct (g->pass_at_k [k - 1], pk, sizeof pk);
    runview_speedup (g->speedup.mean, mean, sizeof mean);
    runview_speedup (g->speedup.median, median, sizeof median);
    runview_speedup (g->speedup.geomean, geo, sizeof geo);
    snprintf (n, sizeof n, "%zu", g->speedup.n);
    runview_table_row (table, label, tasks, lineages, call, exec, p1, pk, n, mean, median, geo);
}

static void
s_print (const runview_t *run, const geak_score_t *score, FILE *out)
{
    const geak_score_group_t *all = geak_score_overall (score);
    const geak_score_totals_t *totals = geak_score_totals (score);
    uint32_t k = geak_score_k (score);
    char when [64], buf [64], buf2 [64];
    runview_time (run->created_ms, when, sizeof when);
    size_t scored = 0, excluded = 0;
    for (size_t t = 0; t < geak_score_tasks (score); t++) {
        if (geak_score_task (score, t)->scored)
            scored++;
        else
            excluded++;
    }
    fprintf (out, "run %s (%s), created %s\n", run->run_id, run->status, when);
    fprintf (out, "  llm %s; k %u, iterations %u, max_debug %u%s\n", *run->llm ? run->llm : "-",
             run->k, run->iterations, run->max_debug, run->correctness_only ? ", correctness only" : "");
    fprintf (out, "  ablation: knowledge %s, one_shot %s, reflector %s, optimizer %s\n",
             s_onoff (run->knowledge), s_onoff (run->one_shot), s_onoff (run->reflector),
             s_onoff (run->optimizer));
    fprintf (out, "  tasks: %zu scored, %zu excluded; attempts %zu (%zu evaluated)\n",
             scored, excluded, totals->attempts, totals->evaluated);
    fprintf (out, "  tokens: %llu in, %llu out; cost $%.4f (at $%g / $%g per Mtok)\n",
             (unsigned long long) totals->tokens_in, (unsigned long long) totals->tokens_out,
             totals->cost_usd, run->price_in, run->price_out);
    if (strcmp (run->status, "done") != 0)
        fprintf (out, "  note: the run is '%s': lineages without attempts count as failures\n", run->status);

    char pk_head [32];
    snprintf (pk_head, sizeof pk_head, "pass@%u", k);
    fprintf (out, "\nOverall (lineages = scored tasks x %u samples)\n", k);
    runview_table_t *table = runview_table_new (11);
    runview_table_row (table, "", "tasks", "lineages", "call_acc", "exec_acc", "pass@1", pk_head,
                       "timed", "speedup_mean", "median", "geomean");
    s_group_row (table, "all", all, k);
    runview_table_print (table, out, "  ");
    runview_table_destroy (&table);

    fprintf (out, "\nBy difficulty\n");
    table = runview_table_new (11);
    runview_table_row (table, "difficulty", "tasks", "lineages", "call_acc", "exec_acc", "pass@1",
                       pk_head, "timed", "speedup_mean", "median", "geomean");
    for (uint32_t d = 0; d <= GEAK_SCORE_DIFFICULTY_MAX; d++) {
        const geak_score_group_t *g = geak_score_difficulty (score, d);
        if (!g)
            continue;
        char label [16];
        snprintf (label, sizeof label, d ? "%u" : "?", d);
        s_group_row (table, label, g, k);
    }
    runview_table_print (table, out, "  ");
    runview_table_destroy (&table);

    fprintf (out, "\npass@k (unbiased estimator, mean over %zu scored tasks, n = %u per task)\n",
             all->tasks, k);
    table = runview_table_new (3);
    runview_table_row (table, "k", "exec", "call");
    for (uint32_t j = 0; j < k; j++) {
        char kk [16];
        snprintf (kk, sizeof kk, "%u", j + 1);
        runview_pct (all->pass_at_k [j], buf, sizeof buf);
        runview_pct (all->call_pass_at_k [j], buf2, sizeof buf2);
        runview_table_row (table, kk, buf, buf2);
    }
    runview_table_print (table, out, "  ");
    runview_table_destroy (&table);

    fprintf (out, "\nAccuracy by iteration (share of lineages with a passing attempt at iteration <= i)\n");
    table = runview_table_new (4);
    runview_table_row (table, "i", "exec", "call", "new_exec");
    double prev = 0;
    for (uint32_t i = 0; i < all->iterations; i++) {
        char ii [16], gain [32];
        snprintf (ii, sizeof ii, "%u", i);
        runview_pct (all->exec_at_iteration [i], buf, sizeof buf);
        runview_pct (all->call_at_iteration [i], buf2, sizeof buf2);
        if (isfinite (all->exec_at_iteration [i]))
            snprintf (gain, sizeof gain, "%.0f", (all->exec_at_iteration [i] - prev) * (double) all->lineages);
        else
            snprintf (gain, sizeof gain, "-");
        prev = isfinite (all->exec_at_iteration [i]) ? all->exec_at_iteration [i] : 0;
        runview_table_row (table, ii, buf, buf2, gain);
    }
    runview_table_print (table, out, "  ");
    runview_table_destroy (&table);

    fprintf (out, "\nTasks\n");
    table = runview_table_new (12);
    runview_table_row (table, "task", "difficulty", "category", "call_ok", "exec_ok", "pass@1",
                       "first_pass", "best_speedup", "attempts", "tokens_in", "tokens_out", "1-shot example");
    for (size_t t = 0; t < geak_score_tasks (score); t++) {
        const geak_score_task_t *task = geak_score_task (score, t);
        if (!task->scored)
            continue;
        char diff [16], call [32], exec [32], p1 [32], first [32], best [32], att [32], tin [32], tout [32];
        snprintf (diff, sizeof diff, "%u", task->difficulty);
        snprintf (call, sizeof call, "%u/%u", task->call_ok, task->lineages);
        snprintf (exec, sizeof exec, "%u/%u", task->exec_ok, task->lineages);
        runview_pct (geak_score_pass_at_k (task->lineages, task->exec_ok, 1), p1, sizeof p1);
        int32_t first_pass = -1;
        for (uint32_t s = 0; s < task->lineages; s++) {
            int32_t f = task->lineage [s].first_exec_iteration;
            if (f >= 0 && (first_pass < 0 || f < first_pass))
                first_pass = f;
        }
        if (first_pass >= 0)
            snprintf (first, sizeof first, "%d", first_pass);
        else
            snprintf (first, sizeof first, "-");
        runview_speedup (task->best_speedup, best, sizeof best);
        snprintf (att, sizeof att, "%u", task->attempts);
        snprintf (tin, sizeof tin, "%llu", (unsigned long long) task->tokens_in);
        snprintf (tout, sizeof tout, "%llu", (unsigned long long) task->tokens_out);
        runview_table_row (table, task->name, diff, *task->category ? task->category : "-",
                           call, exec, p1, first, best, att, tin, tout,
                           *task->examples ? task->examples : "-");
    }
    runview_table_print (table, out, "  ");
    runview_table_destroy (&table);

    fprintf (out, "\nExcluded tasks (kept out of every metric)\n");
    if (excluded == 0)
        fprintf (out, "  none\n");
    else {
        table = runview_table_new (6);
        runview_table_row (table, "task", "status", "difficulty", "attempts", "exec_ok", "reason");
        for (size_t t = 0; t < geak_score_tasks (score); t++) {
            const geak_score_task_t *task = geak_score_task (score, t);
            if (task->scored)
                continue;
            char diff [16], att [32], exec [32];
            snprintf (diff, sizeof diff, "%u", task->difficulty);
            snprintf (att, sizeof att, "%u", task->attempts);
            snprintf (exec, sizeof exec, "%u/%u", task->exec_ok, task->lineages);
            runview_table_row (table, task->name, task->status, diff, att, exec,
                               *task->reason ? task->reason : "-");
        }
        runview_table_print (table, out, "  ");
        runview_table_destroy (&table);
    }
}

// ------------------------------------------------------------------ JSON

static cJSON *
s_summary (const runview_t *run, const geak_score_t *score, bool include_unchecked)
{
    cJSON *root = cJSON_CreateObject ();
    cJSON *meta = cJSON_AddObjectToObject (root, "run");
    runview_json_head (run, meta);
    cJSON_AddStringToObject (meta, "tasks_root", run->tasks_root);
    cJSON_AddStringToObject (meta, "llm", run->llm);
    runview_json_settings (run, meta, "ablation");
    cJSON_AddBoolToObject (meta, "include_unchecked", include_unchecked);
    cJSON_AddNumberToObject (meta, "report_ms", (double) geak_clock_wall_ms ());
    cJSON *metrics = geak_score_json (score);
    if (metrics) {
        //  move the metrics' members after "run"
        while (metrics->child) {
            cJSON *item = metrics->child;
            char *name = geak_strdup (item->string);
            cJSON_DetachItemViaPointer (metrics, item);
            cJSON_AddItemToObject (root, name, item);
            free (name);
        }
        cJSON_Delete (metrics);
    }
    return root;
}

// ------------------------------------------------------------------ plots

static geak_rc_t
s_plots (const runview_t *run, const geak_score_t *score, const char *dir)
{
    const geak_score_group_t *all = geak_score_overall (score);
    uint32_t k = geak_score_k (score);
    char subtitle [512];
    geak_rc_t rc = GEAK_OK;

    //  pass@k against k
    geak_svg_plot_t *plot = geak_svg_plot_new ("pass@k", "k (samples per task)", "pass@k (mean over tasks)");
    snprintf (subtitle, sizeof subtitle, "run %s: %zu scored tasks, n = %u samples each, unbiased estimator",
              run->run_id, all->tasks, k);
    geak_svg_plot_set_subtitle (plot, subtitle);
    geak_svg_plot_set_x (plot, 0.5, k + 0.5);
    geak_svg_plot_set_x_integer (plot, true);
    if (k <= 12)
        geak_svg_plot_set_x_ticks (plot, k + 1);
    geak_svg_plot_set_y_percent (plot, true);
    double *x = geak_malloc0 ((k + all->iterations + 1) * sizeof (double));
    for (uint32_t j = 0; j < k; j++)
        x [j] = j + 1;
    geak_svg_plot_add_line (plot, "execution", x, all->pass_at_k, k, true);
    geak_svg_plot_add_line (plot, "call", x, all->call_pass_at_k, k, false);
    if (all->tasks == 0)
        geak_svg_plot_set_note (plot, "no scored task");
    char *path = s_join (dir, "pass_at_k.svg");
    if (geak_svg_plot_save (plot, path) != GEAK_OK)
        rc = GEAK_E_IO;
    free (path);
    geak_svg_plot_destroy (&plot);

    //  accuracy at iteration <= i
    plot = geak_svg_plot_new ("Accuracy by iteration", "iteration i (attempts 0..i of each lineage)",
                              "lineages passing by iteration i");
    snprintf (subtitle, sizeof subtitle, "run %s: %zu lineages (%zu tasks x %u samples), %u iterations",
              run->run_id, all->lineages, all->tasks, k, all->iterations);
    geak_svg_plot_set_subtitle (plot, subtitle);
    for (uint32_t i = 0; i < all->iterations; i++)
        x [i] = i;
    geak_svg_plot_set_x (plot, -0.5, all->iterations - 0.5);
    geak_svg_plot_set_x_integer (plot, true);
    if (all->iterations <= 12)
        geak_svg_plot_set_x_ticks (plot, all->iterations + 1);
    geak_svg_plot_set_y_percent (plot, true);
    geak_svg_plot_add_line (plot, "execution", x, all->exec_at_iteration, all->iterations, true);
    geak_svg_plot_add_line (plot, "call", x, all->call_at_iteration, all->iterations, false);
    if (all->tasks == 0)
        geak_svg_plot_set_note (plot, "no scored task");
    path = s_join (dir, "exec_by_iteration.svg");
    if (geak_svg_plot_save (plot, path) != GEAK_OK)
        rc = GEAK_E_IO;
    free (path);
    geak_svg_plot_destroy (&plot);
    free (x);

    //  speedups of correct lineages' best attempts
    size_t n = 0;
    double *values = geak_malloc0 ((geak_score_tasks (score) * k + 1) * sizeof (double));
    for (size_t t = 0; t < geak_score_tasks (score); t++) {
        const geak_score_task_t *task = geak_score_task (score, t);
        if (!task->scored)
            continue;
        for (uint32_t s = 0; s < task->lineages; s++)
            if (task->lineage [s].best_speedup > 0)
                values [n++] = task->lineage [s].best_speedup;
    }
    plot = geak_svg_plot_new ("Speedup of correct lineages", "speedup over the reference (best attempt of each lineage)",
                              "lineages");
    if (n) {
        char mean [32], median [32];
        runview_speedup (all->speedup.mean, mean, sizeof mean);
        runview_speedup (all->speedup.median, median, sizeof median);
        snprintf (subtitle, sizeof subtitle, "run %s: %zu correct timed lineages, mean %s, median %s",
                  run->run_id, n, mean, median);
    }
    else
        snprintf (subtitle, sizeof subtitle, "run %s", run->run_id);
    geak_svg_plot_set_subtitle (plot, subtitle);
    geak_svg_plot_add_histogram (plot, "correct lineages", values, n, 1.0);
    geak_svg_plot_add_vline (plot, 1.0, "reference 1.0x");
    if (n == 0)
        geak_svg_plot_set_note (plot, "no correct timed lineage (correctness-only or interpreted run)");
    path = s_join (dir, "speedup_hist.svg");
    if (geak_svg_plot_save (plot, path) != GEAK_OK)
        rc = GEAK_E_IO;
    free (path);
    geak_svg_plot_destroy (&plot);
    free (values);
    return rc;
}

// ------------------------------------------------------------------ final.jsonl

//  One line per lineage of every scanned task: its best correct attempt,
//  else its last attempt, else an empty prediction
static geak_rc_t
s_final (geak_store_t *store, const runview_t *run, const geak_score_t *score, const char *path,
         size_t *lines)
{
    *lines = 0;
    FILE *f = fopen (path, "w");
    if (!f)
        return GEAK_E_IO;
    geak_rc_t rc = GEAK_OK;
    for (size_t t = 0; t < geak_score_tasks (score) && rc == GEAK_OK; t++) {
        const geak_score_task_t *task = geak_score_task (score, t);
        if (geak_task_status_excluded (task->status))
            continue;
        for (uint32_t s = 0; s < task->lineages && rc == GEAK_OK; s++) {
            const geak_score_lineage_t *lin = &task->lineage [s];
            Geak__Attempt *attempt = NULL;
            if (lin->final_attempt && *lin->final_attempt) {
                geak_rc_t got = geak_store_attempt_get (store, lin->final_attempt, &attempt);
                if (got != GEAK_OK && got != GEAK_E_NOT_FOUND && got != GEAK_E_MALFORMED) {
                    rc = got;
                    break;
                }
            }
            char file [GEAK_STORE_NAME_MAX + 8];
            snprintf (file, sizeof file, "%s.py", task->name);
            cJSON *line = cJSON_CreateObject ();
            cJSON_AddStringToObject (line, "file", file);
            cJSON_AddNumberToObject (line, "difficulty", task->difficulty);
            cJSON_AddStringToObject (line, "predict",
                                     attempt && attempt->candidate ? attempt->candidate->code : "");
            cJSON_AddStringToObject (line, "run_id", run->run_id);
            cJSON_AddStringToObject (line, "task", task->name);
            cJSON_AddStringToObject (line, "task_status", task->status);
            cJSON_AddNumberToObject (line, "sample", s);
            if (attempt) {
                cJSON_AddStringToObject (line, "attempt_id", attempt->attempt_id);
                cJSON_AddNumberToObject (line, "iteration", lin->final_iteration);
                cJSON_AddStringToObject (line, "source", lin->best_attempt ? "best" : "last");
                const Geak__EvalResult *r = attempt->result;
                cJSON_AddBoolToObject (line, "call_ok", r && r->call_ok);
                cJSON_AddBoolToObject (line, "exec_ok", r && r->exec_ok);
                if (r && r->exec_ok && r->timed && isfinite (r->speedup) && r->speedup > 0)
                    cJSON_AddNumberToObject (line, "speedup", r->speedup);
                else
                    cJSON_AddNullToObject (line, "speedup");
            }
            else {
                cJSON_AddNullToObject (line, "attempt_id");
                cJSON_AddNullToObject (line, "iteration");
                cJSON_AddStringToObject (line, "source", "none");
                cJSON_AddBoolToObject (line, "call_ok", false);
                cJSON_AddBoolToObject (line, "exec_ok", false);
                cJSON_AddNullToObject (line, "speedup");
            }
            char *text = cJSON_PrintUnformatted (line);
            cJSON_Delete (line);
            if (attempt)
                geak__attempt__free_unpacked (attempt, NULL);
            if (!text || fputs (text, f) == EOF || fputc ('\n', f) == EOF)
                rc = GEAK_E_IO;
            else
                (*lines)++;
            free (text);
        }
    }
    if (fclose (f) != 0 && rc == GEAK_OK)
        rc = GEAK_E_IO;
    return rc;
}

// ------------------------------------------------------------------ command

int
geak_cmd_report (int argc, char **argv)
{
    const char *run_id = NULL, *dir = NULL, *json_path = NULL;
    bool include_unchecked = false;
    const runview_opt_t opts [] = {
        { .name = "--out", .value = &dir },
        { .name = "--json", .value = &json_path },
        { .name = "--include-unchecked", .flag = &include_unchecked },
        { .name = NULL }
    };
    geak_store_t *store = NULL;
    int done = runview_start (argc, argv, "report", opts, &run_id, true, s_usage, &store);
    if (done >= 0)
        return done;
    runview_t *run = runview_open (store, "report", run_id);
    if (!run) {
        geak_store_destroy (&store);
        return 1;
    }
    geak_rc_t rc;
    int status = 1;
    char *default_dir = NULL, *summary_path = NULL, *final_path = NULL;
    geak_score_t *score = geak_score_new (run->k, run->iterations, run->price_in, run->price_out);
    assert (score);         //  runview validated k, iterations and prices
    geak_score_set_score_unchecked (score, include_unchecked);
    if (s_load (store, run, score) != GEAK_OK)
        goto done;

    if (!dir) {
        if (asprintf (&default_dir, "report-%s", run_id) < 0)
            goto done;
        dir = default_dir;
    }
    if (s_mkdir_p (dir) != GEAK_OK) {
        fprintf (stderr, "geak report: cannot create %s: %s\n", dir, strerror (errno));
        goto done;
    }
    s_print (run, score, stdout);

    summary_path = json_path ? geak_strdup (json_path) : s_join (dir, "summary.json");
    cJSON *summary = s_summary (run, score, include_unchecked);
    char *text = cJSON_Print (summary);
    cJSON_Delete (summary);
    rc = text ? s_write_text (summary_path, text) : GEAK_E_NOMEM;
    free (text);
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak report: cannot write %s\n", summary_path);
        goto done;
    }
    if (s_plots (run, score, dir) != GEAK_OK) {
        fprintf (stderr, "geak report: cannot write the plots into %s\n", dir);
        goto done;
    }
    final_path = s_join (dir, "final.jsonl");
    size_t lines = 0;
    rc = s_final (store, run, score, final_path, &lines);
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak report: cannot write %s: %s\n", final_path, geak_rc_str (rc));
        goto done;
    }
    printf ("\nFiles\n  %s\n  %s/pass_at_k.svg\n  %s/exec_by_iteration.svg\n  %s/speedup_hist.svg\n"
            "  %s (%zu lineages)\n", summary_path, dir, dir, dir, final_path, lines);
    geak_debug ("report_written", "run=%s dir=%s lineages=%zu", run_id, dir, lines);
    status = 0;
done:
    free (final_path);
    free (summary_path);
    free (default_dir);
    geak_score_destroy (&score);
    runview_destroy (&run);
    geak_store_destroy (&store);
    return status;
}
