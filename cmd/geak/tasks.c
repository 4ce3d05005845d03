/*  geak tasks - the task directory: list it, self-check its references, import benchmarks.

    geak tasks list   [--tasks DIR] [--json]
    geak tasks check  [--tasks DIR] [--task NAME]... [--gpu] [--json FILE] [--servers N]
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
    checked. With --gpu the self-check also times the reference against itself. */
#include "geak_prelude.h"
#include "geak_config.h"
#include "geak_log.h"
#include "geak_taskimport.h"
#include "commands.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>

extern char **environ;

#define MAX_DEPTH        4
#define MAX_SERVERS      8
#define REQ_FD           3
#define RESP_FD          4
#define START_TIMEOUT_MS 180000
#define MAX_LINE         (64u << 20)

typedef struct {
    char *dir;              //  absolute path
    char *rel;              //  relative to the tasks root
    char *name;
    char *category;
    int difficulty;
    char *source;           //  "-" or "<format>:<file>"
    char *problem;          //  task.json unreadable: why
    //  check results
    char *status;           //  ok | broken | flaky | error
    char *reason;
    char *error_class;
    double seconds, speedup, gbps, tflops;
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
             "       geak tasks check  [--tasks DIR] [--task NAME]... [--gpu] [--json FILE] [--servers N]\n"
             "                         [--timeout-s S] [--harness-dir DIR] [--python PY] [--cache-dir DIR]\n"
             "       geak tasks import FORMAT PATH [--out DIR] [--instruction comp|simp] [--index FILE]\n"
             "                         [--perf-cases N] [--atol X] [--rtol Y]\n"
             "FORMAT: " GEAK_TASKIMPORT_TRITONBENCH " | " GEAK_TASKIMPORT_ROCM "\n");
}

// ------------------------------------------------------------------ discovery

static char *
s_join (const char *a, const char *b)
{
    size_t n = strlen (a) + strlen (b) + 2;
    char *s = malloc (n);
    assert (s);
    snprintf (s, n, "%s/%s", a, b);
    return s;
}

static char *
s_read_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    size_t cap = 0, size = 0;
    for (;;) {
        if (cap - size < 4096) {
            cap = cap ? cap * 2 : 16384;
            data = realloc (data, cap);
            assert (data);
        }
        size_t n = fread (data + size, 1, cap - size - 1, f);
        size += n;
        if (n == 0 || size > (16u << 20))
            break;
    }
    bool ok = !ferror (f) && size <= (16u << 20);
    fclose (f);
    data [size] = 0;
    if (!ok) {
        free (data);
        return NULL;
    }
    return data;
}

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
    char *path = s_join (dir, "task.json");
    char *text = s_read_file (path);
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
            char *path = s_join (dir, name);
            char *sub = *rel ? s_join (rel, name) : geak_strdup (name);
            struct stat st;
            if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode)) {
                char *json = s_join (path, "task.json");
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

typedef struct {
    pid_t pid;
    int req_fd, resp_fd;
    char *buf;
    size_t len, cap;
    long task;              //  index of the task being checked, -1 when idle
    int64_t started_ms, deadline_ms;
    cJSON *device;
} server_t;

typedef struct {
    char *python;
    char *harness_dir;
    char *cache_dir;
    bool gpu;
} server_opts_t;

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return path && stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

//  The directory holding the harness package (put on PYTHONPATH)
static char *
s_find_harness_dir (const char *given)
{
    char probe [PATH_MAX + 64];
    if (given) {
        snprintf (probe, sizeof probe, "%s/harness", given);
        if (s_is_dir (probe))
            return realpath (given, NULL);
        size_t len = strlen (given);
        if (len > 8 && strcmp (given + len - 8, "/harness") == 0 && s_is_dir (given)) {
            char *parent = geak_strdup (given);
            parent [len - 8] = 0;
            char *real = realpath (parent, NULL);
            free (parent);
            return real;
        }
        return NULL;
    }
    if (s_is_dir ("services/evaluator/harness"))
        return realpath ("services/evaluator", NULL);
    char exe [PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe [n] = 0;
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr (exe, '/');
        if (!slash)
            break;
        *slash = 0;
        snprintf (probe, sizeof probe, "%s/services/evaluator/harness", exe);
        if (s_is_dir (probe)) {
            snprintf (probe, sizeof probe, "%s/services/evaluator", exe);
            return realpath (probe, NULL);
        }
    }
    return NULL;
}

static char *
s_which (const char *name)
{
    if (strchr (name, '/'))
        return geak_strdup (name);
    const char *path = getenv ("PATH");
    char *copy = geak_strdup (path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *save = NULL, *found = NULL;
    for (char *dir = strtok_r (copy, ":", &save); dir && !found; dir = strtok_r (NULL, ":", &save)) {
        char *full = s_join (*dir ? dir : ".", name);
        if (access (full, X_OK) == 0)
            found = full;
        else
            free (full);
    }
    free (copy);
    return found ? found : geak_strdup (name);
}

//  Our environment with PYTHONPATH, TRITON_INTERPRET (or without it, on a GPU) set
static char **
s_env (const server_opts_t *opts)
{
    size_t n = 0;
    while (environ [n])
        n++;
    char **env = calloc (n + 6, sizeof *env);
    assert (env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp (environ [i], "PYTHONPATH=", 11) != 0 && strncmp (environ [i], "TRITON_INTERPRET=", 17) != 0
            && strncmp (environ [i], "PYTHONUNBUFFERED=", 17) != 0)
            env [k++] = geak_strdup (environ [i]);
    const char *old = getenv ("PYTHONPATH");
    size_t len = strlen (opts->harness_dir) + (old ? strlen (old) : 0) + 16;
    env [k] = malloc (len);
    assert (env [k]);
    snprintf (env [k++], len, old && *old ? "PYTHONPATH=%s:%s" : "PYTHONPATH=%s%s", opts->harness_dir,
              old && *old ? old : "");
    env [k++] = geak_strdup ("PYTHONUNBUFFERED=1");
    if (!opts->gpu)
        env [k++] = geak_strdup ("TRITON_INTERPRET=1");
    env [k] = NULL;
    return env;
}

static void
s_strv_free (char **v)
{
    for (size_t i = 0; v && v [i]; i++)
        free (v [i]);
    free (v);
}

static void
s_server_stop (server_t *s, bool polite)
{
    if (s->pid > 0) {
        if (polite && s->req_fd >= 0) {
            const char *quit = "{\"op\":\"quit\"}\n";
            ssize_t w = write (s->req_fd, quit, strlen (quit));
            GEAK_UNUSED (w);
        }
        if (s->req_fd >= 0)
            close (s->req_fd);
        s->req_fd = -1;
        //  a polite stop waits (bounded) for the server to finish; then the group goes
        int64_t deadline = geak_clock_mono_ms () + (polite ? 15000 : 0);
        int status;
        while (waitpid (s->pid, &status, WNOHANG) == 0) {
            if (geak_clock_mono_ms () >= deadline) {
                kill (-s->pid, SIGKILL);
                kill (s->pid, SIGKILL);
                waitpid (s->pid, &status, 0);
                break;
            }
            struct pollfd none;
            poll (&none, 0, 20);
        }
        kill (-s->pid, SIGKILL);    //  children left in its group, if any
    }
    if (s->req_fd >= 0)
        close (s->req_fd);
    if (s->resp_fd >= 0)
        close (s->resp_fd);
    free (s->buf);
    cJSON_Delete (s->device);
    memset (s, 0, sizeof *s);
    s->pid = -1;
    s->req_fd = s->resp_fd = -1;
    s->task = -1;
}

static int
s_send (server_t *s, cJSON *req)
{
    char *text = cJSON_PrintUnformatted (req);
    assert (text);
    size_t len = strlen (text);
    text = realloc (text, len + 2);
    assert (text);
    text [len++] = '\n';
    text [len] = 0;
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write (s->req_fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -1;
            break;
        }
        off += (size_t) w;
    }
    free (text);
    return rc;
}

//  Read what is there; 1 = a line is ready in *line_p (caller frees), 0 = not yet, -1 = EOF/error
static int
s_take_line (server_t *s, char **line_p)
{
    char *nl = s->buf ? memchr (s->buf, '\n', s->len) : NULL;
    if (!nl) {
        if (s->cap - s->len < 65536) {
            s->cap = s->cap ? s->cap * 2 : 131072;
            s->buf = realloc (s->buf, s->cap);
            assert (s->buf);
        }
        ssize_t n = read (s->resp_fd, s->buf + s->len, s->cap - s->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return 0;
        if (n <= 0)
            return -1;
        s->len += (size_t) n;
        if (s->len > MAX_LINE)
            return -1;
        nl = memchr (s->buf, '\n', s->len);
        if (!nl)
            return 0;
    }
    size_t line_len = (size_t) (nl - s->buf);
    char *line = malloc (line_len + 1);
    assert (line);
    memcpy (line, s->buf, line_len);
    line [line_len] = 0;
    memmove (s->buf, nl + 1, s->len - line_len - 1);
    s->len -= line_len + 1;
    *line_p = line;
    return 1;
}

//  Wait for one reply line (bounded); NULL on EOF or timeout
static cJSON *
s_wait_line (server_t *s, int64_t deadline_ms)
{
    for (;;) {
        char *line = NULL;
        int got = s_take_line (s, &line);
        if (got < 0)
            return NULL;
        if (got > 0) {
            cJSON *obj = cJSON_Parse (line);
            free (line);
            if (cJSON_IsObject (obj))
                return obj;
            cJSON_Delete (obj);
            continue;
        }
        int64_t left = deadline_ms - geak_clock_mono_ms ();
        if (left <= 0)
            return NULL;
        struct pollfd p = { .fd = s->resp_fd, .events = POLLIN };
        poll (&p, 1, (int) (left > 1000 ? 1000 : left));
    }
}

static int
s_server_start (server_t *s, const server_opts_t *opts)
{
    memset (s, 0, sizeof *s);
    s->pid = -1;
    s->req_fd = s->resp_fd = -1;
    s->task = -1;
    int req [2], resp [2];
    if (pipe2 (req, O_CLOEXEC) != 0)
        return -1;
    if (pipe2 (resp, O_CLOEXEC) != 0) {
        close (req [0]);
        close (req [1]);
        return -1;
    }
    char *argv [12];
    int a = 0;
    argv [a++] = opts->python;
    argv [a++] = "-m";
    argv [a++] = "harness";
    argv [a++] = "--req-fd";
    argv [a++] = "3";
    argv [a++] = "--resp-fd";
    argv [a++] = "4";
    if (opts->cache_dir) {
        argv [a++] = "--cache-dir";
        argv [a++] = opts->cache_dir;
    }
    argv [a] = NULL;
    char **env = s_env (opts);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid < 0) {
        s_strv_free (env);
        close (req [0]);
        close (req [1]);
        close (resp [0]);
        close (resp [1]);
        return -1;
    }
    if (pid == 0) {
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        int r = fcntl (req [0], F_DUPFD, 10);
        int w = fcntl (resp [1], F_DUPFD, 10);
        if (r < 0 || w < 0 || dup2 (r, REQ_FD) < 0 || dup2 (w, RESP_FD) < 0)
            _exit (127);
        dup2 (2, 1);
        if (syscall (SYS_close_range, RESP_FD + 1, ~0U, 0) != 0)
            for (int fd = RESP_FD + 1; fd < 4096; fd++)
                close (fd);
        signal (SIGPIPE, SIG_DFL);
        if (chdir (opts->harness_dir) != 0)
            _exit (126);
        execve (opts->python, argv, env);
        _exit (127);
    }
    s_strv_free (env);
    setpgid (pid, pid);
    close (req [0]);
    close (resp [1]);
    s->pid = pid;
    s->req_fd = req [1];
    s->resp_fd = resp [0];
    cJSON *ping = cJSON_CreateObject ();
    cJSON_AddStringToObject (ping, "op", "ping");
    int rc = s_send (s, ping);
    cJSON_Delete (ping);
    cJSON *pong = rc == 0 ? s_wait_line (s, geak_clock_mono_ms () + START_TIMEOUT_MS) : NULL;
    const char *op = s_str (pong, "op");
    if (!op || strcmp (op, "pong") != 0) {
        cJSON_Delete (pong);
        fprintf (stderr, "geak tasks: the fork server (%s -m harness in %s) did not start\n",
                 opts->python, opts->harness_dir);
        s_server_stop (s, false);
        return -1;
    }
    s->device = cJSON_DetachItemFromObjectCaseSensitive (pong, "device");
    cJSON_Delete (pong);
    geak_info ("tasks_server_ready", "pid=%d gpu=%d", (int) pid, opts->gpu);
    return 0;
}

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
    const char *status = s_str (result, "status");
    s_set (&t->status, status ? status : "error");
    s_set (&t->reason, s_str (result, "reason"));
    s_set (&t->error_class, s_str (result, "error_class"));
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive (result, "results");
    const cJSON *first = cJSON_GetArrayItem (runs, 0);
    t->timed = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (first, "timed"));
    t->speedup = s_num (first, "speedup");
    t->gbps = s_num (first, "gbps");
    t->tflops = s_num (first, "tflops");
}

static int
s_dispatch (server_t *s, tasks_t *tasks, long index, bool gpu, long timeout_s)
{
    task_t *t = &tasks->items [index];
    cJSON *req = cJSON_CreateObject ();
    char id [32];
    snprintf (id, sizeof id, "%ld", index);
    cJSON_AddStringToObject (req, "op", "selfcheck");
    cJSON_AddStringToObject (req, "id", id);
    cJSON_AddStringToObject (req, "task_dir", t->dir);
    cJSON_AddStringToObject (req, "mode", gpu ? "full" : "correctness");
    cJSON_AddNumberToObject (req, "timeout_s", (double) timeout_s);
    int rc = s_send (s, req);
    cJSON_Delete (req);
    s->task = index;
    s->started_ms = geak_clock_mono_ms ();
    //  two evaluations, each bounded by timeout_s, plus the harness's own grace
    s->deadline_ms = s->started_ms + (2 * timeout_s + 60) * 1000;
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
              const cJSON *device, int ok, int broken, int flaky, int errors)
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
        cJSON_AddStringToObject (o, "status", t->status ? t->status : "error");
        cJSON_AddStringToObject (o, "reason", t->reason ? t->reason : "");
        cJSON_AddStringToObject (o, "error_class", t->error_class ? t->error_class : "");
        cJSON_AddNumberToObject (o, "seconds", t->seconds);
        cJSON_AddBoolToObject (o, "timed", t->timed);
        if (t->timed) {
            cJSON_AddNumberToObject (o, "speedup", t->speedup);
            cJSON_AddNumberToObject (o, "gbps", t->gbps);
            cJSON_AddNumberToObject (o, "tflops", t->tflops);
        }
        cJSON_AddItemToArray (arr, o);
    }
    cJSON_AddNumberToObject (root, "ok", ok);
    cJSON_AddNumberToObject (root, "broken", broken);
    cJSON_AddNumberToObject (root, "flaky", flaky);
    cJSON_AddNumberToObject (root, "error", errors);
    char *text = cJSON_Print (root);
    cJSON_Delete (root);
    FILE *f = fopen (path, "w");
    int rc = -1;
    if (f) {
        fputs (text, f);
        fputc ('\n', f);
        rc = fclose (f) == 0 ? 0 : -1;
    }
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
    bool gpu = false;
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
    server_opts_t opts = { 0 };
    opts.gpu = gpu;
    opts.harness_dir = s_find_harness_dir (harness);
    opts.python = s_which (python);
    opts.cache_dir = cache_dir ? geak_strdup (cache_dir) : NULL;
    if (!opts.harness_dir) {
        fprintf (stderr, "geak tasks check: cannot find the harness (services/evaluator/harness); "
                         "give --harness-dir\n");
        free (opts.python);
        free (opts.cache_dir);
        free (order);
        s_tasks_free (&tasks);
        return 1;
    }
    if ((size_t) servers > n)
        servers = (long) n;
    server_t pool [MAX_SERVERS];
    for (long k = 0; k < servers; k++) {
        memset (&pool [k], 0, sizeof pool [k]);
        pool [k].pid = -1;
        pool [k].req_fd = pool [k].resp_fd = -1;
        pool [k].task = -1;
    }
    cJSON *device = NULL;
    //  tasks with an unreadable task.json are broken without asking the harness
    size_t next = 0, done = 0;
    int ok = 0, broken = 0, flaky = 0, errors = 0;
    int64_t t0 = geak_clock_mono_ms ();
    bool disabled [MAX_SERVERS] = { false };
    while (done < n) {
        //  hand out work
        for (long k = 0; k < servers && next < n; k++) {
            server_t *s = &pool [k];
            if (s->task >= 0 || disabled [k])
                continue;
            task_t *t = &tasks.items [order [next]];
            if (t->problem) {
                s_set (&t->status, "broken");
                s_set (&t->reason, t->problem);
                next++;
                done++;
                broken++;
                k--;
                continue;
            }
            if (s->pid <= 0) {
                if (s_server_start (s, &opts) != 0) {
                    disabled [k] = true;    //  no second try on this slot
                    continue;
                }
                if (!device && s->device)
                    device = cJSON_Duplicate (s->device, true);
            }
            if (s_dispatch (s, &tasks, order [next], gpu, timeout_s) != 0) {
                s->task = -1;
                s_server_stop (s, false);
                disabled [k] = true;
                continue;
            }
            next++;
        }
        bool any = false;
        for (long k = 0; k < servers; k++)
            if (!disabled [k] || pool [k].task >= 0)
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
                fds [nfds].fd = pool [k].resp_fd;
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
                for (;;) {
                    char *line = NULL;
                    int got = s_take_line (s, &line);
                    if (got == 0)
                        break;
                    if (got < 0) {
                        s_set (&t->status, "error");
                        s_set (&t->reason, "the fork server died during the self-check");
                        finished = true;
                        s_server_stop (s, false);
                        break;
                    }
                    cJSON *reply = cJSON_Parse (line);
                    free (line);
                    const char *id = s_str (reply, "id");
                    char want [32];
                    snprintf (want, sizeof want, "%ld", s->task);
                    if (id && strcmp (id, want) == 0) {
                        s_take_result (t, reply);
                        finished = true;
                    }
                    cJSON_Delete (reply);
                    if (finished)
                        break;
                }
            }
            if (!finished && s->task >= 0 && now >= s->deadline_ms) {
                s_set (&t->status, "error");
                s_set (&t->reason, "the self-check did not finish in time");
                finished = true;
                s_server_stop (s, false);
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
                    errors++;
                geak_info ("task_selfcheck", "task=%s status=%s seconds=%.1f", t->name, t->status, t->seconds);
            }
        }
    }
    for (long k = 0; k < servers; k++)
        s_server_stop (&pool [k], true);
    s_print_header (gpu);
    for (size_t i = 0; i < n; i++)
        s_print_row (&tasks.items [order [i]], gpu);
    printf ("%zu tasks: %d ok, %d broken, %d flaky, %d not checked (%.1f s)\n", n, ok, broken, flaky, errors,
            (double) (geak_clock_mono_ms () - t0) / 1000.0);
    if (json_path && s_write_json (json_path, &tasks, order, n, gpu, device, ok, broken, flaky, errors) != 0) {
        fprintf (stderr, "geak tasks check: cannot write %s\n", json_path);
        exit_code = 1;
    }
    if (broken || flaky || errors)
        exit_code = 1;
    cJSON_Delete (device);
    free (opts.harness_dir);
    free (opts.python);
    free (opts.cache_dir);
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
