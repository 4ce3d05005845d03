/*  geak eval - evaluate a JSONL file of candidates through the evaluators.

    geak eval --candidates FILE.jsonl [--tasks DIR] [--out verdicts.jsonl]
              [--summary summary.json] [--broker EP | --standalone N]
              [--window N] [--timeout-ms N] [--correctness-only]

    Each input line: {"id": optional, "task": NAME | "task_file": PATH,
    "code": PYTHON | "reply": LLM REPLY}. Requests go out in parallel (the
    async client), at most `window` at a time: by default as many as there
    are evaluator workers registered at the broker. Verdicts come out in
    input order, one JSON line each (stdout when no --out); the summary
    (call and execution accuracy, speedups over correct timed results) goes
    to --summary or, without it, as the last stdout line.

    --standalone N starts a private geak-broker and N geak-evaluator
    processes from the directory of this binary, waits until all N workers
    are registered (polling mmi.stats, bounded), and stops them at the end. */
#include "geak_prelude.h"
#include "geak_client.h"
#include "geak_config.h"
#include "geak_gpu.h"
#include "geak_log.h"
#include "geak_proto.h"
#include "commands.h"

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>

extern char **environ;

#define STANDALONE_MAX 64
#define READY_TIMEOUT_MS 120000

typedef struct {
    char *id;
    char *task;             //  name or path, as given
    char *task_path;        //  what goes into TaskRef.path ("" for a name)
    char *code;
    char *input_error;      //  the line could not be used
    cJSON *verdict;         //  filled when answered
    char *request_id;       //  while pending
} item_t;

typedef struct {
    pid_t broker;
    pid_t evaluators [STANDALONE_MAX];
    int n;
    char endpoint [64];
} standalone_t;

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: geak eval --candidates FILE.jsonl [--tasks DIR] [--out FILE] [--summary FILE]\n"
             "                 [--broker EP | --standalone N] [--window N] [--timeout-ms N]\n"
             "                 [--correctness-only]\n");
}

// ------------------------------------------------------------------ input

static char *
s_json_str (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (cJSON_IsString (item) && item->valuestring)
        return geak_strdup (item->valuestring);
    if (cJSON_IsNumber (item)) {
        char buf [64];
        snprintf (buf, sizeof buf, "%.17g", item->valuedouble);
        return geak_strdup (buf);
    }
    return NULL;
}

//  Read all lines; returns the count or -1 when the file cannot be read
static int
s_read_candidates (const char *path, item_t **items_p)
{
    FILE *f = strcmp (path, "-") == 0 ? stdin : fopen (path, "r");
    if (!f)
        return -1;
    item_t *items = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline (&line, &line_cap, f)) >= 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (!*p)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            items = realloc (items, (size_t) cap * sizeof *items);
            assert (items);
        }
        item_t *item = &items [n++];
        memset (item, 0, sizeof *item);
        cJSON *obj = cJSON_Parse (p);
        char idbuf [32];
        snprintf (idbuf, sizeof idbuf, "line-%d", lineno);
        if (!cJSON_IsObject (obj)) {
            item->id = geak_strdup (idbuf);
            item->task = geak_strdup ("");
            item->input_error = geak_strdup ("line is not a JSON object");
            cJSON_Delete (obj);
            continue;
        }
        item->id = s_json_str (obj, "id");
        if (!item->id)
            item->id = geak_strdup (idbuf);
        char *task = s_json_str (obj, "task");
        char *task_file = s_json_str (obj, "task_file");
        char *code = s_json_str (obj, "code");
        char *reply = s_json_str (obj, "reply");
        if (task) {
            item->task = task;
            item->task_path = geak_strdup ("");
            free (task_file);
        }
        else
        if (task_file) {
            //  a task directory or a file inside it, sent as an absolute path
            char *real = realpath (task_file, NULL);
            if (real) {
                size_t rl = strlen (real);
                if (rl > 10 && strcmp (real + rl - 10, "/task.json") == 0)
                    real [rl - 10] = 0;
            }
            item->task = task_file;
            item->task_path = real ? real : geak_strdup (task_file);
        }
        else {
            item->task = geak_strdup ("");
            item->input_error = geak_strdup ("line has neither task nor task_file");
        }
        //  an LLM reply goes as it is: the evaluator extracts the code
        item->code = code ? code : reply ? reply : geak_strdup ("");
        if (code && reply)
            free (reply);
        cJSON_Delete (obj);
    }
    free (line);
    if (f != stdin)
        fclose (f);
    *items_p = items;
    return n;
}

static void
s_items_free (item_t *items, int n)
{
    for (int i = 0; i < n; i++) {
        free (items [i].id);
        free (items [i].task);
        free (items [i].task_path);
        free (items [i].code);
        free (items [i].input_error);
        free (items [i].request_id);
        cJSON_Delete (items [i].verdict);
    }
    free (items);
}

// ------------------------------------------------------------------ verdicts

static cJSON *
s_verdict_base (const item_t *item)
{
    cJSON *v = cJSON_CreateObject ();
    cJSON_AddStringToObject (v, "id", item->id);
    cJSON_AddStringToObject (v, "task", item->task);
    return v;
}

//  A verdict for a candidate the evaluator could not judge (our side failed)
static cJSON *
s_verdict_error (const item_t *item, const char *cls, const char *message)
{
    cJSON *v = s_verdict_base (item);
    cJSON_AddStringToObject (v, "error_class", cls);
    cJSON_AddBoolToObject (v, "call_ok", false);
    cJSON_AddBoolToObject (v, "exec_ok", false);
    cJSON_AddBoolToObject (v, "timed", false);
    cJSON_AddNullToObject (v, "speedup");
    cJSON_AddNullToObject (v, "max_abs_err");
    cJSON_AddNullToObject (v, "max_rel_err");
    cJSON_AddStringToObject (v, "message", message ? message : "");
    return v;
}

static cJSON *
s_verdict_result (const item_t *item, const Geak__EvalResult *r)
{
    cJSON *v = s_verdict_base (item);
    cJSON_AddStringToObject (v, "error_class", geak_proto_class_name (r->error_class));
    cJSON_AddBoolToObject (v, "call_ok", r->call_ok);
    cJSON_AddBoolToObject (v, "exec_ok", r->exec_ok);
    cJSON_AddBoolToObject (v, "timed", r->timed);
    if (r->timed && r->speedup > 0)
        cJSON_AddNumberToObject (v, "speedup", r->speedup);
    else
        cJSON_AddNullToObject (v, "speedup");
    double abs_err = 0, rel_err = 0;
    for (size_t i = 0; i < r->n_verdicts; i++) {
        if (r->verdicts [i]->max_abs_err > abs_err)
            abs_err = r->verdicts [i]->max_abs_err;
        if (r->verdicts [i]->max_rel_err > rel_err)
            rel_err = r->verdicts [i]->max_rel_err;
    }
    if (r->n_verdicts) {
        cJSON_AddNumberToObject (v, "max_abs_err", abs_err);
        cJSON_AddNumberToObject (v, "max_rel_err", rel_err);
    }
    else {
        cJSON_AddNullToObject (v, "max_abs_err");
        cJSON_AddNullToObject (v, "max_rel_err");
    }
    cJSON_AddStringToObject (v, "message", r->error_message);
    cJSON_AddNumberToObject (v, "eval_ms", r->eval_ms);
    cJSON_AddStringToObject (v, "worker", r->worker);
    if (r->device && *r->device->arch)
        cJSON_AddStringToObject (v, "arch", r->device->arch);
    return v;
}

static void
s_take_reply (item_t *item, geak_reply_t *reply)
{
    if (reply->rc != GEAK_OK) {
        //  the transport or broker gave up (timeout, worker lost): our fault
        item->verdict = s_verdict_error (item, "harness_error",
                                         reply->error ? reply->error : geak_rc_str (reply->rc));
        return;
    }
    geak_rc_t rc;
    Geak__Envelope *env = geak_proto_unpack (reply->body, reply->size,
                                             GEAK__ENVELOPE__BODY__NOT_SET, &rc);
    if (!env)
        item->verdict = s_verdict_error (item, "harness_error", "evaluator reply is not an Envelope");
    else
    if (env->body_case == GEAK__ENVELOPE__BODY_EVAL_RESULT && env->eval_result)
        item->verdict = s_verdict_result (item, env->eval_result);
    else
    if (env->body_case == GEAK__ENVELOPE__BODY_ERROR && env->error) {
        char msg [1024];
        snprintf (msg, sizeof msg, "%s: %s", env->error->code, env->error->message);
        item->verdict = s_verdict_error (item, "harness_error", msg);
        cJSON_AddStringToObject (item->verdict, "error_code", env->error->code);
    }
    else
        item->verdict = s_verdict_error (item, "harness_error", "unexpected reply body");
    geak_proto_free (&env);
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static cJSON *
s_summary (const item_t *items, int n, double wall_s)
{
    int call = 0, exec = 0, timed = 0;
    double *speedups = calloc ((size_t) (n ? n : 1), sizeof *speedups);
    assert (speedups);
    int ns = 0;
    cJSON *classes = cJSON_CreateObject ();
    for (int i = 0; i < n; i++) {
        const cJSON *v = items [i].verdict;
        if (cJSON_IsTrue (cJSON_GetObjectItem (v, "call_ok")))
            call++;
        bool ok = cJSON_IsTrue (cJSON_GetObjectItem (v, "exec_ok"));
        if (ok)
            exec++;
        bool was_timed = cJSON_IsTrue (cJSON_GetObjectItem (v, "timed"));
        if (was_timed)
            timed++;
        const cJSON *s = cJSON_GetObjectItem (v, "speedup");
        if (ok && was_timed && cJSON_IsNumber (s) && s->valuedouble > 0)
            speedups [ns++] = s->valuedouble;
        const cJSON *cls = cJSON_GetObjectItem (v, "error_class");
        const char *name = cJSON_IsString (cls) ? cls->valuestring : "unknown";
        cJSON *count = cJSON_GetObjectItem (classes, name);
        if (count)
            cJSON_SetNumberValue (count, count->valuedouble + 1);
        else
            cJSON_AddNumberToObject (classes, name, 1);
    }
    cJSON *sum = cJSON_CreateObject ();
    cJSON_AddNumberToObject (sum, "n", n);
    cJSON_AddNumberToObject (sum, "call_ok", call);
    cJSON_AddNumberToObject (sum, "exec_ok", exec);
    cJSON_AddNumberToObject (sum, "call_accuracy", n ? (double) call / n : 0);
    cJSON_AddNumberToObject (sum, "execution_accuracy", n ? (double) exec / n : 0);
    cJSON_AddNumberToObject (sum, "timed", timed);
    cJSON_AddNumberToObject (sum, "speedup_n", ns);
    if (ns) {
        double total = 0;
        for (int i = 0; i < ns; i++)
            total += speedups [i];
        qsort (speedups, (size_t) ns, sizeof *speedups, s_cmp_double);
        double median = ns % 2 ? speedups [ns / 2]
                               : (speedups [ns / 2 - 1] + speedups [ns / 2]) / 2;
        cJSON_AddNumberToObject (sum, "mean_speedup", total / ns);
        cJSON_AddNumberToObject (sum, "median_speedup", median);
    }
    else {
        //  nothing timed (e.g. interpreted runs): speed is unknown, not 0
        cJSON_AddNullToObject (sum, "mean_speedup");
        cJSON_AddNullToObject (sum, "median_speedup");
    }
    cJSON_AddItemToObject (sum, "classes", classes);
    cJSON_AddNumberToObject (sum, "wall_s", wall_s);
    free (speedups);
    return sum;
}

// ------------------------------------------------------------------ standalone

static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0
        && getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

static pid_t
s_spawn (char *const argv [])
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    //  children's stdout joins stderr: our stdout carries JSON only
    posix_spawn_file_actions_adddup2 (&actions, 2, 1);
    pid_t pid = 0;
    int rc = posix_spawn (&pid, argv [0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    if (rc != 0) {
        fprintf (stderr, "geak eval: cannot start %s: %s\n", argv [0], strerror (rc));
        return -1;
    }
    return pid;
}

//  Stop one child: SIGTERM, wait up to timeout_ms, then SIGKILL
static int
s_stop_child (pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return 0;
    kill (pid, SIGTERM);
    int64_t deadline = geak_clock_mono_ms () + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid (pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        if (r < 0)
            return -1;
        if (geak_clock_mono_ms () >= deadline) {
            kill (pid, SIGKILL);
            waitpid (pid, &status, 0);
            return 137;
        }
        struct pollfd none;
        poll (&none, 0, 20);
    }
}

static void
s_standalone_stop (standalone_t *sa)
{
    for (int i = 0; i < sa->n; i++)
        if (sa->evaluators [i] > 0)
            kill (sa->evaluators [i], SIGTERM);
    for (int i = 0; i < sa->n; i++) {
        int code = s_stop_child (sa->evaluators [i], 20000);
        if (code != 0)
            geak_warn ("standalone_evaluator_exit", "pid=%d code=%d", (int) sa->evaluators [i], code);
        sa->evaluators [i] = 0;
    }
    int code = s_stop_child (sa->broker, 10000);
    if (code != 0)
        geak_warn ("standalone_broker_exit", "pid=%d code=%d", (int) sa->broker, code);
    sa->broker = 0;
}

//  Evaluator workers registered at the broker (-1: broker not answering)
static int
s_evaluator_workers (geak_client_t *client)
{
    geak_reply_t *reply = NULL;
    geak_rc_t rc = geak_client_call (client, "mmi.stats", NULL, 2000, "", 0, &reply);
    int workers = -1;
    if (rc == GEAK_OK && reply && reply->body) {
        cJSON *stats = cJSON_Parse ((const char *) reply->body);
        const cJSON *services = cJSON_GetObjectItem (stats, "services");
        const cJSON *svc = cJSON_GetObjectItem (services, GEAK_SERVICE_EVALUATOR);
        const cJSON *w = cJSON_GetObjectItem (svc, "workers");
        workers = cJSON_IsNumber (w) ? (int) w->valuedouble : 0;
        cJSON_Delete (stats);
    }
    geak_reply_destroy (&reply);
    return workers;
}

static int
s_standalone_start (standalone_t *sa, int n, const char *tasks)
{
    memset (sa, 0, sizeof *sa);
    char exe [PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return -1;
    exe [len] = 0;
    char *slash = strrchr (exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    char broker_bin [PATH_MAX + 32], evaluator_bin [PATH_MAX + 32];
    snprintf (broker_bin, sizeof broker_bin, "%s/geak-broker", exe);
    snprintf (evaluator_bin, sizeof evaluator_bin, "%s/geak-evaluator", exe);
    int port = s_free_port ();
    if (port <= 0)
        return -1;
    snprintf (sa->endpoint, sizeof sa->endpoint, "tcp://127.0.0.1:%d", port);
    char *bargv [] = { broker_bin, "--bind", sa->endpoint, NULL };
    sa->broker = s_spawn (bargv);
    if (sa->broker <= 0)
        return -1;
    //  pin the evaluators round-robin over the GPUs, if any
    geak_gpu_info_t *gpus = NULL;
    int ngpus = 0;
    if (geak_gpu_probe (&gpus, &ngpus) != GEAK_OK)
        ngpus = 0;
    free (gpus);
    for (int i = 0; i < n; i++) {
        char gpu [16];
        snprintf (gpu, sizeof gpu, "%d", ngpus ? i % ngpus : 0);
        char *eargv [12];
        int a = 0;
        eargv [a++] = evaluator_bin;
        eargv [a++] = "--broker";
        eargv [a++] = sa->endpoint;
        eargv [a++] = "--tasks";
        eargv [a++] = (char *) tasks;
        if (ngpus) {
            eargv [a++] = "--gpu";
            eargv [a++] = gpu;
        }
        eargv [a] = NULL;
        sa->evaluators [i] = s_spawn (eargv);
        if (sa->evaluators [i] <= 0)
            return -1;
        sa->n = i + 1;
    }
    //  ready when all N workers are registered (bounded; a child that
    //  exits early fails the start at once)
    geak_client_t *client = geak_client_new (NULL, sa->endpoint);
    if (!client)
        return -1;
    int64_t deadline = geak_clock_mono_ms () + READY_TIMEOUT_MS;
    int workers = -1;
    int result = -1;
    while (geak_clock_mono_ms () < deadline) {
        bool dead = false;
        for (int i = 0; i < sa->n; i++) {
            int status;
            if (waitpid (sa->evaluators [i], &status, WNOHANG) == sa->evaluators [i]) {
                fprintf (stderr, "geak eval: evaluator %d exited during start\n", i);
                sa->evaluators [i] = 0;
                dead = true;
            }
        }
        int status;
        if (waitpid (sa->broker, &status, WNOHANG) == sa->broker) {
            fprintf (stderr, "geak eval: broker exited during start\n");
            sa->broker = 0;
            dead = true;
        }
        if (dead)
            break;
        workers = s_evaluator_workers (client);
        if (workers >= n) {
            result = 0;
            break;
        }
        struct pollfd none;
        poll (&none, 0, 50);
    }
    geak_client_destroy (&client);
    if (result != 0)
        fprintf (stderr, "geak eval: %d of %d evaluators ready\n", workers < 0 ? 0 : workers, n);
    else
        geak_info ("standalone_ready", "endpoint=%s evaluators=%d", sa->endpoint, n);
    return result;
}

// ------------------------------------------------------------------ main

static int
s_write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    fputs (text, f);
    return fclose (f);
}

static geak_rc_t
s_send_one (geak_client_t *client, item_t *item, long timeout_ms, bool correctness)
{
    Geak__TaskRef task = GEAK__TASK_REF__INIT;
    task.name = item->task;
    task.path = item->task_path;
    Geak__Lineage lineage = GEAK__LINEAGE__INIT;
    lineage.task = item->task;
    lineage.role = GEAK__ROLE__HUMAN;
    lineage.implementation = "geak-eval";
    Geak__Candidate candidate = GEAK__CANDIDATE__INIT;
    candidate.attempt_id = item->id;
    candidate.code = item->code;
    candidate.lineage = &lineage;
    Geak__EvalOptions options = GEAK__EVAL_OPTIONS__INIT;
    options.timeout_ms = (uint32_t) timeout_ms;
    options.correctness_only = correctness;
    Geak__EvalRequest request = GEAK__EVAL_REQUEST__INIT;
    request.task = &task;
    request.candidate = &candidate;
    request.options = &options;
    //  the answer may wait for the evaluator's own timeout plus a restart
    int64_t deadline = geak_clock_wall_ms () + 2 * timeout_ms + 60000;
    Geak__Envelope env;
    geak_proto_envelope_init (&env, NULL, deadline, "geak-eval");
    env.body_case = GEAK__ENVELOPE__BODY_EVAL_REQUEST;
    env.eval_request = &request;
    uint8_t *data = NULL;
    size_t size = 0;
    geak_rc_t rc = geak_proto_pack (&env, &data, &size);
    const char *id = NULL;
    if (rc == GEAK_OK)
        rc = geak_client_send (client, GEAK_SERVICE_EVALUATOR, NULL, deadline, data, size, &id);
    free (data);
    if (rc == GEAK_OK)
        item->request_id = geak_strdup (id);
    return rc;
}

int
geak_cmd_eval (int argc, char **argv)
{
    const char *candidates = NULL;
    const char *tasks = geak_config_str ("GEAK_TASKS", "tasks");
    const char *out_path = NULL, *summary_path = NULL;
    const char *endpoint = geak_config_str ("GEAK_BROKER", GEAK_DEFAULT_BROKER);
    long standalone = 0, window = 0, timeout_ms = 120000;
    bool correctness = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool has = i + 1 < argc;
        if (strcmp (arg, "--candidates") == 0 && has)
            candidates = argv [++i];
        else
        if (strcmp (arg, "--tasks") == 0 && has)
            tasks = argv [++i];
        else
        if (strcmp (arg, "--out") == 0 && has)
            out_path = argv [++i];
        else
        if (strcmp (arg, "--summary") == 0 && has)
            summary_path = argv [++i];
        else
        if (strcmp (arg, "--broker") == 0 && has)
            endpoint = argv [++i];
        else
        if (strcmp (arg, "--standalone") == 0 && has) {
            if (geak_config_parse_long (argv [++i], 1, STANDALONE_MAX, &standalone)) {
                s_usage ();
                return 2;
            }
        }
        else
        if (strcmp (arg, "--window") == 0 && has) {
            if (geak_config_parse_long (argv [++i], 1, 4096, &window)) {
                s_usage ();
                return 2;
            }
        }
        else
        if (strcmp (arg, "--timeout-ms") == 0 && has) {
            if (geak_config_parse_long (argv [++i], 100, 3600000, &timeout_ms)) {
                s_usage ();
                return 2;
            }
        }
        else
        if (strcmp (arg, "--correctness-only") == 0)
            correctness = true;
        else {
            s_usage ();
            return 2;
        }
    }
    if (!candidates) {
        s_usage ();
        return 2;
    }
    item_t *items = NULL;
    int n = s_read_candidates (candidates, &items);
    if (n < 0) {
        fprintf (stderr, "geak eval: cannot read %s\n", candidates);
        return 1;
    }
    int64_t t0 = geak_clock_mono_ms ();
    standalone_t sa = { 0 };
    if (standalone > 0) {
        char *real_tasks = realpath (tasks, NULL);
        int rc = s_standalone_start (&sa, (int) standalone, real_tasks ? real_tasks : tasks);
        free (real_tasks);
        if (rc != 0) {
            s_standalone_stop (&sa);
            s_items_free (items, n);
            return 1;
        }
        endpoint = sa.endpoint;
    }
    geak_client_t *client = geak_client_new (NULL, endpoint);
    if (!client) {
        fprintf (stderr, "geak eval: cannot connect to %s\n", endpoint);
        s_standalone_stop (&sa);
        s_items_free (items, n);
        return 1;
    }
    if (window == 0) {
        int workers = standalone ? (int) standalone : s_evaluator_workers (client);
        window = workers > 0 ? workers : 1;
    }
    geak_info ("eval_start", "candidates=%d window=%ld endpoint=%s", n, window, endpoint);

    int next = 0, done = 0, exit_code = 0;
    for (int i = 0; i < n; i++)
        if (items [i].input_error) {
            items [i].verdict = s_verdict_error (&items [i], "invalid_input", items [i].input_error);
            done++;
        }
    while (done < n) {
        //  fill the window
        while (next < n && (long) geak_client_pending (client) < window) {
            item_t *item = &items [next++];
            if (item->verdict)
                continue;
            geak_rc_t rc = s_send_one (client, item, timeout_ms, correctness);
            if (rc != GEAK_OK) {
                item->verdict = s_verdict_error (item, "harness_error", geak_rc_str (rc));
                done++;
            }
        }
        if (done >= n)
            break;
        geak_reply_t *reply = NULL;
        geak_rc_t rc = geak_client_recv (client, &reply, 1000);
        if (rc == GEAK_E_TIMEOUT)
            continue;
        if (rc != GEAK_OK) {
            fprintf (stderr, "geak eval: %s\n", geak_rc_str (rc));
            exit_code = 1;
            break;
        }
        if (reply->partial) {
            geak_reply_destroy (&reply);
            continue;
        }
        for (int i = 0; i < n; i++)
            if (items [i].request_id && reply->request_id
                && strcmp (items [i].request_id, reply->request_id) == 0 && !items [i].verdict) {
                s_take_reply (&items [i], reply);
                free (items [i].request_id);
                items [i].request_id = NULL;
                done++;
                const cJSON *cls = cJSON_GetObjectItem (items [i].verdict, "error_class");
                geak_info ("eval_verdict", "id=%s task=%s class=%s", items [i].id, items [i].task,
                           cJSON_IsString (cls) ? cls->valuestring : "?");
                break;
            }
        geak_reply_destroy (&reply);
    }
    geak_client_destroy (&client);
    s_standalone_stop (&sa);
    for (int i = 0; i < n; i++)
        if (!items [i].verdict)
            items [i].verdict = s_verdict_error (&items [i], "harness_error", "no answer");

    //  verdicts in input order, then the summary
    FILE *out = out_path ? fopen (out_path, "w") : stdout;
    if (!out) {
        fprintf (stderr, "geak eval: cannot write %s\n", out_path);
        exit_code = 1;
    }
    else {
        for (int i = 0; i < n; i++) {
            char *line = cJSON_PrintUnformatted (items [i].verdict);
            fprintf (out, "%s\n", line);
            free (line);
        }
        if (out != stdout && fclose (out) != 0)
            exit_code = 1;
    }
    cJSON *sum = s_summary (items, n, (geak_clock_mono_ms () - t0) / 1000.0);
    char *text = cJSON_PrintUnformatted (sum);
    cJSON_Delete (sum);
    if (summary_path) {
        if (s_write_file (summary_path, text) != 0) {
            fprintf (stderr, "geak eval: cannot write %s\n", summary_path);
            exit_code = 1;
        }
    }
    else
        printf ("%s\n", text);
    free (text);
    fflush (stdout);
    s_items_free (items, n);
    return exit_code;
}
