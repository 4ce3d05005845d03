/*  run_config.c - run config JSON and task loading for geak run. */
#include "run_config.h"
#include "geak_log.h"
#include "geak_store.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>

#define TASK_FILE_MAX (4u * 1024u * 1024u)

run_config_t *
run_config_new (void)
{
    run_config_t *self = geak_malloc0 (sizeof *self);
    self->knowledge = self->one_shot = self->reflector = self->optimizer = true;
    self->llm = geak_strdup ("env");
    return self;
}

static void
s_task_clear (run_task_t *task)
{
    free (task->name);
    free (task->dir);
    free (task->category);
    free (task->instruction);
    free (task->signature);
    free (task->digest);
    free (task->status);
    free (task->reason);
    memset (task, 0, sizeof *task);
}

void
run_config_destroy (run_config_t **self_p)
{
    assert (self_p);
    run_config_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->ntasks; i++)
        s_task_clear (&self->tasks [i]);
    free (self->tasks);
    free (self->run_id);
    free (self->tasks_root);
    free (self->llm);
    free (self);
    *self_p = NULL;
}

bool
run_config_valid_name (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len > RUN_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '_' || c == '-'))
            return false;
    }
    return true;
}


static char *
s_json_string (const cJSON *obj, const char *name, const char *dflt)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (cJSON_IsString (item) && item->valuestring)
        return geak_strdup (item->valuestring);
    return dflt ? geak_strdup (dflt) : NULL;
}

//  Fill a task from <dir>/task.json; false when it cannot be read
static bool
s_task_read (run_task_t *task)
{
    char path [PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/task.json", task->dir);
    size_t size = 0;
    char *text = geak_read_file (path, TASK_FILE_MAX, &size);
    cJSON *json = text ? cJSON_Parse (text) : NULL;
    if (!cJSON_IsObject (json)) {
        struct stat st;
        if (stat (path, &st) != 0)
            geak_warn ("run_task_unreadable", "path=%s why=\"%s\"", path, strerror (errno));
        else
        if ((uint64_t) st.st_size > TASK_FILE_MAX)
            geak_warn ("run_task_unreadable", "path=%s why=\"%lld bytes; a task.json holds at most "
                       "%u MiB\"", path, (long long) st.st_size, TASK_FILE_MAX >> 20);
        else
            geak_warn ("run_task_unreadable", "path=%s why=\"%s\"", path,
                       text ? "not a JSON object" : "cannot be read");
        cJSON_Delete (json);
        free (text);
        return false;
    }
    const char *named = cJSON_IsString (cJSON_GetObjectItem (json, "name"))
                      ? cJSON_GetObjectItem (json, "name")->valuestring : NULL;
    if (named && strcmp (named, task->name) != 0)
        geak_warn ("run_task_name", "dir=%s json_name=%s using=%s", task->dir, named, task->name);
    free (task->category);
    free (task->instruction);
    free (task->signature);
    task->category = s_json_string (json, "category", "");
    task->instruction = s_json_string (json, "instruction", "");
    const cJSON *entry = cJSON_GetObjectItem (json, "entry");
    task->signature = s_json_string (entry, "signature", "");
    const cJSON *diff = cJSON_GetObjectItem (json, "difficulty");
    task->difficulty = cJSON_IsNumber (diff) && diff->valuedouble >= 0 && diff->valuedouble <= 100
                     ? (uint32_t) diff->valuedouble : 0;
    //  digest over the three files (missing ones count as empty)
    char *spec_name = s_json_string (json, "spec", "spec.py");
    char *ref_name = s_json_string (json, "reference", "reference.py");
    cJSON_Delete (json);
    size_t total = size;
    char *all = text;
    const char *extra [2] = { spec_name, ref_name };
    for (int i = 0; i < 2; i++) {
        snprintf (path, sizeof path, "%s/%s", task->dir, extra [i]);
        size_t more = 0;
        char *part = strchr (extra [i], '/') ? NULL : geak_read_file (path, TASK_FILE_MAX, &more);
        if (part && more) {
            char *bigger = realloc (all, total + more + 1);
            if (bigger) {
                memcpy (bigger + total, part, more);
                total += more;
                bigger [total] = 0;
                all = bigger;
            }
        }
        free (part);
    }
    free (spec_name);
    free (ref_name);
    char hex [GEAK_STORE_REF_SIZE];
    geak_store_sha256_hex (all, total, hex);
    free (all);
    free (task->digest);
    task->digest = geak_strdup (hex);
    task->loaded = true;
    return true;
}

static int
s_cmp_name (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}


static run_task_t *
s_add_task (run_config_t *self, const char *name)
{
    run_task_t *tasks = realloc (self->tasks, (self->ntasks + 1) * sizeof *tasks);
    assert (tasks);
    self->tasks = tasks;
    run_task_t *task = &tasks [self->ntasks++];
    memset (task, 0, sizeof *task);
    task->name = geak_strdup (name);
    char *dir = NULL;
    if (asprintf (&dir, "%s/%s", self->tasks_root, name) < 0)
        dir = NULL;
    assert (dir);
    task->dir = dir;
    task->status = geak_strdup ("unchecked");
    task->reason = geak_strdup ("");
    return task;
}

geak_rc_t
run_config_load_tasks (run_config_t *self, const char *root, char *const *names, size_t nnames,
                       char **error)
{
    assert (self && root && error);
    *error = NULL;
    char *real = realpath (root, NULL);
    if (!real) {
        *error = geak_strdupf ("cannot open the task root %s", root);
        return GEAK_E_CONFIG;
    }
    free (self->tasks_root);
    self->tasks_root = real;
    char **found = NULL;
    size_t nfound = 0;
    if (nnames > 0) {
        found = geak_malloc0 (nnames * sizeof *found);
        for (size_t i = 0; i < nnames; i++) {
            bool dup = false;
            for (size_t j = 0; j < nfound; j++)
                dup = dup || strcmp (found [j], names [i]) == 0;
            if (!dup)
                found [nfound++] = geak_strdup (names [i]);
        }
    }
    else {
        DIR *dir = opendir (real);
        if (!dir) {
            *error = geak_strdupf ("cannot list the task root %s", real);
            return GEAK_E_CONFIG;
        }
        struct dirent *entry;
        size_t alloc = 0;
        while ((entry = readdir (dir))) {
            if (entry->d_name [0] == '.')
                continue;
            char path [PATH_MAX + 300];
            snprintf (path, sizeof path, "%s/%s/task.json", real, entry->d_name);
            struct stat st;
            if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
                continue;
            if (nfound == alloc) {
                alloc = alloc ? alloc * 2 : 16;
                char **bigger = realloc (found, alloc * sizeof *found);
                assert (bigger);
                found = bigger;
            }
            found [nfound++] = geak_strdup (entry->d_name);
        }
        closedir (dir);
        if (nfound > 1)
            qsort (found, nfound, sizeof *found, s_cmp_name);
    }
    geak_rc_t rc = GEAK_OK;
    for (size_t i = 0; i < nfound && rc == GEAK_OK; i++) {
        if (!run_config_valid_name (found [i])) {
            *error = geak_strdupf ("task name '%s' is not 1..64 of [A-Za-z0-9_-]", found [i]);
            rc = GEAK_E_CONFIG;
            break;
        }
        run_task_t *task = s_add_task (self, found [i]);
        if (!s_task_read (task)) {
            *error = geak_strdupf ("cannot read %s/task.json", task->dir);
            rc = GEAK_E_CONFIG;
        }
    }
    if (rc == GEAK_OK && nfound == 0) {
        *error = geak_strdupf ("no task (a directory with task.json) under %s", real);
        rc = GEAK_E_CONFIG;
    }
    for (size_t i = 0; i < nfound; i++)
        free (found [i]);
    free (found);
    return rc;
}

void
run_config_reload_tasks (run_config_t *self)
{
    for (size_t i = 0; i < self->ntasks; i++)
        if (!s_task_read (&self->tasks [i]))
            geak_warn ("run_task_missing", "task=%s dir=%s", self->tasks [i].name, self->tasks [i].dir);
}

char *
run_config_to_json (const run_config_t *self)
{
    cJSON *root = cJSON_CreateObject ();
    cJSON_AddStringToObject (root, "run_id", self->run_id ? self->run_id : "");
    cJSON_AddNumberToObject (root, "created_ms", (double) self->created_ms);
    cJSON_AddStringToObject (root, "tasks_root", self->tasks_root ? self->tasks_root : "");
    cJSON_AddNumberToObject (root, "k", self->k);
    cJSON_AddNumberToObject (root, "iterations", self->iterations);
    cJSON_AddNumberToObject (root, "max_debug", self->max_debug);
    cJSON_AddStringToObject (root, "llm", self->llm ? self->llm : "env");
    cJSON_AddBoolToObject (root, "correctness_only", self->correctness_only);
    cJSON_AddNumberToObject (root, "timeout_ms", self->timeout_ms);
    cJSON *ablation = cJSON_AddObjectToObject (root, "ablation");
    cJSON_AddBoolToObject (ablation, "knowledge", self->knowledge);
    cJSON_AddBoolToObject (ablation, "one_shot", self->one_shot);
    cJSON_AddBoolToObject (ablation, "reflector", self->reflector);
    cJSON_AddBoolToObject (ablation, "optimizer", self->optimizer);
    cJSON *prices = cJSON_AddObjectToObject (root, "prices");
    cJSON_AddNumberToObject (prices, "in_per_mtok", self->price_in);
    cJSON_AddNumberToObject (prices, "out_per_mtok", self->price_out);
    cJSON *tasks = cJSON_AddArrayToObject (root, "tasks");
    for (size_t i = 0; i < self->ntasks; i++) {
        const run_task_t *t = &self->tasks [i];
        cJSON *task = cJSON_CreateObject ();
        cJSON_AddStringToObject (task, "name", t->name);
        cJSON_AddStringToObject (task, "category", t->category ? t->category : "");
        cJSON_AddNumberToObject (task, "difficulty", t->difficulty);
        cJSON_AddStringToObject (task, "status", t->status ? t->status : "unchecked");
        cJSON_AddStringToObject (task, "reason", t->reason ? t->reason : "");
        cJSON_AddItemToArray (tasks, task);
    }
    char *text = cJSON_PrintUnformatted (root);
    cJSON_Delete (root);
    assert (text);
    return text;
}

static bool
s_get_uint (const cJSON *obj, const char *name, uint32_t min, uint32_t max, uint32_t *value)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!cJSON_IsNumber (item) || item->valuedouble < min || item->valuedouble > max
    ||  item->valuedouble != (double) (uint32_t) item->valuedouble)
        return false;
    *value = (uint32_t) item->valuedouble;
    return true;
}

static bool
s_get_bool (const cJSON *obj, const char *name, bool dflt)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsBool (item) ? cJSON_IsTrue (item) : dflt;
}

static double
s_get_double (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsNumber (item) ? item->valuedouble : 0;
}

run_config_t *
run_config_from_json (const char *json, char **error)
{
    assert (error);
    *error = NULL;
    cJSON *root = json ? cJSON_Parse (json) : NULL;
    if (!cJSON_IsObject (root)) {
        cJSON_Delete (root);
        *error = geak_strdup ("the run config is not a JSON object");
        return NULL;
    }
    run_config_t *self = run_config_new ();
    const char *bad = NULL;
    self->run_id = s_json_string (root, "run_id", NULL);
    self->tasks_root = s_json_string (root, "tasks_root", NULL);
    free (self->llm);
    self->llm = s_json_string (root, "llm", "env");
    const cJSON *created = cJSON_GetObjectItem (root, "created_ms");
    self->created_ms = cJSON_IsNumber (created) ? (int64_t) created->valuedouble : 0;
    if (!run_config_valid_name (self->run_id))
        bad = "run_id";
    else
    if (!self->tasks_root || !*self->tasks_root)
        bad = "tasks_root";
    else
    if (!s_get_uint (root, "k", 1, 100000, &self->k))
        bad = "k";
    else
    if (!s_get_uint (root, "iterations", 1, 100000, &self->iterations))
        bad = "iterations";
    else
    if (!s_get_uint (root, "max_debug", 0, 100000, &self->max_debug))
        bad = "max_debug";
    self->correctness_only = s_get_bool (root, "correctness_only", false);
    if (!s_get_uint (root, "timeout_ms", 0, 3600000, &self->timeout_ms))
        self->timeout_ms = 0;
    const cJSON *ablation = cJSON_GetObjectItem (root, "ablation");
    self->knowledge = s_get_bool (ablation, "knowledge", true);
    self->one_shot = s_get_bool (ablation, "one_shot", true);
    self->reflector = s_get_bool (ablation, "reflector", true);
    self->optimizer = s_get_bool (ablation, "optimizer", true);
    const cJSON *prices = cJSON_GetObjectItem (root, "prices");
    self->price_in = s_get_double (prices, "in_per_mtok");
    self->price_out = s_get_double (prices, "out_per_mtok");
    const cJSON *tasks = cJSON_GetObjectItem (root, "tasks");
    if (!bad && !cJSON_IsArray (tasks))
        bad = "tasks";
    const cJSON *item;
    const cJSON *list = bad ? NULL : tasks;
    cJSON_ArrayForEach (item, list) {
        char *name = s_json_string (item, "name", NULL);
        if (!run_config_valid_name (name)) {
            free (name);
            bad = "tasks[].name";
            break;
        }
        run_task_t *task = s_add_task (self, name);
        free (name);
        free (task->status);
        free (task->reason);
        task->status = s_json_string (item, "status", "unchecked");
        task->reason = s_json_string (item, "reason", "");
        task->category = s_json_string (item, "category", "");
        uint32_t difficulty = 0;
        if (s_get_uint (item, "difficulty", 0, 100, &difficulty))
            task->difficulty = difficulty;
    }
    cJSON_Delete (root);
    if (bad) {
        *error = geak_strdupf ("the run config has no valid '%s'", bad);
        run_config_destroy (&self);
    }
    return self;
}
