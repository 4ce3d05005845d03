/*  bench_roles - instant doubles of the four GEAK roles, registered with a
    broker as ordinary workers, for measuring what orchestration costs
    (`geak run` against doubles that answer at once: bench/bench_scan.sh).

    bench_roles [--endpoint E] [--threads N (4)] [--eval-threads N (= threads)]
                [--gen-pass P (0.30)] [--fix-pass P (0.40)] [--opt-pass P (0.50)]
                [--no-code P (0)] [--seed S (1)] [--code-bytes N (256)]

    One process, N worker threads per service (geak.generator,
    geak.reflector, geak.optimizer; the evaluator gets --eval-threads), each
    a geak_worker on one shared ZeroMQ context: the broker cannot tell them
    from the real services. Every request is a real Envelope and every
    answer too:
    - generator / reflector / optimizer: a RoleReply whose Candidate holds
      a small module (--code-bytes), the request's lineage (role and
      implementation "bench" set), and LlmUsage tokens; with probability
      --no-code (hashed from the request id) the reply has no code instead
      (error class NO_CODE), like an LLM that answered prose;
    - evaluator, self-check (EvalOptions.selfcheck): task_status "ok", PASS;
    - evaluator, candidate: a verdict derived from a hash of the attempt id
      without its run id (<task>.<sample>.<iteration>) and the seed, so
      every run with the same seed and policy walks the same lineages. The pass
      probability depends on the role that produced the candidate (fresh
      generation --gen-pass, reflection --fix-pass, optimization
      --opt-pass). A pass is timed with a synthetic speedup in [0.5, 3.0)
      (reference median 1 ms); a failure is a mismatch (call_ok), a
      runtime error or a compile error.
    Prints "bench_roles_ready endpoint=E workers=W" on stdout once every
    worker is registered with the broker, and one "bench_roles_served ..."
    line with per-service counts when SIGINT / SIGTERM stop it. */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_config.h"
#include "geak_proto.h"
#include "geak_worker.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <zmq.h>

#define READY_WAIT_MS 15000

enum { SVC_GEN, SVC_REFL, SVC_OPT, SVC_EVAL, SVC_COUNT };
static const char *s_services [SVC_COUNT] = {
    GEAK_SERVICE_GENERATOR, GEAK_SERVICE_REFLECTOR, GEAK_SERVICE_OPTIMIZER, GEAK_SERVICE_EVALUATOR
};
static const char *s_short [SVC_COUNT] = { "generator", "reflector", "optimizer", "evaluator" };

typedef struct {
    double pass [3];                //  by producing role: generator, reflector, optimizer
    double no_code;
    uint64_t seed;
    char *code;                     //  the body every candidate carries (owned by main)
} s_policy_t;

typedef struct {
    void *ctx;
    const char *endpoint;
    int svc;
    int index;
    const s_policy_t *policy;
    int registered;                 //  atomic: the broker answered our READY
    int failed;                     //  atomic: the worker could not be created
    //  counters, read by main after join
    uint64_t served, errors, selfchecks, passes, fails, no_code;
} s_args_t;

static volatile sig_atomic_t s_interrupted = 0;

static void
s_on_signal (int signum)
{
    GEAK_UNUSED (signum);
    s_interrupted = 1;
}

// ------------------------------------------------------------------ verdicts

//  FNV-1a 64 over seed and text, then a final mix: uniform enough for a
//  pass / fail draw
static uint64_t
s_hash (uint64_t seed, const char *text, uint64_t salt)
{
    uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL) ^ salt;
    for (const unsigned char *p = (const unsigned char *) text; p && *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

//  A draw in [0, 1)
static double
s_unit (uint64_t seed, const char *text, uint64_t salt)
{
    return (double) (s_hash (seed, text, salt) >> 11) / 9007199254740992.0;
}

//  Attempt and request ids start with the run id, which holds no '.':
//  what follows the first '.' is the same in every run
static const char *
s_past_run (const char *id)
{
    const char *dot = id ? strchr (id, '.') : NULL;
    return dot ? dot + 1 : id ? id : "";
}

static int
s_role_index (Geak__Role role)
{
    return role == GEAK__ROLE__REFLECTOR ? 1 : role == GEAK__ROLE__OPTIMIZER ? 2 : 0;
}

// ------------------------------------------------------------------ answers

static geak_rc_t
s_answer_eval (s_args_t *args, const Geak__Envelope *request, uint8_t **data, size_t *size)
{
    const Geak__EvalRequest *req = request->eval_request;
    const s_policy_t *policy = args->policy;
    Geak__DeviceFacts device = GEAK__DEVICE_FACTS__INIT;
    device.vendor = "bench";
    device.name = "bench_roles double";
    device.arch = "bench";
    device.runtime = "none";
    device.warp_size = 32;
    Geak__LatencyStats reference = GEAK__LATENCY_STATS__INIT;
    Geak__LatencyStats candidate = GEAK__LATENCY_STATS__INIT;
    char worker [64];
    snprintf (worker, sizeof worker, "bench_roles/%s/%d", s_short [args->svc], args->index);
    Geak__EvalResult result = GEAK__EVAL_RESULT__INIT;
    result.device = &device;
    result.worker = worker;
    bool selfcheck = req->options && req->options->selfcheck;
    if (selfcheck) {
        result.attempt_id = "";
        result.call_ok = result.exec_ok = true;
        result.error_class = GEAK__ERROR_CLASS__PASS;
        result.task_status = "ok";
        result.task_status_reason = "";
        args->selfchecks++;
    }
    else {
        const Geak__Candidate *cand = req->candidate;
        const char *id = cand && cand->attempt_id ? cand->attempt_id : "";
        Geak__Role role = cand && cand->lineage ? cand->lineage->role : GEAK__ROLE__GENERATOR;
        result.attempt_id = (char *) id;
        id = s_past_run (id);
        if (s_unit (policy->seed, id, 1) < policy->pass [s_role_index (role)]) {
            double speedup = 0.5 + 2.5 * s_unit (policy->seed, id, 2);
            reference.n = candidate.n = 10;
            reference.median_ms = reference.mean_ms = reference.min_ms = reference.max_ms = 1.0;
            candidate.median_ms = candidate.mean_ms = candidate.min_ms = candidate.max_ms
                                = 1.0 / speedup;
            result.call_ok = result.exec_ok = true;
            result.error_class = GEAK__ERROR_CLASS__PASS;
            result.reference = &reference;
            result.candidate = &candidate;
            result.speedup = speedup;
            result.timed = true;
            args->passes++;
        }
        else {
            double kind = s_unit (policy->seed, id, 3);
            result.call_ok = kind < 0.5;
            result.error_class = kind < 0.5 ? GEAK__ERROR_CLASS__MISMATCH
                               : kind < 0.8 ? GEAK__ERROR_CLASS__RUNTIME_ERROR
                               : GEAK__ERROR_CLASS__COMPILE_ERROR;
            result.error_message = kind < 0.5 ? "bench double: output 0 differs (max_abs_err 1.5)"
                                 : kind < 0.8 ? "bench double: RuntimeError in the kernel"
                                 : "bench double: CompilationError at line 3";
            args->fails++;
        }
    }
    Geak__Envelope env;
    geak_proto_envelope_init (&env, request->request_id, 0, "bench_roles");
    env.body_case = GEAK__ENVELOPE__BODY_EVAL_RESULT;
    env.eval_result = &result;
    return geak_proto_pack (&env, data, size);
}

static geak_rc_t
s_answer_role (s_args_t *args, const Geak__Envelope *request, uint8_t **data, size_t *size)
{
    const s_policy_t *policy = args->policy;
    Geak__Lineage lineage = GEAK__LINEAGE__INIT;
    const Geak__Lineage *from = NULL;
    if (args->svc == SVC_GEN)
        from = request->generate_request->lineage;
    else
    if (args->svc == SVC_OPT)
        from = request->optimize_request->lineage;
    else
    if (request->reflect_request->failing)
        from = request->reflect_request->failing->lineage;
    if (from) {
        lineage = *from;
        lineage.base.unknown_fields = NULL;
        lineage.base.n_unknown_fields = 0;
    }
    if (args->svc == SVC_REFL) {
        const Geak__Candidate *failing = request->reflect_request->failing;
        lineage.iteration++;
        lineage.parent_attempt = failing && failing->attempt_id ? failing->attempt_id : "";
    }
    lineage.role = args->svc == SVC_GEN ? GEAK__ROLE__GENERATOR
                 : args->svc == SVC_REFL ? GEAK__ROLE__REFLECTOR : GEAK__ROLE__OPTIMIZER;
    lineage.implementation = "bench";
    char attempt_id [33];
    geak_random_hex (attempt_id, 32);
    Geak__LlmUsage usage = GEAK__LLM_USAGE__INIT;
    usage.provider = "bench";
    usage.model = "double";
    usage.tokens_in = 1500 + 500 * (uint64_t) args->svc;
    usage.tokens_out = 400;
    Geak__Candidate candidate = GEAK__CANDIDATE__INIT;
    candidate.attempt_id = attempt_id;
    candidate.lineage = &lineage;
    candidate.usage = &usage;
    candidate.prompt_ref = "";
    candidate.reply_ref = "";
    candidate.diagnosis = args->svc == SVC_REFL ? "bench double: the mask was off by one" : "";
    bool no_code = policy->no_code > 0
                && s_unit (policy->seed, s_past_run (request->request_id), 4) < policy->no_code;
    candidate.code = no_code ? "" : policy->code;
    if (no_code)
        args->no_code++;
    Geak__RoleReply reply = GEAK__ROLE_REPLY__INIT;
    reply.candidate = &candidate;
    reply.error_class = no_code ? GEAK__ERROR_CLASS__NO_CODE : GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED;
    reply.error_message = no_code ? "bench double: the reply held no usable code" : "";
    Geak__Envelope env;
    geak_proto_envelope_init (&env, request->request_id, 0, "bench_roles");
    env.body_case = GEAK__ENVELOPE__BODY_ROLE_REPLY;
    env.role_reply = &reply;
    return geak_proto_pack (&env, data, size);
}

static const Geak__Envelope__BodyCase s_expected [SVC_COUNT] = {
    GEAK__ENVELOPE__BODY_GENERATE_REQUEST, GEAK__ENVELOPE__BODY_REFLECT_REQUEST,
    GEAK__ENVELOPE__BODY_OPTIMIZE_REQUEST, GEAK__ENVELOPE__BODY_EVAL_REQUEST
};

//  Answer one request body; always produces a reply (an ErrorReply when the
//  request is not what this service takes)
static geak_rc_t
s_answer (s_args_t *args, const geak_request_t *req, uint8_t **data, size_t *size)
{
    geak_rc_t rc;
    Geak__Envelope *env = geak_proto_unpack (req->body, req->size, s_expected [args->svc], &rc);
    if (!env) {
        args->errors++;
        return geak_proto_pack_error (req->request_id, rc, "bench_roles: unexpected request",
                                      data, size);
    }
    if (args->svc == SVC_EVAL && !env->eval_request->task) {
        rc = GEAK_E_INVALID;
        args->errors++;
        rc = geak_proto_pack_error (req->request_id, rc, "bench_roles: EvalRequest needs a task",
                                    data, size);
    }
    else
    if (args->svc == SVC_EVAL)
        rc = s_answer_eval (args, env, data, size);
    else
        rc = s_answer_role (args, env, data, size);
    geak_proto_free (&env);
    return rc;
}

static void *
s_thread (void *arg)
{
    s_args_t *args = arg;
    geak_worker_t *worker = geak_worker_new (args->ctx, args->endpoint, s_services [args->svc],
                                             "bench");
    if (!worker) {
        __atomic_store_n (&args->failed, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    while (!s_interrupted) {
        if (!args->registered && geak_worker_registered (worker))
            __atomic_store_n (&args->registered, 1, __ATOMIC_RELEASE);
        geak_request_t *req;
        geak_rc_t rc = geak_worker_recv (worker, &req, 100);
        if (rc == GEAK_E_TIMEOUT)
            continue;
        if (rc != GEAK_OK)
            break;
        uint8_t *data = NULL;
        size_t size = 0;
        rc = s_answer (args, req, &data, &size);
        if (rc != GEAK_OK) {
            geak_warn ("bench_roles_pack_failed", "request=%s code=%s", req->request_id,
                       geak_rc_name (rc));
            geak_request_destroy (&req);
            args->errors++;
            continue;
        }
        rc = geak_worker_send_final (worker, &req, data, size);
        free (data);
        if (rc != GEAK_OK)
            geak_warn ("bench_roles_send_failed", "code=%s", geak_rc_name (rc));
        args->served++;
    }
    geak_worker_destroy (&worker);
    return NULL;
}

// ------------------------------------------------------------------ main

static bool
s_prob (const char *name, const char *text, double *value)
{
    char *end = NULL;
    double v = text ? strtod (text, &end) : -1;
    if (!text || !end || *end || !(v >= 0 && v <= 1)) {
        fprintf (stderr, "bench_roles: %s needs a probability in [0, 1]\n", name);
        return false;
    }
    *value = v;
    return true;
}

static void
s_usage (void)
{
    fprintf (stderr,
        "usage: bench_roles [--endpoint E] [--threads N] [--eval-threads N]\n"
        "                   [--gen-pass P] [--fix-pass P] [--opt-pass P] [--no-code P]\n"
        "                   [--seed S] [--code-bytes N]\n");
}

int
main (int argc, char *argv [])
{
    geak_log_init ("bench_roles");
    const char *endpoint = geak_config_str ("GEAK_BROKER", GEAK_DEFAULT_BROKER);
    long threads = 4, eval_threads = -1, seed = 1, code_bytes = 256;
    s_policy_t policy = { .pass = { 0.30, 0.40, 0.50 }, .no_code = 0 };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = i + 1 < argc ? argv [++i] : NULL;
        bool ok = value != NULL;
        if (!ok)
            ;
        else if (strcmp (arg, "--endpoint") == 0)     endpoint = value;
        else if (strcmp (arg, "--threads") == 0)      ok = geak_config_option_long ("bench_roles", arg, value, 1, 64, &threads);
        else if (strcmp (arg, "--eval-threads") == 0) ok = geak_config_option_long ("bench_roles", arg, value, 1, 64, &eval_threads);
        else if (strcmp (arg, "--seed") == 0)         ok = geak_config_option_long ("bench_roles", arg, value, 0, 1L << 30, &seed);
        else if (strcmp (arg, "--code-bytes") == 0)   ok = geak_config_option_long ("bench_roles", arg, value, 16, 1 << 20, &code_bytes);
        else if (strcmp (arg, "--gen-pass") == 0)     ok = s_prob (arg, value, &policy.pass [0]);
        else if (strcmp (arg, "--fix-pass") == 0)     ok = s_prob (arg, value, &policy.pass [1]);
        else if (strcmp (arg, "--opt-pass") == 0)     ok = s_prob (arg, value, &policy.pass [2]);
        else if (strcmp (arg, "--no-code") == 0)      ok = s_prob (arg, value, &policy.no_code);
        else ok = false;
        if (!ok) {
            s_usage ();
            return 2;
        }
    }
    if (eval_threads < 0)
        eval_threads = threads;
    policy.seed = (uint64_t) seed;
    //  a small module: a header line, then comment padding up to code_bytes
    policy.code = geak_malloc0 ((size_t) code_bytes + 1);
    int head = snprintf (policy.code, (size_t) code_bytes + 1,
                         "import triton\nimport triton.language as tl\n# bench_roles double\n");
    for (long i = head > 0 ? head : 0; i < code_bytes; i++)
        policy.code [i] = (i + 1) % 64 == 0 ? '\n' : '#';

    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    size_t total = (size_t) (3 * threads + eval_threads);
    s_args_t *args = geak_malloc0 (total * sizeof *args);
    pthread_t *tids = geak_malloc0 (total * sizeof *tids);
    void *ctx = zmq_ctx_new ();
    if (!ctx) {
        fprintf (stderr, "bench_roles: zmq_ctx_new failed\n");
        return 1;
    }
    size_t n = 0;
    for (int svc = 0; svc < SVC_COUNT; svc++) {
        long count = svc == SVC_EVAL ? eval_threads : threads;
        for (long t = 0; t < count; t++, n++) {
            args [n].ctx = ctx;
            args [n].endpoint = endpoint;
            args [n].svc = svc;
            args [n].index = (int) t;
            args [n].policy = &policy;
            if (pthread_create (&tids [n], NULL, s_thread, &args [n]) != 0) {
                fprintf (stderr, "bench_roles: cannot start a thread\n");
                s_interrupted = 1;
                total = n;
                break;
            }
        }
    }
    //  Ready once every worker is registered (bounded wait, no sleep-as-sync:
    //  poll the flags with a short nap)
    int64_t until = geak_clock_mono_ms () + READY_WAIT_MS;
    int rc = 0;
    for (;;) {
        size_t registered = 0, failed = 0;
        for (size_t i = 0; i < total; i++) {
            registered += __atomic_load_n (&args [i].registered, __ATOMIC_ACQUIRE) != 0;
            failed += __atomic_load_n (&args [i].failed, __ATOMIC_ACQUIRE) != 0;
        }
        if (failed || s_interrupted) {
            fprintf (stderr, "bench_roles: %zu worker(s) could not start\n", failed);
            s_interrupted = 1;
            rc = 1;
            break;
        }
        if (registered == total) {
            printf ("bench_roles_ready endpoint=%s workers=%zu threads=%ld eval_threads=%ld\n",
                    endpoint, total, threads, eval_threads);
            fflush (stdout);
            break;
        }
        if (geak_clock_mono_ms () > until) {
            fprintf (stderr, "bench_roles: only %zu of %zu workers registered with %s\n",
                     registered, total, endpoint);
            s_interrupted = 1;
            rc = 1;
            break;
        }
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep (&ts, NULL);
    }
    uint64_t served [SVC_COUNT] = { 0 };
    uint64_t errors = 0, selfchecks = 0, passes = 0, fails = 0, no_code = 0;
    for (size_t i = 0; i < total; i++) {
        pthread_join (tids [i], NULL);
        served [args [i].svc] += args [i].served;
        errors += args [i].errors;
        selfchecks += args [i].selfchecks;
        passes += args [i].passes;
        fails += args [i].fails;
        no_code += args [i].no_code;
    }
    printf ("bench_roles_served generator=%llu reflector=%llu optimizer=%llu evaluator=%llu "
            "selfchecks=%llu passes=%llu fails=%llu no_code=%llu errors=%llu\n",
            (unsigned long long) served [SVC_GEN], (unsigned long long) served [SVC_REFL],
            (unsigned long long) served [SVC_OPT], (unsigned long long) served [SVC_EVAL],
            (unsigned long long) selfchecks, (unsigned long long) passes,
            (unsigned long long) fails, (unsigned long long) no_code, (unsigned long long) errors);
    fflush (stdout);
    zmq_ctx_term (ctx);
    free (args);
    free (tids);
    free (policy.code);
    return rc;
}
