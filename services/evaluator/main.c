/*  geak-evaluator - the evaluator role: runs candidate Triton kernels in the
    Python fork-server harness and answers EvalResult (docs/evaluator.md).

    Role options (env in brackets), after the common service options:
      --harness-dir DIR    [GEAK_HARNESS_DIR]  directory holding the harness
                           package (or the package itself); default
                           services/evaluator from the cwd or the source tree
      --tasks DIR          [GEAK_TASKS]        task root, default ./tasks
      --gpu N              [GEAK_EVAL_GPU]     pin device N: its harness sees only it
      --python PATH        [GEAK_PYTHON]       default python3
      --timeout-ms N       [GEAK_EVAL_TIMEOUT_MS]  default per-eval wall clock, 120000
      --perf-reps N        [GEAK_EVAL_PERF_REPS]   default 100
      --drop-uid N         [GEAK_EVAL_DROP_UID]    first sandbox uid (root only): worker
                           thread i's candidates run as N + i; default 61000
      --require-isolation  [GEAK_EVAL_REQUIRE_ISOLATION=1]  refuse to evaluate unless
                           every sandbox layer is active (docs/security.md); /readyz
                           then says not ready and names the missing layers
      --sandbox-root DIR   [GEAK_SANDBOX_ROOT]
      --cache-dir DIR      [GEAK_EVAL_CACHE_DIR]   passed to the harness
      --start-timeout-ms N [GEAK_HARNESS_START_MS] first pong, default 120000
      --interpret                              force TRITON_INTERPRET=1 (no timings)
      --selftest [-v]                          run the unit checks of this role and exit

    An EvalRequest with options.selfcheck checks the task's reference instead
    of a candidate (the candidate may be absent): the harness's selfcheck op,
    answered with task_status/task_status_reason and cached per task (path and
    the size/mtime of its files) for the life of this process. */
#include "geak_prelude.h"
#include "geak_config.h"
#include "geak_gpu.h"
#include "geak_harness.h"
#include "geak_log.h"
#include "geak_proto.h"
#include "geak_sandbox.h"
#include "geak_service.h"
#include "geak_evalresult.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREADS 256
#define TIMEOUT_MAX_MS (3600u * 1000u)
#define CODE_FILE "candidate.py"
#define SELFCHECK_CACHE_MAX 256

//  One cached selfcheck answer: the packed EvalResult, without per-request fields
typedef struct {
    char *key;
    uint8_t *packed;
    size_t size;
} selfcheck_entry_t;

typedef struct {
    char *harness_dir;
    char *tasks_root;           //  realpath
    char *python;
    char *sandbox_root;
    char *cache_dir;
    long gpu;                   //  -1: not pinned
    long timeout_ms;
    long perf_reps;
    long drop_uid;              //  -1: none
    bool require_isolation;
    long start_timeout_ms;
    bool interpret;
    char visible_var [32];
    char visible_value [64];
    geak_gpu_info_t device;     //  the device this evaluator uses
    Geak__DeviceFacts facts;    //  points into device (health replies)
    char host [128];
    geak_harness_t *procs [MAX_THREADS];    //  slot i used only by worker thread i
    pthread_mutex_t selfcheck_lock;         //  guards the selfcheck cache (all threads)
    selfcheck_entry_t selfchecks [SELFCHECK_CACHE_MAX];
    size_t n_selfchecks;                    //  ring: the oldest is replaced when full
    size_t selfcheck_next;
    int harness_failures;                   //  evaluations in a row that ended harness_error (atomic)
    char iso_missing [256];                 //  missing sandbox layers, last pong (selfcheck_lock)
} evaluator_t;

//  /readyz turns false after this many harness_error verdicts in a row (each
//  one already retried once): the fork server cannot start or keeps dying,
//  so a rollout should not send this pod work
#define HARNESS_FAILURES_NOT_READY 3

// ------------------------------------------------------------------ options

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return path && stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

static geak_rc_t
s_long_opt (const char *text, long min, long max, long *value, const char *name)
{
    if (geak_config_parse_long (text, min, max, value) != GEAK_OK) {
        fprintf (stderr, "geak-evaluator: %s must be an integer in [%ld, %ld]\n", name, min, max);
        return GEAK_E_CONFIG;
    }
    return GEAK_OK;
}

//  Pick the entry of an existing visibility list the way the runtime would
static void
s_nth_visible (const char *list, long n, char *out, size_t size)
{
    if (!list) {
        snprintf (out, size, "%ld", n);
        return;
    }
    char *copy = geak_strdup (list);
    char *save = NULL;
    long i = 0;
    snprintf (out, size, "%ld", n);
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save), i++)
        if (i == n) {
            snprintf (out, size, "%s", tok);
            break;
        }
    free (copy);
}

static void s_fini (void *state);

static geak_harness_t *s_proc_for (evaluator_t *self, int thread);
static void s_note_isolation (evaluator_t *self, geak_harness_t *proc);

static geak_rc_t
s_init (int argc, char **argv, void **state_p)
{
    evaluator_t *self = geak_malloc0 (sizeof *self);
    pthread_mutex_init (&self->selfcheck_lock, NULL);
    const char *harness = getenv ("GEAK_HARNESS_DIR");
    const char *tasks = geak_config_str ("GEAK_TASKS", "tasks");
    const char *python = geak_config_str ("GEAK_PYTHON", "python3");
    const char *sandbox_root = getenv ("GEAK_SANDBOX_ROOT");
    const char *cache_dir = getenv ("GEAK_EVAL_CACHE_DIR");
    geak_rc_t rc = GEAK_OK;
    rc = geak_config_int ("GEAK_EVAL_GPU", -1, -1, 63, &self->gpu);
    if (!rc)
        rc = geak_config_int ("GEAK_EVAL_TIMEOUT_MS", 120000, 100, TIMEOUT_MAX_MS, &self->timeout_ms);
    if (!rc)
        rc = geak_config_int ("GEAK_EVAL_PERF_REPS", 100, 1, 100000, &self->perf_reps);
    if (!rc)
        rc = geak_config_int ("GEAK_EVAL_DROP_UID", -1, -1, INT_MAX, &self->drop_uid);
    if (!rc) {
        long req_iso = 0;
        rc = geak_config_int ("GEAK_EVAL_REQUIRE_ISOLATION", 0, 0, 1, &req_iso);
        self->require_isolation = req_iso == 1;
    }
    if (!rc)
        rc = geak_config_int ("GEAK_HARNESS_START_MS", 120000, 1000, 3600000,
                              &self->start_timeout_ms);
    if (rc) {
        geak_error ("bad_config", "what=%s", "GEAK_EVAL_* environment");
        free (self);
        return GEAK_E_CONFIG;
    }
    for (int i = 1; i < argc && !rc; i++) {
        const char *arg = argv [i];
        bool has = i + 1 < argc;
        if (strcmp (arg, "--harness-dir") == 0 && has)
            harness = argv [++i];
        else
        if (strcmp (arg, "--tasks") == 0 && has)
            tasks = argv [++i];
        else
        if (strcmp (arg, "--python") == 0 && has)
            python = argv [++i];
        else
        if (strcmp (arg, "--sandbox-root") == 0 && has)
            sandbox_root = argv [++i];
        else
        if (strcmp (arg, "--cache-dir") == 0 && has)
            cache_dir = argv [++i];
        else
        if (strcmp (arg, "--gpu") == 0 && has)
            rc = s_long_opt (argv [++i], 0, 63, &self->gpu, "--gpu");
        else
        if (strcmp (arg, "--timeout-ms") == 0 && has)
            rc = s_long_opt (argv [++i], 100, TIMEOUT_MAX_MS, &self->timeout_ms, "--timeout-ms");
        else
        if (strcmp (arg, "--perf-reps") == 0 && has)
            rc = s_long_opt (argv [++i], 1, 100000, &self->perf_reps, "--perf-reps");
        else
        if (strcmp (arg, "--drop-uid") == 0 && has)
            rc = s_long_opt (argv [++i], 0, INT_MAX, &self->drop_uid, "--drop-uid");
        else
        if (strcmp (arg, "--start-timeout-ms") == 0 && has)
            rc = s_long_opt (argv [++i], 1000, 3600000, &self->start_timeout_ms,
                             "--start-timeout-ms");
        else
        if (strcmp (arg, "--interpret") == 0)
            self->interpret = true;
        else
        if (strcmp (arg, "--require-isolation") == 0)
            self->require_isolation = true;
        else {
            fprintf (stderr, "geak-evaluator: unknown option %s\n", arg);
            rc = GEAK_E_CONFIG;
        }
    }
    if (rc) {
        free (self);
        return GEAK_E_CONFIG;
    }
    self->harness_dir = geak_harness_find_dir (harness);
    if (!self->harness_dir) {
        geak_error ("harness_not_found", "given=%s", harness ? harness : "(default)");
        free (self);
        return GEAK_E_CONFIG;
    }
    self->tasks_root = realpath (tasks, NULL);
    if (!self->tasks_root || !s_is_dir (self->tasks_root)) {
        geak_error ("tasks_not_found", "dir=%s", tasks);
        s_fini (self);
        return GEAK_E_CONFIG;
    }
    self->python = geak_strdup (python);
    self->sandbox_root = sandbox_root ? geak_strdup (sandbox_root) : NULL;
    self->cache_dir = cache_dir ? geak_strdup (cache_dir) : NULL;
    if (self->drop_uid >= 0 && geteuid () != 0) {
        geak_warn ("drop_uid_ignored", "reason=not_root uid=%ld", self->drop_uid);
        self->drop_uid = -1;
    }

    //  the device: probe, then pin
    geak_gpu_info_t *list = NULL;
    int count = 0;
    if (geak_gpu_probe (&list, &count) != GEAK_OK) {
        s_fini (self);
        return GEAK_E_NOMEM;
    }
    if (self->gpu >= count && count > 0) {
        geak_error ("gpu_out_of_range", "gpu=%ld count=%d", self->gpu, count);
        free (list);
        s_fini (self);
        return GEAK_E_CONFIG;
    }
    if (count == 0) {
        if (self->gpu >= 0)
            geak_warn ("gpu_ignored", "reason=no_gpu gpu=%ld", self->gpu);
        self->gpu = -1;
        self->interpret = true;
        self->device = list [0];
    }
    else {
        self->device = list [self->gpu >= 0 ? self->gpu : 0];
        if (self->gpu >= 0) {
            bool amd = strcmp (self->device.vendor, "amd") == 0;
            const char *var = amd ? "HIP_VISIBLE_DEVICES" : "CUDA_VISIBLE_DEVICES";
            const char *current = getenv (var);
            if (amd && !current)
                current = getenv ("CUDA_VISIBLE_DEVICES");
            snprintf (self->visible_var, sizeof self->visible_var, "%s", var);
            s_nth_visible (current, self->gpu, self->visible_value, sizeof self->visible_value);
        }
        if (self->interpret) {
            self->device.interpreted = true;
            snprintf (self->device.runtime, sizeof self->device.runtime, "interpreter");
        }
    }
    free (list);
    geak__device_facts__init (&self->facts);
    geak_gpu_fill_facts (&self->device, &self->facts);
    if (gethostname (self->host, sizeof self->host) != 0)
        snprintf (self->host, sizeof self->host, "unknown");
    self->host [sizeof self->host - 1] = 0;
    geak_info ("evaluator_init", "harness=%s tasks=%s vendor=%s arch=%s gpu=%ld interpret=%d "
               "timeout_ms=%ld drop_uid=%ld", self->harness_dir, self->tasks_root,
               self->device.vendor, self->device.arch, self->gpu, self->interpret,
               self->timeout_ms, self->drop_uid);
    //  start the first fork server (and its warm candidate sandbox) now, not on the first
    //  request: a static failure is then answered in milliseconds from the start
    geak_harness_t *first = s_proc_for (self, 0);
    if (first && geak_harness_ensure (first) == GEAK_OK)
        s_note_isolation (self, first);
    *state_p = self;
    return GEAK_OK;
}

static void
s_fini (void *state)
{
    evaluator_t *self = state;
    if (!self)
        return;
    for (int i = 0; i < MAX_THREADS; i++)
        geak_harness_destroy (&self->procs [i]);
    for (size_t i = 0; i < self->n_selfchecks; i++) {
        free (self->selfchecks [i].key);
        free (self->selfchecks [i].packed);
    }
    pthread_mutex_destroy (&self->selfcheck_lock);
    free (self->harness_dir);
    free (self->tasks_root);
    free (self->python);
    free (self->sandbox_root);
    free (self->cache_dir);
    free (self);
}

static void
s_health (void *state, Geak__HealthReply *health)
{
    evaluator_t *self = state;
    health->device = &self->facts;
}

//  /readyz: not ready while the harness keeps failing (see HARNESS_FAILURES_NOT_READY)
static bool
s_ready (void *state, char *why, size_t why_size)
{
    evaluator_t *self = state;
    int failures = __atomic_load_n (&self->harness_failures, __ATOMIC_RELAXED);
    if (failures >= HARNESS_FAILURES_NOT_READY) {
        snprintf (why, why_size, "the harness failed the last %d evaluations", failures);
        return false;
    }
    //  the sandbox layers the fork servers last reported (all threads share the host)
    char missing [sizeof self->iso_missing];
    pthread_mutex_lock (&self->selfcheck_lock);
    memcpy (missing, self->iso_missing, sizeof missing);
    pthread_mutex_unlock (&self->selfcheck_lock);
    if (*missing) {
        snprintf (why, why_size, "candidate isolation missing: %s%s", missing,
                  self->require_isolation ? " (required)" : "");
        return !self->require_isolation;
    }
    return true;
}

// ------------------------------------------------------------------ one eval

static geak_harness_t *
s_proc_for (evaluator_t *self, int thread)
{
    if (thread < 0 || thread >= MAX_THREADS)
        return NULL;
    if (!self->procs [thread]) {
        geak_harness_opts_t opts = {
            .python = self->python,
            .harness_dir = self->harness_dir,
            .device_index = self->gpu >= 0 ? 0 : -1,
            .visible_var = self->gpu >= 0 ? self->visible_var : NULL,
            .visible_value = self->gpu >= 0 ? self->visible_value : NULL,
            .interpret = self->interpret,
            .cache_dir = self->cache_dir,
            //  one uid per worker thread: RLIMIT_NPROC and signals stay per sandbox
            .sandbox_uid = geteuid () == 0 ? (int) (self->drop_uid >= 0 ? self->drop_uid : 61000) + thread : -1,
            .require_isolation = self->require_isolation,
            .start_timeout_ms = (int) self->start_timeout_ms,
        };
        self->procs [thread] = geak_harness_new (&opts);
    }
    return self->procs [thread];
}

//  The task directory under the task root (never outside it), or NULL
static char *
s_task_dir (evaluator_t *self, const Geak__TaskRef *task)
{
    const char *names [2] = { task->path, task->name };
    for (int i = 0; i < 2; i++) {
        const char *name = names [i];
        if (!name || !*name)
            continue;
        char joined [PATH_MAX];
        if (name [0] == '/')
            snprintf (joined, sizeof joined, "%s", name);
        else
            snprintf (joined, sizeof joined, "%s/%s", self->tasks_root, name);
        char *real = realpath (joined, NULL);
        if (!real)
            continue;
        size_t root_len = strlen (self->tasks_root);
        if (s_is_dir (real) && strncmp (real, self->tasks_root, root_len) == 0
            && (real [root_len] == '/' || real [root_len] == 0))
            return real;
        free (real);
    }
    return NULL;
}

static uint64_t
s_fresh_seed (void)
{
    uint64_t seed = 0;
    if (getrandom (&seed, sizeof seed, 0) != (ssize_t) sizeof seed)
        seed = (uint64_t) geak_clock_mono_us () * 6364136223846793005ull + (uint64_t) getpid ();
    return seed & ((1ull << 48) - 1);      //  exact as a JSON number
}

//  Keep the fork server's missing isolation layers for /readyz (and warn when they change)
static void
s_note_isolation (evaluator_t *self, geak_harness_t *proc)
{
    char missing [sizeof self->iso_missing];
    geak_harness_isolation_missing (proc, missing, sizeof missing);
    pthread_mutex_lock (&self->selfcheck_lock);
    bool changed = strcmp (missing, self->iso_missing) != 0;
    memcpy (self->iso_missing, missing, sizeof missing);
    pthread_mutex_unlock (&self->selfcheck_lock);
    if (changed && *missing)
        geak_warn ("isolation_missing", "layers=%s required=%d", missing, self->require_isolation);
}

//  The sandbox limits for a run of run_ms, and the uid to drop to (null: none),
//  as the harness reads them in eval and selfcheck requests
static void
s_add_limits (evaluator_t *self, cJSON *req, uint32_t run_ms)
{
    geak_sandbox_limits_t limits;
    geak_sandbox_limits_for (&limits, run_ms);
    cJSON *l = cJSON_AddObjectToObject (req, "limits");
    cJSON_AddNumberToObject (l, "cpu_s", limits.cpu_s);
    cJSON_AddNumberToObject (l, "nproc", limits.nproc);
    cJSON_AddNumberToObject (l, "fsize_mb", limits.fsize_mb);
    cJSON_AddNumberToObject (l, "nofile", limits.nofile);
    cJSON_AddNumberToObject (l, "as_mb", limits.as_mb);
    if (self->drop_uid >= 0)
        cJSON_AddNumberToObject (req, "drop_uid", (double) self->drop_uid);
    else
        cJSON_AddNullToObject (req, "drop_uid");
}

static cJSON *
s_eval_request (evaluator_t *self, const char *task_dir, geak_sandbox_t *sandbox,
                bool correctness, uint32_t perf_reps, uint32_t timeout_ms, bool determinism)
{
    cJSON *req = cJSON_CreateObject ();
    cJSON_AddStringToObject (req, "op", "eval");
    cJSON_AddStringToObject (req, "task_dir", task_dir);
    cJSON_AddStringToObject (req, "sandbox_dir", geak_sandbox_dir (sandbox));
    cJSON_AddStringToObject (req, "code_file", CODE_FILE);
    cJSON_AddNumberToObject (req, "seed", (double) s_fresh_seed ());
    cJSON_AddStringToObject (req, "mode", correctness ? "correctness" : "full");
    cJSON_AddNumberToObject (req, "perf_reps", perf_reps);
    geak_harness_request_timeout (req, timeout_ms);
    cJSON_AddBoolToObject (req, "check_determinism", determinism);
    s_add_limits (self, req, timeout_ms);
    return req;
}

//  Run the candidate once through the fork server: a result, a timeout
//  result, or NULL with *why when the harness broke (already restarted).
static Geak__EvalResult *
s_run_once (evaluator_t *self, geak_harness_t *proc, const char *task_dir, const char *code,
            bool correctness, uint32_t perf_reps, uint32_t timeout_ms, bool determinism,
            char **why)
{
    *why = NULL;
    geak_rc_t rc;
    geak_sandbox_t *sandbox = geak_sandbox_new (self->sandbox_root, (int) self->drop_uid, &rc);
    if (!sandbox) {
        *why = geak_strdup ("cannot create the sandbox directory");
        return NULL;
    }
    if (geak_sandbox_write (sandbox, CODE_FILE, code, strlen (code)) != GEAK_OK) {
        geak_sandbox_destroy (&sandbox);
        *why = geak_strdup ("cannot write the candidate into the sandbox");
        return NULL;
    }
    cJSON *req = s_eval_request (self, task_dir, sandbox, correctness, perf_reps, timeout_ms,
                                 determinism);
    cJSON *json = NULL;
    //  the harness enforces timeout_s itself; ours is the backstop
    uint32_t grace = timeout_ms / 10 > 2000 ? timeout_ms / 10 : 2000;
    geak_harness_outcome_t outcome = geak_harness_eval (proc, req, sandbox, timeout_ms + grace,
                                                        &json, why);
    cJSON_Delete (req);
    geak_sandbox_destroy (&sandbox);
    s_note_isolation (self, proc);
    if (outcome == GEAK_HARNESS_EVAL_TIMEOUT) {
        geak_info ("eval_killed", "why=\"%s\"", *why ? *why : "");
        free (*why);
        *why = NULL;
        char message [160];
        snprintf (message, sizeof message, "wall-clock timeout: still running %u ms after the "
                  "%u ms limit; the evaluator killed its process group", grace, timeout_ms);
        Geak__EvalResult *r = geak_evalresult_new (GEAK__ERROR_CLASS__TIMEOUT, message);
        r->call_ok = false;
        return r;
    }
    if (outcome == GEAK_HARNESS_EVAL_BROKEN)
        return NULL;
    char *invalid = NULL;
    Geak__EvalResult *r = geak_evalresult_from_json (json, &invalid);
    if (!r) {
        //  a result we cannot trust is the harness's fault, not the candidate's
        geak_warn ("harness_result_invalid", "why=\"%s\"", invalid);
        if (asprintf (why, "harness result invalid: %s", invalid) < 0)
            *why = NULL;
        free (invalid);
        geak_harness_stop (proc);
        cJSON_Delete (json);
        return NULL;
    }
    geak_evalresult_set_device (r, &self->device,
                            cJSON_GetObjectItemCaseSensitive (json, "device"));
    cJSON_Delete (json);
    return r;
}

// ------------------------------------------------------------------ selfcheck

static uint64_t
s_fnv (uint64_t h, const void *data, size_t size)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < size; i++) {
        h ^= p [i];
        h *= 1099511628211ull;
    }
    return h;
}

//  Cache key of a task: its real path and the name, size, mtime and inode of
//  every regular file directly in it (any edit gives a new key), on this
//  evaluator's one device. Caller frees.
static char *
s_task_key (evaluator_t *self, const char *task_dir)
{
    DIR *dir = opendir (task_dir);
    uint64_t sum = 0;
    unsigned files = 0;
    if (dir) {
        struct dirent *de;
        while ((de = readdir (dir))) {
            struct stat st;
            if (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0
                || !S_ISREG (st.st_mode))
                continue;
            uint64_t h = s_fnv (14695981039346656037ull, de->d_name, strlen (de->d_name));
            int64_t facts [4] = { (int64_t) st.st_size, (int64_t) st.st_mtim.tv_sec,
                                  (int64_t) st.st_mtim.tv_nsec, (int64_t) st.st_ino };
            h = s_fnv (h, facts, sizeof facts);
            sum += h;           //  order of readdir does not matter
            files++;
        }
        closedir (dir);
    }
    char *key = NULL;
    if (asprintf (&key, "%s|%u|%016llx|%s|%s", task_dir, files, (unsigned long long) sum,
                  self->device.arch, self->device.name) < 0)
        key = NULL;
    return key;
}

//  A cached answer (caller owns) or NULL
static Geak__EvalResult *
s_selfcheck_cached (evaluator_t *self, const char *key)
{
    Geak__EvalResult *result = NULL;
    pthread_mutex_lock (&self->selfcheck_lock);
    for (size_t i = 0; i < self->n_selfchecks && !result; i++)
        if (strcmp (self->selfchecks [i].key, key) == 0)
            result = geak__eval_result__unpack (NULL, self->selfchecks [i].size,
                                                self->selfchecks [i].packed);
    pthread_mutex_unlock (&self->selfcheck_lock);
    return result;
}

static void
s_selfcheck_store (evaluator_t *self, const char *key, const Geak__EvalResult *result)
{
    size_t size = geak__eval_result__get_packed_size (result);
    uint8_t *packed = malloc (size ? size : 1);
    assert (packed);
    geak__eval_result__pack (result, packed);
    pthread_mutex_lock (&self->selfcheck_lock);
    selfcheck_entry_t *slot = NULL;
    for (size_t i = 0; i < self->n_selfchecks && !slot; i++)
        if (strcmp (self->selfchecks [i].key, key) == 0)
            slot = &self->selfchecks [i];       //  another thread checked it too
    if (!slot && self->n_selfchecks < SELFCHECK_CACHE_MAX)
        slot = &self->selfchecks [self->n_selfchecks++];
    else
    if (!slot) {
        slot = &self->selfchecks [self->selfcheck_next];
        self->selfcheck_next = (self->selfcheck_next + 1) % SELFCHECK_CACHE_MAX;
    }
    free (slot->key);
    free (slot->packed);
    slot->key = geak_strdup (key);
    slot->packed = packed;
    slot->size = size;
    pthread_mutex_unlock (&self->selfcheck_lock);
}

//  Run the harness's selfcheck op once: the answer, or NULL with *why when
//  our side failed (the fork server is restarted where it misbehaved).
static Geak__EvalResult *
s_selfcheck_once (evaluator_t *self, geak_harness_t *proc, const char *task_dir,
                  uint32_t run_ms, char **why)
{
    *why = NULL;
    cJSON *req = cJSON_CreateObject ();
    cJSON_AddStringToObject (req, "op", "selfcheck");
    cJSON_AddStringToObject (req, "task_dir", task_dir);
    cJSON_AddNumberToObject (req, "seed", (double) s_fresh_seed ());
    cJSON_AddStringToObject (req, "mode", "correctness");
    geak_harness_request_timeout (req, run_ms);
    s_add_limits (self, req, run_ms);
    if (self->sandbox_root)
        cJSON_AddStringToObject (req, "sandbox_root", self->sandbox_root);
    //  two evaluations, each bounded by the harness at run_ms + its grace
    int wait_ms = (int) geak_harness_budget_ms (run_ms, 2, 10000);
    cJSON *reply = NULL;
    geak_rc_t rc = geak_harness_call (proc, req, wait_ms, &reply);
    cJSON_Delete (req);
    if (rc != GEAK_OK) {
        if (asprintf (why, "fork server %s during the selfcheck",
                      rc == GEAK_E_TIMEOUT ? "did not answer" : geak_rc_name (rc)) < 0)
            *why = NULL;
        return NULL;
    }
    const cJSON *op = cJSON_GetObjectItemCaseSensitive (reply, "op");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive (reply, "result");
    Geak__EvalResult *r = NULL;
    if (cJSON_IsString (op) && strcmp (op->valuestring, "error") == 0) {
        const cJSON *message = cJSON_GetObjectItemCaseSensitive (reply, "message");
        if (asprintf (why, "fork server error: %s",
                      cJSON_IsString (message) ? message->valuestring : "(no message)") < 0)
            *why = NULL;
    }
    else
    if (!cJSON_IsString (op) || strcmp (op->valuestring, "selfcheck") != 0) {
        *why = geak_strdup ("fork server answered a selfcheck with another op");
        geak_harness_stop (proc);
    }
    else {
        char *invalid = NULL;
        r = geak_evalresult_from_selfcheck_json (result, &invalid);
        if (!r) {
            geak_warn ("harness_selfcheck_invalid", "why=\"%s\"", invalid);
            if (asprintf (why, "harness selfcheck answer invalid: %s", invalid) < 0)
                *why = NULL;
            geak_harness_stop (proc);
        }
        free (invalid);
    }
    cJSON_Delete (reply);
    if (!r && !*why)
        *why = geak_strdup ("selfcheck failed");
    return r;
}

//  The selfcheck answer for a task: cached, or run (retried once when our
//  side failed; then HARNESS_ERROR with task_status "unchecked", not cached).
static Geak__EvalResult *
s_selfcheck (evaluator_t *self, geak_harness_t *proc, const char *task_dir, uint32_t run_ms,
             const char *request_id)
{
    char *key = s_task_key (self, task_dir);
    Geak__EvalResult *result = key ? s_selfcheck_cached (self, key) : NULL;
    if (result) {
        geak_info ("selfcheck_done", "request_id=%s task=%s status=%s cached=1", request_id,
                   task_dir, result->task_status);
        free (key);
        return result;
    }
    char *why = NULL;
    result = s_selfcheck_once (self, proc, task_dir, run_ms, &why);
    if (!result) {
        geak_warn ("harness_retry", "request_id=%s op=selfcheck why=\"%s\"", request_id, why);
        free (why);
        result = s_selfcheck_once (self, proc, task_dir, run_ms, &why);
    }
    if (!result) {
        geak_error ("harness_failed", "request_id=%s op=selfcheck why=\"%s\"", request_id, why);
        result = geak_evalresult_new (GEAK__ERROR_CLASS__HARNESS_ERROR, why);
        geak_evalresult_set_string (&result->task_status, "unchecked");
        geak_evalresult_set_string (&result->task_status_reason, why);
    }
    else
    if (key)
        s_selfcheck_store (self, key, result);
    geak_info ("selfcheck_done", "request_id=%s task=%s status=%s class=%s cached=0",
               request_id, task_dir, result->task_status,
               geak_proto_class_name (result->error_class));
    free (why);
    free (key);
    return result;
}

// ------------------------------------------------------------------ requests

static geak_rc_t
s_handle (void *state, geak_service_call_t *call, const Geak__Envelope *request,
          uint8_t **reply_data, size_t *reply_size, char **error_message)
{
    evaluator_t *self = state;
    int64_t t0 = geak_clock_mono_ms ();
    if (request->body_case != GEAK__ENVELOPE__BODY_EVAL_REQUEST) {
        *error_message = geak_strdup ("the evaluator answers EvalRequest and HealthRequest only");
        return GEAK_E_PROTOCOL;
    }
    const Geak__EvalRequest *er = request->eval_request;
    bool selfcheck = er && er->options && er->options->selfcheck;
    if (!er || !er->task || (!er->candidate && !selfcheck)) {
        *error_message = geak_strdup ("EvalRequest needs a task and a candidate");
        return GEAK_E_INVALID;
    }
    const char *attempt_id = er->candidate ? er->candidate->attempt_id : "";
    char *task_dir = s_task_dir (self, er->task);
    if (!task_dir) {
        if (asprintf (error_message, "no task '%s' under the task root",
                      *er->task->path ? er->task->path : er->task->name) < 0)
            *error_message = NULL;
        return GEAK_E_NOT_FOUND;
    }
    int thread = geak_service_call_thread (call);
    geak_harness_t *proc = s_proc_for (self, thread);
    if (!proc) {
        free (task_dir);
        *error_message = geak_strdup ("no fork server slot for this worker thread");
        return GEAK_E_INTERNAL;
    }
    const Geak__EvalOptions *opt = er->options;
    uint32_t timeout_ms = opt && opt->timeout_ms ? opt->timeout_ms : (uint32_t) self->timeout_ms;
    if (timeout_ms > TIMEOUT_MAX_MS)
        timeout_ms = TIMEOUT_MAX_MS;
    if (request->deadline_ms > 0) {
        //  leave the reply time to travel back before the client gives up;
        //  a selfcheck runs twice, each time bounded by the harness at
        //  timeout + its grace
        int64_t left = request->deadline_ms - geak_clock_wall_ms () - 500;
        if (selfcheck)
            left = geak_harness_run_ms_within (left, 2, 10000);
        if (left >= 1000 && left < (int64_t) timeout_ms)
            timeout_ms = (uint32_t) left;
    }
    bool correctness = self->interpret || (opt && opt->correctness_only);
    uint32_t perf_reps = opt && opt->perf_reps ? opt->perf_reps : (uint32_t) self->perf_reps;
    bool determinism = opt && opt->check_determinism;

    Geak__EvalResult *result = NULL;
    //  the candidate's code runs as it came: code is extracted once, where an LLM
    //  reply arrives (the role, geak eval), so the stored code is the evaluated code
    const char *given = !selfcheck && er->candidate && er->candidate->code ? er->candidate->code : "";
    bool blank = given [strspn (given, " \t\r\n")] == '\0';
    char *code = selfcheck || blank ? NULL : geak_strdup (given);
    if (selfcheck)
        result = s_selfcheck (self, proc, task_dir, timeout_ms, request->request_id);
    else
    if (!code)
        result = geak_evalresult_new (GEAK__ERROR_CLASS__NO_CODE,
                                  "the candidate holds no Python code to run");
    else {
        char *why = NULL;
        result = s_run_once (self, proc, task_dir, code, correctness, perf_reps, timeout_ms,
                             determinism, &why);
        if (!result) {
            geak_warn ("harness_retry", "request_id=%s why=\"%s\"", request->request_id,
                       why ? why : "");
            free (why);
            result = s_run_once (self, proc, task_dir, code, correctness, perf_reps, timeout_ms,
                                 determinism, &why);
        }
        if (!result) {
            geak_error ("harness_failed", "request_id=%s why=\"%s\"", request->request_id,
                        why ? why : "");
            result = geak_evalresult_new (GEAK__ERROR_CLASS__HARNESS_ERROR,
                                      why ? why : "the harness failed twice");
        }
        free (why);
    }
    free (code);
    free (task_dir);
    if (!result->device)
        geak_evalresult_set_device (result, &self->device, geak_harness_device (proc));
    if (self->interpret || result->device->interpreted) {
        //  interpreted runs say nothing about speed
        result->timed = false;
        result->speedup = 0;
        result->gbps = 0;
        result->tflops = 0;
    }
    if (result->error_class == GEAK__ERROR_CLASS__HARNESS_ERROR)
        __atomic_add_fetch (&self->harness_failures, 1, __ATOMIC_RELAXED);
    else
        __atomic_store_n (&self->harness_failures, 0, __ATOMIC_RELAXED);
    geak_evalresult_set_string (&result->attempt_id, attempt_id);
    char worker [192];
    snprintf (worker, sizeof worker, "%s:%d/%d", self->host, (int) getpid (), thread);
    geak_evalresult_set_string (&result->worker, worker);
    result->eval_ms = (double) (geak_clock_mono_ms () - t0);
    geak_info ("eval_done", "request_id=%s attempt=%s class=%s selfcheck=%d ms=%.0f",
               request->request_id, attempt_id, geak_proto_class_name (result->error_class),
               selfcheck, result->eval_ms);

    Geak__Envelope env;
    geak_proto_envelope_init (&env, request->request_id, 0, worker);
    env.body_case = GEAK__ENVELOPE__BODY_EVAL_RESULT;
    env.eval_result = result;
    geak_rc_t rc = geak_proto_pack (&env, reply_data, reply_size);
    geak_evalresult_destroy (&result);
    if (rc != GEAK_OK)
        *error_message = geak_strdup ("cannot pack the EvalResult");
    return rc;
}

int
main (int argc, char *argv [])
{
    if (argc > 1 && strcmp (argv [1], "--selftest") == 0) {
        bool verbose = argc > 2 && strcmp (argv [2], "-v") == 0;
        geak_log_init ("evaluator");
        int failed = 0;
        geak_selftest_failures = 0;
        failed += geak_evalresult_test (verbose) + geak_selftest_failures != 0;
        printf ("evaluator selftest: %s\n%d passed, %d failed\n", failed ? "FAILED" : "ok",
                1 - failed, failed);
        return failed ? 1 : 0;
    }
    static const geak_service_def_t def = {
        .role = "evaluator",
        .service = GEAK_SERVICE_EVALUATOR,
        .implementation = "harness-v1",
        .init = s_init,
        .handle = s_handle,
        .health = s_health,
        .ready = s_ready,
        .fini = s_fini,
    };
    return geak_service_main (&def, argc, argv);
}
