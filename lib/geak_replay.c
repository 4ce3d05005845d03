/*  geak_replay.c - recorded LLM replies from JSONL (see geak_replay.h). */
#include "geak_prelude.h"
#include "geak_replay.h"
#include "geak_log.h"

#include <cjson/cJSON.h>

#define REPLAY_MAX_BYTES (512u * 1024u * 1024u)

typedef struct {
    char *role;          //  NULL = any role
    char *task;          //  NULL = keyed by instruction
    char *instruction;
    uint32_t sample;
    uint32_t iteration;
    bool has_position;   //  sample/iteration were given
    char *reply;
} s_line_t;

struct geak_replay_t {
    s_line_t *lines;
    size_t size;
    size_t alloc;
};

static char *
s_string_field (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) && item->valuestring ? geak_strdup (item->valuestring) : NULL;
}

static bool
s_uint_field (const cJSON *obj, const char *name, uint32_t *value)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!cJSON_IsNumber (item) || item->valuedouble < 0 || item->valuedouble > 4294967295.0)
        return false;
    *value = (uint32_t) item->valuedouble;
    return true;
}

static void
s_line_free (s_line_t *line)
{
    free (line->role);
    free (line->task);
    free (line->instruction);
    free (line->reply);
}

//  Parse one line; true when it was usable and appended.
static bool
s_add_line (geak_replay_t *self, const char *text, size_t size)
{
    cJSON *obj = cJSON_ParseWithLength (text, size);
    if (!cJSON_IsObject (obj)) {
        cJSON_Delete (obj);
        return false;
    }
    s_line_t line = { 0 };
    line.reply = s_string_field (obj, "reply");
    if (!line.reply)
        line.reply = s_string_field (obj, "predict");
    line.role = s_string_field (obj, "role");
    line.task = s_string_field (obj, "task");
    if (!line.task)
        line.task = s_string_field (obj, "file");
    line.instruction = s_string_field (obj, "instruction");
    bool has_sample = s_uint_field (obj, "sample", &line.sample);
    bool has_iteration = s_uint_field (obj, "iteration", &line.iteration);
    line.has_position = has_sample || has_iteration;
    cJSON_Delete (obj);
    if (!line.reply || (!line.task && !line.instruction)) {
        s_line_free (&line);
        return false;
    }
    //  A TritonBench file name "softmax.py" keys task "softmax"
    if (line.task) {
        size_t len = strlen (line.task);
        if (len > 3 && strcmp (line.task + len - 3, ".py") == 0)
            line.task [len - 3] = '\0';
    }
    if (self->size == self->alloc) {
        size_t alloc = self->alloc ? self->alloc * 2 : 16;
        s_line_t *lines = realloc (self->lines, alloc * sizeof *lines);
        if (!lines) {
            s_line_free (&line);
            return false;
        }
        self->lines = lines;
        self->alloc = alloc;
    }
    self->lines [self->size++] = line;
    return true;
}

geak_replay_t *
geak_replay_parse (const char *text, size_t size, geak_rc_t *rc)
{
    assert (rc);
    geak_replay_t *self = geak_malloc0 (sizeof *self);
    size_t skipped = 0, pos = 0;
    while (text && pos < size) {
        const char *start = text + pos;
        const char *nl = memchr (start, '\n', size - pos);
        size_t len = nl ? (size_t) (nl - start) : size - pos;
        pos += len + (nl ? 1 : 0);
        //  skip blank lines
        size_t i = 0;
        while (i < len && (start [i] == ' ' || start [i] == '\t' || start [i] == '\r'))
            i++;
        if (i == len)
            continue;
        if (!s_add_line (self, start, len))
            skipped++;
    }
    if (skipped)
        geak_warn ("replay_lines_skipped", "skipped=%zu kept=%zu", skipped, self->size);
    if (self->size == 0) {
        geak_replay_destroy (&self);
        *rc = GEAK_E_MALFORMED;
        return NULL;
    }
    *rc = GEAK_OK;
    return self;
}

geak_replay_t *
geak_replay_load (const char *path, geak_rc_t *rc)
{
    assert (rc);
    FILE *file = path ? fopen (path, "rb") : NULL;
    if (!file) {
        *rc = GEAK_E_IO;
        return NULL;
    }
    char *text = NULL;
    size_t size = 0, alloc = 0;
    bool ok = true;
    while (ok) {
        if (alloc - size < 65536) {
            alloc = alloc ? alloc * 2 : 131072;
            char *bigger = alloc <= REPLAY_MAX_BYTES ? realloc (text, alloc) : NULL;
            if (!bigger) {
                ok = false;
                break;
            }
            text = bigger;
        }
        size_t n = fread (text + size, 1, alloc - size, file);
        size += n;
        if (n == 0) {
            ok = !ferror (file);
            break;
        }
    }
    fclose (file);
    geak_replay_t *self = NULL;
    if (ok)
        self = geak_replay_parse (text, size, rc);
    else
        *rc = GEAK_E_IO;
    free (text);
    return self;
}

void
geak_replay_destroy (geak_replay_t **self_p)
{
    assert (self_p);
    geak_replay_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        s_line_free (&self->lines [i]);
    free (self->lines);
    free (self);
    *self_p = NULL;
}

size_t
geak_replay_size (const geak_replay_t *self)
{
    return self ? self->size : 0;
}

static bool
s_matches (const s_line_t *line, const char *role, const char *task, const char *instruction)
{
    if (line->role && role && strcmp (line->role, role) != 0)
        return false;
    if (line->task)
        return task && strcmp (line->task, task) == 0;
    return instruction && line->instruction && strcmp (line->instruction, instruction) == 0;
}

const char *
geak_replay_find (const geak_replay_t *self, const char *role, const char *task,
                  const char *instruction, uint32_t sample, uint32_t iteration)
{
    if (!self)
        return NULL;
    size_t count = 0;
    for (size_t i = 0; i < self->size; i++) {
        const s_line_t *line = &self->lines [i];
        if (!s_matches (line, role, task, instruction))
            continue;
        if (line->has_position && line->sample == sample && line->iteration == iteration)
            return line->reply;
        count++;
    }
    if (count == 0)
        return NULL;
    size_t want = ((size_t) sample + (size_t) iteration) % count;
    for (size_t i = 0; i < self->size; i++) {
        const s_line_t *line = &self->lines [i];
        if (s_matches (line, role, task, instruction) && want-- == 0)
            return line->reply;
    }
    return NULL;
}

int
geak_replay_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    const char *text =
        "{\"role\":\"generator\",\"task\":\"add\",\"sample\":0,\"iteration\":0,\"reply\":\"A0\"}\n"
        "\n"
        "not json\n"
        "{\"role\":\"generator\",\"task\":\"add\",\"sample\":1,\"iteration\":0,\"reply\":\"A1\"}\n"
        "{\"role\":\"reflector\",\"task\":\"add\",\"reply\":\"R\"}\n"
        "{\"instruction\":\"Write softmax\",\"predict\":\"S\"}\n"
        "{\"file\":\"relu.py\",\"instruction\":\"x\",\"predict\":\"RELU\"}\n"
        "{\"task\":\"nothing\"}";
    geak_rc_t rc;
    geak_replay_t *replay = geak_replay_parse (text, strlen (text), &rc);
    if (!replay || rc != GEAK_OK || geak_replay_size (replay) != 5)
        return 1;
    int fails = 0;
    const char *r = geak_replay_find (replay, "generator", "add", NULL, 1, 0);
    fails += !(r && strcmp (r, "A1") == 0);
    //  no exact position: cycles (sample + iteration) % 2
    r = geak_replay_find (replay, "generator", "add", NULL, 3, 0);
    fails += !(r && strcmp (r, "A1") == 0);
    r = geak_replay_find (replay, "generator", "add", NULL, 2, 2);
    fails += !(r && strcmp (r, "A0") == 0);
    r = geak_replay_find (replay, "reflector", "add", NULL, 0, 5);
    fails += !(r && strcmp (r, "R") == 0);
    r = geak_replay_find (replay, "generator", "softmax", "Write softmax", 0, 0);
    fails += !(r && strcmp (r, "S") == 0);
    r = geak_replay_find (replay, "optimizer", "relu", NULL, 0, 0);
    fails += !(r && strcmp (r, "RELU") == 0);
    fails += geak_replay_find (replay, "generator", "missing", "?", 0, 0) != NULL;
    geak_replay_destroy (&replay);
    geak_replay_destroy (&replay);
    fails += geak_replay_parse ("junk\n", 5, &rc) != NULL || rc != GEAK_E_MALFORMED;
    fails += geak_replay_load ("/nonexistent/replay.jsonl", &rc) != NULL || rc != GEAK_E_IO;
    return fails;
}
