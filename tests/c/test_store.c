/*  test_store.c - geak_store against a real redis-server that this program
    starts on a free scratch port (and kills at the end, also on failure:
    the server gets PR_SET_PDEATHSIG so it cannot outlive us).

    Usage: test_store [-v]
    Prints one line per case and "N passed, N failed"; exit 1 on failure. */
#include "geak_store.h"
#include "geak_log.h"
#include "testcase.h"
#include "testredis.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <hiredis/hiredis.h>

#define PASSWORD "s3cret-pass-9f2c7e"
#define PREFIX "t:"

static bool s_verbose = false;
static int s_port = 0;                  //  the main scratch server's port
static pid_t s_server = 0;              //  its pid, 0 when not running

// ---------------------------------------------------------------- servers

//  Raw connection for checks behind the store's back
static redisContext *
s_raw (int port)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", port, tv);
    assert (c && !c->err);
    redisSetTimeout (c, tv);
    return c;
}

// ---------------------------------------------------------------- checks


static geak_store_t *
s_store (int timeout_ms)
{
    geak_rc_t rc;
    geak_store_t *store = geak_store_new ("127.0.0.1", s_port, NULL, timeout_ms, &rc);
    if (store)
        geak_store_set_prefix (store, PREFIX);
    else
        fprintf (stderr, "  geak_store_new: %s\n", geak_rc_name (rc));
    return store;
}

// ---------------------------------------------------------------- fixtures

typedef struct {
    Geak__Attempt attempt;
    Geak__Candidate cand;
    Geak__Lineage lin;
    Geak__LlmUsage usage;
    Geak__EvalResult res;
    Geak__LatencyStats ref_stats;
    Geak__LatencyStats cand_stats;
    Geak__DeviceFacts device;
    Geak__InputVerdict v0, v1;
    Geak__InputVerdict *verdicts [2];
    char id [64];
    char code [128];
} fixture_t;

//  An attempt with every field set. status "pending" leaves result unset.
static void
s_fixture (fixture_t *f, const char *id, const char *run, const char *task,
           uint32_t sample, uint32_t iteration, const char *status, bool exec_ok,
           double median_ms)
{
    memset (f, 0, sizeof *f);
    snprintf (f->id, sizeof f->id, "%s", id);
    snprintf (f->code, sizeof f->code, "@triton.jit\ndef k(x):  # %s\n    pass\n", id);
    geak__attempt__init (&f->attempt);
    geak__candidate__init (&f->cand);
    geak__lineage__init (&f->lin);
    geak__llm_usage__init (&f->usage);
    geak__eval_result__init (&f->res);
    geak__latency_stats__init (&f->ref_stats);
    geak__latency_stats__init (&f->cand_stats);
    geak__device_facts__init (&f->device);
    geak__input_verdict__init (&f->v0);
    geak__input_verdict__init (&f->v1);

    f->lin.run_id = (char *) run;
    f->lin.task = (char *) task;
    f->lin.sample = sample;
    f->lin.iteration = iteration;
    f->lin.parent_attempt = iteration? "parent-0": "";
    f->lin.role = iteration? GEAK__ROLE__OPTIMIZER: GEAK__ROLE__GENERATOR;
    f->lin.implementation = "llm";

    f->usage.provider = "mock";
    f->usage.model = "mock-1";
    f->usage.tokens_in = 1000;
    f->usage.tokens_out = 250;
    f->usage.latency_ms = 812.5;
    f->usage.retries = 1;

    f->cand.attempt_id = f->id;
    f->cand.code = f->code;
    f->cand.lineage = &f->lin;
    f->cand.usage = &f->usage;
    f->cand.prompt_ref = "prompt-ref";
    f->cand.reply_ref = "reply-ref";
    f->cand.diagnosis = "none";

    f->attempt.attempt_id = f->id;
    f->attempt.candidate = &f->cand;
    f->attempt.created_ms = 1700000000123;
    f->attempt.status = (char *) status;
    if (strcmp (status, "pending") == 0)
        return;

    f->ref_stats.n = 10;
    f->ref_stats.median_ms = 2.0;
    f->ref_stats.mean_ms = 2.1;
    f->ref_stats.min_ms = 1.9;
    f->ref_stats.max_ms = 2.5;
    f->ref_stats.stdev_ms = 0.1;
    f->ref_stats.p10_ms = 1.95;
    f->ref_stats.p90_ms = 2.3;
    f->cand_stats = f->ref_stats;
    f->cand_stats.median_ms = median_ms;

    f->device.vendor = "nvidia";
    f->device.name = "NVIDIA H100 80GB HBM3";
    f->device.arch = "sm_90";
    f->device.compute_units = 132;
    f->device.memory_bytes = 85899345920ULL;
    f->device.clock_mhz = 1980;
    f->device.l2_bytes = 52428800;
    f->device.warp_size = 32;
    f->device.runtime = "cuda 12.4";

    f->v0.index = 0;
    f->v0.label = "fp16 4096x4097";
    f->v0.ok = exec_ok;
    f->v0.error_class = exec_ok? GEAK__ERROR_CLASS__PASS: GEAK__ERROR_CLASS__MISMATCH;
    f->v0.max_abs_err = 1e-3;
    f->v0.max_rel_err = 2e-3;
    f->v1 = f->v0;
    f->v1.index = 1;
    f->v1.label = "fp32 1x1";
    f->v1.ok = true;
    f->v1.error_class = GEAK__ERROR_CLASS__PASS;
    f->verdicts [0] = &f->v0;
    f->verdicts [1] = &f->v1;

    f->res.attempt_id = f->id;
    f->res.call_ok = true;
    f->res.exec_ok = exec_ok;
    f->res.error_class = exec_ok? GEAK__ERROR_CLASS__PASS: GEAK__ERROR_CLASS__MISMATCH;
    f->res.error_message = exec_ok? "": "max_abs_err 0.5 > 0.01";
    f->res.trace = "";
    f->res.n_verdicts = 2;
    f->res.verdicts = f->verdicts;
    f->res.reference = &f->ref_stats;
    if (median_ms > 0) {
        f->res.candidate = &f->cand_stats;
        f->res.speedup = 2.0 / median_ms;
        f->res.timed = true;
    }
    f->res.gbps = 1234.5;
    f->res.tflops = 12.25;
    f->res.device = &f->device;
    f->res.eval_ms = 5321.0;
    f->res.worker = "evaluator-1";
    f->attempt.result = &f->res;
    f->attempt.finished_ms = 1700000009999;
}

static bool
s_same_packed (const Geak__Attempt *a, const Geak__Attempt *b)
{
    size_t na = geak__attempt__get_packed_size (a);
    size_t nb = geak__attempt__get_packed_size (b);
    if (na != nb)
        return false;
    uint8_t *pa = malloc (na + 1), *pb = malloc (nb + 1);
    geak__attempt__pack (a, pa);
    geak__attempt__pack (b, pb);
    bool same = memcmp (pa, pb, na) == 0;
    free (pa);
    free (pb);
    return same;
}

static int64_t
s_counter (geak_store_t *store, const char *run, const char *name)
{
    geak_store_counters_t *counters = NULL;
    if (geak_store_run_counters (store, run, &counters) != GEAK_OK)
        return -999;
    int64_t value = geak_store_counters_get (counters, name, 0);
    geak_store_counters_destroy (&counters);
    return value;
}

static size_t
s_lineage_len (geak_store_t *store, const char *run, const char *task, uint32_t sample)
{
    geak_store_list_t *list = NULL;
    if (geak_store_lineage (store, run, task, sample, &list) != GEAK_OK)
        return 999;
    size_t n = list->size;
    geak_store_list_destroy (&list);
    return n;
}

//  HGET behind the store's back; returns malloc'd copy or NULL
static char *
s_raw_hget (const char *key, const char *field)
{
    redisContext *c = s_raw (s_port);
    redisReply *r = redisCommand (c, "HGET %s %s", key, field);
    char *value = NULL;
    if (r && r->type == REDIS_REPLY_STRING)
        value = strndup (r->str, r->len);
    if (r)
        freeReplyObject (r);
    redisFree (c);
    return value;
}

static bool
s_raw_field_is (const char *key, const char *field, const char *expected)
{
    char *value = s_raw_hget (key, field);
    bool same = value && strcmp (value, expected) == 0;
    if (!same)
        fprintf (stderr, "  %s %s = '%s', expected '%s'\n", key, field,
                 value? value: "(nil)", expected);
    free (value);
    return same;
}

// ---------------------------------------------------------------- cases

static void
test_selftest (void)
{
    CHECK (geak_store_test (s_verbose) == 0);
}

static void
test_connect_refused (void)
{
    geak_rc_t rc = GEAK_OK;
    int port = testredis_free_port ();
    geak_store_t *store = geak_store_new ("127.0.0.1", port, NULL, 500, &rc);
    CHECK (store == NULL);
    CHECK (rc == GEAK_E_STORE_CONN);
    geak_store_destroy (&store);
}

static void
test_ping_and_prefix (void)
{
    geak_store_t *store = s_store (1000);
    REQUIRE (store);
    CHECK (geak_store_ping (store) == GEAK_OK);
    CHECK (strcmp (geak_store_prefix (store), PREFIX) == 0);
    CHECK (geak_store_blob_put (store, "prefixed", "x", 1) == GEAK_OK);
    redisContext *c = s_raw (s_port);
    redisReply *r = redisCommand (c, "EXISTS " PREFIX "blob:prefixed");
    CHECK (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    if (r)
        freeReplyObject (r);
    redisFree (c);
    geak_store_destroy (&store);
    geak_store_destroy (&store);
    CHECK (store == NULL);
}

static void
test_attempt_roundtrip (void)
{
    geak_store_t *store = s_store (1000);
    REQUIRE (store);
    //  Prompt and reply blobs referenced by the candidate
    const char *prompt = "Write a Triton softmax kernel.\n";
    const char *reply = "```python\n@triton.jit\n...\n```\n";
    char prompt_ref [GEAK_STORE_REF_SIZE], reply_ref [GEAK_STORE_REF_SIZE];
    CHECK (geak_store_blob_put_content (store, prompt, strlen (prompt), prompt_ref) == GEAK_OK);
    CHECK (geak_store_blob_put_content (store, reply, strlen (reply), reply_ref) == GEAK_OK);
    CHECK (strlen (prompt_ref) == 64);

    static fixture_t f;
    s_fixture (&f, "att-rt-1", "run-rt", "softmax", 2, 1, "evaluated", true, 0.8);
    f.cand.prompt_ref = prompt_ref;
    f.cand.reply_ref = reply_ref;
    CHECK (geak_store_attempt_put (store, &f.attempt) == GEAK_OK);

    Geak__Attempt *got = NULL;
    CHECK (geak_store_attempt_get (store, "att-rt-1", &got) == GEAK_OK);
    REQUIRE (got);
    CHECK (s_same_packed (&f.attempt, got));
    CHECK (strcmp (got->attempt_id, "att-rt-1") == 0);
    CHECK (strcmp (got->status, "evaluated") == 0);
    CHECK (got->created_ms == 1700000000123);
    CHECK (got->finished_ms == 1700000009999);
    REQUIRE (got->candidate && got->candidate->lineage && got->candidate->usage);
    CHECK (strcmp (got->candidate->code, f.code) == 0);
    CHECK (strcmp (got->candidate->lineage->run_id, "run-rt") == 0);
    CHECK (got->candidate->lineage->sample == 2);
    CHECK (got->candidate->lineage->iteration == 1);
    CHECK (got->candidate->lineage->role == GEAK__ROLE__OPTIMIZER);
    CHECK (got->candidate->usage->tokens_out == 250);
    REQUIRE (got->result && got->result->candidate && got->result->device);
    CHECK (got->result->candidate->median_ms == 0.8);
    CHECK (got->result->n_verdicts == 2);
    CHECK (strcmp (got->result->device->arch, "sm_90") == 0);

    //  The blobs behind the refs
    void *data = NULL;
    size_t size = 0;
    CHECK (geak_store_blob_get (store, got->candidate->prompt_ref, &data, &size) == GEAK_OK);
    CHECK (size == strlen (prompt) && data && memcmp (data, prompt, size) == 0);
    free (data);
    CHECK (geak_store_blob_get (store, got->candidate->reply_ref, &data, &size) == GEAK_OK);
    CHECK (size == strlen (reply) && data && strcmp (data, reply) == 0);
    free (data);
    geak__attempt__free_unpacked (got, NULL);

    //  Readable fields in the hash
    const char *key = PREFIX "attempt:att-rt-1";
    CHECK (s_raw_field_is (key, "run", "run-rt"));
    CHECK (s_raw_field_is (key, "task", "softmax"));
    CHECK (s_raw_field_is (key, "sample", "2"));
    CHECK (s_raw_field_is (key, "iteration", "1"));
    CHECK (s_raw_field_is (key, "role", "optimizer"));
    CHECK (s_raw_field_is (key, "implementation", "llm"));
    CHECK (s_raw_field_is (key, "parent", "parent-0"));
    CHECK (s_raw_field_is (key, "status", "evaluated"));
    CHECK (s_raw_field_is (key, "error_class", "pass"));
    CHECK (s_raw_field_is (key, "call_ok", "1"));
    CHECK (s_raw_field_is (key, "exec_ok", "1"));
    CHECK (s_raw_field_is (key, "latency_ms", "0.8"));
    CHECK (s_raw_field_is (key, "speedup", "2.5"));
    CHECK (s_raw_field_is (key, "tokens_in", "1000"));
    CHECK (s_raw_field_is (key, "tokens_out", "250"));
    CHECK (s_raw_field_is (key, "created_ms", "1700000000123"));
    CHECK (s_raw_field_is (key, "finished_ms", "1700000009999"));

    //  Missing attempt, bad id
    CHECK (geak_store_attempt_get (store, "no-such-attempt", &got) == GEAK_E_NOT_FOUND);
    CHECK (got == NULL);
    CHECK (geak_store_attempt_get (store, "bad id", &got) == GEAK_E_INVALID);
    geak_store_destroy (&store);
}

static void
test_idempotency (void)
{
    geak_store_t *store = s_store (1000);
    REQUIRE (store);
    const char *run = "run-idem";
    static fixture_t pending, evaluated;
    s_fixture (&pending, "att-idem-1", run, "add", 0, 0, "pending", false, 0);
    s_fixture (&evaluated, "att-idem-1", run, "add", 0, 0, "evaluated", true, 1.5);

    CHECK (geak_store_attempt_put (store, &pending.attempt) == GEAK_OK);
    CHECK (geak_store_attempt_put (store, &pending.attempt) == GEAK_E_EXISTS);
    CHECK (s_counter (store, run, "attempts") == 1);
    CHECK (s_counter (store, run, "evaluated") == 0);
    CHECK (s_counter (store, run, "tokens_in") == 1000);
    CHECK (s_counter (store, run, "tokens_out") == 250);
    CHECK (s_lineage_len (store, run, "add", 0) == 1);

    //  pending -> evaluated: counted once
    CHECK (geak_store_attempt_put (store, &evaluated.attempt) == GEAK_OK);
    CHECK (geak_store_attempt_put (store, &evaluated.attempt) == GEAK_E_EXISTS);
    CHECK (s_counter (store, run, "attempts") == 1);
    CHECK (s_counter (store, run, "evaluated") == 1);
    CHECK (s_counter (store, run, "call_ok") == 1);
    CHECK (s_counter (store, run, "exec_ok") == 1);
    CHECK (s_counter (store, run, "tokens_in") == 1000);
    CHECK (s_counter (store, run, "tokens_out") == 250);
    CHECK (s_lineage_len (store, run, "add", 0) == 1);

    //  evaluated never regresses to pending
    CHECK (geak_store_attempt_put (store, &pending.attempt) == GEAK_E_EXISTS);
    Geak__Attempt *got = NULL;
    CHECK (geak_store_attempt_get (store, "att-idem-1", &got) == GEAK_OK);
    REQUIRE (got);
    CHECK (strcmp (got->status, "evaluated") == 0);
    CHECK (got->result && got->result->exec_ok);
    geak__attempt__free_unpacked (got, NULL);
    CHECK (s_counter (store, run, "evaluated") == 1);

    //  Joined the history exactly once
    Geak__Attempt **hist = NULL;
    size_t n = 0;
    CHECK (geak_store_history (store, run, "add", 0, &hist, &n) == GEAK_OK);
    CHECK (n == 1);
    geak_store_attempts_free (&hist, n);

    //  A second attempt in the same lineage, put directly as evaluated but
    //  incorrect: counted, appended, not in history
    static fixture_t wrong;
    s_fixture (&wrong, "att-idem-2", run, "add", 0, 1, "evaluated", false, 0.9);
    CHECK (geak_store_attempt_put (store, &wrong.attempt) == GEAK_OK);
    CHECK (geak_store_attempt_put (store, &wrong.attempt) == GEAK_E_EXISTS);
    CHECK (s_counter (store, run, "attempts") == 2);
    CHECK (s_counter (store, run, "evaluated") == 2);
    CHECK (s_counter (store, run, "call_ok") == 2);
    CHECK (s_counter (store, run, "exec_ok") == 1);
    CHECK (s_counter (store, run, "tokens_in") == 2000);
    geak_store_list_t *lineage = NULL;
    CHECK (geak_store_lineage (store, run, "add", 0, &lineage) == GEAK_OK);
    REQUIRE (lineage);
    CHECK (lineage->size == 2);
    if (lineage->size == 2) {
        CHECK (strcmp (lineage->items [0], "att-idem-1") == 0);
        CHECK (strcmp (lineage->items [1], "att-idem-2") == 0);
    }
    geak_store_list_destroy (&lineage);
    CHECK (geak_store_history (store, run, "add", 0, &hist, &n) == GEAK_OK);
    CHECK (n == 1);
    geak_store_attempts_free (&hist, n);

    //  pending -> failed is a transition too; failed -> evaluated is not
    static fixture_t p3, failed3, eval3;
    s_fixture (&p3, "att-idem-3", run, "add", 1, 0, "pending", false, 0);
    s_fixture (&failed3, "att-idem-3", run, "add", 1, 0, "failed", false, 0);
    s_fixture (&eval3, "att-idem-3", run, "add", 1, 0, "evaluated", true, 1.0);
    CHECK (geak_store_attempt_put (store, &p3.attempt) == GEAK_OK);
    CHECK (geak_store_attempt_put (store, &failed3.attempt) == GEAK_OK);
    CHECK (geak_store_attempt_put (store, &eval3.attempt) == GEAK_E_EXISTS);
    CHECK (s_counter (store, run, "failed") == 1);
    CHECK (s_counter (store, run, "attempts") == 3);
    CHECK (s_counter (store, run, "evaluated") == 2);

    //  The tasks of attempts join the run's task set
    geak_store_list_t *tasks = NULL;
    CHECK (geak_store_run_tasks (store, run, &tasks) == GEAK_OK);
    REQUIRE (tasks);
    CHECK (tasks->size == 1 && strcmp (tasks->items [0], "add") == 0);
    geak_store_list_destroy (&tasks);

    //  Invalid status refused
    pending.attempt.status = "done";
    CHECK (geak_store_attempt_put (store, &pending.attempt) == GEAK_E_INVALID);
    geak_store_destroy (&store);
}

static void
test_history (void)
{
    geak_store_t *store = s_store (1000);
    REQUIRE (store);
    const char *run = "run-hist";
    static fixture_t f [8];
    double latencies [5] = { 3.0, 1.0, 5.0, 2.0, 4.0 };
    char id [32];
    for (int i = 0; i < 5; i++) {
        snprintf (id, sizeof id, "h-%d", i);
        s_fixture (&f [i], id, run, "matmul", 0, (uint32_t) i, "evaluated", true, latencies [i]);
        CHECK (geak_store_attempt_put (store, &f [i].attempt) == GEAK_OK);
    }
    //  Incorrect, untimed, and pending ones stay out; another task too
    s_fixture (&f [5], "h-wrong", run, "matmul", 0, 5, "evaluated", false, 0.5);
    s_fixture (&f [6], "h-untimed", run, "matmul", 0, 6, "evaluated", true, 0.0);
    s_fixture (&f [7], "h-other", run, "softmax", 0, 0, "evaluated", true, 0.1);
    for (int i = 5; i < 8; i++)
        CHECK (geak_store_attempt_put (store, &f [i].attempt) == GEAK_OK);

    Geak__Attempt **hist = NULL;
    size_t n = 0;
    CHECK (geak_store_history (store, run, "matmul", 3, &hist, &n) == GEAK_OK);
    CHECK (n == 3);
    if (n == 3 && hist) {
        //  The 3 fastest (1, 2, 3 ms), slowest first
        CHECK (hist [0]->result->candidate->median_ms == 3.0);
        CHECK (hist [1]->result->candidate->median_ms == 2.0);
        CHECK (hist [2]->result->candidate->median_ms == 1.0);
        CHECK (strcmp (hist [2]->attempt_id, "h-1") == 0);
    }
    geak_store_attempts_free (&hist, n);
    CHECK (hist == NULL);

    CHECK (geak_store_history (store, run, "matmul", 0, &hist, &n) == GEAK_OK);
    CHECK (n == 5);
    for (size_t i = 0; hist && i + 1 < n; i++)
        CHECK (hist [i]->result->candidate->median_ms > hist [i + 1]->result->candidate->median_ms);
    geak_store_attempts_free (&hist, n);

    CHECK (geak_store_history (store, run, "matmul", 100, &hist, &n) == GEAK_OK);
    CHECK (n == 5);
    geak_store_attempts_free (&hist, n);

    CHECK (geak_store_history (store, run, "empty-task", 5, &hist, &n) == GEAK_OK);
    CHECK (n == 0 && hist == NULL);
    CHECK (geak_store_history (store, run, "a:b", 5, &hist, &n) == GEAK_E_INVALID);
    geak_store_destroy (&store);
}

static void
test_runs_tasks_counters (void)
{
    geak_store_t *store = s_store (1000);
    REQUIRE (store);
    CHECK (geak_store_run_create (store, "run-a", "{\"k\":2}") == GEAK_OK);
    CHECK (geak_store_run_create (store, "run-a", "{\"k\":99}") == GEAK_E_EXISTS);
    CHECK (geak_store_run_create (store, "run-b", "") == GEAK_OK);
    char *config = NULL, *status = NULL;
    CHECK (geak_store_run_get (store, "run-a", &config, &status) == GEAK_OK);
    CHECK (config && strcmp (config, "{\"k\":2}") == 0);
    CHECK (status && strcmp (status, "running") == 0);
    free (config);
    free (status);
    config = status = NULL;
    CHECK (geak_store_run_set_status (store, "run-a", "done") == GEAK_OK);
    CHECK (geak_store_run_get (store, "run-a", NULL, &status) == GEAK_OK);
    CHECK (status && strcmp (status, "done") == 0);
    free (status);
    CHECK (geak_store_run_set_status (store, "run-missing", "done") == GEAK_E_NOT_FOUND);
    CHECK (geak_store_run_get (store, "run-missing", &config, &status) == GEAK_E_NOT_FOUND);
    CHECK (geak_store_run_get (store, NULL, &config, &status) == GEAK_E_INVALID);

    geak_store_list_t *runs = NULL;
    CHECK (geak_store_runs_list (store, &runs) == GEAK_OK);
    REQUIRE (runs);
    //  Other cases created runs too; run-a must come before run-b
    int at_a = -1, at_b = -1;
    for (size_t i = 0; i < runs->size; i++) {
        if (strcmp (runs->items [i], "run-a") == 0)
            at_a = (int) i;
        if (strcmp (runs->items [i], "run-b") == 0)
            at_b = (int) i;
    }
    CHECK (at_a >= 0 && at_b > at_a);
    geak_store_list_destroy (&runs);

    int64_t value = 0;
    CHECK (geak_store_run_counter_incr (store, "run-a", "llm_calls", 5, &value) == GEAK_OK);
    CHECK (value == 5);
    CHECK (geak_store_run_counter_incr (store, "run-a", "llm_calls", -2, &value) == GEAK_OK);
    CHECK (value == 3);
    CHECK (geak_store_run_counter_incr (store, "run-a", "budget_ms", 100000, NULL) == GEAK_OK);
    CHECK (geak_store_run_counter_incr (store, "run-a", "big", INT64_C (4000000000000), &value) == GEAK_OK);
    CHECK (value == INT64_C (4000000000000));
    geak_store_counters_t *counters = NULL;
    CHECK (geak_store_run_counters (store, "run-a", &counters) == GEAK_OK);
    REQUIRE (counters);
    CHECK (counters->size == 3);
    if (counters->size == 3) {
        CHECK (strcmp (counters->names [0], "big") == 0);
        CHECK (strcmp (counters->names [1], "budget_ms") == 0);
        CHECK (strcmp (counters->names [2], "llm_calls") == 0);
    }
    CHECK (geak_store_counters_get (counters, "llm_calls", -1) == 3);
    CHECK (geak_store_counters_get (counters, "budget_ms", -1) == 100000);
    geak_store_counters_destroy (&counters);
    CHECK (geak_store_run_counters (store, "run-b", &counters) == GEAK_OK);
    CHECK (counters && counters->size == 0);
    geak_store_counters_destroy (&counters);

    CHECK (geak_store_run_add_task (store, "run-a", "softmax") == GEAK_OK);
    CHECK (geak_store_run_add_task (store, "run-a", "add") == GEAK_OK);
    CHECK (geak_store_run_add_task (store, "run-a", "softmax") == GEAK_OK);
    CHECK (geak_store_run_add_task (store, "run-a", "bad task") == GEAK_E_INVALID);
    geak_store_list_t *tasks = NULL;
    CHECK (geak_store_run_tasks (store, "run-a", &tasks) == GEAK_OK);
    REQUIRE (tasks);
    CHECK (tasks->size == 2);
    if (tasks->size == 2) {
        CHECK (strcmp (tasks->items [0], "add") == 0);
        CHECK (strcmp (tasks->items [1], "softmax") == 0);
    }
    geak_store_list_destroy (&tasks);
    CHECK (geak_store_run_tasks (store, "run-b", &tasks) == GEAK_OK);
    CHECK (tasks && tasks->size == 0);
    geak_store_list_destroy (&tasks);

    //  A Redis error reply maps to GEAK_E_STORE: counters key made a string
    redisContext *c = s_raw (s_port);
    redisReply *r = redisCommand (c, "SET " PREFIX "run:run-x:counters notahash");
    if (r)
        freeReplyObject (r);
    redisFree (c);
    CHECK (geak_store_run_counter_incr (store, "run-x", "n", 1, NULL) == GEAK_E_STORE);
    CHECK (strstr (geak_store_last_error (store), "WRONGTYPE") != NULL);
    CHECK (geak_store_ping (store) == GEAK_OK);
    geak_store_destroy (&store);
}

static void
test_blob_binary (void)
{
    geak_store_t *store = s_store (1000);
    REQUIRE (store);
    size_t size = 100000;
    uint8_t *data = malloc (size);
    for (size_t i = 0; i < size; i++)
        data [i] = (uint8_t) ((i * 7919) >> 3);
    data [0] = 0;
    data [1] = 0;
    data [size / 2] = 0;
    data [size - 1] = 0;
    CHECK (geak_store_blob_put (store, "bin-1", data, size) == GEAK_OK);
    void *got = NULL;
    size_t got_size = 0;
    CHECK (geak_store_blob_get (store, "bin-1", &got, &got_size) == GEAK_OK);
    CHECK (got_size == size && got && memcmp (got, data, size) == 0);
    CHECK (got && ((uint8_t *) got) [got_size] == 0);
    free (got);

    //  Content-addressed: same ref twice, different data -> different ref
    char ref1 [GEAK_STORE_REF_SIZE], ref2 [GEAK_STORE_REF_SIZE], ref3 [GEAK_STORE_REF_SIZE];
    CHECK (geak_store_blob_put_content (store, data, size, ref1) == GEAK_OK);
    CHECK (geak_store_blob_put_content (store, data, size, ref2) == GEAK_OK);
    CHECK (strcmp (ref1, ref2) == 0);
    data [10] ^= 0xff;
    CHECK (geak_store_blob_put_content (store, data, size, ref3) == GEAK_OK);
    CHECK (strcmp (ref1, ref3) != 0);
    CHECK (geak_store_blob_get (store, ref3, &got, &got_size) == GEAK_OK);
    CHECK (got_size == size && got && memcmp (got, data, size) == 0);
    free (got);

    //  Empty blob, missing blob
    CHECK (geak_store_blob_put (store, "empty", "", 0) == GEAK_OK);
    CHECK (geak_store_blob_get (store, "empty", &got, &got_size) == GEAK_OK);
    CHECK (got_size == 0 && got && ((char *) got) [0] == 0);
    free (got);
    CHECK (geak_store_blob_get (store, "no-such-blob", &got, &got_size) == GEAK_E_NOT_FOUND);
    CHECK (got == NULL && got_size == 0);
    free (data);
    geak_store_destroy (&store);
}

static void
test_malformed (void)
{
    geak_store_t *store = s_store (1000);
    REQUIRE (store);
    redisContext *c = s_raw (s_port);
    const char *garbage = "\xff\xff\xff\xff\x0f\x00garbage";
    redisReply *r = redisCommand (c, "HSET " PREFIX "attempt:bad-1 pb %b", garbage, (size_t) 13);
    if (r)
        freeReplyObject (r);
    //  Valid protobuf, but of another attempt id
    static fixture_t f;
    s_fixture (&f, "other-id", "run-m", "t", 0, 0, "pending", false, 0);
    size_t size = geak__attempt__get_packed_size (&f.attempt);
    uint8_t *packed = malloc (size);
    geak__attempt__pack (&f.attempt, packed);
    r = redisCommand (c, "HSET " PREFIX "attempt:bad-2 pb %b", packed, size);
    if (r)
        freeReplyObject (r);
    free (packed);
    r = redisCommand (c, "HSET " PREFIX "attempt:bad-3 pb %b", "", (size_t) 0);
    if (r)
        freeReplyObject (r);
    //  Wrong type entirely
    r = redisCommand (c, "SET " PREFIX "attempt:bad-4 string");
    if (r)
        freeReplyObject (r);
    redisFree (c);

    Geak__Attempt *got = NULL;
    CHECK (geak_store_attempt_get (store, "bad-1", &got) == GEAK_E_MALFORMED);
    CHECK (got == NULL);
    CHECK (geak_store_attempt_get (store, "bad-2", &got) == GEAK_E_MALFORMED);
    CHECK (got == NULL);
    CHECK (geak_store_attempt_get (store, "bad-3", &got) == GEAK_E_MALFORMED);
    CHECK (got == NULL);
    CHECK (geak_store_attempt_get (store, "bad-4", &got) == GEAK_E_STORE);
    CHECK (got == NULL);
    //  Putting on top of a corrupt record: the Lua script refuses cleanly
    s_fixture (&f, "bad-4", "run-m", "t", 0, 0, "pending", false, 0);
    CHECK (geak_store_attempt_put (store, &f.attempt) == GEAK_E_STORE);
    CHECK (geak_store_ping (store) == GEAK_OK);
    geak_store_destroy (&store);
}

//  A command that times out (server busy in DEBUG SLEEP) is re-issued on a
//  new connection once the server answers again.
static void
test_timeout_reissue (void)
{
    geak_store_t *store = s_store (200);
    REQUIRE (store);
    geak_store_set_backoff (store, 20, 100, 10000);
    CHECK (geak_store_ping (store) == GEAK_OK);
    uint64_t before = geak_store_reconnects (store);

    //  CLIENT PAUSE answers once the pause is in force: every command after it
    //  waits 800 ms, longer than the store's 200 ms timeout, however loaded the
    //  machine is (a DEBUG SLEEP sent just before could still run second)
    redisContext *blocker = s_raw (s_port);
    redisReply *paused = redisCommand (blocker, "CLIENT PAUSE 800 ALL");
    REQUIRE (paused && paused->type == REDIS_REPLY_STATUS);
    freeReplyObject (paused);
    CHECK (geak_store_blob_put (store, "after-sleep", "v1", 2) == GEAK_OK);
    CHECK (geak_store_reconnects (store) > before);
    void *data = NULL;
    size_t size = 0;
    CHECK (geak_store_blob_get (store, "after-sleep", &data, &size) == GEAK_OK);
    CHECK (size == 2 && data && memcmp (data, "v1", 2) == 0);
    free (data);

    //  A non-idempotent increment whose outcome is unknown is reported,
    //  not re-issued; the connection is usable afterwards
    paused = redisCommand (blocker, "CLIENT PAUSE 800 ALL");
    REQUIRE (paused && paused->type == REDIS_REPLY_STATUS);
    freeReplyObject (paused);
    int64_t value = -1;
    CHECK (geak_store_run_counter_incr (store, "run-timeout", "n", 1, &value) == GEAK_E_STORE_CONN);
    CHECK (value == -1);
    redisFree (blocker);
    CHECK (geak_store_run_counter_incr (store, "run-timeout", "n", 1, &value) == GEAK_OK);
    CHECK (value == 1 || value == 2);
    geak_store_destroy (&store);
}

//  kill -9 the server, start it again on the same port: the next command
//  reconnects (backoff covers the start-up) and succeeds.
static void
test_restart (void)
{
    geak_store_t *store = s_store (500);
    REQUIRE (store);
    geak_store_set_backoff (store, 10, 200, 10000);
    CHECK (geak_store_blob_put (store, "before", "b", 1) == GEAK_OK);
    uint64_t before = geak_store_reconnects (store);

    testredis_kill (s_server);
    s_server = testredis_start (s_port, NULL, s_verbose);      //  not waited for
    CHECK (geak_store_blob_put (store, "after-restart", "a", 1) == GEAK_OK);
    CHECK (geak_store_reconnects (store) == before + 1);
    void *data = NULL;
    size_t size = 0;
    CHECK (geak_store_blob_get (store, "after-restart", &data, &size) == GEAK_OK);
    CHECK (size == 1 && data && memcmp (data, "a", 1) == 0);
    free (data);
    //  No persistence in the test server: data from before is gone
    CHECK (geak_store_blob_get (store, "before", &data, &size) == GEAK_E_NOT_FOUND);

    //  The attempt script is reloaded on the new server (NOSCRIPT path)
    static fixture_t f;
    s_fixture (&f, "att-restart", "run-restart", "t", 0, 0, "pending", false, 0);
    CHECK (geak_store_attempt_put (store, &f.attempt) == GEAK_OK);
    testredis_kill (s_server);
    s_server = testredis_start (s_port, NULL, s_verbose);
    CHECK (geak_store_attempt_put (store, &f.attempt) == GEAK_OK);     //  new, empty server
    CHECK (geak_store_attempt_put (store, &f.attempt) == GEAK_E_EXISTS);
    CHECK (s_counter (store, "run-restart", "attempts") == 1);
    geak_store_destroy (&store);
}

//  Server down longer than max_wait: GEAK_E_STORE_CONN within the bound.
static void
test_down_too_long (void)
{
    geak_store_t *store = s_store (200);
    REQUIRE (store);
    geak_store_set_backoff (store, 10, 50, 300);
    CHECK (geak_store_ping (store) == GEAK_OK);
    testredis_kill (s_server);
    s_server = 0;

    int64_t start = geak_clock_mono_ms ();
    CHECK (geak_store_blob_put (store, "lost", "x", 1) == GEAK_E_STORE_CONN);
    int64_t elapsed = geak_clock_mono_ms () - start;
    CHECK (elapsed >= 250);
    CHECK (elapsed < 300 + 2 * 200 + 1000);
    if (s_verbose)
        printf ("  down: gave up after %lld ms\n", (long long) elapsed);

    static fixture_t f;
    s_fixture (&f, "att-down", "run-down", "t", 0, 0, "pending", false, 0);
    CHECK (geak_store_attempt_put (store, &f.attempt) == GEAK_E_STORE_CONN);
    CHECK (geak_store_run_counter_incr (store, "run-down", "n", 1, NULL) == GEAK_E_STORE_CONN);
    Geak__Attempt *got = NULL;
    CHECK (geak_store_attempt_get (store, "att-down", &got) == GEAK_E_STORE_CONN);
    CHECK (got == NULL);
    CHECK (geak_store_ping (store) == GEAK_E_STORE_CONN);

    //  Back again: the same store object recovers
    s_server = testredis_start (s_port, NULL, s_verbose);
    CHECK (testredis_wait (s_server, s_port, NULL, 10000));
    CHECK (geak_store_ping (store) == GEAK_OK);
    CHECK (geak_store_attempt_put (store, &f.attempt) == GEAK_OK);
    geak_store_destroy (&store);
}

static void
test_auth (void)
{
    int port = testredis_free_port ();
    pid_t pid = testredis_start (port, PASSWORD, s_verbose);
    REQUIRE (testredis_wait (pid, port, PASSWORD, 10000));

    //  Capture every log line to prove the password never shows
    char *log_text = NULL;
    size_t log_size = 0;
    FILE *log = open_memstream (&log_text, &log_size);
    assert (log);
    geak_log_set_stream (log);
    geak_log_level_t saved = (geak_log_level_t) geak_log_level_current;
    geak_log_set_level (GEAK_LOG_DEBUG);

    geak_rc_t rc = GEAK_OK;
    geak_store_t *store = geak_store_new ("127.0.0.1", port, PASSWORD, 1000, &rc);
    CHECK (store && rc == GEAK_OK);
    if (store) {
        geak_store_set_backoff (store, 10, 100, 5000);
        CHECK (geak_store_ping (store) == GEAK_OK);
        CHECK (geak_store_blob_put (store, "auth-blob", "ok", 2) == GEAK_OK);
        //  Dropped connections re-AUTH: kick ourselves off the server
        redisContext *c = s_raw (port);
        redisReply *r = redisCommand (c, "AUTH %s", PASSWORD);
        if (r)
            freeReplyObject (r);
        r = redisCommand (c, "CLIENT KILL TYPE normal SKIPME yes");
        CHECK (r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1);
        if (r)
            freeReplyObject (r);
        redisFree (c);
        void *data = NULL;
        size_t size = 0;
        CHECK (geak_store_blob_get (store, "auth-blob", &data, &size) == GEAK_OK);
        CHECK (size == 2 && data && memcmp (data, "ok", 2) == 0);
        free (data);
        CHECK (geak_store_reconnects (store) >= 1);
    }
    geak_store_destroy (&store);

    rc = GEAK_OK;
    store = geak_store_new ("127.0.0.1", port, NULL, 1000, &rc);
    CHECK (store == NULL && rc == GEAK_E_STORE);
    geak_store_destroy (&store);
    rc = GEAK_OK;
    store = geak_store_new ("127.0.0.1", port, "wrong-password", 1000, &rc);
    CHECK (store == NULL && rc == GEAK_E_STORE);
    geak_store_destroy (&store);

    //  From the environment, password in a file
    char path [] = "/tmp/geak-test-pass-XXXXXX";
    int fd = mkstemp (path);
    REQUIRE (fd >= 0);
    CHECK (write (fd, PASSWORD "\n", strlen (PASSWORD) + 1) == (ssize_t) strlen (PASSWORD) + 1);
    close (fd);
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", port);
    setenv ("GEAK_REDIS_HOST", "127.0.0.1", 1);
    setenv ("GEAK_REDIS_PORT", port_text, 1);
    unsetenv ("GEAK_REDIS_PASSWORD");
    setenv ("GEAK_REDIS_PASSWORD_FILE", path, 1);
    setenv ("GEAK_REDIS_PREFIX", "envtest:", 1);
    store = geak_store_new_from_env (&rc);
    CHECK (store && rc == GEAK_OK);
    if (store) {
        CHECK (strcmp (geak_store_prefix (store), "envtest:") == 0);
        CHECK (geak_store_ping (store) == GEAK_OK);
    }
    geak_store_destroy (&store);
    unsetenv ("GEAK_REDIS_PASSWORD_FILE");
    store = geak_store_new_from_env (&rc);
    CHECK (store == NULL && rc == GEAK_E_STORE);
    setenv ("GEAK_REDIS_PORT", "not-a-port", 1);
    store = geak_store_new_from_env (&rc);
    CHECK (store == NULL && rc == GEAK_E_CONFIG);
    unsetenv ("GEAK_REDIS_HOST");
    unsetenv ("GEAK_REDIS_PORT");
    unsetenv ("GEAK_REDIS_PREFIX");
    unlink (path);

    //  The server going away with a password set still reports cleanly
    store = geak_store_new ("127.0.0.1", port, PASSWORD, 200, &rc);
    CHECK (store != NULL);
    testredis_kill (pid);
    if (store) {
        geak_store_set_backoff (store, 10, 20, 100);
        CHECK (geak_store_ping (store) == GEAK_E_STORE_CONN);
    }
    geak_store_destroy (&store);

    geak_log_set_level (saved);
    geak_log_set_stream (NULL);
    fclose (log);
    CHECK (log_size > 0);
    CHECK (log_text && strstr (log_text, PASSWORD) == NULL);
    if (s_verbose && log_text)
        fprintf (stderr, "%s", log_text);
    free (log_text);
}

// ---------------------------------------------------------------- main

typedef struct {
    const char *name;
    void (*fn) (void);
    bool needs_server;
} test_case_t;

static const test_case_t s_cases [] = {
    { "selftest",               test_selftest,            false },
    { "connect_refused",        test_connect_refused,     false },
    { "ping_and_prefix",        test_ping_and_prefix,     true },
    { "attempt_roundtrip",      test_attempt_roundtrip,   true },
    { "idempotency",            test_idempotency,         true },
    { "history_order_limit",    test_history,             true },
    { "runs_tasks_counters",    test_runs_tasks_counters, true },
    { "blob_binary",            test_blob_binary,         true },
    { "malformed_attempt",      test_malformed,           true },
    { "timeout_reissue",        test_timeout_reissue,     true },
    { "restart_reconnect",      test_restart,             true },
    { "down_longer_than_wait",  test_down_too_long,       true },
    { "auth",                   test_auth,                false },
};

int
main (int argc, char *argv [])
{
    s_verbose = testredis_init (argc, argv, "test_store");

    s_port = testredis_free_port ();
    s_server = testredis_start (s_port, NULL, s_verbose);
    bool server_up = testredis_wait (s_server, s_port, NULL, 10000);
    if (!server_up)
        fprintf (stderr, "redis-server did not answer on port %d\n", s_port);

    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases [0]; i++) {
        const test_case_t *tc = &s_cases [i];
        if (argc > 1 + (int) s_verbose) {
            bool wanted = false;
            for (int a = 1; a < argc; a++)
                if (strcmp (argv [a], "-v") && strstr (tc->name, argv [a]))
                    wanted = true;
            if (!wanted)
                continue;
        }
        testcase_failures = 0;
        if (tc->needs_server && (!s_server || !testredis_wait (s_server, s_port, NULL, 10000))) {
            //  A previous case left it down: bring it back for this one
            testredis_kill (s_server);
            s_server = testredis_start (s_port, NULL, s_verbose);
            if (!testredis_wait (s_server, s_port, NULL, 10000))
                testcase_failures++;
        }
        int64_t start = geak_clock_mono_ms ();
        if (testcase_failures == 0)
            tc->fn ();
        testcase_done (tc->name, start, &passed, &failed);
    }
    testredis_kill (s_server);
    testredis_kill_all ();
    printf ("%d passed, %d failed\n", passed, failed);
    return failed? 1: 0;
}
