/*  geak_evalresult.c - build EvalResult messages; strict conversion of the harness protocol's JSON. */
#include "geak_evalresult.h"
#include "geak_taskstatus.h"

#include <math.h>

#define MAX_VERDICTS 4096
#define MAX_TEXT (1u << 20)         //  trace / message bytes kept

void
geak_evalresult_set_string (char **field, const char *value)
{
    assert (field);
    //  a field still at the proto default points at protobuf_c_empty_string
    if (*field && *field != protobuf_c_empty_string)
        free (*field);
    size_t len = value ? strlen (value) : 0;
    if (len > MAX_TEXT)
        len = MAX_TEXT;
    char *copy = malloc (len + 1);
    assert (copy);
    if (len)
        memcpy (copy, value, len);
    copy [len] = 0;
    *field = copy;
}

Geak__EvalResult *
geak_evalresult_new (Geak__ErrorClass cls, const char *message)
{
    Geak__EvalResult *self = malloc (sizeof *self);
    assert (self);
    geak__eval_result__init (self);
    self->error_class = cls;
    if (message)
        geak_evalresult_set_string (&self->error_message, message);
    return self;
}

void
geak_evalresult_destroy (Geak__EvalResult **self_p)
{
    if (!self_p || !*self_p)
        return;
    protobuf_c_message_free_unpacked (&(*self_p)->base, NULL);
    *self_p = NULL;
}

// ------------------------------------------------------------------ strict getters

typedef struct {
    char *why;
} conv_t;

static void
s_fail (conv_t *conv, const char *path, const char *what)
{
    if (conv->why)
        return;
    size_t n = strlen (path) + strlen (what) + 32;
    conv->why = malloc (n);
    assert (conv->why);
    snprintf (conv->why, n, "field %s: %s", path, what);
}

//  Absent and null are "not given"; returns the item or NULL
static const cJSON *
s_field (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!item || cJSON_IsNull (item))
        return NULL;
    return item;
}

static void
s_bool (conv_t *conv, const cJSON *obj, const char *name, protobuf_c_boolean *out)
{
    const cJSON *item = s_field (obj, name);
    if (!item)
        return;
    if (!cJSON_IsBool (item))
        s_fail (conv, name, "not a boolean");
    else
        *out = cJSON_IsTrue (item);
}

static void
s_string (conv_t *conv, const cJSON *obj, const char *name, char **out)
{
    const cJSON *item = s_field (obj, name);
    if (!item)
        return;
    if (!cJSON_IsString (item) || !item->valuestring)
        s_fail (conv, name, "not a string");
    else
        geak_evalresult_set_string (out, item->valuestring);
}

static void
s_double (conv_t *conv, const cJSON *obj, const char *name, double *out)
{
    const cJSON *item = s_field (obj, name);
    if (!item)
        return;
    if (!cJSON_IsNumber (item) || !isfinite (item->valuedouble))
        s_fail (conv, name, "not a finite number");
    else
        *out = item->valuedouble;
}

static void
s_u32 (conv_t *conv, const cJSON *obj, const char *name, uint32_t *out)
{
    const cJSON *item = s_field (obj, name);
    if (!item)
        return;
    double v = cJSON_IsNumber (item) ? item->valuedouble : -1;
    if (!cJSON_IsNumber (item) || v < 0 || v > 4294967295.0 || v != floor (v))
        s_fail (conv, name, "not an unsigned 32-bit integer");
    else
        *out = (uint32_t) v;
}

static void
s_u64 (conv_t *conv, const cJSON *obj, const char *name, uint64_t *out)
{
    const cJSON *item = s_field (obj, name);
    if (!item)
        return;
    double v = cJSON_IsNumber (item) ? item->valuedouble : -1;
    if (!cJSON_IsNumber (item) || v < 0 || v > 1.8e19 || v != floor (v))
        s_fail (conv, name, "not an unsigned integer");
    else
        *out = (uint64_t) v;
}

static void
s_class (conv_t *conv, const cJSON *obj, const char *name, Geak__ErrorClass *out)
{
    const cJSON *item = s_field (obj, name);
    if (!item)
        return;
    int cls = cJSON_IsString (item) ? geak_proto_class_from_name (item->valuestring) : -1;
    if (cls <= 0)
        s_fail (conv, name, "not a known error class");
    else
        *out = (Geak__ErrorClass) cls;
}

static Geak__LatencyStats *
s_stats (conv_t *conv, const cJSON *obj, const char *name)
{
    const cJSON *item = s_field (obj, name);
    if (!item)
        return NULL;
    if (!cJSON_IsObject (item)) {
        s_fail (conv, name, "not an object");
        return NULL;
    }
    Geak__LatencyStats *stats = malloc (sizeof *stats);
    assert (stats);
    geak__latency_stats__init (stats);
    s_u32 (conv, item, "n", &stats->n);
    s_double (conv, item, "median_ms", &stats->median_ms);
    s_double (conv, item, "mean_ms", &stats->mean_ms);
    s_double (conv, item, "min_ms", &stats->min_ms);
    s_double (conv, item, "max_ms", &stats->max_ms);
    s_double (conv, item, "stdev_ms", &stats->stdev_ms);
    s_double (conv, item, "p10_ms", &stats->p10_ms);
    s_double (conv, item, "p90_ms", &stats->p90_ms);
    return stats;
}

static Geak__DeviceFacts *
s_device_new (void)
{
    Geak__DeviceFacts *d = malloc (sizeof *d);
    assert (d);
    geak__device_facts__init (d);
    return d;
}

static void
s_device_json (conv_t *conv, const cJSON *item, Geak__DeviceFacts *d)
{
    s_string (conv, item, "vendor", &d->vendor);
    s_string (conv, item, "name", &d->name);
    s_string (conv, item, "arch", &d->arch);
    s_u32 (conv, item, "compute_units", &d->compute_units);
    s_u64 (conv, item, "memory_bytes", &d->memory_bytes);
    s_u32 (conv, item, "clock_mhz", &d->clock_mhz);
    s_u64 (conv, item, "l2_bytes", &d->l2_bytes);
    s_u32 (conv, item, "warp_size", &d->warp_size);
    s_bool (conv, item, "interpreted", &d->interpreted);
    s_u32 (conv, item, "device_index", &d->device_index);
    s_string (conv, item, "runtime", &d->runtime);
}

//  A fresh result to convert json into, or NULL with *why = not_object when
#define MAX_PHASES 64

//  "phases_ms": {name: ms, ...} -> repeated PhaseTime (diagnostics; bad entries are an error)
static void
s_phases (conv_t *conv, const cJSON *json, Geak__EvalResult *self)
{
    const cJSON *obj = s_field (json, "phases_ms");
    if (!obj)
        return;
    int n = cJSON_IsObject (obj) ? cJSON_GetArraySize (obj) : -1;
    if (n < 0 || n > MAX_PHASES) {
        s_fail (conv, "phases_ms", n < 0 ? "not an object" : "too many");
        return;
    }
    if (n == 0)
        return;
    self->phases = calloc ((size_t) n, sizeof *self->phases);
    assert (self->phases);
    const cJSON *item;
    cJSON_ArrayForEach (item, obj) {
        if (!cJSON_IsNumber (item) || !isfinite (item->valuedouble) || !item->string) {
            s_fail (conv, "phases_ms", "not a finite number");
            return;
        }
        Geak__PhaseTime *p = malloc (sizeof *p);
        assert (p);
        geak__phase_time__init (p);
        self->phases [self->n_phases++] = p;
        geak_evalresult_set_string (&p->name, item->string);
        p->ms = item->valuedouble;
    }
}

//  json is not an object
static Geak__EvalResult *
s_convert_begin (const cJSON *json, const char *not_object, char **why)
{
    assert (why);
    *why = NULL;
    if (!cJSON_IsObject (json)) {
        *why = geak_strdup (not_object);
        return NULL;
    }
    return geak_evalresult_new (GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED, NULL);
}

//  The checks every converted result passes (a pass is an executed,
//  matching run); on any failure frees self and returns NULL with *why
static Geak__EvalResult *
s_convert_end (conv_t *conv, Geak__EvalResult *self, char **why)
{
    if (!conv->why && self->error_class == GEAK__ERROR_CLASS__PASS
        && !(self->call_ok && self->exec_ok))
        s_fail (conv, "error_class", "pass without call_ok and exec_ok");
    if (!conv->why && self->exec_ok && !self->call_ok)
        s_fail (conv, "exec_ok", "true while call_ok is false");
    if (conv->why) {
        geak_evalresult_destroy (&self);
        *why = conv->why;
        return NULL;
    }
    return self;
}

Geak__EvalResult *
geak_evalresult_from_json (const cJSON *json, char **why)
{
    Geak__EvalResult *self = s_convert_begin (json, "result is not an object", why);
    if (!self)
        return NULL;
    conv_t conv = { NULL };
    s_bool (&conv, json, "call_ok", &self->call_ok);
    s_bool (&conv, json, "exec_ok", &self->exec_ok);
    s_class (&conv, json, "error_class", &self->error_class);
    if (self->error_class == GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED)
        s_fail (&conv, "error_class", "missing");
    s_string (&conv, json, "error_message", &self->error_message);
    s_string (&conv, json, "trace", &self->trace);
    s_double (&conv, json, "speedup", &self->speedup);
    s_double (&conv, json, "gbps", &self->gbps);
    s_double (&conv, json, "tflops", &self->tflops);
    s_bool (&conv, json, "timed", &self->timed);
    s_string (&conv, json, "timing_note", &self->timing_note);
    s_u32 (&conv, json, "task_difficulty", &self->task_difficulty);
    s_string (&conv, json, "task_category", &self->task_category);
    s_double (&conv, json, "speedup_ci", &self->speedup_ci);
    self->reference = s_stats (&conv, json, "reference");
    self->candidate = s_stats (&conv, json, "candidate");
    s_string (&conv, json, "sandbox", &self->isolation);
    s_phases (&conv, json, self);

    const cJSON *device = s_field (json, "device");
    if (device) {
        if (!cJSON_IsObject (device))
            s_fail (&conv, "device", "not an object");
        else {
            self->device = s_device_new ();
            s_device_json (&conv, device, self->device);
        }
    }
    const cJSON *verdicts = s_field (json, "verdicts");
    if (verdicts) {
        int n = cJSON_IsArray (verdicts) ? cJSON_GetArraySize (verdicts) : -1;
        if (n < 0)
            s_fail (&conv, "verdicts", "not an array");
        else
        if (n > MAX_VERDICTS)
            s_fail (&conv, "verdicts", "too many");
        else
        if (n > 0) {
            self->verdicts = calloc ((size_t) n, sizeof *self->verdicts);
            assert (self->verdicts);
            const cJSON *item;
            cJSON_ArrayForEach (item, verdicts) {
                if (!cJSON_IsObject (item)) {
                    s_fail (&conv, "verdicts[]", "not an object");
                    break;
                }
                Geak__InputVerdict *v = malloc (sizeof *v);
                assert (v);
                geak__input_verdict__init (v);
                self->verdicts [self->n_verdicts++] = v;
                s_u32 (&conv, item, "index", &v->index);
                s_string (&conv, item, "label", &v->label);
                s_bool (&conv, item, "ok", &v->ok);
                s_class (&conv, item, "error_class", &v->error_class);
                s_double (&conv, item, "max_abs_err", &v->max_abs_err);
                s_double (&conv, item, "max_rel_err", &v->max_rel_err);
                s_string (&conv, item, "message", &v->message);
            }
        }
    }
    return s_convert_end (&conv, self, why);
}

Geak__EvalResult *
geak_evalresult_from_selfcheck_json (const cJSON *json, char **why)
{
    Geak__EvalResult *self = s_convert_begin (json, "selfcheck result is not an object", why);
    if (!self)
        return NULL;
    conv_t conv = { NULL };
    s_string (&conv, json, "status", &self->task_status);
    s_string (&conv, json, "reason", &self->task_status_reason);
    s_u32 (&conv, json, "task_difficulty", &self->task_difficulty);
    s_string (&conv, json, "task_category", &self->task_category);
    s_class (&conv, json, "error_class", &self->error_class);
    s_bool (&conv, json, "call_ok", &self->call_ok);
    s_bool (&conv, json, "exec_ok", &self->exec_ok);
    const cJSON *results = s_field (json, "results");
    if (results && !cJSON_IsArray (results))
        s_fail (&conv, "results", "not an array");
    const char *status = self->task_status;
    bool ok = strcmp (status, "ok") == 0;
    if (!conv.why && !geak_task_status_known (status))
        s_fail (&conv, "status", *status ? "not ok, broken, flaky or unsupported_on_device" : "missing");
    if (!conv.why && self->error_class == GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED)
        s_fail (&conv, "error_class", "missing");
    if (!conv.why && self->error_class == GEAK__ERROR_CLASS__HARNESS_ERROR)
        s_fail (&conv, "error_class", "harness_error is not a task status");
    if (!conv.why && ok != (self->error_class == GEAK__ERROR_CLASS__PASS))
        s_fail (&conv, "error_class", ok ? "not pass while the status is ok"
                                         : "pass while the status is not ok");
    self = s_convert_end (&conv, self, why);
    if (self)
        geak_evalresult_set_string (&self->error_message, self->task_status_reason);
    return self;
}

void
geak_evalresult_set_device (Geak__EvalResult *self, const geak_gpu_info_t *info,
                        const cJSON *harness_device)
{
    assert (self && info);
    Geak__DeviceFacts *from_harness = NULL;
    if (harness_device && cJSON_IsObject (harness_device)) {
        conv_t conv = { NULL };
        from_harness = s_device_new ();
        s_device_json (&conv, harness_device, from_harness);
        free (conv.why);       //  a bad field there stays at its default
    }
    if (!self->device)
        self->device = s_device_new ();
    else
    if (!from_harness) {
        //  the result's own device object is the harness's view
        from_harness = self->device;
        self->device = s_device_new ();
    }
    Geak__DeviceFacts *d = self->device;
    Geak__DeviceFacts *h = from_harness;
#define PICK_STR(field, ours) \
    geak_evalresult_set_string (&d->field, *(ours) || !h ? (ours) : h->field)
#define PICK_NUM(field, ours) d->field = (ours) || !h ? (ours) : h->field
    PICK_STR (vendor, info->vendor);
    PICK_STR (name, info->name);
    PICK_STR (arch, info->arch);
    PICK_STR (runtime, info->runtime);
    PICK_NUM (compute_units, info->compute_units);
    PICK_NUM (memory_bytes, info->memory_bytes);
    PICK_NUM (clock_mhz, info->clock_mhz);
    PICK_NUM (l2_bytes, info->l2_bytes);
    PICK_NUM (warp_size, info->warp_size);
#undef PICK_STR
#undef PICK_NUM
    d->interpreted = info->interpreted;
    d->device_index = info->device_index;
    if (from_harness)
        protobuf_c_message_free_unpacked (&from_harness->base, NULL);
}

// ------------------------------------------------------------------ selftest

static Geak__EvalResult *
s_parse (const char *text, char **why)
{
    cJSON *json = cJSON_Parse (text);
    assert (json);
    Geak__EvalResult *r = geak_evalresult_from_json (json, why);
    cJSON_Delete (json);
    return r;
}

int
geak_evalresult_test (bool verbose)
{
    char *why = NULL;
    Geak__EvalResult *r = s_parse (
        "{\"call_ok\":true,\"exec_ok\":true,\"error_class\":\"pass\",\"error_message\":null,"
        "\"trace\":\"\",\"verdicts\":[{\"index\":0,\"label\":\"fp32 64\",\"ok\":true,"
        "\"error_class\":\"pass\",\"max_abs_err\":0.0,\"max_rel_err\":1e-7,\"message\":\"\"}],"
        "\"reference\":{\"n\":3,\"median_ms\":1.5,\"mean_ms\":1.5,\"min_ms\":1,\"max_ms\":2,"
        "\"stdev_ms\":0.1,\"p10_ms\":1,\"p90_ms\":2},\"candidate\":null,\"speedup\":1.25,"
        "\"timed\":false,\"device\":{\"vendor\":\"cpu\",\"runtime\":\"interpreter\"},"
        "\"extra\":\"ignored\"}", &why);
    GEAK_CHECK (r && !why);
    GEAK_CHECK (r->call_ok && r->exec_ok && r->error_class == GEAK__ERROR_CLASS__PASS);
    GEAK_CHECK (r->n_verdicts == 1 && strcmp (r->verdicts [0]->label, "fp32 64") == 0);
    GEAK_CHECK (r->reference && r->reference->n == 3 && r->candidate == NULL);
    GEAK_CHECK (r->speedup == 1.25 && !r->timed);
    geak_gpu_info_t cpu;
    geak_gpu_cpu_info (&cpu);
    snprintf (cpu.runtime, sizeof cpu.runtime, "%s", "");
    geak_evalresult_set_device (r, &cpu, NULL);
    GEAK_CHECK (strcmp (r->device->vendor, "cpu") == 0);
    GEAK_CHECK (strcmp (r->device->runtime, "interpreter") == 0);     //  filled from the harness
    GEAK_CHECK (r->device->interpreted);
    uint8_t buf [4096];
    GEAK_CHECK (geak__eval_result__get_packed_size (r) < sizeof buf);
    geak_evalresult_destroy (&r);
    GEAK_CHECK (r == NULL);

    static const char *const bad [] = {
        "[]",
        "{\"call_ok\":1,\"exec_ok\":false,\"error_class\":\"mismatch\"}",
        "{\"call_ok\":true,\"exec_ok\":false,\"error_class\":\"MISMATCH\"}",
        "{\"call_ok\":true,\"exec_ok\":false}",
        "{\"call_ok\":true,\"exec_ok\":false,\"error_class\":\"mismatch\",\"verdicts\":{}}",
        "{\"call_ok\":true,\"exec_ok\":false,\"error_class\":\"mismatch\",\"verdicts\":[1]}",
        "{\"call_ok\":true,\"exec_ok\":false,\"error_class\":\"mismatch\","
        "\"verdicts\":[{\"index\":-1}]}",
        "{\"call_ok\":true,\"exec_ok\":false,\"error_class\":\"mismatch\",\"speedup\":\"2\"}",
        "{\"call_ok\":true,\"exec_ok\":false,\"error_class\":\"mismatch\",\"reference\":[]}",
        "{\"call_ok\":true,\"exec_ok\":false,\"error_class\":\"mismatch\",\"trace\":5}",
        "{\"call_ok\":false,\"exec_ok\":false,\"error_class\":\"pass\"}",
        "{\"call_ok\":true,\"exec_ok\":true,\"error_class\":\"pass\",\"device\":\"gpu\"}",
        "{\"call_ok\":true,\"exec_ok\":true,\"error_class\":\"pass\",\"device\":{\"warp_size\":1.5}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        r = s_parse (bad [i], &why);
        if (verbose)
            printf ("  bad %zu: %s\n", i, why ? why : "(accepted!)");
        GEAK_CHECK (r == NULL && why);
        free (why);
    }
    //  selfcheck answers
    cJSON *json = cJSON_Parse ("{\"status\":\"broken\",\"reason\":\"mismatch: fp32 8\","
                               "\"error_class\":\"mismatch\",\"call_ok\":true,"
                               "\"exec_ok\":false,\"results\":[{}],\"extra\":1}");
    r = geak_evalresult_from_selfcheck_json (json, &why);
    cJSON_Delete (json);
    GEAK_CHECK (r && !why);
    GEAK_CHECK (strcmp (r->task_status, "broken") == 0);
    GEAK_CHECK (strcmp (r->task_status_reason, "mismatch: fp32 8") == 0);
    GEAK_CHECK (strcmp (r->error_message, "mismatch: fp32 8") == 0);
    GEAK_CHECK (r->error_class == GEAK__ERROR_CLASS__MISMATCH && r->call_ok && !r->exec_ok);
    geak_evalresult_destroy (&r);
    json = cJSON_Parse ("{\"status\":\"ok\",\"reason\":\"\",\"error_class\":\"pass\","
                        "\"call_ok\":true,\"exec_ok\":true}");
    r = geak_evalresult_from_selfcheck_json (json, &why);
    cJSON_Delete (json);
    GEAK_CHECK (r && !why && r->error_class == GEAK__ERROR_CLASS__PASS);
    GEAK_CHECK (strcmp (r->task_status, "ok") == 0 && *r->task_status_reason == 0);
    geak_evalresult_destroy (&r);
    static const char *const bad_selfcheck [] = {
        "[]",
        "{\"reason\":\"\",\"error_class\":\"pass\",\"call_ok\":true,\"exec_ok\":true}",
        "{\"status\":\"fine\",\"error_class\":\"pass\",\"call_ok\":true,\"exec_ok\":true}",
        "{\"status\":\"unchecked\",\"error_class\":\"mismatch\"}",
        "{\"status\":1,\"error_class\":\"pass\",\"call_ok\":true,\"exec_ok\":true}",
        "{\"status\":\"ok\",\"call_ok\":true,\"exec_ok\":true}",
        "{\"status\":\"ok\",\"error_class\":\"mismatch\",\"call_ok\":true}",
        "{\"status\":\"broken\",\"error_class\":\"pass\",\"call_ok\":true,\"exec_ok\":true}",
        "{\"status\":\"ok\",\"error_class\":\"pass\",\"call_ok\":true,\"exec_ok\":false}",
        "{\"status\":\"broken\",\"error_class\":\"harness_error\"}",
        "{\"status\":\"flaky\",\"error_class\":\"nondeterministic\",\"exec_ok\":true}",
        "{\"status\":\"broken\",\"error_class\":\"mismatch\",\"reason\":7}",
        "{\"status\":\"broken\",\"error_class\":\"mismatch\",\"results\":{}}",
        "{\"status\":\"broken\",\"error_class\":\"Mismatch\"}",
    };
    for (size_t i = 0; i < sizeof bad_selfcheck / sizeof bad_selfcheck [0]; i++) {
        json = cJSON_Parse (bad_selfcheck [i]);
        GEAK_CHECK (json);
        r = geak_evalresult_from_selfcheck_json (json, &why);
        cJSON_Delete (json);
        if (verbose)
            printf ("  bad selfcheck %zu: %s\n", i, why ? why : "(accepted!)");
        GEAK_CHECK (r == NULL && why);
        free (why);
    }

    r = geak_evalresult_new (GEAK__ERROR_CLASS__TIMEOUT, "killed");
    geak_evalresult_set_device (r, &cpu, NULL);
    GEAK_CHECK (strcmp (r->error_message, "killed") == 0);
    geak_evalresult_destroy (&r);
    geak_evalresult_destroy (&r);
    return 0;
}
