/*  geak tasks - the task directory: list it, self-check its references, import benchmarks.

    geak tasks list   [--tasks DIR] [--json]
    geak tasks check  [--tasks DIR] [--task NAME]... [--gpu [--correctness-only]] [--json FILE] [--servers N]
                      [--timeout-s S] [--harness-dir DIR] [--python PY] [--cache-dir DIR]
    geak tasks import FORMAT PATH [--out DIR] [--instruction comp|simp] [--index FILE]
                      [--perf-cases N] [--atol X] [--rtol Y]

    A task is a directory holding task.json (docs/tasks.md); the walk recurses into
    directories without one (tasks/imported/<format>/<name>/ are found from tasks/).
    --task X picks the task at path X under the root, else every task named X.

    check starts its own fork servers (services/evaluator/harness; TRITON_INTERPRET=1
    unless --gpu), sends each task's reference the harness `selfcheck` op (reference
    against the oracle twice in fresh processes) with the tasks spread over the servers,
    prints one row per task and exits 1 when any task is broken, flaky or could not be
    checked (a task unsupported on this device is reported, not a failure). With --gpu the self-check also times the reference against itself (not with --correctness-only). */
#include "geak_prelude.h"
#include "geak_taskstatus.h"
#include "geak_config.h"
#include "geak_harness.h"
#include "geak_evalresult.h"
#include "geak_log.h"
#include "geak_taskimport.h"
#include "commands.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#define MAX_DEPTH        4
#define MAX_SERVERS      8
#define START_TIMEOUT_MS 180000
#define QUIT_TIMEOUT_MS  15000
#define CACHE_TIMEOUT_MS 30000      //  the cache lookup (no torch import) takes well under a second

typedef struct {
    char *dir;              //  absolute path
    char *rel;              //  relative to the tasks root
    char *name;
    char *category;
    int difficulty;
    char *source;           //  "-" or "<format>:<file>"
    char *problem;          //  task.json unreadable: why
    //  check results
    char *status;           //  ok | broken | flaky | unsupported_on_device | error
    char *reason;
    char *error_class;
    double seconds, speedup, gbps, tflops;
    double speedups [2];        //  each self-check run's own (0: not timed)
    bool timed;
} task_t;

typedef struct {
    task_t *items;
    size_t n, cap;
} tasks_t;

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: geak tasks list   [--tasks DIR] [--json]\n"
             "       geak tasks check  [--tasks DIR] [--task NAME]... [--gpu [--correctness-only]] [--json FILE] [--servers N]\n"
             "                         [--timeout-s S] [--harness-dir DIR] [--python PY] [--cache-dir DIR]\n"
             "       geak tasks import FORMAT PATH [--out DIR] [--instruction comp|simp] [--index FILE]\n"
             "                         [--perf-cases N] [--atol X] [--rtol Y]\n"
             "FORMAT: " GEAK_TASKIMPORT_TRITONBENCH " | " GEAK_TASKIMPORT_ROCM "\n");
}

// ------------------------------------------------------------------ discovery


static const char *
s_str (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) && item->valuestring ? item->valuestring : NULL;
}

static void
s_task_add (tasks_t *tasks, const char *dir, const char *rel)
{
    if (tasks->n == tasks->cap) {
        tasks->cap = tasks->cap ? tasks->cap * 2 : 64;
        tasks->items = realloc (tasks->items, tasks->cap * sizeof *tasks->items);
        assert (tasks->items);
    }
    task_t *t = &tasks->items [tasks->n++];
    memset (t, 0, sizeof *t);
    t->dir = geak_strdup (dir);
    t->rel = geak_strdup (rel);
    char *path = geak_strdupf ("%s/%s", dir, "task.json");
    char *text = geak_read_file (path, 16u << 20, NULL);
    free (path);
    cJSON *root = text ? cJSON_Parse (text) : NULL;
    free (text);
    const char *base = strrchr (dir, '/') ? strrchr (dir, '/') + 1 : dir;
    if (!cJSON_IsObject (root)) {
        t->problem = geak_strdup ("task.json is not a readable JSON object");
        t->name = geak_strdup (base);
        t->category = geak_strdup ("?");
        t->source = geak_strdup ("-");
        cJSON_Delete (root);
        return;
    }
    const char *name = s_str (root, "name");
    t->name = geak_strdup (name && *name ? name : base);
    const char *category = s_str (root, "category");
    t->category = geak_strdup (category ? category : "-");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive (root, "difficulty");
    t->difficulty = cJSON_IsNumber (d) ? (int) d->valuedouble : 0;
    const cJSON *source = cJSON_GetObjectItemCaseSensitive (root, "source");
    const char *format = s_str (source, "format");
    const char *file = s_str (source, "file");
    if (format) {
        size_t n = strlen (format) + (file ? strlen (file) : 0) + 2;
        t->source = malloc (n);
        assert (t->source);
        snprintf (t->source, n, "%s:%s", format, file ? file : "");
    }
    else
        t->source = geak_strdup ("-");
    cJSON_Delete (root);
}

static void
s_discover (tasks_t *tasks, const char *dir, const char *rel, int depth)
{
    struct dirent **entries = NULL;
    int n = scandir (dir, &entries, NULL, alphasort);
    if (n < 0)
        return;
    for (int i = 0; i < n; i++) {
        const char *name = entries [i]->d_name;
        if (name [0] != '.' && strcmp (name, "__pycache__") != 0) {
            char *path = geak_strdupf ("%s/%s", dir, name);
            char *sub = *rel ? geak_strdupf ("%s/%s", rel, name) : geak_strdup (name);
            struct stat st;
            if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode)) {
                char *json = geak_strdupf ("%s/%s", path, "task.json");
                if (access (json, F_OK) == 0)
                    s_task_add (tasks, path, sub);
                else
                if (depth < MAX_DEPTH)
                    s_discover (tasks, path, sub, depth + 1);
                free (json);
            }
            free (sub);
            free (path);
        }
        free (entries [i]);
    }
    free (entries);
}

static void
s_tasks_free (tasks_t *tasks)
{
    for (size_t i = 0; i < tasks->n; i++) {
        task_t *t = &tasks->items [i];
        free (t->dir);
        free (t->rel);
        free (t->name);
        free (t->category);
        free (t->source);
        free (t->problem);
        free (t->status);
        free (t->reason);
        free (t->error_class);
    }
    free (tasks->items);
    memset (tasks, 0, sizeof *tasks);
}

static int
s_load (tasks_t *tasks, const char *root)
{
    char *real = realpath (root, NULL);
    if (!real) {
        fprintf (stderr, "geak tasks: %s: %s\n", root, strerror (errno));
        return -1;
    }
    s_discover (tasks, real, "", 0);
    free (real);
    return 0;
}

// ------------------------------------------------------------------ list

static int
s_list (int argc, char **argv)
{
    const char *root = geak_config_str ("GEAK_TASKS", "tasks");
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--tasks") == 0 && i + 1 < argc)
            root = argv [++i];
        else
        if (strcmp (argv [i], "--json") == 0)
            json = true;
        else {
            s_usage ();
            return 2;
        }
    }
    tasks_t tasks = { 0 };
    if (s_load (&tasks, root) != 0)
        return 1;
    if (json) {
        cJSON *arr = cJSON_CreateArray ();
        for (size_t i = 0; i < tasks.n; i++) {
            const task_t *t = &tasks.items [i];
            cJSON *o = cJSON_CreateObject ();
            cJSON_AddStringToObject (o, "name", t->name);
            cJSON_AddStringToObject (o, "category", t->category);
            cJSON_AddNumberToObject (o, "difficulty", t->difficulty);
            cJSON_AddStringToObject (o, "source", t->source);
        cJSON_AddNumberToObject (o, "difficulty", t->difficulty);
            cJSON_AddStringToObject (o, "path", t->rel);
            if (t->problem)
                cJSON_AddStringToObject (o, "problem", t->problem);
            cJSON_AddItemToArray (arr, o);
        }
        char *text = cJSON_PrintUnformatted (arr);
        printf ("%s\n", text);
        free (text);
        cJSON_Delete (arr);
    }
    else {
        printf ("%-28s %-15s %4s  %-44s %s\n", "NAME", "CATEGORY", "DIFF", "SOURCE", "PATH");
        for (size_t i = 0; i < tasks.n; i++) {
            const task_t *t = &tasks.items [i];
            printf ("%-28s %-15s %4d  %-44s %s%s%s\n", t->name, t->category, t->difficulty, t->source,
                    t->rel, t->problem ? "  !! " : "", t->problem ? t->problem : "");
        }
        printf ("%zu tasks\n", tasks.n);
    }
    s_tasks_free (&tasks);
    return 0;
}

// ------------------------------------------------------------------ fork servers

//  One slot of the pool: a fork server (lib/geak_harness) and the task it checks
typedef struct {
    geak_harness_t *harness;
    long task;              //  index of the task being checked, -1 when idle
    uint64_t id;            //  the id of its selfcheck request
    int64_t started_ms, deadline_ms;
    bool disabled;          //  its fork server could not start: no second try
} server_t;

// ------------------------------------------------------------------ check

static void
s_set (char **field, const char *value)
{
    free (*field);
    *field = geak_strdup (value ? value : "");
}

static double
s_num (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsNumber (item) && isfinite (item->valuedouble) ? item->valuedouble : 0;
}

static void
s_take_result (task_t *t, const cJSON *reply)
{
    const char *op = s_str (reply, "op");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive (reply, "result");
    if (!op || strcmp (op, "selfcheck") != 0 || !cJSON_IsObject (result)) {
        const char *message = s_str (reply, "message");
        s_set (&t->status, "error");
        s_set (&t->reason, message ? message : "unexpected answer from the fork server");
        return;
    }
    //  the evaluator's strict rules (lib/geak_evalresult): a known status, a class
    //  consistent with it, never harness_error
    char *why = NULL;
    Geak__EvalResult *r = geak_evalresult_from_selfcheck_json (result, &why);
    if (!r) {
        s_set (&t->status, "error");
        char *text = geak_strdupf ("the fork server's self-check answer is invalid: %s", why ? why : "?");
        s_set (&t->reason, text);
        free (text);
        free (why);
        return;
    }
    s_set (&t->status, r->task_status);
    s_set (&t->reason, r->task_status_reason);
    s_set (&t->error_class, geak_proto_class_name (r->error_class));
    if (r->task_difficulty && !t->difficulty)
        t->difficulty = (int) r->task_difficulty;
    geak_evalresult_destroy (&r);
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive (result, "results");
    const cJSON *first = cJSON_GetArrayItem (runs, 0);
    t->timed = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (first, "timed"));
    //  two independent timings of the reference against itself: report their
    //  geometric mean (one noisy run moves it half as far), and both in the JSON
    for (int i = 0; i < 2; i++) {
        const cJSON *run = cJSON_GetArrayItem (runs, i);
        t->speedups [i] = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (run, "timed"))
                        ? s_num (run, "speedup") : 0;
    }
    t->speedup = t->speedups [0] > 0 && t->speedups [1] > 0
               ? sqrt (t->speedups [0] * t->speedups [1]) : t->speedups [0];
    t->gbps = s_num (first, "gbps");
    t->tflops = s_num (first, "tflops");
}

//  Tasks checked before, answered from the host cache without a fork
//  server: python3 -m harness.selfcheck_cache over the task directories.
//  Returns the number answered (their status is set); 0 on any trouble,
//  which only means every task is checked.
static size_t
s_cached_answers (tasks_t *tasks, const char *python, const char *harness_dir, const char *cache_dir,
                  bool interpret, bool timed, cJSON **device)
{
    size_t argc = 0, cap = tasks->n + 16;
    char **argv = calloc (cap, sizeof *argv);
    assert (argv);
    argv [argc++] = (char *) python;
    argv [argc++] = "-m";
    argv [argc++] = "harness.selfcheck_cache";
    argv [argc++] = "--mode";
    argv [argc++] = timed ? "full" : "correctness";
    if (interpret)
        argv [argc++] = "--interpret";
    if (cache_dir) {
        argv [argc++] = "--cache-dir";
        argv [argc++] = (char *) cache_dir;
    }
    argv [argc++] = "--";
    for (size_t i = 0; i < tasks->n; i++)
        if (!tasks->items [i].problem)
            argv [argc++] = tasks->items [i].dir;
    int fds [2];
    if (pipe (fds) != 0) {
        free (argv);
        return 0;
    }
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (fds [1], 1);
        close (fds [0]);
        close (fds [1]);
        int null = open ("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2 (null, 2);     //  a harness without the lookup only means: check everything
        if (chdir (harness_dir) == 0) {
            setenv ("PYTHONPATH", harness_dir, 1);
            execvp (python, argv);
        }
        _exit (127);
    }
    close (fds [1]);
    free (argv);
    if (pid < 0) {
        close (fds [0]);
        return 0;
    }
    char *out = NULL;
    size_t size = 0, alloc = 0;
    int64_t deadline = geak_clock_mono_ms () + CACHE_TIMEOUT_MS;
    bool ended = false;
    while (!ended && geak_clock_mono_ms () < deadline) {
        struct pollfd p = { .fd = fds [0], .events = POLLIN };
        if (poll (&p, 1, 200) <= 0)
            continue;
        if (size + 65537 > alloc) {
            alloc = alloc ? alloc * 2 : 1 << 16;
            while (alloc < size + 65537)
                alloc *= 2;
            out = realloc (out, alloc);
            assert (out);
        }
        ssize_t got = read (fds [0], out + size, 65536);
        if (got <= 0)
            ended = got == 0 || errno != EINTR;
        else
            size += (size_t) got;
    }
    close (fds [0]);
    if (!ended)
        kill (pid, SIGKILL);
    int status = 0;
    waitpid (pid, &status, 0);
    size_t answered = 0;
    if (ended && WIFEXITED (status) && WEXITSTATUS (status) == 0 && out) {
        out [size] = 0;
        for (char *line = out, *next; line && *line; line = next) {
            next = strchr (line, '\n');
            if (next)
                *next++ = 0;
            cJSON *row = cJSON_Parse (line);
            const cJSON *facts = cJSON_GetObjectItemCaseSensitive (row, "device");
            if (cJSON_IsObject (facts) && !*device)
                *device = cJSON_Duplicate (facts, true);
            const char *dir = s_str (row, "task_dir");
            for (size_t i = 0; dir && i < tasks->n; i++) {
                task_t *t = &tasks->items [i];
                if (t->status || strcmp (t->dir, dir) != 0)
                    continue;
                cJSON *reply = cJSON_CreateObject ();
                cJSON_AddStringToObject (reply, "op", "selfcheck");
                cJSON_AddItemToObject (reply, "result",
                                       cJSON_Duplicate (cJSON_GetObjectItemCaseSensitive (row, "result"), true));
                s_take_result (t, reply);
                cJSON_Delete (reply);
                t->seconds = 0;
                answered++;
            }
            cJSON_Delete (row);
        }
    }
    free (out);
    geak_info ("tasks_selfcheck_cache", "answered=%zu of=%zu", answered, tasks->n);
    return answered;
}

//  Start the first `count` fork servers at once (each imports torch and probes
//  its device: seconds, which one after the other would add up), then wait for
//  each; a slot that did not start is tried again, alone, by the dispatch loop
static void
s_start_servers (server_t *pool, long count)
{
    for (long k = 0; k < count; k++)
        geak_harness_start (pool [k].harness);
    for (long k = 0; k < count; k++)
        geak_harness_ensure (pool [k].harness);
}

static geak_rc_t
s_dispatch (server_t *s, tasks_t *tasks, long index, bool gpu, long timeout_s)
{
    task_t *t = &tasks->items [index];
    cJSON *req = cJSON_CreateObject ();
    cJSON_AddStringToObject (req, "op", "selfcheck");
    cJSON_AddStringToObject (req, "task_dir", t->dir);
    cJSON_AddStringToObject (req, "mode", gpu ? "full" : "correctness");
    geak_harness_request_timeout (req, (int64_t) timeout_s * 1000);
    geak_rc_t rc = geak_harness_send (s->harness, req, &s->id);
    cJSON_Delete (req);
    if (rc != GEAK_OK)
        return rc;
    s->task = index;
    s->started_ms = geak_clock_mono_ms ();
    //  two evaluations, each bounded by timeout_s plus the harness's own grace
    s->deadline_ms = s->started_ms + geak_harness_budget_ms ((int64_t) timeout_s * 1000, 2, 20000);
    return rc;
}

static void
s_print_header (bool gpu)
{
    if (gpu)
        printf ("%-28s %-7s %8s %8s %9s %8s  %s\n", "TASK", "STATUS", "SECONDS", "SPEEDUP", "GB/S", "TFLOPS",
                "REASON");
    else
        printf ("%-28s %-7s %8s  %s\n", "TASK", "STATUS", "SECONDS", "REASON");
}

static void
s_print_row (const task_t *t, bool gpu)
{
    char reason [161];
    snprintf (reason, sizeof reason, "%s", t->reason ? t->reason : "");
    for (char *p = reason; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    if (gpu) {
        char sp [16] = "-", gb [16] = "-", tf [16] = "-";
        if (t->timed && t->speedup > 0)
            snprintf (sp, sizeof sp, "%.3f", t->speedup);
        if (t->timed && t->gbps > 0)
            snprintf (gb, sizeof gb, "%.1f", t->gbps);
        if (t->timed && t->tflops > 0)
            snprintf (tf, sizeof tf, "%.3f", t->tflops);
        printf ("%-28s %-7s %8.1f %8s %9s %8s  %s\n", t->name, t->status, t->seconds, sp, gb, tf, reason);
    }
    else
        printf ("%-28s %-7s %8.1f  %s\n", t->name, t->status, t->seconds, reason);
    fflush (stdout);
}

//  --task X selects the task whose path under the root is X, else every task named X
static bool
s_selected (const tasks_t *tasks, const task_t *t, char **names, int n_names)
{
    if (n_names == 0)
        return true;
    for (int i = 0; i < n_names; i++) {
        bool by_path = false;
        for (size_t k = 0; k < tasks->n; k++)
            if (strcmp (names [i], tasks->items [k].rel) == 0)
                by_path = true;
        if (by_path ? strcmp (names [i], t->rel) == 0 : strcmp (names [i], t->name) == 0)
            return true;
    }
    return false;
}

static int
s_write_json (const char *path, const tasks_t *tasks, const long *order, size_t n, bool gpu,
              const cJSON *device, int ok, int broken, int flaky, int unsupported, int errors)
{
    cJSON *root = cJSON_CreateObject ();
    cJSON_AddBoolToObject (root, "gpu", gpu);
    if (device)
        cJSON_AddItemToObject (root, "device", cJSON_Duplicate (device, true));
    cJSON *arr = cJSON_AddArrayToObject (root, "tasks");
    for (size_t i = 0; i < n; i++) {
        const task_t *t = &tasks->items [order [i]];
        cJSON *o = cJSON_CreateObject ();
        cJSON_AddStringToObject (o, "name", t->name);
        cJSON_AddStringToObject (o, "path", t->rel);
        cJSON_AddStringToObject (o, "source", t->source);
        cJSON_AddNumberToObject (o, "difficulty", t->difficulty);
        cJSON_AddStringToObject (o, "status", t->status ? t->status : "pending");
        cJSON_AddStringToObject (o, "reason", t->reason ? t->reason : "");
        cJSON_AddStringToObject (o, "error_class", t->error_class ? t->error_class : "");
        cJSON_AddNumberToObject (o, "seconds", t->seconds);
        cJSON_AddBoolToObject (o, "timed", t->timed);
        if (t->timed) {
            cJSON_AddNumberToObject (o, "speedup", t->speedup);
            cJSON *each = cJSON_AddArrayToObject (o, "speedups");
            for (int i = 0; i < 2 && each; i++)
                if (t->speedups [i] > 0)
                    cJSON_AddItemToArray (each, cJSON_CreateNumber (t->speedups [i]));
            cJSON_AddNumberToObject (o, "gbps", t->gbps);
            cJSON_AddNumberToObject (o, "tflops", t->tflops);
        }
        cJSON_AddItemToArray (arr, o);
    }
    cJSON_AddNumberToObject (root, "ok", ok);
    cJSON_AddNumberToObject (root, "broken", broken);
    cJSON_AddNumberToObject (root, "flaky", flaky);
    cJSON_AddNumberToObject (root, "unsupported_on_device", unsupported);
    cJSON_AddNumberToObject (root, "error", errors);
    char *text = cJSON_Print (root);
    cJSON_Delete (root);
    //  replaced whole (written again as each task ends: a check cut short keeps its rows)
    char *tmp = geak_strdupf ("%s.%d.tmp", path, (int) getpid ());
    FILE *f = fopen (tmp, "w");
    int rc = -1;
    if (f) {
        fputs (text, f);
        fputc ('\n', f);
        rc = fclose (f) == 0 && rename (tmp, path) == 0 ? 0 : -1;
    }
    if (rc != 0)
        unlink (tmp);
    free (tmp);
    free (text);
    return rc;
}

static int
s_check (int argc, char **argv)
{
    const char *root = geak_config_str ("GEAK_TASKS", "tasks");
    const char *json_path = NULL;
    const char *harness = getenv ("GEAK_HARNESS_DIR");
    const char *python = geak_config_str ("GEAK_PYTHON", "python3");
    const char *cache_dir = getenv ("GEAK_EVAL_CACHE_DIR");
    long servers = 2, timeout_s = 300;
    bool gpu = false, untimed = false;
    char **names = calloc ((size_t) argc + 1, sizeof *names);
    assert (names);
    int n_names = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool has = i + 1 < argc;
        if (strcmp (arg, "--tasks") == 0 && has)
            root = argv [++i];
        else
        if (strcmp (arg, "--task") == 0 && has)
            names [n_names++] = argv [++i];
        else
        if (strcmp (arg, "--gpu") == 0)
            gpu = true;
        else
        if (strcmp (arg, "--correctness-only") == 0)
            untimed = true;
        else
        if (strcmp (arg, "--json") == 0 && has)
            json_path = argv [++i];
        else
        if (strcmp (arg, "--harness-dir") == 0 && has)
            harness = argv [++i];
        else
        if (strcmp (arg, "--python") == 0 && has)
            python = argv [++i];
        else
        if (strcmp (arg, "--cache-dir") == 0 && has)
            cache_dir = argv [++i];
        else
        if (strcmp (arg, "--servers") == 0 && has) {
            if (geak_config_parse_long (argv [++i], 1, MAX_SERVERS, &servers)) {
                free (names);
                s_usage ();
                return 2;
            }
        }
        else
        if (strcmp (arg, "--timeout-s") == 0 && has) {
            if (geak_config_parse_long (argv [++i], 1, 3600, &timeout_s)) {
                free (names);
                s_usage ();
                return 2;
            }
        }
        else {
            free (names);
            s_usage ();
            return 2;
        }
    }
    tasks_t tasks = { 0 };
    if (s_load (&tasks, root) != 0) {
        free (names);
        return 1;
    }
    //  the tasks to check, in listing order; unknown names are an error
    long *order = calloc (tasks.n + 1, sizeof *order);
    assert (order);
    size_t n = 0;
    for (size_t i = 0; i < tasks.n; i++)
        if (s_selected (&tasks, &tasks.items [i], names, n_names))
            order [n++] = (long) i;
    int exit_code = 0;
    for (int k = 0; k < n_names; k++) {
        bool found = false;
        for (size_t i = 0; i < tasks.n; i++)
            if (strcmp (names [k], tasks.items [i].name) == 0 || strcmp (names [k], tasks.items [i].rel) == 0)
                found = true;
        if (!found) {
            fprintf (stderr, "geak tasks check: no task %s under %s\n", names [k], root);
            exit_code = 1;
        }
    }
    free (names);
    if (exit_code || n == 0) {
        if (n == 0)
            fprintf (stderr, "geak tasks check: no tasks under %s\n", root);
        free (order);
        s_tasks_free (&tasks);
        return 1;
    }
    char *harness_dir = geak_harness_find_dir (harness);
    if (!harness_dir) {
        fprintf (stderr, "geak tasks check: cannot find the harness (services/evaluator/harness); "
                         "give --harness-dir\n");
        free (order);
        s_tasks_free (&tasks);
        return 1;
    }
    //  TRITON_INTERPRET=1 unless --gpu, where an inherited one is dropped too
    geak_harness_opts_t opts = {
        .python = python,
        .harness_dir = harness_dir,
        .device_index = -1,
        .interpret = !gpu,
        .clear_interpret = gpu,
        .cache_dir = cache_dir,
        .start_timeout_ms = START_TIMEOUT_MS,
        .quit_timeout_ms = QUIT_TIMEOUT_MS,
    };
    if ((size_t) servers > n)
        servers = (long) n;
    server_t pool [MAX_SERVERS];
    for (long k = 0; k < servers; k++) {
        memset (&pool [k], 0, sizeof pool [k]);
        pool [k].harness = geak_harness_new (&opts);
        assert (pool [k].harness);
        pool [k].task = -1;
    }
    cJSON *device = NULL;
    //  tasks with an unreadable task.json are broken without asking the harness
    size_t next = 0, done = 0;
    int ok = 0, broken = 0, flaky = 0, unsupported = 0, errors = 0;
    int64_t t0 = geak_clock_mono_ms ();
    //  what the host cache already knows needs no fork server (docs/tasks.md)
    size_t cached = s_cached_answers (&tasks, python, harness_dir, cache_dir, !gpu, gpu && !untimed, &device);
    for (size_t i = 0; i < n && cached; i++) {
        const task_t *t = &tasks.items [order [i]];
        if (!t->status)
            continue;
        done++;
        size_t st = geak_task_status_index (t->status);
        ok += st == 0;
        broken += st == 1;
        flaky += st == 2;
        unsupported += st == 3;
    }
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += !tasks.items [i].status && !tasks.items [i].problem;
    long first = (long) need < servers ? (long) need : servers;
    s_start_servers (pool, first);
    for (long k = 0; k < first; k++)
        if (geak_harness_running (pool [k].harness)) {
            geak_info ("tasks_server_ready", "pid=%d gpu=%d", (int) geak_harness_pid (pool [k].harness), gpu);
            if (!device && geak_harness_device (pool [k].harness))
                device = cJSON_Duplicate (geak_harness_device (pool [k].harness), true);
        }
    while (done < n) {
        //  hand out work
        for (long k = 0; k < servers && next < n; k++) {
            server_t *s = &pool [k];
            if (s->task >= 0 || s->disabled)
                continue;
            task_t *t = &tasks.items [order [next]];
            if (t->status) {            //  answered from the cache
                next++;
                k--;
                continue;
            }
            if (t->problem) {
                s_set (&t->status, "broken");
                s_set (&t->reason, t->problem);
                next++;
                done++;
                broken++;
                k--;
                continue;
            }
            if (!geak_harness_running (s->harness)) {
                geak_rc_t rc = geak_harness_ensure (s->harness);
                if (rc != GEAK_OK) {
                    fprintf (stderr, "geak tasks: the fork server (%s -m harness in %s) did not start: %s\n",
                             python, harness_dir, geak_rc_str (rc));
                    s->disabled = true;     //  no second try on this slot
                    continue;
                }
                geak_info ("tasks_server_ready", "pid=%d gpu=%d", (int) geak_harness_pid (s->harness), gpu);
                if (!device && geak_harness_device (s->harness))
                    device = cJSON_Duplicate (geak_harness_device (s->harness), true);
            }
            if (s_dispatch (s, &tasks, order [next], gpu && !untimed, timeout_s) != GEAK_OK) {
                geak_harness_stop (s->harness);
                s->disabled = true;
                continue;
            }
            next++;
        }
        bool any = false;
        for (long k = 0; k < servers; k++)
            if (!pool [k].disabled || pool [k].task >= 0)
                any = true;
        if (!any) {
            //  no fork server left: the rest cannot be checked
            for (; next < n; next++) {
                task_t *u = &tasks.items [order [next]];
                s_set (&u->status, "error");
                s_set (&u->reason, "no fork server could be started");
                errors++;
                done++;
            }
        }
        if (done >= n)
            break;
        //  wait for an answer from any busy server
        struct pollfd fds [MAX_SERVERS];
        long which [MAX_SERVERS];
        int nfds = 0;
        int64_t now = geak_clock_mono_ms ();
        int64_t wait_ms = 1000;
        for (long k = 0; k < servers; k++)
            if (pool [k].task >= 0) {
                fds [nfds].fd = geak_harness_reply_fd (pool [k].harness);
                fds [nfds].events = POLLIN;
                fds [nfds].revents = 0;
                which [nfds++] = k;
                if (pool [k].deadline_ms - now < wait_ms)
                    wait_ms = pool [k].deadline_ms - now;
            }
        if (nfds == 0)
            continue;
        poll (fds, (nfds_t) nfds, (int) (wait_ms > 0 ? wait_ms : 0));
        now = geak_clock_mono_ms ();
        for (int f = 0; f < nfds; f++) {
            server_t *s = &pool [which [f]];
            task_t *t = &tasks.items [s->task];
            bool finished = false;
            if (fds [f].revents) {
                cJSON *reply = NULL;
                geak_rc_t rc = geak_harness_take_reply (s->harness, s->id, &reply);
                if (rc != GEAK_OK) {
                    //  the driver stopped it; the next task on this slot starts a new one
                    s_set (&t->status, "error");
                    s_set (&t->reason, rc == GEAK_E_WORKER_LOST
                                       ? "the fork server died during the self-check"
                                       : "the fork server broke the protocol during the self-check");
                    finished = true;
                }
                else
                if (reply) {
                    s_take_result (t, reply);
                    cJSON_Delete (reply);
                    finished = true;
                }
            }
            if (!finished && now >= s->deadline_ms) {
                s_set (&t->status, "error");
                s_set (&t->reason, "the self-check did not finish in time");
                finished = true;
                geak_harness_stop (s->harness);
            }
            if (finished) {
                t->seconds = (double) (now - s->started_ms) / 1000.0;
                s->task = -1;
                done++;
                if (strcmp (t->status, "ok") == 0)
                    ok++;
                else
                if (strcmp (t->status, "broken") == 0)
                    broken++;
                else
                if (strcmp (t->status, "flaky") == 0)
                    flaky++;
                else
                if (strcmp (t->status, "unsupported_on_device") == 0)
                    unsupported++;
                else
                    errors++;
                geak_info ("task_selfcheck", "task=%s status=%s seconds=%.1f reason=\"%.300s\"", t->name, t->status,
                           t->seconds, t->reason ? t->reason : "");
                if (json_path)      //  the rows so far; the final write below reports a failure
                    s_write_json (json_path, &tasks, order, n, gpu && !untimed, device, ok, broken, flaky,
                                  unsupported, errors);
            }
        }
    }
    for (long k = 0; k < servers; k++)
        geak_harness_destroy (&pool [k].harness);
    s_print_header (gpu && !untimed);
    for (size_t i = 0; i < n; i++)
        s_print_row (&tasks.items [order [i]], gpu && !untimed);
    printf ("%zu tasks: %d ok, %d broken, %d flaky, %d unsupported on this device, %d not checked (%.1f s)\n",
            n, ok, broken, flaky, unsupported, errors,
            (double) (geak_clock_mono_ms () - t0) / 1000.0);
    if (json_path && s_write_json (json_path, &tasks, order, n, gpu && !untimed, device, ok, broken, flaky, unsupported, errors) != 0) {
        fprintf (stderr, "geak tasks check: cannot write %s\n", json_path);
        exit_code = 1;
    }
    if (broken || flaky || errors)
        exit_code = 1;
    cJSON_Delete (device);
    free (harness_dir);
    free (order);
    s_tasks_free (&tasks);
    return exit_code;
}

// ------------------------------------------------------------------ import

static int
s_import (int argc, char **argv)
{
    const char *format = NULL, *path = NULL, *out = NULL, *index = NULL, *instruction = "comp";
    long perf_cases = 3;
    double atol = 1e-3, rtol = 1e-3;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool has = i + 1 < argc;
        if (strcmp (arg, "--out") == 0 && has)
            out = argv [++i];
        else
        if (strcmp (arg, "--index") == 0 && has)
            index = argv [++i];
        else
        if (strcmp (arg, "--instruction") == 0 && has)
            instruction = argv [++i];
        else
        if (strcmp (arg, "--perf-cases") == 0 && has) {
            if (geak_config_parse_long (argv [++i], 0, 64, &perf_cases)) {
                s_usage ();
                return 2;
            }
        }
        else
        if ((strcmp (arg, "--atol") == 0 || strcmp (arg, "--rtol") == 0) && has) {
            char *end = NULL;
            double v = strtod (argv [i + 1], &end);
            if (!end || *end || !(v >= 0) || !isfinite (v)) {
                s_usage ();
                return 2;
            }
            *(strcmp (arg, "--atol") == 0 ? &atol : &rtol) = v;
            i++;
        }
        else
        if (arg [0] == '-' && arg [1] == '-') {
            s_usage ();
            return 2;
        }
        else
        if (!format)
            format = arg;
        else
        if (!path)
            path = arg;
        else {
            s_usage ();
            return 2;
        }
    }
    if (!format || !path) {
        s_usage ();
        return 2;
    }
    geak_taskimport_t *imp = geak_taskimport_new (format);
    if (!imp) {
        fprintf (stderr, "geak tasks import: unknown format '%s'\n", format);
        s_usage ();
        return 2;
    }
    if (geak_taskimport_set_instruction (imp, instruction) != GEAK_OK) {
        fprintf (stderr, "geak tasks import: --instruction is comp or simp\n");
        geak_taskimport_destroy (&imp);
        return 2;
    }
    geak_taskimport_set_index (imp, index);
    geak_taskimport_set_perf_cases (imp, (int) perf_cases);
    geak_taskimport_set_tolerance (imp, atol, rtol);
    char default_out [PATH_MAX];
    if (!out) {
        snprintf (default_out, sizeof default_out, "tasks/imported/%s", format);
        out = default_out;
    }
    char *why = NULL;
    geak_rc_t rc = geak_taskimport_run (imp, path, out, &why);
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak tasks import: %s\n", why ? why : geak_rc_str (rc));
        free (why);
        geak_taskimport_destroy (&imp);
        return 1;
    }
    printf ("index %s\n", geak_taskimport_index (imp));
    size_t n = geak_taskimport_count (imp);
    for (size_t i = 0; i < n; i++) {
        const char *reason = geak_taskimport_reason (imp, i);
        if (reason)
            printf ("skipped  %-28s %s\n", geak_taskimport_name (imp, i), reason);
        else
            printf ("imported %-28s %s/%s  (from %s)\n", geak_taskimport_name (imp, i), out,
                    geak_taskimport_name (imp, i), geak_taskimport_file (imp, i));
    }
    size_t skipped = geak_taskimport_skipped (imp);
    printf ("%zu imported, %zu skipped into %s\n", n - skipped, skipped, out);
    geak_taskimport_destroy (&imp);
    return skipped || n == 0 ? 1 : 0;
}

// ------------------------------------------------------------------ entry

int
geak_cmd_tasks (int argc, char **argv)
{
    if (argc < 2) {
        s_usage ();
        return 2;
    }
    if (strcmp (argv [1], "list") == 0)
        return s_list (argc - 1, argv + 1);
    if (strcmp (argv [1], "check") == 0)
        return s_check (argc - 1, argv + 1);
    if (strcmp (argv [1], "import") == 0)
        return s_import (argc - 1, argv + 1);
    if (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0) {
        s_usage ();
        return 0;
    }
    s_usage ();
    return 2;
}
