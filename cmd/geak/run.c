/*  geak run - the GEAK agent loop: pass@k scans over a task suite
    (generate -> evaluate -> reflect / optimize), stored attempt by attempt
    in Redis, resumable. Flags, resume semantics and the order of store
    writes: docs/run.md.

    geak run --tasks DIR [--task NAME]... --k K --iterations N [--max-debug M]
             [--llm SPEC] [--run-id ID | --resume ID] [--broker EP | --standalone]
             [--evaluators N] [--concurrency C] [--no-knowledge] [--no-one-shot]
             [--no-reflector] [--no-optimizer] [--correctness-only] [--timeout-ms MS]
             [--price-in USD_PER_MTOK] [--price-out USD_PER_MTOK] [--quiet]
             [--no-llm-check] [--require-durable]

    One driver per run: a lease in Redis (docs/store.md) with a fencing
    token every attempt write checks, with the lineage's length, in the same
    script; a second driver of a live run is refused naming the holder, and
    a store that lost data stops the run with what is missing (--resume
    repairs it). Redis without AOF is warned about (--require-durable: refused).

    Before a scan the LLM endpoint is checked (geak llm check) whenever the
    LLM configuration is known here (--llm, GEAK_LLM_*, --standalone): a
    wrong key, URL or model fails in seconds instead of after the self-check.

    One thread drives every lineage (task, sample) at once over the async
    client; what each lineage does next is decided by lib/geak_scan from its
    stored attempts only. */
#include "geak_prelude.h"
#include "geak_client.h"
#include "geak_config.h"
#include "geak_log.h"
#include "geak_proto.h"
#include "geak_store.h"
#include "commands.h"
#include "run_config.h"
#include "run_loop.h"
#include "standalone.h"
#include "llm.h"
#include "privstore.h"

#include <math.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static void
s_on_signal (int sig)
{
    GEAK_UNUSED (sig);
    run_interrupted = 1;
}

static void
s_usage (void)
{
    fprintf (stderr,
        "usage: geak run --tasks DIR [--task NAME]... --k K --iterations N [--max-debug M]\n"
        "                [--llm SPEC] [--run-id ID | --resume ID] [--broker EP | --standalone]\n"
        "                [--evaluators N] [--concurrency C] [--no-knowledge] [--no-one-shot]\n"
        "                [--no-reflector] [--no-optimizer] [--correctness-only] [--timeout-ms MS]\n"
        "                [--price-in USD_PER_MTOK] [--price-out USD_PER_MTOK] [--quiet]\n"
        "                [--no-llm-check] [--require-durable]\n"
        "  SPEC: replay:FILE | openai:MODEL[@BASE_URL] | anthropic:MODEL[@BASE_URL] | env\n");
}

// ------------------------------------------------------------------ store safety

//  AOF is what keeps the last second of attempts over a Redis restart
static int
s_check_durable (geak_store_t *store, bool required)
{
    bool aof = false;
    char *save = NULL;
    geak_rc_t rc = geak_store_persistence (store, &aof, &save);
    int status = 0;
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak run: %s: cannot read Redis's persistence settings (%s: %s)\n",
                 required ? "error" : "warning", geak_rc_name (rc), geak_store_last_error (store));
        status = required ? 1 : 0;
    }
    else
    if (!aof) {
        fprintf (stderr, "geak run: %s: Redis runs without AOF (appendonly no, save \"%s\"): a restart "
                 "loses the latest attempts%s; use appendonly yes with appendfsync everysec "
                 "(docs/store.md)%s\n", required ? "error" : "warning", save ? save : "",
                 save && *save ? "" : ", or every run", required ? "" : ". geak run detects the loss "
                 "and stops; --resume repairs it");
        status = required ? 1 : 0;
    }
    geak_info ("store_persistence", "aof=%d save=\"%s\" code=%s", (int) aof, save ? save : "",
               geak_rc_name (rc));
    free (save);
    return status;
}

//  Whether holder ("geak run on HOST pid N") is a process of this host that
//  no longer exists
static bool
s_holder_dead (const char *holder, const char *host)
{
    char their [128];
    int pid = 0;
    if (sscanf (holder, "geak run on %127s pid %d", their, &pid) != 2 || pid <= 0)
        return false;
    return strcmp (their, host) == 0 && kill (pid, 0) != 0 && errno == ESRCH;
}

//  Take the run's lease (one driver per run) and fence this driver's writes
static int
s_lease_take (run_t *run)
{
    char host [128] = "?";
    gethostname (host, sizeof host - 1);
    char owner [256];
    snprintf (owner, sizeof owner, "geak run on %s pid %d", host, (int) getpid ());
    long ttl = 30000;
    if (geak_config_int ("GEAK_RUN_LEASE_MS", ttl, 1000, 3600000, &ttl) != GEAK_OK) {
        fprintf (stderr, "geak run: GEAK_RUN_LEASE_MS must be an integer in [1000, 3600000]\n");
        return 1;
    }
    char *holder = NULL;
    int64_t left = 0;
    uint64_t token = 0;
    geak_rc_t rc = geak_store_run_lease_acquire (run->store, run->cfg->run_id, owner, NULL, ttl,
                                                 &token, &holder, &left);
    if (rc == GEAK_E_EXISTS && holder && s_holder_dead (holder, host)) {
        //  a driver of this host that is gone (kill -9): its lease is ours
        geak_warn ("run_lease_takeover", "run=%s dead_holder=\"%s\"", run->cfg->run_id, holder);
        char *dead = holder;
        holder = NULL;
        rc = geak_store_run_lease_acquire (run->store, run->cfg->run_id, owner, dead, ttl, &token,
                                           &holder, &left);
        free (dead);
    }
    if (rc == GEAK_E_EXISTS)
        fprintf (stderr, "geak run: run %s is being driven by %s (its lease runs %lld s more); "
                 "stop that one first, or wait for its lease to expire\n", run->cfg->run_id,
                 holder ? holder : "?", (long long) (left + 999) / 1000);
    else
    if (rc != GEAK_OK)
        fprintf (stderr, "geak run: cannot take the lease of run %s: %s\n", run->cfg->run_id,
                 geak_rc_str (rc));
    free (holder);
    if (rc != GEAK_OK)
        return 1;
    run->lease_token = token;
    run->lease_ttl_ms = ttl;
    run->lease_renew_at = geak_clock_mono_ms () + ttl / 3;
    geak_store_set_fence (run->store, run->cfg->run_id, token);
    geak_info ("run_lease", "run=%s token=%llu ttl_ms=%ld owner=\"%s\"", run->cfg->run_id,
               (unsigned long long) token, ttl, owner);
    return 0;
}

// ------------------------------------------------------------------ command

static bool
s_scannable (const run_task_t *task)
{
    return strcmp (task->status, "ok") == 0 || strcmp (task->status, "unchecked") == 0;
}

static void
s_default_run_id (char *buf, size_t size)
{
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    char hex [5];
    geak_random_hex (hex, 4);
    snprintf (buf, size, "run-%04d%02d%02d-%02d%02d%02d-%s", tm.tm_year + 1900, tm.tm_mon + 1,
              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, hex);
}

static bool
s_parse_uint_named (const char *option, const char *text, long min, long max, uint32_t *value)
{
    long v;
    if (geak_config_parse_long (text, min, max, &v) != GEAK_OK) {
        fprintf (stderr, "geak run: %s %.40s: expected an integer in [%ld, %ld]\n", option, text,
                 min, max);
        return false;
    }
    *value = (uint32_t) v;
    return true;
}
#define s_parse_uint(text, min, max, value) s_parse_uint_named (arg, text, min, max, value)

static bool
s_parse_price (const char *text, double *value)
{
    char *end = NULL;
    double v = strtod (text, &end);
    if (!end || *end || !isfinite (v) || v < 0 || v > 1e6)
        return false;
    *value = v;
    return true;
}

int
geak_cmd_run (int argc, char **argv)
{
    const char *tasks_root = geak_config_str ("GEAK_TASKS", "tasks");
    const char *endpoint = geak_config_str ("GEAK_BROKER", GEAK_DEFAULT_BROKER);
    bool broker_named = geak_config_str ("GEAK_BROKER", NULL) != NULL;
    const char *run_id = NULL, *resume = NULL, *llm = NULL;
    char **names = geak_malloc0 ((size_t) argc * sizeof *names);
    size_t nnames = 0;
    uint32_t k = 0, iterations = 0, max_debug = 3, timeout_ms = 0;
    uint32_t evaluators = 1, concurrency = 8;
    double price_in = 0, price_out = 0;
    bool standalone = false, quiet = false, correctness = false, llm_check = true;
    bool require_durable = false;
    bool knowledge = true, one_shot = true, reflector = true, optimizer = true;
    bool ok = true;
    for (int i = 1; i < argc && ok; i++) {
        const char *arg = argv [i];
        const char *val = i + 1 < argc ? argv [i + 1] : NULL;
        bool used = true;
        if (strcmp (arg, "--tasks") == 0 && val)
            tasks_root = val;
        else
        if (strcmp (arg, "--task") == 0 && val)
            names [nnames++] = (char *) val;
        else
        if (strcmp (arg, "--k") == 0 && val)
            ok = s_parse_uint (val, 1, 10000, &k);
        else
        if (strcmp (arg, "--iterations") == 0 && val)
            ok = s_parse_uint (val, 1, 10000, &iterations);
        else
        if (strcmp (arg, "--max-debug") == 0 && val)
            ok = s_parse_uint (val, 0, 10000, &max_debug);
        else
        if (strcmp (arg, "--llm") == 0 && val)
            llm = val;
        else
        if (strcmp (arg, "--run-id") == 0 && val)
            run_id = val;
        else
        if (strcmp (arg, "--resume") == 0 && val)
            resume = val;
        else
        if (strcmp (arg, "--broker") == 0 && val) {
            endpoint = val;
            broker_named = true;
        }
        else
        if (strcmp (arg, "--evaluators") == 0 && val)
            ok = s_parse_uint (val, 1, STANDALONE_MAX, &evaluators);
        else
        if (strcmp (arg, "--concurrency") == 0 && val)
            ok = s_parse_uint (val, 1, 4096, &concurrency);
        else
        if (strcmp (arg, "--timeout-ms") == 0 && val)
            ok = s_parse_uint (val, 100, 3600000, &timeout_ms);
        else
        if (strcmp (arg, "--price-in") == 0 && val)
            ok = s_parse_price (val, &price_in);
        else
        if (strcmp (arg, "--price-out") == 0 && val)
            ok = s_parse_price (val, &price_out);
        else {
            used = false;
            if (strcmp (arg, "--standalone") == 0)
                standalone = true;
            else
            if (strcmp (arg, "--quiet") == 0)
                quiet = true;
            else
            if (strcmp (arg, "--no-llm-check") == 0)
                llm_check = false;
            else
            if (strcmp (arg, "--require-durable") == 0)
                require_durable = true;
            else
            if (strcmp (arg, "--correctness-only") == 0)
                correctness = true;
            else
            if (strcmp (arg, "--no-knowledge") == 0)
                knowledge = false;
            else
            if (strcmp (arg, "--no-one-shot") == 0)
                one_shot = false;
            else
            if (strcmp (arg, "--no-reflector") == 0)
                reflector = false;
            else
            if (strcmp (arg, "--no-optimizer") == 0)
                optimizer = false;
            else
                ok = false;
        }
        if (used)
            i++;
    }
    if (ok && resume && run_id)
        ok = false;
    if (ok && !resume && (k == 0 || iterations == 0))
        ok = false;
    char **llm_env = NULL;
    if (ok && llm && standalone_llm_env (llm, &llm_env) != GEAK_OK) {
        fprintf (stderr, "geak run: --llm %s: expected replay:FILE, openai:MODEL[@URL], "
                         "anthropic:MODEL[@URL] or env\n", llm);
        ok = false;
    }
    if (!ok) {
        s_usage ();
        free (names);
        standalone_env_free (&llm_env);
        return 2;
    }

    int exit_code = 1;
    run_t run = { .concurrency = (int) concurrency, .quiet = quiet };
    run.tty = !quiet && isatty (STDERR_FILENO);
    run.t0 = geak_clock_mono_ms ();
    standalone_t *sa = NULL;
    char *error = NULL;
    char default_id [64];
    geak_rc_t rc;
    //  nothing configured: the embedded deployment (private broker, services, Redis)
    if (!standalone && !broker_named) {
        fprintf (stderr, "geak run: no broker configured (--broker, GEAK_BROKER): starting private "
                 "services (--standalone)\n");
        standalone = true;
    }
    if (privstore_ensure ("geak run") != 0)
        goto done;
    run.store = geak_store_new_from_env (&rc);
    if (!run.store) {
        fprintf (stderr, "geak run: cannot reach Redis at %s:%s (%s; GEAK_REDIS_HOST / "
                 "GEAK_REDIS_PORT, or leave both unset for a private one)\n",
                 geak_config_str ("GEAK_REDIS_HOST", "127.0.0.1"),
                 geak_config_str ("GEAK_REDIS_PORT", "6379"), geak_rc_str (rc));
        goto done;
    }
    geak_store_set_interrupt (run.store, &run_interrupted);
    if (s_check_durable (run.store, require_durable) != 0)
        goto done;
    if (resume) {
        char *config = NULL, *status = NULL;
        rc = geak_store_run_get (run.store, resume, &config, &status);
        if (rc == GEAK_E_NOT_FOUND) {
            fprintf (stderr, "geak run: run %s is not in the store at %s: it cannot be resumed (a "
                     "Redis restarted without persistence loses every run; docs/store.md)\n",
                     resume, geak_config_str ("GEAK_REDIS_HOST", "127.0.0.1"));
            goto done;
        }
        if (rc != GEAK_OK) {
            fprintf (stderr, "geak run: cannot read run %s: %s\n", resume, geak_rc_str (rc));
            goto done;
        }
        run.cfg = run_config_from_json (config, &error);
        free (config);
        free (status);
        if (!run.cfg) {
            fprintf (stderr, "geak run: run %s: %s\n", resume, error);
            goto done;
        }
        run_config_reload_tasks (run.cfg);
        if (!llm_env && standalone_llm_env (run.cfg->llm, &llm_env) != GEAK_OK)
            llm_env = NULL;
        if (s_lease_take (&run) != 0)
            goto done;
    }
    else {
        if (!run_id) {
            s_default_run_id (default_id, sizeof default_id);
            run_id = default_id;
        }
        if (!run_config_valid_name (run_id)) {
            fprintf (stderr, "geak run: --run-id must be 1..%d of [A-Za-z0-9_-]\n", RUN_NAME_MAX);
            goto done;
        }
        rc = geak_store_run_get (run.store, run_id, NULL, NULL);
        if (rc != GEAK_E_NOT_FOUND) {
            fprintf (stderr, rc == GEAK_OK ? "geak run: run %s exists (use --resume %s)\n"
                                           : "geak run: cannot check run %s (%s)\n",
                     run_id, rc == GEAK_OK ? run_id : geak_rc_str (rc));
            goto done;
        }
        run.cfg = run_config_new ();
        run.cfg->run_id = geak_strdup (run_id);
        run.cfg->k = k;
        run.cfg->iterations = iterations;
        run.cfg->max_debug = max_debug;
        free (run.cfg->llm);
        run.cfg->llm = geak_strdup (llm ? llm : "env");
        run.cfg->correctness_only = correctness;
        run.cfg->timeout_ms = timeout_ms;
        run.cfg->knowledge = knowledge;
        run.cfg->one_shot = one_shot;
        run.cfg->reflector = reflector;
        run.cfg->optimizer = optimizer;
        run.cfg->price_in = price_in;
        run.cfg->price_out = price_out;
        if (run_config_load_tasks (run.cfg, tasks_root, names, nnames, &error) != GEAK_OK) {
            fprintf (stderr, "geak run: %s\n", error);
            goto done;
        }
        //  attempt ids (+ phase) must fit a request id
        size_t longest = 0;
        for (size_t i = 0; i < run.cfg->ntasks; i++)
            if (strlen (run.cfg->tasks [i].name) > longest)
                longest = strlen (run.cfg->tasks [i].name);
        if (strlen (run.cfg->run_id) + longest + 32 > RUN_REQUEST_ID_MAX) {
            fprintf (stderr, "geak run: run id + task name too long for attempt ids\n");
            goto done;
        }
    }

    struct sigaction sa_sig;
    memset (&sa_sig, 0, sizeof sa_sig);
    sa_sig.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa_sig, NULL);
    sigaction (SIGTERM, &sa_sig, NULL);

    if (llm_check && llm_preflight ("geak run", llm_env, standalone) != 0) {
        fprintf (stderr, "geak run: fix the LLM configuration (geak llm check), or pass "
                         "--no-llm-check; the run was %s\n", resume ? "left as it was" : "not created");
        goto done;
    }
    if (standalone) {
        standalone_opts_t opts = {
            .tool = "geak run", .tasks = run.cfg->tasks_root, .evaluators = (int) evaluators,
            .roles = true, .role_threads = concurrency < 8 ? (int) concurrency : 8,
            .role_env = llm_env,
        };
        sa = standalone_new (&opts);
        if (!sa)
            goto done;
        endpoint = standalone_endpoint (sa);
    }
    run.client = geak_client_new (NULL, endpoint);
    if (!run.client) {
        fprintf (stderr, "geak run: cannot connect to %s\n", endpoint);
        goto done;
    }
    if (!standalone && standalone_service_workers (run.client, GEAK_SERVICE_EVALUATOR) < 0) {
        //  a broker that does not answer is an error in seconds, not a wait
        fprintf (stderr, "geak run: no broker answers at %s (2 s); start one (geak-broker), fix "
                 "--broker / GEAK_BROKER, or use --standalone\n", endpoint);
        goto done;
    }
    run_refresh_workers (&run, true);

    if (!resume) {
        if (run_selfcheck (&run) != 0) {
            fprintf (stderr, "geak run: %s during the self-check; the run was not created\n",
                     run_interrupted ? "interrupted" : run.stop_reason ? run.stop_reason
                                                     : "the client failed");
            exit_code = run_interrupted ? 130 : 1;
            goto done;
        }
        run.cfg->created_ms = geak_clock_wall_ms ();
        char *config = run_config_to_json (run.cfg);
        rc = geak_store_run_create (run.store, run.cfg->run_id, config);
        free (config);
        if (rc != GEAK_OK) {
            fprintf (stderr, "geak run: cannot create run %s: %s\n", run.cfg->run_id, geak_rc_str (rc));
            goto done;
        }
        if (s_lease_take (&run) != 0)
            goto done;
        for (size_t i = 0; i < run.cfg->ntasks && rc == GEAK_OK; i++)
            rc = geak_store_run_add_task (run.store, run.cfg->run_id, run.cfg->tasks [i].name);
        if (rc != GEAK_OK) {
            fprintf (stderr, "geak run: cannot record tasks: %s\n", geak_rc_str (rc));
            goto done;
        }
    }
    //  lineages of the scannable tasks, folded from what the store holds
    size_t scannable = 0;
    for (size_t i = 0; i < run.cfg->ntasks; i++)
        scannable += s_scannable (&run.cfg->tasks [i]);
    run.nlin = scannable * run.cfg->k;
    run.lin = geak_malloc0 ((run.nlin + 1) * sizeof *run.lin);
    size_t at = 0;
    for (size_t i = 0; i < run.cfg->ntasks; i++) {
        if (!s_scannable (&run.cfg->tasks [i])) {
            geak_warn ("task_skipped", "run=%s task=%s status=%s loaded=%d reason=\"%.200s\"",
                       run.cfg->run_id, run.cfg->tasks [i].name, run.cfg->tasks [i].status,
                       (int) run.cfg->tasks [i].loaded, run.cfg->tasks [i].reason);
            continue;
        }
        for (uint32_t s = 0; s < run.cfg->k; s++) {
            run_lineage_t *l = &run.lin [at++];
            l->task = i;
            l->sample = s;
            rc = resume ? run_lineage_load (&run, l) : GEAK_OK;
            if (rc != GEAK_OK) {
                fprintf (stderr, "geak run: cannot read lineage %s/%u: %s\n",
                         run.cfg->tasks [i].name, s, geak_rc_str (rc));
                goto done;
            }
            run_lineage_fold (&run, l);
            if (!run.cfg->tasks [i].loaded && l->st != RUN_DONE)
                run_lineage_stuck (&run, l, "its task.json cannot be read any more");
        }
    }
    if (resume) {
        rc = geak_store_run_set_status (run.store, run.cfg->run_id, "running");
        if (rc != GEAK_OK)
            geak_warn ("run_status_failed", "run=%s code=%s", run.cfg->run_id, geak_rc_name (rc));
    }
    geak_info ("run_start", "run=%s resume=%d tasks=%zu lineages=%zu k=%u iterations=%u "
               "max_debug=%u endpoint=%s", run.cfg->run_id, resume != NULL, run.cfg->ntasks,
               run.nlin, run.cfg->k, run.cfg->iterations, run.cfg->max_debug, endpoint);
    run.t0 = geak_clock_mono_ms ();
    int scan_rc = run_scan (&run);
    run_progress (&run, true);
    if (run.progress_shown)
        fputc ('\n', stderr);

    size_t done = 0, attempts = 0, stuck = 0;
    uint32_t passes;
    uint64_t tin, tout, remaining;
    run_totals (&run, &done, &attempts, &passes, &tin, &tout, &remaining);
    for (size_t i = 0; i < run.nlin; i++)
        stuck += run.lin [i].st == RUN_STUCK;
    const char *status = scan_rc == -2 ? "failed" : scan_rc != 0 ? "interrupted"
                       : stuck ? "incomplete" : "done";
    char *reason = scan_rc == -2 ? geak_strdup (run.stop_reason ? run.stop_reason : "stopped")
                 : scan_rc != 0 ? geak_strdup ("interrupted (resume with geak run --resume)")
                 : stuck ? geak_strdupf ("%zu of %zu lineages stuck; the first: %s", stuck, run.nlin,
                                         run.first_stuck ? run.first_stuck : "?")
                 : geak_strdup ("");
    //  the final word only while this driver still holds the run
    rc = run.lease_token ? geak_store_run_lease_renew (run.store, run.cfg->run_id, run.lease_token,
                                                       run.lease_ttl_ms) : GEAK_OK;
    if (rc == GEAK_OK)
        rc = geak_store_run_set_status_reason (run.store, run.cfg->run_id, status, reason);
    if (rc == GEAK_OK && run.lease_token)
        rc = geak_store_run_lease_release (run.store, run.cfg->run_id, run.lease_token);
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak run: cannot record the run's status %s: %s\n", status, geak_rc_str (rc));
        if (strcmp (status, "done") == 0)
            status = "incomplete";
    }
    if (*reason)
        fprintf (stderr, "geak run: run %s %s: %s\n", run.cfg->run_id, status, reason);
    if (scan_rc == -1) {
        size_t unsaved = 0;
        for (size_t i = 0; i < run.nlin; i++)
            unsaved += run.lin [i].st == RUN_WAIT || run.lin [i].staged != NULL;
        fprintf (stderr, "geak run: stopped: %llu attempts saved by this invocation, %zu steps in "
                 "flight not saved (geak run --resume %s redoes them)\n",
                 (unsigned long long) run.attempts_new, unsaved, run.cfg->run_id);
    }
    double elapsed = (geak_clock_mono_ms () - run.t0) / 1000.0;
    uint64_t work = run.attempts_new > run.evaluations ? run.attempts_new : run.evaluations;
    printf ("{\"run_id\":\"%s\",\"status\":\"%s\",\"lineages\":%zu,\"lineages_done\":%zu,"
            "\"attempts\":%zu,\"attempts_new\":%llu,\"evaluations\":%llu,\"passes\":%u,"
            "\"tokens_in\":%llu,\"tokens_out\":%llu,\"elapsed_s\":%.3f,\"ms_per_attempt\":%.1f}\n",
            run.cfg->run_id, status, run.nlin, done, attempts,
            (unsigned long long) run.attempts_new, (unsigned long long) run.evaluations, passes,
            (unsigned long long) tin, (unsigned long long) tout, elapsed,
            work ? elapsed * 1000.0 / (double) work : 0.0);
    fflush (stdout);
    geak_info ("run_end", "run=%s status=%s attempts=%zu new=%llu stuck=%zu elapsed_s=%.1f "
               "reason=\"%s\"", run.cfg->run_id, status, attempts,
               (unsigned long long) run.attempts_new, stuck, elapsed, reason);
    free (reason);
    exit_code = strcmp (status, "done") == 0 ? 0 : scan_rc == -1 ? 130 : 1;

done:
    run_free (&run);
    geak_client_destroy (&run.client);
    standalone_destroy (&sa);
    geak_store_destroy (&run.store);
    run_config_destroy (&run.cfg);
    standalone_env_free (&llm_env);
    free (error);
    free (names);
    return exit_code;
}
