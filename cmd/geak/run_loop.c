/*  run_loop.c - the driver of geak run (see run_loop.h, docs/run.md). */
#include "run_loop.h"
#include "geak_config.h"
#include "geak_log.h"
#include "geak_proto.h"
#include "standalone.h"

#include <math.h>
#include <unistd.h>

#define ROLE_DEADLINE_MS    (15 * 60 * 1000)
#define EVAL_DEFAULT_MS     120000
#define EVAL_SLACK_MS       60000
#define STATS_EVERY_MS      2000
#define WORKER_FACTOR       2           //  in flight per registered worker
#define NO_WORKER_WARN_MS   30000       //  work waiting, no worker: warn after this
#define TRANSPORT_TRIES     8           //  transport failures of one step before giving up
#define REDO_TRIES          3           //  answers redone (llm error, harness_error)
#define BACKOFF_MS          250
#define BACKOFF_MAX_MS      30000
#define HISTORY_MAX         8           //  optimizer history entries
#define LINEAGE_HISTORY     6           //  reflector history entries
#define PROGRESS_TTY_MS     250
#define PROGRESS_LOG_MS     10000

static const char *s_services [RUN_SVC_COUNT] = {
    GEAK_SERVICE_GENERATOR, GEAK_SERVICE_REFLECTOR, GEAK_SERVICE_OPTIMIZER, GEAK_SERVICE_EVALUATOR
};
static const char *s_phases [RUN_SVC_COUNT] = { "gen", "fix", "opt", "eval" };

volatile sig_atomic_t run_interrupted = 0;

// ------------------------------------------------------------------ helpers

//  Deep copy (caller frees with geak__attempt__free_unpacked)
static Geak__Attempt *
s_attempt_dup (const Geak__Attempt *attempt)
{
    return (Geak__Attempt *) geak_proto_dup (&attempt->base);
}

static void
s_attempt_free (Geak__Attempt **attempt_p)
{
    if (*attempt_p)
        geak__attempt__free_unpacked (*attempt_p, NULL);
    *attempt_p = NULL;
}

static void
s_keep_device (run_t *run, const Geak__DeviceFacts *device)
{
    if (run->device || !device || !device->arch || !*device->arch)
        return;
    run->device = (Geak__DeviceFacts *) geak_proto_dup (&device->base);
}

static const char *
s_task_name (const run_t *run, const run_lineage_t *l)
{
    return run->cfg->tasks [l->task].name;
}

static void
s_attempt_id (const run_t *run, const run_lineage_t *l, uint32_t iteration, char *buf, size_t size)
{
    snprintf (buf, size, "%s.%s.%u.%u", run->cfg->run_id, s_task_name (run, l), l->sample, iteration);
}

static void
s_task_ref (const run_t *run, size_t index, Geak__TaskRef *ref)
{
    const run_task_t *t = &run->cfg->tasks [index];
    Geak__TaskRef init = GEAK__TASK_REF__INIT;
    *ref = init;
    ref->suite = "geak";
    ref->name = t->name;
    ref->path = "";                 //  resolved under the evaluator's own task root
    ref->digest = t->digest ? t->digest : "";
    ref->instruction = t->instruction ? t->instruction : "";
    ref->signature = t->signature ? t->signature : "";
    ref->difficulty = t->difficulty;
    ref->category = t->category ? t->category : "";
}

static void
s_generate_options (const run_t *run, Geak__GenerateOptions *options)
{
    Geak__GenerateOptions init = GEAK__GENERATE_OPTIONS__INIT;
    *options = init;
    options->knowledge = run->cfg->knowledge;
    options->one_shot = run->cfg->one_shot;
}

static int
s_limit (const run_t *run, int svc)
{
    int by_workers = run->workers [svc] > 0 ? run->workers [svc] * WORKER_FACTOR : 1;
    return by_workers < run->concurrency ? by_workers : run->concurrency;
}

//  A service with work waiting and no worker registered: warn after
//  NO_WORKER_WARN_MS, stop the run (resumable) after GEAK_RUN_NO_WORKER_MS
static void
s_watch_workers (run_t *run, int64_t now)
{
    long limit = 120000;
    if (geak_config_int ("GEAK_RUN_NO_WORKER_MS", limit, 1000, 86400000L, &limit) != GEAK_OK)
        limit = 120000;
    for (int i = 0; i < RUN_SVC_COUNT; i++) {
        bool wanted = false;
        for (size_t k = 0; k < run->nlin && !wanted; k++)
            wanted = run->lin [k].st == RUN_WAIT && run->lin [k].svc == i;
        for (size_t k = 0; run->checks && k < run->cfg->ntasks && !wanted; k++)
            wanted = i == RUN_SVC_EVAL && run->checks [k].st == RUN_WAIT;
        if (!wanted || run->workers [i] > 0) {
            run->no_worker_since [i] = 0;
            run->no_worker_warned [i] = false;
            continue;
        }
        if (!run->no_worker_since [i])
            run->no_worker_since [i] = now;
        int64_t for_ms = now - run->no_worker_since [i];
        if (for_ms >= (NO_WORKER_WARN_MS < limit / 2 ? NO_WORKER_WARN_MS : limit / 2)
        &&  !run->no_worker_warned [i]) {
            run->no_worker_warned [i] = true;
            geak_warn ("run_no_worker", "run=%s service=%s waited_s=%lld note=\"work is waiting and "
                       "no %s worker is registered at the broker; the run stops after %ld s\"",
                       run->cfg->run_id, s_services [i], (long long) for_ms / 1000, s_services [i],
                       limit / 1000);
        }
        if (for_ms >= limit) {
            char why [256];
            snprintf (why, sizeof why, "no %s worker has been registered at the broker for %lld s "
                      "(GEAK_RUN_NO_WORKER_MS); start one and resume", s_services [i],
                      (long long) for_ms / 1000);
            run_stop (run, why);
        }
    }
}

void
run_refresh_workers (run_t *run, bool force)
{
    int64_t now = geak_clock_mono_ms ();
    if (!force && now < run->next_stats)
        return;
    run->next_stats = now + STATS_EVERY_MS;
    cJSON *stats = standalone_stats (run->client, 1000);
    if (!stats)
        return;                     //  keep the last known counts
    for (int i = 0; i < RUN_SVC_COUNT; i++)
        run->workers [i] = standalone_stats_workers (stats, s_services [i]);
    cJSON_Delete (stats);
    s_watch_workers (run, now);
}

static int64_t
s_backoff_ms (uint32_t tries)
{
    int64_t delay = BACKOFF_MS;
    for (uint32_t i = 1; i < tries && delay < BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    //  jitter in [delay/2, delay]
    return delay / 2 + (int64_t) (rand () % (int) (delay / 2 + 1));
}

static void
s_backoff (run_lineage_t *l, uint32_t tries)
{
    l->st = RUN_BACKOFF;
    l->retry_at = geak_clock_mono_ms () + s_backoff_ms (tries);
}

void
run_lineage_stuck (run_t *run, run_lineage_t *l, const char *why)
{
    l->st = RUN_STUCK;
    if (l->selfcheck)
        return;
    geak_error ("lineage_stuck", "run=%s task=%s sample=%u reason=\"%s\"", run->cfg->run_id,
                s_task_name (run, l), l->sample, why);
    if (!run->first_stuck)
        run->first_stuck = geak_strdupf ("%s/%u: %s", s_task_name (run, l), l->sample, why);
}

void
run_stop (run_t *run, const char *why)
{
    if (run->stop_reason)
        return;
    run->stop_reason = geak_strdup (why);
    geak_error ("run_stopping", "run=%s reason=\"%s\"", run->cfg->run_id, why);
}

// ------------------------------------------------------------------ lineage state

void
run_lineage_fold (run_t *run, run_lineage_t *l)
{
    geak_scan_options_t options = {
        .iterations = run->cfg->iterations, .max_debug = run->cfg->max_debug,
        .reflector = run->cfg->reflector, .optimizer = run->cfg->optimizer,
    };
    geak_scan_attempt_t *list = geak_malloc0 ((l->n + 1) * sizeof *list);
    geak_rc_t rc = GEAK_OK;
    for (size_t i = 0; i < l->n && rc == GEAK_OK; i++)
        rc = geak_scan_attempt_from_pb (l->att [i], &list [i]);
    if (rc == GEAK_OK)
        rc = geak_scan_fold (&options, list, l->n, &l->scan);
    free (list);
    l->tries = l->redo = 0;
    if (rc != GEAK_OK) {
        run_lineage_stuck (run, l, "its stored attempts do not follow the GEAK policy of this run");
        return;
    }
    l->st = l->scan.action == GEAK_SCAN_DONE ? RUN_DONE : RUN_IDLE;
    if (l->st == RUN_DONE)
        geak_info ("lineage_done", "run=%s task=%s sample=%u attempts=%zu passes=%u why=%s "
                   "restarts=%u", run->cfg->run_id, s_task_name (run, l), l->sample, l->n,
                   l->scan.passes, geak_scan_why_name (l->scan.why), l->scan.restarts);
}

static void
s_log_attempt (run_t *run, const Geak__Attempt *a)
{
    const Geak__Lineage *lin = a->candidate->lineage;
    const Geak__EvalResult *r = a->result;
    GEAK_LOG (run->tty || run->quiet ? GEAK_LOG_DEBUG : GEAK_LOG_INFO, "attempt",
              "id=%s role=%s parent=%s status=%s class=%s call_ok=%d exec_ok=%d speedup=%.3f "
              "tokens_in=%llu tokens_out=%llu", a->attempt_id, geak_proto_role_name (lin->role),
              *lin->parent_attempt ? lin->parent_attempt : "-", a->status,
              r ? geak_proto_class_name (r->error_class) : "-", r ? (int) r->call_ok : 0,
              r ? (int) r->exec_ok : 0, r ? r->speedup : 0.0,
              a->candidate->usage ? (unsigned long long) a->candidate->usage->tokens_in : 0ULL,
              a->candidate->usage ? (unsigned long long) a->candidate->usage->tokens_out : 0ULL);
}

//  Store an attempt (takes ownership); on success it becomes the lineage's
//  attempt at its iteration and the lineage is folded again.
static void
s_store_put (run_t *run, run_lineage_t *l, Geak__Attempt *attempt)
{
    if (!attempt) {
        run_lineage_stuck (run, l, "out of memory");
        return;
    }
    geak_rc_t rc = geak_store_attempt_put (run->store, attempt);
    if (rc == GEAK_E_EXISTS) {
        //  an earlier try got through, or another writer: the store is the truth
        Geak__Attempt *stored = NULL;
        rc = geak_store_attempt_get (run->store, attempt->attempt_id, &stored);
        if (rc == GEAK_OK) {
            s_attempt_free (&attempt);
            attempt = stored;
        }
    }
    if (rc == GEAK_E_LOST || rc == GEAK_E_FENCED) {
        //  every later write would meet it: stop, name it, leave it to --resume
        char why [768];
        snprintf (why, sizeof why, "%s: %s (geak store check %s audits it; geak run --resume %s "
                  "re-does what was lost)", geak_rc_name (rc), geak_store_last_error (run->store),
                  run->cfg->run_id, run->cfg->run_id);
        s_attempt_free (&attempt);
        run_lineage_stuck (run, l, why);
        run_stop (run, why);
        return;
    }
    if (rc == GEAK_E_INTERRUPTED) {
        //  shutting down with Redis away: keep it staged; --resume redoes the step
        l->staged = attempt;
        s_backoff (l, 1);
        return;
    }
    if (rc == GEAK_E_STORE_CONN) {
        l->tries++;
        if (l->tries > TRANSPORT_TRIES) {
            s_attempt_free (&attempt);
            run_lineage_stuck (run, l, "the store stays unreachable");
            return;
        }
        geak_warn ("run_store_retry", "attempt=%s tries=%u", attempt->attempt_id, l->tries);
        l->staged = attempt;
        s_backoff (l, l->tries);
        return;
    }
    if (rc != GEAK_OK) {
        char why [700];
        snprintf (why, sizeof why, "store: %s: %s", geak_rc_name (rc), geak_store_last_error (run->store));
        s_attempt_free (&attempt);
        run_lineage_stuck (run, l, why);
        if (rc == GEAK_E_STORE)
            //  Redis refused the write (OOM, READONLY, ...): every lineage's write would be
            run_stop (run, why);
        return;
    }
    uint32_t iteration = attempt->candidate->lineage->iteration;
    if (iteration < l->n) {
        s_attempt_free (&l->att [iteration]);
        l->att [iteration] = attempt;
    }
    else {
        if (l->n == l->alloc) {
            l->alloc = l->alloc ? l->alloc * 2 : 8;
            Geak__Attempt **bigger = realloc (l->att, l->alloc * sizeof *bigger);
            assert (bigger);
            l->att = bigger;
        }
        l->att [l->n++] = attempt;
        run->attempts_new++;
    }
    if (attempt->result)
        s_keep_device (run, attempt->result->device);
    s_log_attempt (run, attempt);
    run_lineage_fold (run, l);
}

// ------------------------------------------------------------------ requests

static geak_rc_t
s_send (run_t *run, run_lineage_t *l, int svc, const char *base_id, int64_t deadline_ms,
        Geak__Envelope *env)
{
    if (l->redo)
        snprintf (l->request_id, sizeof l->request_id, "%s:%s:r%u", base_id, s_phases [svc], l->redo);
    else
        snprintf (l->request_id, sizeof l->request_id, "%s:%s", base_id, s_phases [svc]);
    env->request_id = l->request_id;
    env->deadline_ms = deadline_ms;
    uint8_t *data = NULL;
    size_t size = 0;
    geak_rc_t rc = geak_proto_pack (env, &data, &size);
    if (rc == GEAK_OK)
        rc = geak_client_send (run->client, s_services [svc], l->request_id, deadline_ms, data, size,
                               NULL);
    free (data);
    if (rc == GEAK_OK) {
        l->st = RUN_WAIT;
        l->svc = svc;
        run->inflight [svc]++;
    }
    return rc;
}

static int64_t
s_eval_deadline (const run_t *run, int factor)
{
    int64_t timeout = run->cfg->timeout_ms ? run->cfg->timeout_ms : EVAL_DEFAULT_MS;
    return geak_clock_wall_ms () + factor * timeout + EVAL_SLACK_MS;
}

static void
s_history_entry (const Geak__Attempt *a, Geak__HistoryEntry *h)
{
    Geak__HistoryEntry init = GEAK__HISTORY_ENTRY__INIT;
    *h = init;
    h->attempt_id = a->attempt_id;
    h->code = a->candidate->code;
    h->iteration = a->candidate->lineage->iteration;
    if (a->result) {
        h->error_class = a->result->error_class;
        h->error_message = a->result->error_message;
        h->speedup = a->result->speedup;
        h->latency_ms = a->result->candidate ? a->result->candidate->median_ms : 0;
    }
}

static geak_rc_t
s_send_generate (run_t *run, run_lineage_t *l, const char *id)
{
    Geak__TaskRef task;
    s_task_ref (run, l->task, &task);
    Geak__Lineage lineage = GEAK__LINEAGE__INIT;
    lineage.run_id = run->cfg->run_id;
    lineage.task = (char *) s_task_name (run, l);
    lineage.sample = l->sample;
    lineage.iteration = l->scan.next_iteration;
    lineage.role = GEAK__ROLE__GENERATOR;
    Geak__GenerateOptions options;
    s_generate_options (run, &options);
    Geak__GenerateRequest req = GEAK__GENERATE_REQUEST__INIT;
    req.task = &task;
    req.lineage = &lineage;
    req.device = run->device;
    req.options = &options;
    Geak__Envelope env;
    geak_proto_envelope_init (&env, NULL, 0, "geak-run");
    env.body_case = GEAK__ENVELOPE__BODY_GENERATE_REQUEST;
    env.generate_request = &req;
    return s_send (run, l, RUN_SVC_GEN, id, geak_clock_wall_ms () + ROLE_DEADLINE_MS, &env);
}

static geak_rc_t
s_send_reflect (run_t *run, run_lineage_t *l, const char *id)
{
    const Geak__Attempt *f = l->att [l->scan.target];
    Geak__TaskRef task;
    s_task_ref (run, l->task, &task);
    //  the reflector numbers its answer failing.iteration + 1: show it the
    //  iteration before the one we are filling
    Geak__Lineage lineage = *f->candidate->lineage;
    lineage.iteration = l->scan.next_iteration ? l->scan.next_iteration - 1 : 0;
    Geak__Candidate failing = *f->candidate;
    failing.lineage = &lineage;
    size_t first = (size_t) l->scan.target > LINEAGE_HISTORY ? (size_t) l->scan.target - LINEAGE_HISTORY : 0;
    Geak__HistoryEntry entries [LINEAGE_HISTORY];
    Geak__HistoryEntry *history [LINEAGE_HISTORY];
    size_t nh = 0;
    for (size_t i = first; i < (size_t) l->scan.target && nh < LINEAGE_HISTORY; i++) {
        s_history_entry (l->att [i], &entries [nh]);
        history [nh] = &entries [nh];
        nh++;
    }
    Geak__GenerateOptions options;
    s_generate_options (run, &options);
    Geak__ReflectRequest req = GEAK__REFLECT_REQUEST__INIT;
    req.task = &task;
    req.failing = &failing;
    req.result = f->result;
    req.lineage_history = history;
    req.n_lineage_history = nh;
    req.options = &options;
    Geak__Envelope env;
    geak_proto_envelope_init (&env, NULL, 0, "geak-run");
    env.body_case = GEAK__ENVELOPE__BODY_REFLECT_REQUEST;
    env.reflect_request = &req;
    return s_send (run, l, RUN_SVC_REFL, id, geak_clock_wall_ms () + ROLE_DEADLINE_MS, &env);
}

//  Correct attempts of this (run, task) held in memory, for untimed runs
//  (no s_timed_history): borrowed pointers, at most max, this lineage's best last
static size_t
s_memory_history (const run_t *run, const run_lineage_t *l, const Geak__Attempt **out, size_t max)
{
    size_t n = 0;
    const Geak__Attempt *best = l->att [l->scan.best];
    out [n++] = best;
    for (size_t i = 0; i < run->nlin && n < max; i++) {
        const run_lineage_t *other = &run->lin [i];
        if (other->task != l->task)
            continue;
        for (size_t j = 0; j < other->n && n < max; j++) {
            const Geak__Attempt *a = other->att [j];
            if (a != best && a->result && a->result->exec_ok)
                out [n++] = a;
        }
    }
    //  the best goes last: the optimizer reads slowest -> fastest
    out [0] = out [n - 1];
    out [n - 1] = best;
    return n;
}

//  Candidate median latency of an attempt that belongs in the optimizer's
//  history (evaluated, correct, timed), else 0: the store indexes the same
//  attempts by the same number (geak_store_attempt_put)
static double
s_history_ms (const Geak__Attempt *a)
{
    if (!a || !a->result || !a->result->exec_ok || !a->result->candidate || !a->status
    ||  strcmp (a->status, "evaluated") != 0)
        return 0;
    double ms = a->result->candidate->median_ms;
    return isfinite (ms) && ms > 0 ? ms : 0;
}

//  Fastest first; equal latencies by attempt id (as a Redis sorted set ranks them)
static int
s_faster_first (const void *pa, const void *pb)
{
    const Geak__Attempt *a = *(const Geak__Attempt *const *) pa;
    const Geak__Attempt *b = *(const Geak__Attempt *const *) pb;
    double x = s_history_ms (a), y = s_history_ms (b);
    if (x != y)
        return x < y ? -1 : 1;
    return strcmp (a->attempt_id, b->attempt_id);
}

//  The optimizer's history from the attempts this run holds, which are the
//  ones the store's history index lists (a resumed run loads every lineage):
//  the task's `max` fastest evaluated, correct, timed attempts, slowest first,
//  as geak_store_history returns them, without a Redis round trip per entry.
//  0 when none is timed (under the interpreter).
static size_t
s_timed_history (const run_t *run, const run_lineage_t *l, const Geak__Attempt **out, size_t max)
{
    size_t total = 0;
    for (size_t i = 0; i < run->nlin; i++)
        if (run->lin [i].task == l->task)
            for (size_t j = 0; j < run->lin [i].n; j++)
                total += s_history_ms (run->lin [i].att [j]) > 0;
    if (total == 0)
        return 0;
    const Geak__Attempt **all = geak_malloc0 (total * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < run->nlin; i++)
        if (run->lin [i].task == l->task)
            for (size_t j = 0; j < run->lin [i].n; j++)
                if (s_history_ms (run->lin [i].att [j]) > 0)
                    all [k++] = run->lin [i].att [j];
    qsort (all, total, sizeof *all, s_faster_first);
    size_t n = total < max ? total : max;
    for (size_t i = 0; i < n; i++)
        out [i] = all [n - 1 - i];
    free (all);
    return n;
}

static geak_rc_t
s_send_optimize (run_t *run, run_lineage_t *l, const char *id)
{
    const Geak__Attempt *best = l->att [l->scan.target];
    Geak__TaskRef task;
    s_task_ref (run, l->task, &task);
    const Geak__Attempt *picked [HISTORY_MAX];
    size_t nh = s_timed_history (run, l, picked, HISTORY_MAX);
    if (nh == 0)
        nh = s_memory_history (run, l, picked, HISTORY_MAX);
    Geak__HistoryEntry entries [HISTORY_MAX];
    Geak__HistoryEntry *history [HISTORY_MAX];
    for (size_t i = 0; i < nh; i++) {
        s_history_entry (picked [i], &entries [i]);
        history [i] = &entries [i];
    }
    Geak__Lineage lineage = GEAK__LINEAGE__INIT;
    lineage.run_id = run->cfg->run_id;
    lineage.task = (char *) s_task_name (run, l);
    lineage.sample = l->sample;
    lineage.iteration = l->scan.next_iteration;
    lineage.parent_attempt = best->attempt_id;
    lineage.role = GEAK__ROLE__OPTIMIZER;
    Geak__GenerateOptions options;
    s_generate_options (run, &options);
    Geak__OptimizeRequest req = GEAK__OPTIMIZE_REQUEST__INIT;
    req.task = &task;
    req.best = best->candidate;
    req.history = history;
    req.n_history = nh;
    req.device = run->device;
    req.options = &options;
    req.lineage = &lineage;
    Geak__Envelope env;
    geak_proto_envelope_init (&env, NULL, 0, "geak-run");
    env.body_case = GEAK__ENVELOPE__BODY_OPTIMIZE_REQUEST;
    env.optimize_request = &req;
    return s_send (run, l, RUN_SVC_OPT, id, geak_clock_wall_ms () + ROLE_DEADLINE_MS, &env);
}

static geak_rc_t
s_send_eval (run_t *run, run_lineage_t *l, const Geak__Candidate *candidate, const char *id,
             bool selfcheck)
{
    Geak__TaskRef task;
    s_task_ref (run, l->task, &task);
    Geak__EvalOptions options = GEAK__EVAL_OPTIONS__INIT;
    options.correctness_only = run->cfg->correctness_only;
    options.timeout_ms = run->cfg->timeout_ms;
    options.selfcheck = selfcheck;
    Geak__EvalRequest req = GEAK__EVAL_REQUEST__INIT;
    req.task = &task;
    req.candidate = (Geak__Candidate *) candidate;
    req.options = &options;
    Geak__Envelope env;
    geak_proto_envelope_init (&env, NULL, 0, "geak-run");
    env.body_case = GEAK__ENVELOPE__BODY_EVAL_REQUEST;
    env.eval_request = &req;
    return s_send (run, l, RUN_SVC_EVAL, id, s_eval_deadline (run, selfcheck ? 2 : 1), &env);
}

//  Take the lineage's next step: a staged store write, or the request its
//  scan state asks for when that service has room.
static void
s_step (run_t *run, run_lineage_t *l)
{
    if (l->st == RUN_BACKOFF) {
        if (geak_clock_mono_ms () < l->retry_at)
            return;
        l->st = RUN_IDLE;
    }
    if (l->st != RUN_IDLE)
        return;
    if (l->staged) {
        Geak__Attempt *staged = l->staged;
        l->staged = NULL;
        s_store_put (run, l, staged);
        return;
    }
    int svc = l->scan.action == GEAK_SCAN_GENERATE ? RUN_SVC_GEN
            : l->scan.action == GEAK_SCAN_REFLECT  ? RUN_SVC_REFL
            : l->scan.action == GEAK_SCAN_OPTIMIZE ? RUN_SVC_OPT
            : l->scan.action == GEAK_SCAN_EVALUATE ? RUN_SVC_EVAL : -1;
    if (svc < 0) {
        l->st = RUN_DONE;
        return;
    }
    if (run->inflight [svc] >= s_limit (run, svc))
        return;
    char id [RUN_REQUEST_ID_MAX];
    s_attempt_id (run, l, l->scan.next_iteration, id, sizeof id);
    geak_rc_t rc;
    if (svc == RUN_SVC_GEN)
        rc = s_send_generate (run, l, id);
    else
    if (svc == RUN_SVC_REFL)
        rc = s_send_reflect (run, l, id);
    else
    if (svc == RUN_SVC_OPT)
        rc = s_send_optimize (run, l, id);
    else
        rc = s_send_eval (run, l, l->att [l->scan.target]->candidate, id, false);
    if (rc != GEAK_OK) {
        l->tries++;
        geak_warn ("run_send_failed", "request=%s code=%s tries=%u", l->request_id, geak_rc_name (rc),
                   l->tries);
        if (l->tries > TRANSPORT_TRIES)
            run_lineage_stuck (run, l, "cannot send to the broker");
        else
            s_backoff (l, l->tries);
    }
}

// ------------------------------------------------------------------ replies

//  A failure that is not the candidate's: try the step again later
static void
s_retry (run_t *run, run_lineage_t *l, bool redo, const char *what, const char *detail)
{
    uint32_t *count = redo ? &l->redo : &l->tries;
    (*count)++;
    uint32_t max = redo ? REDO_TRIES : TRANSPORT_TRIES;
    geak_warn ("run_retry", "request=%s what=%s detail=\"%s\" %s=%u", l->request_id, what,
               detail ? detail : "", redo ? "redo" : "tries", *count);
    if (*count > max) {
        char why [512];
        snprintf (why, sizeof why, "%s after %u tries: %s", what, *count, detail ? detail : "");
        run_lineage_stuck (run, l, why);
    }
    else
        s_backoff (l, *count);
}

static bool
s_error_is_transient (const char *code)
{
    geak_rc_t rc = geak_rc_from_name (code);
    return rc == GEAK_E_LLM || rc == GEAK_E_TIMEOUT || rc == GEAK_E_DEADLINE
        || rc == GEAK_E_WORKER_LOST || rc == GEAK_E_TRANSPORT || rc == GEAK_E_STORE_CONN
        || rc == GEAK_E_INTERRUPTED || rc == GEAK_E_IO;
}

static void
s_on_role_reply (run_t *run, run_lineage_t *l, const Geak__Envelope *env)
{
    if (env->body_case == GEAK__ENVELOPE__BODY_ERROR && env->error) {
        char detail [1200];
        snprintf (detail, sizeof detail, "%s: %s", env->error->code, env->error->message);
        if (geak_rc_from_name (env->error->code) == GEAK_E_LLM_REFUSED) {
            //  the endpoint refused (key, model, parameter): every lineage would meet it
            run_lineage_stuck (run, l, detail);
            run_stop (run, detail);
        }
        else
        if (s_error_is_transient (env->error->code))
            s_retry (run, l, true, "role_error", detail);
        else
            run_lineage_stuck (run, l, detail);
        return;
    }
    if (env->body_case != GEAK__ENVELOPE__BODY_ROLE_REPLY || !env->role_reply) {
        s_retry (run, l, true, "unexpected_reply", "the role answered something else than RoleReply");
        return;
    }
    const Geak__RoleReply *reply = env->role_reply;
    const Geak__Candidate *got = reply->candidate;
    char id [RUN_REQUEST_ID_MAX];
    s_attempt_id (run, l, l->scan.next_iteration, id, sizeof id);
    Geak__Lineage lineage = GEAK__LINEAGE__INIT;
    lineage.run_id = run->cfg->run_id;
    lineage.task = (char *) s_task_name (run, l);
    lineage.sample = l->sample;
    lineage.iteration = l->scan.next_iteration;
    lineage.role = l->svc == RUN_SVC_GEN ? GEAK__ROLE__GENERATOR
                 : l->svc == RUN_SVC_REFL ? GEAK__ROLE__REFLECTOR : GEAK__ROLE__OPTIMIZER;
    lineage.parent_attempt = l->scan.target >= 0 ? l->att [l->scan.target]->attempt_id : "";
    lineage.implementation = got && got->lineage && got->lineage->implementation
                           && *got->lineage->implementation ? got->lineage->implementation : "unknown";
    Geak__Candidate candidate = GEAK__CANDIDATE__INIT;
    if (got)
        candidate = *got;
    candidate.attempt_id = id;
    candidate.lineage = &lineage;
    bool truncated = reply->error_class == GEAK__ERROR_CLASS__TRUNCATED;
    bool no_code = truncated || reply->error_class == GEAK__ERROR_CLASS__NO_CODE || !candidate.code
                || !*candidate.code;
    Geak__Attempt attempt = GEAK__ATTEMPT__INIT;
    attempt.attempt_id = id;
    attempt.candidate = &candidate;
    attempt.created_ms = geak_clock_wall_ms ();
    attempt.status = no_code ? "evaluated" : "pending";
    Geak__EvalResult result = GEAK__EVAL_RESULT__INIT;
    if (no_code) {
        //  nothing to evaluate (or a cut-off reply): a failed attempt of its own
        result.attempt_id = id;
        result.error_class = truncated ? GEAK__ERROR_CLASS__TRUNCATED : GEAK__ERROR_CLASS__NO_CODE;
        result.error_message = reply->error_message && *reply->error_message
                             ? reply->error_message
                             : truncated ? "the LLM reply was cut off at its token cap"
                                         : "the reply held no usable code";
        attempt.result = &result;
        attempt.finished_ms = attempt.created_ms;
    }
    s_store_put (run, l, s_attempt_dup (&attempt));
}

static void
s_on_eval_reply (run_t *run, run_lineage_t *l, const Geak__Envelope *env)
{
    if (env->body_case == GEAK__ENVELOPE__BODY_ERROR && env->error) {
        char detail [1200];
        snprintf (detail, sizeof detail, "%s: %s", env->error->code, env->error->message);
        if (s_error_is_transient (env->error->code))
            s_retry (run, l, true, "evaluator_error", detail);
        else
            run_lineage_stuck (run, l, detail);
        return;
    }
    if (env->body_case != GEAK__ENVELOPE__BODY_EVAL_RESULT || !env->eval_result) {
        s_retry (run, l, true, "unexpected_reply", "the evaluator answered something else than EvalResult");
        return;
    }
    const Geak__EvalResult *got = env->eval_result;
    if (got->error_class == GEAK__ERROR_CLASS__HARNESS_ERROR && l->redo < REDO_TRIES) {
        //  our side failed: evaluate again (a new request id: the answer is cached)
        s_retry (run, l, true, "harness_error", got->error_message);
        return;
    }
    run->evaluations++;
    const Geak__Attempt *pending = l->att [l->scan.target];
    Geak__EvalResult result = *got;
    result.attempt_id = pending->attempt_id;
    Geak__Attempt attempt = *pending;
    attempt.result = &result;
    attempt.status = "evaluated";
    attempt.finished_ms = geak_clock_wall_ms ();
    s_store_put (run, l, s_attempt_dup (&attempt));
}

static void
s_on_check_reply (run_t *run, run_lineage_t *c, const Geak__Envelope *env)
{
    run_task_t *task = &run->cfg->tasks [c->task];
    free (task->status);
    free (task->reason);
    if (env->body_case == GEAK__ENVELOPE__BODY_EVAL_RESULT && env->eval_result) {
        const Geak__EvalResult *r = env->eval_result;
        s_keep_device (run, r->device);
        if (r->task_status && *r->task_status) {
            task->status = geak_strdup (r->task_status);
            task->reason = geak_strdup (r->task_status_reason ? r->task_status_reason : "");
        }
        else {
            task->status = geak_strdup ("unchecked");
            task->reason = geak_strdup ("the evaluator's answer has no task_status");
        }
    }
    else {
        char reason [1200];
        snprintf (reason, sizeof reason, "self-check refused: %s: %s",
                  env->body_case == GEAK__ENVELOPE__BODY_ERROR && env->error ? env->error->code : "?",
                  env->body_case == GEAK__ENVELOPE__BODY_ERROR && env->error ? env->error->message
                                                                           : "unexpected answer");
        task->status = geak_strdup ("unchecked");
        task->reason = geak_strdup (reason);
    }
    c->st = RUN_DONE;
    geak_info ("task_selfcheck", "task=%s status=%s reason=\"%.200s\"", task->name, task->status,
               task->reason);
}

static run_lineage_t *
s_owner (run_t *run, const char *request_id)
{
    if (!request_id)
        return NULL;
    for (size_t i = 0; run->checks && i < run->cfg->ntasks; i++)
        if (run->checks [i].st == RUN_WAIT && strcmp (run->checks [i].request_id, request_id) == 0)
            return &run->checks [i];
    for (size_t i = 0; i < run->nlin; i++)
        if (run->lin [i].st == RUN_WAIT && strcmp (run->lin [i].request_id, request_id) == 0)
            return &run->lin [i];
    return NULL;
}

static void
s_on_reply (run_t *run, geak_reply_t *reply)
{
    if (reply->partial)
        return;
    run_lineage_t *l = s_owner (run, reply->request_id);
    if (!l) {
        geak_debug ("run_stale_reply", "request=%s", reply->request_id ? reply->request_id : "-");
        return;
    }
    run->inflight [l->svc]--;
    l->st = RUN_IDLE;
    if (reply->rc == GEAK_E_TRANSPORT) {
        //  the client gave the broker up (silent): every request would meet it
        run_stop (run, reply->error ? reply->error : "the broker stopped answering");
        return;
    }
    if (reply->rc != GEAK_OK) {
        //  the broker or the transport gave up: never the candidate's fault
        if (l->selfcheck && l->tries + 1 >= 3) {
            run_task_t *task = &run->cfg->tasks [l->task];
            free (task->status);
            free (task->reason);
            task->status = geak_strdup ("unchecked");
            task->reason = geak_strdup (geak_rc_str (reply->rc));
            l->st = RUN_DONE;
            return;
        }
        s_retry (run, l, false, geak_rc_name (reply->rc), reply->error ? reply->error : "");
        return;
    }
    geak_rc_t rc;
    Geak__Envelope *env = geak_proto_unpack (reply->body, reply->size, GEAK__ENVELOPE__BODY__NOT_SET, &rc);
    if (!env) {
        s_retry (run, l, true, "malformed_reply", geak_rc_str (rc));
        return;
    }
    if (l->selfcheck)
        s_on_check_reply (run, l, env);
    else
    if (l->svc == RUN_SVC_EVAL)
        s_on_eval_reply (run, l, env);
    else
        s_on_role_reply (run, l, env);
    geak_proto_free (&env);
}

// ------------------------------------------------------------------ progress

void
run_totals (const run_t *run, size_t *done, size_t *attempts, uint32_t *passes, uint64_t *tin,
          uint64_t *tout, uint64_t *remaining)
{
    *done = *attempts = 0;
    *passes = 0;
    *tin = *tout = *remaining = 0;
    for (size_t i = 0; i < run->nlin; i++) {
        const run_lineage_t *l = &run->lin [i];
        *done += l->st == RUN_DONE;
        *attempts += l->n;
        *passes += l->scan.passes;
        if (l->st != RUN_DONE && l->st != RUN_STUCK)
            *remaining += run->cfg->iterations > l->n ? run->cfg->iterations - l->n : 0;
        for (size_t j = 0; j < l->n; j++)
            if (l->att [j]->candidate->usage) {
                *tin += l->att [j]->candidate->usage->tokens_in;
                *tout += l->att [j]->candidate->usage->tokens_out;
            }
    }
}

static void
s_human_count (uint64_t n, char *buf, size_t size)
{
    if (n >= 1000000)
        snprintf (buf, size, "%.1fM", n / 1e6);
    else
    if (n >= 1000)
        snprintf (buf, size, "%.1fk", n / 1e3);
    else
        snprintf (buf, size, "%llu", (unsigned long long) n);
}

void
run_progress (run_t *run, bool final)
{
    int64_t now = geak_clock_mono_ms ();
    if (run->quiet || (!final && now < run->next_progress))
        return;
    run->next_progress = now + (run->tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS);
    size_t done, attempts;
    uint32_t passes;
    uint64_t tin, tout, remaining;
    run_totals (run, &done, &attempts, &passes, &tin, &tout, &remaining);
    double elapsed = (now - run->t0) / 1000.0;
    double rate = elapsed > 0 ? run->attempts_new / elapsed : 0;
    double eta = rate > 0 ? remaining / rate : -1;
    if (run->tty) {
        char tokens [32], eta_text [32];
        s_human_count (tin + tout, tokens, sizeof tokens);
        if (eta >= 0)
            snprintf (eta_text, sizeof eta_text, "%dm%02ds", (int) eta / 60, (int) eta % 60);
        else
            snprintf (eta_text, sizeof eta_text, "?");
        fprintf (stderr, "\r\033[Kgeak run %s: lineages %zu/%zu  attempts %zu  passes %u  tokens %s"
                 "  in flight %d/%d/%d/%d  ETA %s%s", run->cfg->run_id, done, run->nlin, attempts,
                 passes, tokens, run->inflight [RUN_SVC_GEN], run->inflight [RUN_SVC_REFL],
                 run->inflight [RUN_SVC_OPT], run->inflight [RUN_SVC_EVAL], final ? "0m00s" : eta_text,
                 final ? "\n" : "");
        run->progress_shown = !final;
    }
    else
        geak_info ("run_progress", "run=%s lineages_done=%zu lineages=%zu attempts=%zu passes=%u "
                   "tokens_in=%llu tokens_out=%llu inflight=%d eta_s=%.0f", run->cfg->run_id, done,
                   run->nlin, attempts, passes, (unsigned long long) tin, (unsigned long long) tout,
                   run->inflight [0] + run->inflight [1] + run->inflight [2] + run->inflight [3], eta);
}

// ------------------------------------------------------------------ loops

//  Wait for the next reply (bounded) and handle it. false when the client failed.
static bool
s_pump (run_t *run, int timeout_ms)
{
    geak_reply_t *reply = NULL;
    geak_rc_t rc = geak_client_recv (run->client, &reply, timeout_ms);
    if (rc == GEAK_OK) {
        s_on_reply (run, reply);
        geak_reply_destroy (&reply);
        //  drain what else is ready without waiting
        while (geak_client_recv (run->client, &reply, 0) == GEAK_OK) {
            s_on_reply (run, reply);
            geak_reply_destroy (&reply);
        }
        return true;
    }
    return rc == GEAK_E_TIMEOUT || rc == GEAK_E_INTERRUPTED;
}

static int
s_wait_ms (const run_lineage_t *list, size_t n)
{
    int64_t now = geak_clock_mono_ms ();
    int64_t wait = 200;
    for (size_t i = 0; i < n; i++)
        if (list [i].st == RUN_BACKOFF && list [i].retry_at - now < wait)
            wait = list [i].retry_at - now;
    return wait < 0 ? 0 : (int) wait;
}

//  Self-check every task through the evaluators (fresh runs only)
int
run_selfcheck (run_t *run)
{
    size_t n = run->cfg->ntasks;
    run->checks = geak_malloc0 (n * sizeof *run->checks);
    for (size_t i = 0; i < n; i++) {
        run->checks [i].task = i;
        run->checks [i].selfcheck = true;
        run->checks [i].svc = RUN_SVC_EVAL;
    }
    if (run->workers [RUN_SVC_EVAL] <= 0)
        geak_warn ("run_no_evaluator", "run=%s note=\"no evaluator is registered at the broker yet: "
                   "the self-check waits for one\"", run->cfg->run_id);
    size_t done = 0;
    while (done < n && !run_interrupted && !run->stop_reason) {
        run_refresh_workers (run, false);
        done = 0;
        for (size_t i = 0; i < n; i++) {
            run_lineage_t *c = &run->checks [i];
            if (c->st == RUN_BACKOFF && geak_clock_mono_ms () >= c->retry_at)
                c->st = RUN_IDLE;
            if (c->st == RUN_STUCK) {
                //  could not ask: leave it unchecked
                run_task_t *task = &run->cfg->tasks [i];
                free (task->reason);
                task->reason = geak_strdup ("the self-check could not be run");
                c->st = RUN_DONE;
            }
            if (c->st == RUN_IDLE && run->inflight [RUN_SVC_EVAL] < s_limit (run, RUN_SVC_EVAL)) {
                char id [RUN_REQUEST_ID_MAX];
                snprintf (id, sizeof id, "%s.%s", run->cfg->run_id, run->cfg->tasks [i].name);
                if (s_send_eval (run, c, NULL, id, true) != GEAK_OK) {
                    c->tries++;
                    s_backoff (c, c->tries);
                    if (c->tries >= 3)
                        c->st = RUN_DONE;
                }
            }
            done += c->st == RUN_DONE;
        }
        if (done >= n)
            break;
        if (!s_pump (run, s_wait_ms (run->checks, n)))
            return -1;
    }
    free (run->checks);
    run->checks = NULL;
    return run_interrupted ? -1 : run->stop_reason ? -2 : 0;
}

//  Keep the run's lease; a lost or taken lease stops the run
static void
s_lease_renew (run_t *run)
{
    if (!run->lease_token || geak_clock_mono_ms () < run->lease_renew_at)
        return;
    geak_rc_t rc = geak_store_run_lease_renew (run->store, run->cfg->run_id, run->lease_token,
                                               run->lease_ttl_ms);
    run->lease_renew_at = geak_clock_mono_ms () + (rc == GEAK_OK ? run->lease_ttl_ms / 3 : 1000);
    if (rc == GEAK_E_LOST || rc == GEAK_E_FENCED) {
        char why [768];
        snprintf (why, sizeof why, "%s: %s", geak_rc_name (rc), geak_store_last_error (run->store));
        run_stop (run, why);
    }
    else
    if (rc != GEAK_OK)
        geak_warn ("run_lease_renew_failed", "run=%s code=%s error=\"%s\"", run->cfg->run_id,
                   geak_rc_name (rc), geak_store_last_error (run->store));
}

int
run_scan (run_t *run)
{
    for (;;) {
        if (run_interrupted)
            return -1;
        if (run->stop_reason)
            return -2;
        s_lease_renew (run);
        if (run->stop_reason)
            return -2;
        run_refresh_workers (run, false);
        size_t active = 0;
        for (size_t k = 0; k < run->nlin; k++) {
            run_lineage_t *l = &run->lin [(run->rr + k) % run->nlin];
            s_step (run, l);
            active += l->st != RUN_DONE && l->st != RUN_STUCK;
        }
        run->rr = run->nlin ? (run->rr + 1) % run->nlin : 0;
        run_progress (run, false);
        if (active == 0)
            return 0;
        if (!s_pump (run, s_wait_ms (run->lin, run->nlin))) {
            fprintf (stderr, "geak run: the client failed\n");
            return -1;
        }
    }
}

// ------------------------------------------------------------------ load / free

geak_rc_t
run_lineage_load (run_t *run, run_lineage_t *l)
{
    geak_store_list_t *ids = NULL;
    geak_rc_t rc = geak_store_lineage (run->store, run->cfg->run_id, s_task_name (run, l), l->sample, &ids);
    if (rc != GEAK_OK)
        return rc;
    for (size_t i = 0; i < ids->size && rc == GEAK_OK; i++) {
        Geak__Attempt *a = NULL;
        rc = geak_store_attempt_get (run->store, ids->items [i], &a);
        if (rc != GEAK_OK)
            break;
        if (!a->candidate || !a->candidate->lineage) {
            s_attempt_free (&a);
            rc = GEAK_E_MALFORMED;
            break;
        }
        if (l->n == l->alloc) {
            l->alloc = l->alloc ? l->alloc * 2 : 8;
            Geak__Attempt **bigger = realloc (l->att, l->alloc * sizeof *bigger);
            assert (bigger);
            l->att = bigger;
        }
        l->att [l->n++] = a;
        if (a->result)
            s_keep_device (run, a->result->device);
    }
    geak_store_list_destroy (&ids);
    return rc;
}

void
run_free (run_t *run)
{
    for (size_t i = 0; i < run->nlin; i++) {
        run_lineage_t *l = &run->lin [i];
        for (size_t j = 0; j < l->n; j++)
            s_attempt_free (&l->att [j]);
        free (l->att);
        s_attempt_free (&l->staged);
    }
    free (run->lin);
    run->lin = NULL;
    run->nlin = 0;
    free (run->checks);
    run->checks = NULL;
    free (run->stop_reason);
    run->stop_reason = NULL;
    free (run->first_stuck);
    run->first_stuck = NULL;
    if (run->device)
        geak__device_facts__free_unpacked (run->device, NULL);
    run->device = NULL;
}
