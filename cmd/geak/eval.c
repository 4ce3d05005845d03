/*  geak eval - evaluate a JSONL file of candidates through the evaluators.

    geak eval --candidates FILE.jsonl [--tasks DIR] [--out verdicts.jsonl]
              [--summary summary.json] [--broker EP | --standalone N]
              [--window N] [--timeout-ms N] [--correctness-only]
              [--no-selfcheck]

    Candidates: a JSONL file, a JSON array, or a folder of .py files (one
    candidate per file, the task named by the file's stem: GEAK-eval's -c).
    A record: {"id": optional, "task": NAME | "task_file": PATH, "code":
    PYTHON | "reply": LLM REPLY}, or GEAK-eval's / TritonBench's {"file":
    "NAME.py" (the task), "predict": LLM REPLY, "label": gold (not used)}.
    A record with no task or no code field is an input error naming the
    record and the fields it has, never a verdict on a candidate. The code
    of a reply is extracted here, once (geak_extract); "code" and every
    Candidate.code run verbatim in the evaluator. Requests go out in parallel (the
    async client), at most `window` at a time: by default as many as there
    are evaluator workers registered at the broker. Verdicts come out in
    input order, one JSON line each (stdout when no --out); the summary
    (call and execution accuracy, speedups over correct timed results) goes
    to --summary or, without it, as the last stdout line.

    Before the candidates, one selfcheck request per distinct task (same
    window): the task's reference against its oracle. Every verdict carries
    the task's `task_status` (ok, broken, flaky, or unchecked when the check
    could not run or --no-selfcheck skipped it); candidates of broken and
    flaky tasks are left out of the accuracy denominators and the speedups
    and reported apart in the summary's `excluded`.

    --standalone N starts a private geak-broker and N geak-evaluator
    processes from the directory of this binary, waits until all N workers
    are registered (polling mmi.stats, bounded), and stops them at the end. */
#include "geak_prelude.h"
#include "geak_taskstatus.h"
#include <sys/stat.h>
#include "geak_client.h"
#include "geak_harness.h"
#include "geak_config.h"
#include "geak_log.h"
#include "geak_proto.h"
#include "geak_extract.h"
#include "commands.h"
#include "standalone.h"

#include <dirent.h>
#include <limits.h>
#include <unistd.h>
#include <math.h>
#include <cjson/cJSON.h>

typedef struct {
    char *id;
    char *task;             //  name or path, as given
    char *task_path;        //  what goes into TaskRef.path ("" for a name)
    char *code;
    char *file_name;        //  GEAK-eval's file_name: the record's "file", the .py file, else NULL
    int difficulty;         //  the record's "difficulty" (1-5), 0: none
    char *input_error;      //  the line could not be used
    cJSON *verdict;         //  filled when answered
    char *request_id;       //  while pending
    int check;              //  index of its task's selfcheck, -1: none
} item_t;

//  One distinct task and its reference self-check
typedef struct {
    char *task;             //  as first given (name or task_file)
    char *task_path;        //  TaskRef.path ("" for a name)
    char *status;           //  ok, broken, flaky, unchecked; NULL while unknown
    char *reason;
    char *request_id;       //  while pending
} check_t;

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: geak eval --candidates FILE.jsonl [--tasks DIR] [--out FILE] [--summary FILE]\n"
             "                 [--broker EP | --standalone N] [--window N] [--timeout-ms N]\n"
             "                 [--correctness-only] [--no-selfcheck] [--geak-eval-fields]\n"
             "                 [--table FILE|-]\n");
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

#define GEAK_EVAL_CODE_MAX (8u * 1024u * 1024u)     //  the wire's bound (geak_proto.c)
#define GEAK_EVAL_FILE_MAX (512u * 1024u * 1024u)

typedef struct {
    item_t *items;
    int n, cap;
} s_items_t;

static item_t *
s_item_add (s_items_t *all)
{
    if (all->n == all->cap) {
        all->cap = all->cap ? all->cap * 2 : 64;
        item_t *bigger = realloc (all->items, (size_t) all->cap * sizeof *bigger);
        assert (bigger);
        all->items = bigger;
    }
    item_t *item = &all->items [all->n++];
    memset (item, 0, sizeof *item);
    return item;
}

//  The task name of a file field ("add_value.py", "dir/add_value.py" -> "add_value")
static char *
s_stem (const char *file)
{
    const char *base = strrchr (file, '/');
    base = base ? base + 1 : file;
    size_t len = strlen (base);
    if (len > 3 && strcmp (base + len - 3, ".py") == 0)
        len -= 3;
    return geak_strdupf ("%.*s", (int) len, base);
}

//  The field names of a record, for an error naming what it has
static char *
s_fields_of (const cJSON *obj)
{
    char list [300] = "";
    const cJSON *item = NULL;
    cJSON_ArrayForEach (item, obj)
        if (item->string && strlen (list) + strlen (item->string) + 4 < sizeof list)
            snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", *list ? ", " : "",
                      item->string);
    return geak_strdup (*list ? list : "(none)");
}

//  One candidate from a JSON record: ours ({"id", "task" | "task_file",
//  "code" | "reply"}) or GEAK-eval's / TritonBench's ({"file" | "name",
//  "predict"}; "label" is the gold and is never evaluated as the candidate)
static void
s_item_from_json (item_t *item, const cJSON *obj, const char *where)
{
    if (!cJSON_IsObject (obj)) {
        item->id = geak_strdup (where);
        item->task = geak_strdup ("");
        item->task_path = geak_strdup ("");
        item->code = geak_strdup ("");
        item->input_error = geak_strdupf ("%s is not a JSON object", where);
        return;
    }
    char *file = s_json_str (obj, "file");
    item->file_name = file ? geak_strdup (file) : NULL;
    const cJSON *diff = cJSON_GetObjectItemCaseSensitive (obj, "difficulty");
    if (cJSON_IsNumber (diff) && diff->valuedouble >= 1 && diff->valuedouble <= 5)
        item->difficulty = (int) diff->valuedouble;
    char *task = s_json_str (obj, "task");
    char *task_file = s_json_str (obj, "task_file");
    if (!task && !task_file && file)
        task = s_stem (file);
    if (!task && !task_file)
        task = s_json_str (obj, "name");
    item->id = s_json_str (obj, "id");
    if (!item->id)
        item->id = file ? geak_strdup (file) : geak_strdup (where);
    free (file);
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
        char *fields = s_fields_of (obj);
        item->task = geak_strdup ("");
        item->task_path = geak_strdup ("");
        item->input_error = geak_strdupf ("%s names no task (task, task_file, file or name); its "
                                          "fields: %s", where, fields);
        free (fields);
    }
    //  "code" runs as it is; an LLM reply (reply, predict) arrives here, so its code is
    //  extracted here, once (a reply without code is the no_code verdict, not an input error)
    item->code = s_json_str (obj, "code");
    const char *replies [] = { "reply", "predict" };
    for (size_t i = 0; i < sizeof replies / sizeof replies [0] && !item->code; i++) {
        char *reply = s_json_str (obj, replies [i]);
        if (reply) {
            char *code = geak_extract_code (reply, strlen (reply), NULL);
            item->code = code ? code : geak_strdup ("");
            free (reply);
        }
    }
    if (!item->code) {
        item->code = geak_strdup ("");
        if (!item->input_error) {
            char *names = s_fields_of (obj);
            item->input_error = geak_strdupf ("%s has no code field (code, reply or predict); its "
                                              "fields: %s", where, names);
            free (names);
        }
    }
    if (!item->input_error && strlen (item->code) > GEAK_EVAL_CODE_MAX) {
        char why [160];
        snprintf (why, sizeof why, "the code is %zu bytes; a candidate holds at most %u MiB",
                  strlen (item->code), GEAK_EVAL_CODE_MAX >> 20);
        item->input_error = geak_strdup (why);
    }
}

static int
s_cmp_names (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  A folder of .py files (GEAK-eval's -c): one candidate per file, the task
//  named by the file's stem
static int
s_read_folder (const char *path, s_items_t *all)
{
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    char **names = NULL;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t len = strlen (entry->d_name);
        if (len > 3 && strcmp (entry->d_name + len - 3, ".py") == 0 && entry->d_name [0] != '.') {
            names = realloc (names, (count + 1) * sizeof *names);
            assert (names);
            names [count++] = geak_strdup (entry->d_name);
        }
    }
    closedir (dir);
    if (count)
        qsort (names, count, sizeof *names, s_cmp_names);
    for (size_t i = 0; i < count; i++) {
        item_t *item = s_item_add (all);
        char file [PATH_MAX + 256];
        snprintf (file, sizeof file, "%s/%s", path, names [i]);
        size_t size = 0;
        char *code = geak_read_file (file, GEAK_EVAL_CODE_MAX + 1, &size);
        item->id = geak_strdup (names [i]);
        item->file_name = geak_strdup (names [i]);
        item->task = s_stem (names [i]);
        item->task_path = geak_strdup ("");
        item->code = code ? code : geak_strdup ("");
        if (!code)
            item->input_error = geak_strdupf ("%s cannot be read, or is over %u MiB", file,
                                              GEAK_EVAL_CODE_MAX >> 20);
        free (names [i]);
    }
    free (names);
    return (int) count;
}

//  Candidates from a JSONL file, a JSON array (GEAK-eval's and TritonBench's
//  files), "-" (stdin, JSONL) or a folder of .py files. Returns the count or
//  -1 when the input cannot be read.
static int
s_read_candidates (const char *path, item_t **items_p)
{
    s_items_t all = { 0 };
    struct stat st;
    if (strcmp (path, "-") != 0 && stat (path, &st) == 0 && S_ISDIR (st.st_mode)) {
        int n = s_read_folder (path, &all);
        *items_p = all.items;
        return n < 0 ? -1 : all.n;
    }
    FILE *f = strcmp (path, "-") == 0 ? stdin : fopen (path, "r");
    if (!f)
        return -1;
    //  the whole input: a JSON array, or one record per line
    char *text = NULL;
    size_t size = 0, cap = 0;
    char chunk [65536];
    size_t got;
    while ((got = fread (chunk, 1, sizeof chunk, f)) > 0 && size < GEAK_EVAL_FILE_MAX) {
        if (size + got + 1 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            while (cap < size + got + 1)
                cap *= 2;
            text = realloc (text, cap);
            assert (text);
        }
        memcpy (text + size, chunk, got);
        size += got;
    }
    if (f != stdin)
        fclose (f);
    if (!text) {
        *items_p = NULL;
        return 0;
    }
    text [size] = '\0';
    const char *start = text;
    while (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')
        start++;
    cJSON *array = *start == '[' ? cJSON_Parse (start) : NULL;
    if (array) {
        int index = 0;
        const cJSON *obj = NULL;
        cJSON_ArrayForEach (obj, array) {
            char where [32];
            snprintf (where, sizeof where, "record-%d", index++);
            s_item_from_json (s_item_add (&all), obj, where);
        }
        cJSON_Delete (array);
    }
    else {
        int lineno = 0;
        for (char *line = text, *next; line && *line; line = next) {
            next = strchr (line, '\n');
            if (next)
                *next++ = '\0';
            lineno++;
            char *p = line;
            while (*p == ' ' || *p == '\t' || *p == '\r')
                p++;
            if (!*p)
                continue;
            char where [32];
            snprintf (where, sizeof where, "line-%d", lineno);
            cJSON *obj = cJSON_Parse (p);
            s_item_from_json (s_item_add (&all), obj, where);
            cJSON_Delete (obj);
        }
    }
    free (text);
    *items_p = all.items;
    return all.n;
}

static void
s_items_free (item_t *items, int n)
{
    for (int i = 0; i < n; i++) {
        free (items [i].id);
        free (items [i].task);
        free (items [i].task_path);
        free (items [i].code);
        free (items [i].file_name);
        free (items [i].input_error);
        free (items [i].request_id);
        cJSON_Delete (items [i].verdict);
    }
    free (items);
}

//  One check per distinct task (a name, or the real path of a task_file);
//  sets items [i].check. Returns the count.
static int
s_collect_tasks (item_t *items, int n, check_t **checks_p)
{
    check_t *checks = calloc ((size_t) (n ? n : 1), sizeof *checks);
    assert (checks);
    int nc = 0;
    for (int i = 0; i < n; i++) {
        item_t *item = &items [i];
        item->check = -1;
        if (item->input_error)
            continue;
        for (int c = 0; c < nc && item->check < 0; c++)
            if (strcmp (checks [c].task_path, item->task_path) == 0
                && (*item->task_path || strcmp (checks [c].task, item->task) == 0))
                item->check = c;
        if (item->check < 0) {
            checks [nc].task = geak_strdup (item->task);
            checks [nc].task_path = geak_strdup (item->task_path);
            item->check = nc++;
        }
    }
    *checks_p = checks;
    return nc;
}

static void
s_checks_free (check_t *checks, int n)
{
    for (int i = 0; i < n; i++) {
        check_t *check = &checks [i];
        free (check->task);
        free (check->task_path);
        free (check->status);
        free (check->reason);
        free (check->request_id);
    }
    free (checks);
}

static void
s_check_set (check_t *check, const char *status, const char *reason)
{
    free (check->status);
    free (check->reason);
    check->status = geak_strdup (status);
    check->reason = geak_strdup (reason ? reason : "");
}

//  Broken, flaky and unsupported tasks are left out of the accuracy denominators
static bool
s_check_excluded (const check_t *check)
{
    return check && check->status
        && geak_task_status_excluded (check->status);
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

//  The verdict's difficulty: the evaluated task's (task.json), else the record's
static void
s_verdict_difficulty (cJSON *v, const item_t *item, uint32_t from_task)
{
    int d = from_task >= 1 && from_task <= 5 ? (int) from_task : item->difficulty;
    if (d)
        cJSON_AddNumberToObject (v, "difficulty", d);
    else
        cJSON_AddNullToObject (v, "difficulty");
}

//  GEAK-eval's result fields beside ours (--geak-eval-fields): file_name,
//  call_status, exec_status (booleans), stdout (the harness keeps the
//  candidate's output in its sandbox: empty), stderr (message and trace),
//  speedup (0 when not timed, where ours alone is null)
static void
s_verdict_geak_eval (cJSON *v, const item_t *item)
{
    char *file = item->file_name ? geak_strdup (item->file_name) : geak_strdupf ("%s.py", item->task);
    cJSON_AddStringToObject (v, "file_name", file);
    free (file);
    cJSON_AddBoolToObject (v, "call_status", cJSON_IsTrue (cJSON_GetObjectItem (v, "call_ok")));
    cJSON_AddBoolToObject (v, "exec_status", cJSON_IsTrue (cJSON_GetObjectItem (v, "exec_ok")));
    cJSON_AddStringToObject (v, "stdout", "");
    const cJSON *msg = cJSON_GetObjectItem (v, "message");
    const cJSON *trace = cJSON_GetObjectItem (v, "trace");
    const char *m = cJSON_IsString (msg) ? msg->valuestring : "";
    const char *t = cJSON_IsString (trace) ? trace->valuestring : "";
    char *err = geak_strdupf ("%s%s%s", m, *m && *t ? "\n" : "", t);
    cJSON_AddStringToObject (v, "stderr", err);
    free (err);
    //  "speedup" is already ours and GEAK-eval's: a number, or 0 when not timed
    cJSON *sp = cJSON_GetObjectItem (v, "speedup");
    if (!cJSON_IsNumber (sp))
        cJSON_ReplaceItemInObject (v, "speedup", cJSON_CreateNumber (0));
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
    s_verdict_difficulty (v, item, 0);
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
    if (r->timed && r->speedup_ci > 0)
        cJSON_AddNumberToObject (v, "speedup_ci", r->speedup_ci);
    if (r->timing_note && *r->timing_note)
        cJSON_AddStringToObject (v, "timing_note", r->timing_note);
    //  what passing inputs noted (e.g. reference elements that are NaN and not compared)
    cJSON *notes = NULL;
    for (size_t i = 0; i < r->n_verdicts; i++) {
        const Geak__InputVerdict *iv = r->verdicts [i];
        if (!iv->ok || !iv->message || !*iv->message)
            continue;
        if (!notes)
            notes = cJSON_AddArrayToObject (v, "notes");
        if (notes && cJSON_GetArraySize (notes) < 8) {
            char line [600];
            snprintf (line, sizeof line, "%.200s: %.380s", iv->label ? iv->label : "?", iv->message);
            cJSON_AddItemToArray (notes, cJSON_CreateString (line));
        }
    }
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
    if (r->trace && *r->trace)
        cJSON_AddStringToObject (v, "trace", r->trace);
    s_verdict_difficulty (v, item, r->task_difficulty);
    cJSON_AddNumberToObject (v, "eval_ms", r->eval_ms);
    cJSON_AddStringToObject (v, "worker", r->worker);
    if (r->isolation && *r->isolation)
        cJSON_AddStringToObject (v, "isolation", r->isolation);
    if (r->n_phases) {
        cJSON *ph = cJSON_AddObjectToObject (v, "phases_ms");
        for (size_t i = 0; ph && i < r->n_phases; i++)
            cJSON_AddNumberToObject (ph, r->phases [i]->name, r->phases [i]->ms);
    }
    if (r->device && *r->device->arch)
        cJSON_AddStringToObject (v, "arch", r->device->arch);
    return v;
}

// ------------------------------------------------------------------ answers

//  True when reply answers the request *request_id, which is then done
//  (freed and NULLed)
static bool
s_claim (char **request_id, const geak_reply_t *reply)
{
    if (!*request_id || !reply->request_id || strcmp (*request_id, reply->request_id) != 0)
        return false;
    free (*request_id);
    *request_id = NULL;
    return true;
}

//  An answer, unpacked
typedef struct {
    enum {
        ANSWER_RESULT,      //  an EvalResult: env->eval_result
        ANSWER_FAILED,      //  the transport or broker gave up
        ANSWER_ERROR,       //  the evaluator's Error: env->error
        ANSWER_OTHER        //  not an Envelope, or another body
    } kind;
    Geak__Envelope *env;    //  owned; NULL when the transport failed
    const char *why;        //  unless a result: what went wrong
    char buf [1024];        //  an Error's "code: message"
} answer_t;

static void
s_answer_open (answer_t *self, const geak_reply_t *reply)
{
    self->env = NULL;
    if (reply->rc != GEAK_OK) {
        self->kind = ANSWER_FAILED;
        self->why = reply->error ? reply->error : geak_rc_str (reply->rc);
        return;
    }
    geak_rc_t rc;
    Geak__Envelope *env = geak_proto_unpack (reply->body, reply->size,
                                             GEAK__ENVELOPE__BODY__NOT_SET, &rc);
    self->env = env;
    if (env && env->body_case == GEAK__ENVELOPE__BODY_EVAL_RESULT && env->eval_result)
        self->kind = ANSWER_RESULT;
    else
    if (env && env->body_case == GEAK__ENVELOPE__BODY_ERROR && env->error) {
        self->kind = ANSWER_ERROR;
        snprintf (self->buf, sizeof self->buf, "%s: %s", env->error->code, env->error->message);
        self->why = self->buf;
    }
    else {
        self->kind = ANSWER_OTHER;
        self->why = env ? "unexpected reply body" : "evaluator reply is not an Envelope";
    }
}

static void
s_take_check (check_t *check, geak_reply_t *reply)
{
    answer_t answer;
    s_answer_open (&answer, reply);
    if (answer.kind == ANSWER_RESULT) {
        const Geak__EvalResult *r = answer.env->eval_result;
        const char *status = r->task_status;
        bool known = geak_task_status_known (status);
        if (known && r->error_class != GEAK__ERROR_CLASS__HARNESS_ERROR)
            s_check_set (check, status, r->task_status_reason);
        else
            s_check_set (check, "unchecked", *r->task_status_reason ? r->task_status_reason
                                                                    : r->error_message);
    }
    else
        s_check_set (check, "unchecked", answer.kind == ANSWER_OTHER
                                         ? "evaluator reply is not an EvalResult" : answer.why);
    geak_proto_free (&answer.env);
}

static void
s_take_reply (item_t *item, geak_reply_t *reply)
{
    answer_t answer;
    s_answer_open (&answer, reply);
    if (answer.kind == ANSWER_RESULT)
        item->verdict = s_verdict_result (item, answer.env->eval_result);
    else
    if (answer.kind == ANSWER_FAILED) {
        //  the transport gave up (broker gone, deadline, worker lost): not a verdict at all
        item->verdict = s_verdict_error (item, "not_evaluated", answer.why);
        cJSON_AddStringToObject (item->verdict, "error_code", geak_rc_name (reply->rc));
    }
    else {
        //  a failed transport (timeout, worker lost) or a reply we cannot
        //  use: our fault, not the candidate's
        item->verdict = s_verdict_error (item, "harness_error", answer.why);
        if (answer.kind == ANSWER_ERROR)
            cJSON_AddStringToObject (item->verdict, "error_code", answer.env->error->code);
    }
    geak_proto_free (&answer.env);
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  The summary's name for a check: the task as given, unless another
//  check already uses that name
static const char *
s_check_name (const cJSON *obj, const check_t *check)
{
    if (cJSON_GetObjectItemCaseSensitive (obj, check->task) && *check->task_path)
        return check->task_path;
    return check->task;
}

//  n, call_ok, exec_ok, both accuracies and the speedups (sorted here) of a group
static void
s_add_rates (cJSON *obj, int n, int call, int exec, double *speedups, int ns)
{
    cJSON_AddNumberToObject (obj, "n", n);
    cJSON_AddNumberToObject (obj, "call_ok", call);
    cJSON_AddNumberToObject (obj, "exec_ok", exec);
    cJSON_AddNumberToObject (obj, "call_accuracy", n ? (double) call / n : 0);
    cJSON_AddNumberToObject (obj, "execution_accuracy", n ? (double) exec / n : 0);
    cJSON_AddNumberToObject (obj, "speedup_n", ns);
    if (ns) {
        double total = 0;
        for (int i = 0; i < ns; i++)
            total += speedups [i];
        qsort (speedups, (size_t) ns, sizeof *speedups, s_cmp_double);
        double median = ns % 2 ? speedups [ns / 2]
                               : (speedups [ns / 2 - 1] + speedups [ns / 2]) / 2;
        cJSON_AddNumberToObject (obj, "mean_speedup", total / ns);
        cJSON_AddNumberToObject (obj, "median_speedup", median);
    }
    else {
        //  nothing timed (e.g. interpreted runs): speed is unknown, not 0
        cJSON_AddNullToObject (obj, "mean_speedup");
        cJSON_AddNullToObject (obj, "median_speedup");
    }
}

static int
s_verdict_int (const cJSON *v, const char *name)
{
    const cJSON *x = cJSON_GetObjectItem (v, name);
    return cJSON_IsNumber (x) ? (int) x->valuedouble : 0;
}

//  The summary: call and execution accuracy and speedups over the candidates
//  of scored tasks, overall and per difficulty (the index's 1-5; "unknown"
//  without one), tasks and candidates per task status, the excluded tasks
//  with their reasons (docs/eval.md)
static cJSON *
s_summary (const item_t *items, int n, const check_t *checks, int nc, double wall_s)
{
    enum { DMAX = 5 };
    int call = 0, exec = 0, timed = 0, counted = 0;
    int dn [DMAX + 1] = { 0 }, dcall [DMAX + 1] = { 0 }, dexec [DMAX + 1] = { 0 };
    double *speedups = calloc ((size_t) (n ? n : 1), sizeof *speedups);
    double *dsp = calloc ((size_t) (n ? n : 1), sizeof *dsp);
    int *sp_diff = calloc ((size_t) (n ? n : 1), sizeof *sp_diff);
    assert (speedups && dsp && sp_diff);
    int ns = 0;
    cJSON *classes = cJSON_CreateObject ();
    //  per check: candidates, call_ok, exec_ok (for the excluded ones)
    int *per = calloc ((size_t) (nc ? nc : 1) * 3, sizeof *per);
    assert (per);
    int excluded = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *v = items [i].verdict;
        const check_t *check = items [i].check >= 0 ? &checks [items [i].check] : NULL;
        bool call_ok = cJSON_IsTrue (cJSON_GetObjectItem (v, "call_ok"));
        bool ok = cJSON_IsTrue (cJSON_GetObjectItem (v, "exec_ok"));
        if (check) {
            per [3 * items [i].check] += 1;
            per [3 * items [i].check + 1] += call_ok;
            per [3 * items [i].check + 2] += ok;
        }
        if (s_check_excluded (check)) {
            excluded++;
            continue;
        }
        int d = s_verdict_int (v, "difficulty");
        d = d >= 1 && d <= DMAX ? d : 0;
        counted++;
        dn [d]++;
        if (call_ok)
            call++, dcall [d]++;
        if (ok)
            exec++, dexec [d]++;
        bool was_timed = cJSON_IsTrue (cJSON_GetObjectItem (v, "timed"));
        if (was_timed)
            timed++;
        const cJSON *s = cJSON_GetObjectItem (v, "speedup");
        if (ok && was_timed && cJSON_IsNumber (s) && s->valuedouble > 0) {
            sp_diff [ns] = d;
            speedups [ns++] = s->valuedouble;
        }
        const cJSON *cls = cJSON_GetObjectItem (v, "error_class");
        const char *name = cJSON_IsString (cls) ? cls->valuestring : "unknown";
        cJSON *count = cJSON_GetObjectItem (classes, name);
        if (count)
            cJSON_SetNumberValue (count, count->valuedouble + 1);
        else
            cJSON_AddNumberToObject (classes, name, 1);
    }
    cJSON *sum = cJSON_CreateObject ();
    //  per difficulty first: the overall rates sort the speedups in place
    cJSON *by_diff = cJSON_CreateObject ();
    for (int d = 1; d <= DMAX + 1; d++) {
        int dd = d % (DMAX + 1);        //  1..5, then 0 (unknown)
        if (!dn [dd])
            continue;
        int m = 0;
        for (int i = 0; i < ns; i++)
            if (sp_diff [i] == dd)
                dsp [m++] = speedups [i];
        char key [16];
        snprintf (key, sizeof key, dd ? "%d" : "unknown", dd);
        cJSON *g = cJSON_AddObjectToObject (by_diff, key);
        s_add_rates (g, dn [dd], dcall [dd], dexec [dd], dsp, m);
    }
    s_add_rates (sum, counted, call, exec, speedups, ns);
    cJSON_AddNumberToObject (sum, "n_all", n);
    cJSON_AddNumberToObject (sum, "timed", timed);
    cJSON_AddItemToObject (sum, "by_difficulty", by_diff);
    cJSON_AddItemToObject (sum, "classes", classes);
    cJSON *status = cJSON_AddObjectToObject (sum, "task_status");
    cJSON *by_status = cJSON_AddObjectToObject (sum, "by_task_status");
    cJSON *apart = cJSON_AddObjectToObject (sum, "excluded");
    cJSON_AddNumberToObject (apart, "n", excluded);
    cJSON *apart_tasks = cJSON_AddObjectToObject (apart, "tasks");
    for (int c = 0; c < nc; c++) {
        const char *st = checks [c].status ? checks [c].status : "unchecked";
        cJSON_AddStringToObject (status, s_check_name (status, &checks [c]), st);
        cJSON *g = cJSON_GetObjectItemCaseSensitive (by_status, st);
        if (!g) {
            g = cJSON_AddObjectToObject (by_status, st);
            cJSON_AddNumberToObject (g, "tasks", 0);
            cJSON_AddNumberToObject (g, "candidates", 0);
            cJSON_AddNumberToObject (g, "exec_ok", 0);
        }
        const int add [3] = { 1, per [3 * c], per [3 * c + 2] };
        const char *keys [3] = { "tasks", "candidates", "exec_ok" };
        for (int k = 0; k < 3; k++) {
            cJSON *x = cJSON_GetObjectItemCaseSensitive (g, keys [k]);
            cJSON_SetNumberValue (x, x->valuedouble + add [k]);
        }
        if (!s_check_excluded (&checks [c]))
            continue;
        cJSON *t = cJSON_AddObjectToObject (apart_tasks, s_check_name (apart_tasks, &checks [c]));
        cJSON_AddStringToObject (t, "status", checks [c].status);
        cJSON_AddStringToObject (t, "reason", checks [c].reason ? checks [c].reason : "");
        cJSON_AddNumberToObject (t, "candidates", per [3 * c]);
        cJSON_AddNumberToObject (t, "call_ok", per [3 * c + 1]);
        cJSON_AddNumberToObject (t, "exec_ok", per [3 * c + 2]);
    }
    cJSON_AddNumberToObject (sum, "wall_s", wall_s);
    free (per);
    free (speedups);
    free (dsp);
    free (sp_diff);
    return sum;
}

static void
s_table_cell_pct (char *buf, size_t size, const cJSON *g, const char *key)
{
    const cJSON *x = cJSON_GetObjectItem (g, key);
    if (cJSON_IsNumber (x))
        snprintf (buf, size, "%.1f%%", 100.0 * x->valuedouble);
    else
        snprintf (buf, size, "-");
}

static void
s_table_row (FILE *out, const char *label, const cJSON *g)
{
    char callp [16], execp [16], med [24], mean [24];
    s_table_cell_pct (callp, sizeof callp, g, "call_accuracy");
    s_table_cell_pct (execp, sizeof execp, g, "execution_accuracy");
    const cJSON *m = cJSON_GetObjectItem (g, "median_speedup");
    const cJSON *a = cJSON_GetObjectItem (g, "mean_speedup");
    snprintf (med, sizeof med, cJSON_IsNumber (m) ? "%.2fx" : "-", cJSON_IsNumber (m) ? m->valuedouble : 0);
    snprintf (mean, sizeof mean, cJSON_IsNumber (a) ? "%.2fx" : "-", cJSON_IsNumber (a) ? a->valuedouble : 0);
    fprintf (out, "  %-10s %6d %9s %9s %7d %9s %9s\n", label, s_verdict_int (g, "n"), callp, execp,
             s_verdict_int (g, "speedup_n"), mean, med);
}

//  The summary as the paper lays out its benchmark tables: accuracy by
//  difficulty, then the tasks by self-check status and the excluded ones
static void
s_print_table (FILE *out, const cJSON *sum)
{
    fprintf (out, "Call and execution accuracy (candidates of scored tasks; speedup over correct timed ones)\n");
    fprintf (out, "  %-10s %6s %9s %9s %7s %9s %9s\n", "difficulty", "n", "call", "exec", "timed",
             "speedup", "median");
    const cJSON *g;
    cJSON_ArrayForEach (g, cJSON_GetObjectItem (sum, "by_difficulty")) {
        char label [24];
        snprintf (label, sizeof label, strcmp (g->string, "unknown") == 0 ? "%s" : "L%s", g->string);
        s_table_row (out, label, g);
    }
    s_table_row (out, "all", sum);
    fprintf (out, "\nTasks by self-check status\n  %-22s %6s %10s %8s\n", "status", "tasks", "candidates",
             "exec_ok");
    cJSON_ArrayForEach (g, cJSON_GetObjectItem (sum, "by_task_status"))
        fprintf (out, "  %-22s %6d %10d %8d\n", g->string, s_verdict_int (g, "tasks"),
                 s_verdict_int (g, "candidates"), s_verdict_int (g, "exec_ok"));
    const cJSON *apart = cJSON_GetObjectItem (cJSON_GetObjectItem (sum, "excluded"), "tasks");
    fprintf (out, "\nExcluded tasks (kept out of every metric)\n");
    if (!cJSON_GetArraySize (apart))
        fprintf (out, "  none\n");
    cJSON_ArrayForEach (g, apart) {
        const cJSON *st = cJSON_GetObjectItem (g, "status");
        const cJSON *why = cJSON_GetObjectItem (g, "reason");
        fprintf (out, "  %-28s %-22s %.160s\n", g->string, cJSON_IsString (st) ? st->valuestring : "?",
                 cJSON_IsString (why) ? why->valuestring : "");
    }
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

//  Send an EvalRequest for the task (name, path) to the evaluators; on
//  success *request_id is the client's id for it (caller owns)
static geak_rc_t
s_send_request (geak_client_t *client, char *name, char *path, Geak__Candidate *candidate,
                Geak__EvalOptions *options, int64_t deadline, char **request_id)
{
    Geak__TaskRef task = GEAK__TASK_REF__INIT;
    task.name = name;
    task.path = path;
    Geak__EvalRequest request = GEAK__EVAL_REQUEST__INIT;
    request.task = &task;
    request.candidate = candidate;
    request.options = options;
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
        *request_id = geak_strdup (id);
    return rc;
}

static geak_rc_t
s_send_one (geak_client_t *client, item_t *item, long timeout_ms, bool correctness)
{
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
    //  the answer may wait for the evaluator's own timeout plus a restart
    int64_t deadline = geak_clock_wall_ms () + 2 * timeout_ms + 60000;
    return s_send_request (client, item->task, item->task_path, &candidate, &options, deadline,
                           &item->request_id);
}

//  The selfcheck of one task: EvalRequest with options.selfcheck, no candidate
static geak_rc_t
s_send_check (geak_client_t *client, check_t *check, long timeout_ms)
{
    Geak__EvalOptions options = GEAK__EVAL_OPTIONS__INIT;
    options.timeout_ms = (uint32_t) timeout_ms;
    options.selfcheck = true;
    //  two runs of the reference, each bounded by the evaluator's timeout
    //  plus the harness's grace, plus a restart
    int64_t deadline = geak_clock_wall_ms () + geak_harness_budget_ms (timeout_ms, 2, 60000);
    return s_send_request (client, check->task, check->task_path, NULL, &options, deadline,
                           &check->request_id);
}

int
geak_cmd_eval (int argc, char **argv)
{
    const char *candidates = NULL;
    const char *tasks = geak_config_str ("GEAK_TASKS", "tasks");
    const char *out_path = NULL, *summary_path = NULL;
    const char *endpoint = geak_config_str ("GEAK_BROKER", GEAK_DEFAULT_BROKER);
    long standalone = 0, window = 0, timeout_ms = 120000;
    bool correctness = false, selfcheck = true, geak_eval_fields = false;
    const char *table_path = NULL;
    //  no broker named anywhere: run a private one (nothing else to set up)
    bool broker_named = getenv ("GEAK_BROKER") && *getenv ("GEAK_BROKER");
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
        if (strcmp (arg, "--broker") == 0 && has) {
            endpoint = argv [++i];
            broker_named = true;
        }
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
        else
        if (strcmp (arg, "--no-selfcheck") == 0)
            selfcheck = false;
        else
        if (strcmp (arg, "--geak-eval-fields") == 0)
            geak_eval_fields = true;
        else
        if (strcmp (arg, "--table") == 0 && has)
            table_path = argv [++i];
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
        fprintf (stderr, "geak eval: cannot read %s: %s\n", candidates, strerror (errno));
        return 1;
    }
    if (n == 0) {
        fprintf (stderr, "geak eval: %s holds no candidates (JSONL, a JSON array, or a folder of "
                 ".py files)\n", candidates);
        s_items_free (items, n);
        return 1;
    }
    int64_t t0 = geak_clock_mono_ms ();
    standalone_t *sa = NULL;
    if (standalone == 0 && !broker_named) {
        fprintf (stderr, "geak eval: no broker configured (--broker, GEAK_BROKER): starting a private one "
                         "with 1 evaluator (--standalone N for more)\n");
        standalone = 1;
    }
    if (standalone > 0) {
        char *real_tasks = realpath (tasks, NULL);
        standalone_opts_t sa_opts = {
            .tool = "geak eval", .tasks = real_tasks ? real_tasks : tasks,
            .evaluators = (int) standalone,
        };
        sa = standalone_new (&sa_opts);
        free (real_tasks);
        if (!sa) {
            s_items_free (items, n);
            return 1;
        }
        endpoint = standalone_endpoint (sa);
    }
    geak_client_t *client = geak_client_new (NULL, endpoint);
    if (!client) {
        fprintf (stderr, "geak eval: cannot connect to %s\n", endpoint);
        standalone_destroy (&sa);
        s_items_free (items, n);
        return 1;
    }
    if (!standalone) {
        //  a broker that does not answer, or serves no evaluator, is an error in seconds, not a wait
        int workers = -1;
        int64_t until = geak_clock_mono_ms () + 10000;
        do {
            workers = standalone_service_workers (client, GEAK_SERVICE_EVALUATOR);
            if (workers != 0)
                break;
            usleep (200 * 1000);
        } while (geak_clock_mono_ms () < until);
        if (workers <= 0) {
            if (workers < 0)
                fprintf (stderr, "geak eval: no broker answers at %s (2 s); start one, or leave --broker "
                                 "and GEAK_BROKER unset for a private one\n", endpoint);
            else
                fprintf (stderr, "geak eval: the broker at %s has no %s registered (waited 10 s)\n",
                         endpoint, GEAK_SERVICE_EVALUATOR);
            geak_client_destroy (&client);
            s_items_free (items, n);
            return 1;
        }
        if (window == 0)
            window = workers;
    }
    if (window == 0)
        window = standalone > 0 ? standalone : 1;
    check_t *checks = NULL;
    int nc = s_collect_tasks (items, n, &checks);
    if (!selfcheck)
        for (int c = 0; c < nc; c++)
            s_check_set (&checks [c], "unchecked", "selfcheck skipped (--no-selfcheck)");
    geak_info ("eval_start", "candidates=%d tasks=%d selfcheck=%d window=%ld endpoint=%s", n, nc,
               selfcheck, window, endpoint);

    //  jobs: the tasks' selfchecks first, then the candidates, one window
    int total = nc + n, next = 0, done = 0, exit_code = 0;
    for (int c = 0; c < nc; c++)
        if (checks [c].status)
            done++;
    for (int i = 0; i < n; i++)
        if (items [i].input_error) {
            items [i].verdict = s_verdict_error (&items [i], "invalid_input", items [i].input_error);
            done++;
        }
    while (done < total) {
        //  fill the window
        while (next < total && (long) geak_client_pending (client) < window) {
            int job = next++;
            if (job < nc) {
                check_t *check = &checks [job];
                if (check->status)
                    continue;
                geak_rc_t rc = s_send_check (client, check, timeout_ms);
                if (rc != GEAK_OK) {
                    s_check_set (check, "unchecked", geak_rc_str (rc));
                    done++;
                }
                continue;
            }
            item_t *item = &items [job - nc];
            if (item->verdict)
                continue;
            geak_rc_t rc = s_send_one (client, item, timeout_ms, correctness);
            if (rc != GEAK_OK) {
                item->verdict = s_verdict_error (item, "not_evaluated", geak_rc_str (rc));
                done++;
            }
        }
        if (done >= total)
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
        bool matched = false;
        for (int c = 0; c < nc && !matched; c++)
            if (!checks [c].status && s_claim (&checks [c].request_id, reply)) {
                s_take_check (&checks [c], reply);
                done++;
                matched = true;
                geak_info ("eval_selfcheck", "task=%s status=%s", checks [c].task, checks [c].status);
            }
        for (int i = 0; i < n && !matched; i++)
            if (!items [i].verdict && s_claim (&items [i].request_id, reply)) {
                s_take_reply (&items [i], reply);
                done++;
                const cJSON *cls = cJSON_GetObjectItem (items [i].verdict, "error_class");
                geak_info ("eval_verdict", "id=%s task=%s class=%s", items [i].id, items [i].task,
                           cJSON_IsString (cls) ? cls->valuestring : "?");
                break;
            }
        geak_reply_destroy (&reply);
    }
    geak_client_destroy (&client);
    standalone_destroy (&sa);
    for (int c = 0; c < nc; c++)
        if (!checks [c].status)
            s_check_set (&checks [c], "unchecked", "no answer");
    for (int i = 0; i < n; i++) {
        if (!items [i].verdict)
            items [i].verdict = s_verdict_error (&items [i], "not_evaluated", "no answer");
        cJSON_AddStringToObject (items [i].verdict, "task_status",
                                 items [i].check >= 0 ? checks [items [i].check].status
                                                      : "unchecked");
        if (geak_eval_fields)
            s_verdict_geak_eval (items [i].verdict, &items [i]);
    }

    //  candidates the transport could not evaluate make the command fail
    int unevaluated = 0;
    const char *first_why = NULL;
    for (int i = 0; i < n; i++) {
        const cJSON *cls = cJSON_GetObjectItem (items [i].verdict, "error_class");
        if (cJSON_IsString (cls) && strcmp (cls->valuestring, "not_evaluated") == 0) {
            if (!unevaluated++) {
                const cJSON *why = cJSON_GetObjectItem (items [i].verdict, "message");
                first_why = cJSON_IsString (why) ? why->valuestring : "?";
            }
        }
    }
    if (unevaluated) {
        fprintf (stderr, "geak eval: %d of %d candidates were not evaluated (not a verdict on them): "
                 "%s\n", unevaluated, n, first_why);
        exit_code = 1;
    }

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
    cJSON *sum = s_summary (items, n, checks, nc, (geak_clock_mono_ms () - t0) / 1000.0);
    if (table_path) {
        FILE *tf = strcmp (table_path, "-") == 0 ? stdout : fopen (table_path, "w");
        if (!tf) {
            fprintf (stderr, "geak eval: cannot write %s\n", table_path);
            exit_code = 1;
        }
        else {
            s_print_table (tf, sum);
            if (tf != stdout && fclose (tf) != 0)
                exit_code = 1;
        }
    }
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
    s_checks_free (checks, nc);
    s_items_free (items, n);
    return exit_code;
}
