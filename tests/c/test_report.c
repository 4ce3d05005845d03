/*  test_report.c - `geak report` and `geak status` against a real
    redis-server that this program starts on a free scratch port (killed at
    the end, also on failure: PR_SET_PDEATHSIG). A synthetic run is written
    through geak_store (config + attempts of 4 tasks, k = 3, iterations = 3,
    one broken task, one unchecked task, one task the config does not name),
    then the geak binary ($GEAK_BUILD/bin/geak, else ../bin/geak next to this
    program) is run as a child and its outputs are checked against numbers
    computed by hand (docs/report.md walks the same run).

    Usage: test_report [-v]
    Prints one line per case and "N passed, N failed"; exit 1 on failure. */
#include "geak_store.h"
#include "geak_log.h"
#include "testcase.h"
#include "testredis.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#define PREFIX "tr:"
#define RUN "tr1"
#define CHILD_TIMEOUT_MS 60000

static bool s_verbose = false;
static int s_port = 0;
static char s_geak_bin [4096];
static char s_tmp [256];

// ---------------------------------------------------------------- processes

//  A redis-server on a free port, answering PING
static bool
s_server_start (void)
{
    s_port = testredis_free_port ();
    pid_t pid = testredis_start (s_port, NULL, s_verbose);
    return testredis_wait (pid, s_port, NULL, 10000);
}

//  Run argv with stdout into out_path and stderr into out_path.err; returns
//  the exit code, or -1 when it crashed or ran past the deadline.
static int
s_run (const char *out_path, const char *const *argv)
{
    char err_path [1024];
    snprintf (err_path, sizeof err_path, "%s.err", out_path);
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        int out = open (out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open (err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0)
            _exit (126);
        dup2 (out, 1);
        dup2 (err, 2);
        execv (argv [0], (char * const *) argv);
        _exit (127);
    }
    int64_t deadline = geak_clock_mono_ms () + CHILD_TIMEOUT_MS;
    int status = 0;
    while (waitpid (pid, &status, WNOHANG) == 0) {
        if (geak_clock_mono_ms () > deadline) {
            kill (pid, SIGKILL);
            waitpid (pid, &status, 0);
            fprintf (stderr, "  %s ran past %d ms\n", argv [0], CHILD_TIMEOUT_MS);
            return -1;
        }
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep (&ts, NULL);
    }
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static char *
s_read (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream (&text, &size);
    char buf [4096];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, f)) > 0)
        fwrite (buf, 1, n, mem);
    fclose (f);
    fclose (mem);
    return text;
}

static cJSON *
s_read_json (const char *path)
{
    char *text = s_read (path);
    cJSON *json = text ? cJSON_Parse (text) : NULL;
    free (text);
    return json;
}

// ---------------------------------------------------------------- checks


static bool
s_near (double got, double want)
{
    bool ok = fabs (got - want) < 1e-9;
    if (!ok)
        fprintf (stderr, "  got %.12g, want %.12g\n", got, want);
    return ok;
}

//  Number at a path of object keys and array indexes ("overall", "pass_at_k", "#1", "exec")
static double
s_num (const cJSON *json, ...)
{
    va_list args;
    va_start (args, json);
    const char *key;
    while (json && (key = va_arg (args, const char *)) != NULL)
        json = key [0] == '#' ? cJSON_GetArrayItem (json, atoi (key + 1))
                              : cJSON_GetObjectItemCaseSensitive (json, key);
    va_end (args);
    return cJSON_IsNumber (json) ? json->valuedouble : NAN;
}

static const char *
s_str (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) ? item->valuestring : NULL;
}

static bool
s_streq (const char *a, const char *b)
{
    return a && b && strcmp (a, b) == 0;
}

// ---------------------------------------------------------------- the run

typedef enum { NO_CALL, CALL_ONLY, PASS, PENDING } outcome_t;

static int64_t s_clock = 1760000000000;     //  created_ms of the next attempt

//  Store one attempt: speedup > 0 = timed pass
static geak_rc_t
s_put (geak_store_t *store, const char *task, uint32_t sample, uint32_t iteration,
       outcome_t outcome, double speedup)
{
    char id [128], code [256];
    snprintf (id, sizeof id, RUN ".%s.%u.%u", task, sample, iteration);
    snprintf (code, sizeof code, "import triton\n# %s\ndef %s(x):\n    return x\n", id, task);
    Geak__Lineage lin = GEAK__LINEAGE__INIT;
    lin.run_id = RUN;
    lin.task = (char *) task;
    lin.sample = sample;
    lin.iteration = iteration;
    lin.role = iteration ? GEAK__ROLE__REFLECTOR : GEAK__ROLE__GENERATOR;
    lin.implementation = "replay";
    Geak__LlmUsage usage = GEAK__LLM_USAGE__INIT;
    usage.tokens_in = 1000;
    usage.tokens_out = 200;
    Geak__Candidate cand = GEAK__CANDIDATE__INIT;
    char example [64];
    snprintf (example, sizeof example, "%s_shot", task);   //  the generator's 1-shot example
    cand.example = iteration == 0 ? example : "";
    cand.attempt_id = id;
    cand.code = code;
    cand.lineage = &lin;
    cand.usage = &usage;
    Geak__Attempt attempt = GEAK__ATTEMPT__INIT;
    attempt.attempt_id = id;
    attempt.candidate = &cand;
    attempt.created_ms = s_clock;
    s_clock += 10;
    attempt.status = "pending";
    geak_rc_t rc = geak_store_attempt_put (store, &attempt);
    if (rc != GEAK_OK || outcome == PENDING)
        return rc;
    Geak__EvalResult result = GEAK__EVAL_RESULT__INIT;
    Geak__LatencyStats ref = GEAK__LATENCY_STATS__INIT, mine = GEAK__LATENCY_STATS__INIT;
    result.attempt_id = id;
    result.call_ok = outcome != NO_CALL;
    result.exec_ok = outcome == PASS;
    result.error_class = outcome == PASS ? GEAK__ERROR_CLASS__PASS
                       : outcome == CALL_ONLY ? GEAK__ERROR_CLASS__MISMATCH
                       : GEAK__ERROR_CLASS__RUNTIME_ERROR;
    if (outcome == PASS && speedup > 0) {
        ref.n = mine.n = 10;
        ref.median_ms = 2.0;
        mine.median_ms = 2.0 / speedup;
        result.reference = &ref;
        result.candidate = &mine;
        result.speedup = speedup;
        result.timed = true;
    }
    attempt.result = &result;
    attempt.status = "evaluated";
    attempt.finished_ms = attempt.created_ms + 5;
    return geak_store_attempt_put (store, &attempt);
}

//  The run of docs/report.md: see the table there
static bool
s_write_run (void)
{
    geak_rc_t rc;
    geak_store_t *store = geak_store_new ("127.0.0.1", s_port, NULL, 2000, &rc);
    if (!store)
        return false;
    geak_store_set_prefix (store, PREFIX);
    const char *config =
        "{\"run_id\": \"" RUN "\", \"created_ms\": 1760000000000, \"tasks_root\": \"/abs/tasks\","
        " \"k\": 3, \"iterations\": 3, \"max_debug\": 2, \"llm\": \"replay:demo/replay.jsonl\","
        " \"correctness_only\": false,"
        " \"ablation\": {\"knowledge\": true, \"one_shot\": true, \"reflector\": true, \"optimizer\": true},"
        " \"prices\": {\"in_per_mtok\": 2.0, \"out_per_mtok\": 10.0},"
        " \"tasks\": ["
        "  {\"name\": \"alpha\", \"category\": \"elementwise\", \"difficulty\": 1, \"status\": \"ok\", \"reason\": \"\"},"
        "  {\"name\": \"beta\", \"category\": \"reduction\", \"difficulty\": 2, \"status\": \"ok\", \"reason\": \"\"},"
        "  {\"name\": \"gamma\", \"category\": \"attention\", \"difficulty\": 3, \"status\": \"broken\","
        "   \"reason\": \"reference differs from the oracle\"},"
        "  {\"name\": \"delta\", \"category\": \"gemm\", \"difficulty\": 2, \"status\": \"unchecked\","
        "   \"reason\": \"self-check could not run\"}]}";
    bool ok = geak_store_run_create (store, "tr0-empty",
                                     "{\"run_id\": \"tr0-empty\", \"created_ms\": 1750000000000,"
                                     " \"k\": 1, \"iterations\": 1, \"tasks\": []}") == GEAK_OK
           && geak_store_run_create (store, RUN, config) == GEAK_OK;
    //  alpha: s0 passes at once and improves; s1 passes at its last
    //  iteration; s2 runs but never matches
    ok = ok && s_put (store, "alpha", 0, 0, PASS, 1.2) == GEAK_OK;
    ok = ok && s_put (store, "alpha", 0, 1, PASS, 1.5) == GEAK_OK;
    ok = ok && s_put (store, "alpha", 0, 2, PASS, 1.4) == GEAK_OK;
    ok = ok && s_put (store, "alpha", 1, 0, NO_CALL, 0) == GEAK_OK;
    ok = ok && s_put (store, "alpha", 1, 1, CALL_ONLY, 0) == GEAK_OK;
    ok = ok && s_put (store, "alpha", 1, 2, PASS, 0.8) == GEAK_OK;
    for (uint32_t i = 0; i < 3; i++)
        ok = ok && s_put (store, "alpha", 2, i, CALL_ONLY, 0) == GEAK_OK;
    //  beta: s0 passes at iteration 1 (then an untimed pass); s1 never
    //  runs; s2 is still pending at iteration 1
    ok = ok && s_put (store, "beta", 0, 0, NO_CALL, 0) == GEAK_OK;
    ok = ok && s_put (store, "beta", 0, 1, PASS, 2.0) == GEAK_OK;
    ok = ok && s_put (store, "beta", 0, 2, PASS, 0) == GEAK_OK;
    for (uint32_t i = 0; i < 3; i++)
        ok = ok && s_put (store, "beta", 1, i, NO_CALL, 0) == GEAK_OK;
    ok = ok && s_put (store, "beta", 2, 0, CALL_ONLY, 0) == GEAK_OK;
    ok = ok && s_put (store, "beta", 2, 1, PENDING, 0) == GEAK_OK;
    //  delta (unchecked): a fast pass that must not count
    ok = ok && s_put (store, "delta", 0, 0, PASS, 3.0) == GEAK_OK;
    //  epsilon: stored, but not in the config
    ok = ok && s_put (store, "epsilon", 0, 0, NO_CALL, 0) == GEAK_OK;
    ok = ok && geak_store_run_set_status (store, RUN, "done") == GEAK_OK;
    geak_store_destroy (&store);
    return ok;
}

// ---------------------------------------------------------------- cases

//  Run geak with args; true when it exits with `expected` (else its stderr
//  is shown)
static bool
s_geak (const char *out_name, int expected, const char *const *args)
{
    char out_path [512];
    snprintf (out_path, sizeof out_path, "%s/%s", s_tmp, out_name);
    const char *argv [16];
    size_t n = 0;
    argv [n++] = s_geak_bin;
    for (size_t i = 0; args [i] && n < 15; i++)
        argv [n++] = args [i];
    argv [n] = NULL;
    int rc = s_run (out_path, argv);
    if (rc != expected || s_verbose) {
        fprintf (stderr, "  geak %s: exit %d (expected %d), stderr:\n", args [0], rc, expected);
        char cmd [1200];
        snprintf (cmd, sizeof cmd, "sed 's/^/    /' '%s.err' >&2", out_path);
        if (system (cmd) != 0)
            fprintf (stderr, "    (none)\n");
    }
    return rc == expected;
}

static void
test_report_summary (void)
{
    char dir [512], json_path [600];
    snprintf (dir, sizeof dir, "%s/report", s_tmp);
    REQUIRE (s_geak ("report.out", 0, (const char *[]) { "report", RUN, "--out", dir, NULL }));
    snprintf (json_path, sizeof json_path, "%s/summary.json", dir);
    cJSON *json = s_read_json (json_path);
    REQUIRE (json);
    const cJSON *run = cJSON_GetObjectItem (json, "run");
    CHECK (s_streq (s_str (run, "run_id"), RUN));
    CHECK (s_streq (s_str (run, "status"), "done"));
    CHECK (s_num (json, "k", NULL) == 3 && s_num (json, "iterations", NULL) == 3);

    //  Scored: alpha and beta, 6 lineages; call_ok 5, exec_ok 3
    const cJSON *all = cJSON_GetObjectItem (json, "overall");
    CHECK (s_num (all, "tasks", NULL) == 2 && s_num (all, "lineages", NULL) == 6);
    CHECK (s_num (all, "call_ok", NULL) == 5 && s_num (all, "exec_ok", NULL) == 3);
    CHECK (s_near (s_num (all, "call_accuracy", NULL), 5.0 / 6.0));
    CHECK (s_near (s_num (all, "exec_accuracy", NULL), 0.5));
    //  pass@k: alpha c = 2 of 3 -> 2/3, 1, 1; beta c = 1 -> 1/3, 1 - C(2,2)/C(3,2) = 2/3, 1
    CHECK (s_near (s_num (all, "pass_at_k", "#0", "exec", NULL), 0.5));
    CHECK (s_near (s_num (all, "pass_at_k", "#1", "exec", NULL), (1.0 + 2.0 / 3.0) / 2.0));
    CHECK (s_near (s_num (all, "pass_at_k", "#2", "exec", NULL), 1.0));
    CHECK (s_num (all, "pass_at_k", "#2", "k", NULL) == 3);
    //  call pass@1: alpha 3/3, beta 2/3
    CHECK (s_near (s_num (all, "pass_at_k", "#0", "call", NULL), (1.0 + 2.0 / 3.0) / 2.0));
    //  first passes: alpha s0 at 0, beta s0 at 1, alpha s1 at 2
    CHECK (s_near (s_num (all, "exec_accuracy_at_iteration", "#0", NULL), 1.0 / 6.0));
    CHECK (s_near (s_num (all, "exec_accuracy_at_iteration", "#1", NULL), 2.0 / 6.0));
    CHECK (s_near (s_num (all, "exec_accuracy_at_iteration", "#2", NULL), 0.5));
    //  lineage bests 1.5, 0.8, 2.0; task bests 1.5, 2.0 (delta's 3.0 is excluded)
    CHECK (s_num (all, "speedup", "lineage_best", "n", NULL) == 3);
    CHECK (s_near (s_num (all, "speedup", "lineage_best", "mean", NULL), 4.3 / 3.0));
    CHECK (s_near (s_num (all, "speedup", "lineage_best", "median", NULL), 1.5));
    CHECK (s_near (s_num (all, "speedup", "lineage_best", "geomean", NULL), cbrt (2.4)));
    CHECK (s_near (s_num (all, "speedup", "lineage_best", "max", NULL), 2.0));
    CHECK (s_near (s_num (all, "speedup", "task_best", "mean", NULL), 1.75));
    //  tokens: 17 scored attempts; 19 in all (delta and epsilon too)
    CHECK (s_num (all, "tokens_in", NULL) == 17000 && s_num (all, "tokens_out", NULL) == 3400);
    CHECK (s_near (s_num (all, "cost_usd", NULL), 0.068));
    CHECK (s_num (json, "totals", "attempts", NULL) == 19);
    CHECK (s_num (json, "totals", "evaluated", NULL) == 18);
    CHECK (s_num (json, "totals", "tokens_in", NULL) == 19000);
    CHECK (s_num (json, "totals", "tokens_out", NULL) == 3800);
    CHECK (s_near (s_num (json, "totals", "cost_usd", NULL), 0.076));
    //  per difficulty: 1 = alpha, 2 = beta; the broken d3 task has no group
    const cJSON *by = cJSON_GetObjectItem (json, "by_difficulty");
    CHECK (s_near (s_num (by, "1", "exec_accuracy", NULL), 2.0 / 3.0));
    CHECK (s_near (s_num (by, "1", "speedup", "lineage_best", "mean", NULL), 1.15));
    CHECK (s_near (s_num (by, "2", "exec_accuracy", NULL), 1.0 / 3.0));
    CHECK (s_near (s_num (by, "2", "pass_at_k", "#1", "exec", NULL), 2.0 / 3.0));
    CHECK (!cJSON_HasObjectItem (by, "3"));
    //  tasks and excluded ones
    const cJSON *tasks = cJSON_GetObjectItem (json, "tasks");
    CHECK (cJSON_GetArraySize (tasks) == 2);
    CHECK (s_streq (s_str (cJSON_GetArrayItem (tasks, 0), "best_attempt"), RUN ".alpha.0.1"));
    CHECK (s_near (s_num (tasks, "#0", "best_speedup", NULL), 1.5));
    CHECK (s_near (s_num (tasks, "#1", "best_speedup", NULL), 2.0));
    //  the 1-shot example of each task's generations, recorded with its attempts
    CHECK (s_streq (s_str (cJSON_GetArrayItem (tasks, 0), "examples"), "alpha_shot"));
    CHECK (s_streq (s_str (cJSON_GetArrayItem (tasks, 1), "examples"), "beta_shot"));
    const cJSON *excluded = cJSON_GetObjectItem (json, "excluded");
    CHECK (cJSON_GetArraySize (excluded) == 3);
    const cJSON *gamma = cJSON_GetArrayItem (excluded, 0);
    CHECK (s_streq (s_str (gamma, "name"), "gamma") && s_streq (s_str (gamma, "status"), "broken"));
    CHECK (s_streq (s_str (gamma, "reason"), "reference differs from the oracle"));
    CHECK (s_streq (s_str (cJSON_GetArrayItem (excluded, 1), "status"), "unchecked"));
    CHECK (s_streq (s_str (cJSON_GetArrayItem (excluded, 2), "name"), "epsilon"));
    CHECK (s_streq (s_str (cJSON_GetArrayItem (excluded, 2), "status"), "unlisted"));
    cJSON_Delete (json);

    //  The terminal tables say the same
    char out_path [600];
    snprintf (out_path, sizeof out_path, "%s/report.out", s_tmp);
    char *text = s_read (out_path);
    REQUIRE (text);
    CHECK (strstr (text, "Excluded tasks") && strstr (text, "reference differs from the oracle"));
    CHECK (strstr (text, "83.3%") && strstr (text, "50.0%") && strstr (text, "1.43x"));
    CHECK (strstr (text, "cost $0.0760"));
    CHECK (strstr (text, "1-shot example") && strstr (text, "alpha_shot"));
    if (s_verbose)
        printf ("%s", text);
    free (text);
}

static void
test_report_files (void)
{
    char dir [512], path [600], cmd [4096];
    snprintf (dir, sizeof dir, "%s/report", s_tmp);
    //  The three plots parse as SVG documents
    snprintf (cmd, sizeof cmd,
              "python3 -c 'import sys, xml.etree.ElementTree as E\n"
              "for p in sys.argv[1:]:\n"
              "    r = E.parse(p).getroot()\n"
              "    assert r.tag == \"{http://www.w3.org/2000/svg}svg\", (p, r.tag)\n"
              "    assert len(r.findall(\".//{http://www.w3.org/2000/svg}text\")) > 5, p\n' "
              "'%s/pass_at_k.svg' '%s/exec_by_iteration.svg' '%s/speedup_hist.svg'", dir, dir, dir);
    CHECK (system (cmd) == 0);
    //  final.jsonl: one line per lineage of the scanned tasks (alpha, beta,
    //  delta, epsilon) x 3 samples
    snprintf (path, sizeof path, "%s/final.jsonl", dir);
    char *text = s_read (path);
    REQUIRE (text);
    size_t lines = 0;
    bool seen_alpha0 = false, seen_alpha2 = false, seen_beta2 = false, seen_delta1 = false;
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        lines++;
        cJSON *obj = cJSON_Parse (line);
        CHECK (obj);
        if (!obj)
            continue;
        const char *task = s_str (obj, "task");
        double sample = s_num (obj, "sample", NULL);
        CHECK (s_str (obj, "file") && s_str (obj, "predict") && s_num (obj, "difficulty", NULL) >= 0);
        CHECK (!s_streq (task, "gamma"));
        if (s_streq (task, "alpha") && sample == 0) {
            //  its fastest correct attempt
            seen_alpha0 = true;
            CHECK (s_streq (s_str (obj, "attempt_id"), RUN ".alpha.0.1"));
            CHECK (s_streq (s_str (obj, "source"), "best"));
            CHECK (s_streq (s_str (obj, "file"), "alpha.py"));
            CHECK (strstr (s_str (obj, "predict"), "# " RUN ".alpha.0.1\n") != NULL);
            CHECK (cJSON_IsTrue (cJSON_GetObjectItem (obj, "exec_ok")));
            CHECK (s_near (s_num (obj, "speedup", NULL), 1.5));
        }
        if (s_streq (task, "alpha") && sample == 2) {
            //  none passed: its last attempt
            seen_alpha2 = true;
            CHECK (s_streq (s_str (obj, "attempt_id"), RUN ".alpha.2.2"));
            CHECK (s_streq (s_str (obj, "source"), "last"));
            CHECK (cJSON_IsFalse (cJSON_GetObjectItem (obj, "exec_ok")));
        }
        if (s_streq (task, "beta") && sample == 2) {
            seen_beta2 = true;
            CHECK (s_streq (s_str (obj, "attempt_id"), RUN ".beta.2.1"));
        }
        if (s_streq (task, "delta") && sample == 1) {
            //  no attempt at all: an empty prediction
            seen_delta1 = true;
            CHECK (s_streq (s_str (obj, "source"), "none"));
            CHECK (s_streq (s_str (obj, "predict"), ""));
        }
        cJSON_Delete (obj);
    }
    CHECK (lines == 12);
    CHECK (seen_alpha0 && seen_alpha2 && seen_beta2 && seen_delta1);
    free (text);

    //  --json elsewhere, --include-unchecked brings delta in
    snprintf (path, sizeof path, "%s/with-unchecked.json", s_tmp);
    CHECK (s_geak ("report2.out", 0, (const char *[]) { "report", RUN, "--out", dir, "--json", path,
                                                       "--include-unchecked", NULL }));
    cJSON *json = s_read_json (path);
    CHECK (json && s_num (json, "overall", "tasks", NULL) == 3);
    CHECK (s_near (s_num (json, "overall", "pass_at_k", "#0", "exec", NULL), 4.0 / 9.0));
    cJSON_Delete (json);
}

static void
test_report_errors (void)
{
    CHECK (s_geak ("err1.out", 2, (const char *[]) { "report", NULL }));
    CHECK (s_geak ("err2.out", 2, (const char *[]) { "report", RUN, "--bogus", NULL }));
    CHECK (s_geak ("err3.out", 1, (const char *[]) { "report", "no-such-run", NULL }));
    CHECK (s_geak ("err4.out", 1, (const char *[]) { "status", "no-such-run", NULL }));
    //  a run whose config is not usable
    geak_rc_t rc;
    geak_store_t *store = geak_store_new ("127.0.0.1", s_port, NULL, 2000, &rc);
    REQUIRE (store);
    geak_store_set_prefix (store, PREFIX);
    CHECK (geak_store_run_create (store, "tr-bad", "{\"k\": 0}") == GEAK_OK);
    geak_store_destroy (&store);
    CHECK (s_geak ("err5.out", 1, (const char *[]) { "report", "tr-bad", NULL }));
    char path [512];
    snprintf (path, sizeof path, "%s/err5.out.err", s_tmp);
    char *text = s_read (path);
    CHECK (text && strstr (text, "k in 1.."));
    free (text);
}

static void
test_status (void)
{
    //  Every run, oldest first
    REQUIRE (s_geak ("runs.json", 0, (const char *[]) { "status", "--json", NULL }));
    char path [512];
    snprintf (path, sizeof path, "%s/runs.json", s_tmp);
    cJSON *runs = s_read_json (path);
    REQUIRE (cJSON_IsArray (runs));
    CHECK (cJSON_GetArraySize (runs) >= 2);
    CHECK (s_streq (s_str (cJSON_GetArrayItem (runs, 0), "run_id"), "tr0-empty"));
    const cJSON *r1 = cJSON_GetArrayItem (runs, 1);
    CHECK (s_streq (s_str (r1, "run_id"), RUN) && s_streq (s_str (r1, "status"), "done"));
    CHECK (s_num (r1, "counters", "attempts", NULL) == 19);
    CHECK (s_num (r1, "created_ms", NULL) == 1760000000000.0);
    cJSON_Delete (runs);

    //  One run: attempt-level counters, lineages done / total, latest attempts
    REQUIRE (s_geak ("run.json", 0, (const char *[]) { "status", RUN, "--json", "--last", "3", NULL }));
    snprintf (path, sizeof path, "%s/run.json", s_tmp);
    cJSON *json = s_read_json (path);
    REQUIRE (json);
    CHECK (s_num (json, "config", "k", NULL) == 3 && s_num (json, "config", "iterations", NULL) == 3);
    CHECK (s_num (json, "counters", "attempts", NULL) == 19);
    CHECK (s_num (json, "counters", "evaluated", NULL) == 18);
    CHECK (s_num (json, "counters", "call_ok", NULL) == 12);
    CHECK (s_num (json, "counters", "exec_ok", NULL) == 7);
    CHECK (s_num (json, "counters", "tokens_in", NULL) == 19000);
    CHECK (s_num (json, "counters", "tokens_out", NULL) == 3800);
    CHECK (s_num (json, "tasks", "broken", NULL) == 1 && s_num (json, "tasks", "other", NULL) == 1);
    //  scanned: alpha, beta, delta, epsilon x 3 = 12; started 8; done: alpha
    //  x 3, beta s0 and s1 (3 attempts each; beta s2 ends pending)
    CHECK (s_num (json, "lineages", "total", NULL) == 12);
    CHECK (s_num (json, "lineages", "started", NULL) == 8);
    CHECK (s_num (json, "lineages", "done", NULL) == 5);
    const cJSON *latest = cJSON_GetObjectItem (json, "latest");
    CHECK (cJSON_GetArraySize (latest) == 3);
    CHECK (s_streq (s_str (cJSON_GetArrayItem (latest, 0), "attempt_id"), RUN ".epsilon.0.0"));
    CHECK (s_streq (s_str (cJSON_GetArrayItem (latest, 1), "attempt_id"), RUN ".delta.0.0"));
    CHECK (s_streq (s_str (cJSON_GetArrayItem (latest, 1), "verdict"), "pass"));
    CHECK (s_streq (s_str (cJSON_GetArrayItem (latest, 2), "attempt_id"), RUN ".beta.2.1"));
    CHECK (s_streq (s_str (cJSON_GetArrayItem (latest, 2), "verdict"), "pending"));
    cJSON_Delete (json);

    //  The text forms
    REQUIRE (s_geak ("run.txt", 0, (const char *[]) { "status", RUN, NULL }));
    snprintf (path, sizeof path, "%s/run.txt", s_tmp);
    char *text = s_read (path);
    CHECK (text && strstr (text, "lineages: 5/12 done, 8 started"));
    CHECK (text && strstr (text, "attempts 19"));
    if (s_verbose && text)
        printf ("%s", text);
    free (text);
    REQUIRE (s_geak ("runs.txt", 0, (const char *[]) { "status", NULL }));
    snprintf (path, sizeof path, "%s/runs.txt", s_tmp);
    text = s_read (path);
    CHECK (text && strstr (text, "tr0-empty") && strstr (text, RUN "  "));
    free (text);
}

// ---------------------------------------------------------------- main

static bool
s_find_geak (const char *argv0)
{
    const char *build = getenv ("GEAK_BUILD");
    if (build && *build)
        snprintf (s_geak_bin, sizeof s_geak_bin, "%s/bin/geak", build);
    else {
        char self [2048];
        ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
        if (len <= 0)
            snprintf (self, sizeof self, "%s", argv0);
        else
            self [len] = 0;
        char *slash = strrchr (self, '/');
        if (slash)
            *slash = 0;
        snprintf (s_geak_bin, sizeof s_geak_bin, "%s/../bin/geak", self);
    }
    return access (s_geak_bin, X_OK) == 0;
}

typedef struct {
    const char *name;
    void (*fn) (void);
} test_case_t;

static const test_case_t s_cases [] = {
    { "report_summary",   test_report_summary },
    { "report_files",     test_report_files },
    { "report_errors",    test_report_errors },
    { "status",           test_status },
};

int
main (int argc, char *argv [])
{
    s_verbose = testredis_init (argc, argv, "test_report");

    int passed = 0, failed = 0;
    snprintf (s_tmp, sizeof s_tmp, "/tmp/geak-test-report-XXXXXX");
    bool ready = mkdtemp (s_tmp) != NULL;
    if (!ready)
        fprintf (stderr, "cannot make a scratch directory\n");
    if (ready && !s_find_geak (argv [0])) {
        fprintf (stderr, "no geak binary at %s (set GEAK_BUILD)\n", s_geak_bin);
        ready = false;
    }
    if (ready && !s_server_start ()) {
        fprintf (stderr, "redis-server did not answer\n");
        ready = false;
    }
    if (ready && !s_write_run ()) {
        fprintf (stderr, "could not write the synthetic run\n");
        ready = false;
    }
    if (ready) {
        char port [16];
        snprintf (port, sizeof port, "%d", s_port);
        setenv ("GEAK_REDIS_HOST", "127.0.0.1", 1);
        setenv ("GEAK_REDIS_PORT", port, 1);
        setenv ("GEAK_REDIS_PREFIX", PREFIX, 1);
        unsetenv ("GEAK_REDIS_PASSWORD");
        unsetenv ("GEAK_REDIS_PASSWORD_FILE");
        setenv ("GEAK_LOG_LEVEL", s_verbose ? "info" : "error", 1);
    }
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases [0]; i++) {
        const test_case_t *tc = &s_cases [i];
        testcase_failures = ready ? 0 : 1;
        int64_t start = geak_clock_mono_ms ();
        if (ready)
            tc->fn ();
        testcase_done (tc->name, start, &passed, &failed);
    }
    testredis_kill_all ();
    if (failed == 0 && !s_verbose) {
        char cmd [400];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
        if (system (cmd) != 0)
            fprintf (stderr, "could not remove %s\n", s_tmp);
    }
    else
        fprintf (stderr, "outputs kept in %s\n", s_tmp);
    printf ("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
