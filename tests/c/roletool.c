/*  roletool - a test tool for the LLM role services: builds a Generate /
    Reflect / Optimize request from a JSON spec, sends it through the broker
    with geak_client_call, and prints the answer as one JSON line.

      roletool --broker EP [--service NAME] [--timeout-ms N] generate|reflect|optimize SPEC.json

    SPEC keys (all optional): task {name, instruction, signature, category},
    lineage {run_id, task, sample, iteration, parent_attempt}, device {vendor,
    name, arch, compute_units, memory_bytes, l2_bytes, warp_size, clock_mhz,
    interpreted}, options {knowledge, one_shot, temperature, max_tokens},
    failing / best {attempt_id, code, lineage}, result {error_class (name),
    error_message, trace, call_ok, exec_ok, verdicts [{index, label, ok,
    max_abs_err, max_rel_err, message}]}, history [{attempt_id, code,
    error_class, error_message, latency_ms, speedup, iteration}].
    Output: {"rc", "error", "body", "error_code", "error_class",
    "error_message", "attempt_id", "code", "role", "implementation",
    "iteration", "sample", "parent", "diagnosis", "example", "prompt_ref",
    "reply_ref", "usage": {...}}. Exit 0 when a reply arrived. */
#include "geak_prelude.h"
#include "geak_client.h"
#include "geak_proto.h"

#include <cjson/cJSON.h>

static void **s_arena;
static size_t s_arena_size;

static void *
s_alloc (size_t size)
{
    void *p = geak_malloc0 (size);
    s_arena = realloc (s_arena, (s_arena_size + 1) * sizeof *s_arena);
    assert (s_arena);
    s_arena [s_arena_size++] = p;
    return p;
}

static char *
s_str (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) ? item->valuestring : "";
}

static double
s_num (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsNumber (item) ? item->valuedouble : 0;
}

static bool
s_bool (const cJSON *obj, const char *name)
{
    return cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (obj, name));
}

static Geak__ErrorClass
s_class (const cJSON *obj, const char *name)
{
    int cls = geak_proto_class_from_name (s_str (obj, name));
    return cls < 0 ? 0 : (Geak__ErrorClass) cls;
}

static Geak__TaskRef *
s_task (const cJSON *o)
{
    if (!o)
        return NULL;
    Geak__TaskRef *t = s_alloc (sizeof *t);
    geak__task_ref__init (t);
    t->name = s_str (o, "name");
    t->suite = s_str (o, "suite");
    t->instruction = s_str (o, "instruction");
    t->signature = s_str (o, "signature");
    t->category = s_str (o, "category");
    t->path = s_str (o, "path");
    return t;
}

static Geak__Lineage *
s_lineage (const cJSON *o)
{
    if (!o)
        return NULL;
    Geak__Lineage *l = s_alloc (sizeof *l);
    geak__lineage__init (l);
    l->run_id = s_str (o, "run_id");
    l->task = s_str (o, "task");
    l->sample = (uint32_t) s_num (o, "sample");
    l->iteration = (uint32_t) s_num (o, "iteration");
    l->parent_attempt = s_str (o, "parent_attempt");
    l->implementation = s_str (o, "implementation");
    return l;
}

static Geak__DeviceFacts *
s_device (const cJSON *o)
{
    if (!o)
        return NULL;
    Geak__DeviceFacts *d = s_alloc (sizeof *d);
    geak__device_facts__init (d);
    d->vendor = s_str (o, "vendor");
    d->name = s_str (o, "name");
    d->arch = s_str (o, "arch");
    d->runtime = s_str (o, "runtime");
    d->compute_units = (uint32_t) s_num (o, "compute_units");
    d->memory_bytes = (uint64_t) s_num (o, "memory_bytes");
    d->l2_bytes = (uint64_t) s_num (o, "l2_bytes");
    d->warp_size = (uint32_t) s_num (o, "warp_size");
    d->clock_mhz = (uint32_t) s_num (o, "clock_mhz");
    d->interpreted = s_bool (o, "interpreted");
    return d;
}

static Geak__GenerateOptions *
s_options (const cJSON *o)
{
    if (!o)
        return NULL;
    Geak__GenerateOptions *g = s_alloc (sizeof *g);
    geak__generate_options__init (g);
    g->knowledge = s_bool (o, "knowledge");
    g->one_shot = s_bool (o, "one_shot");
    g->temperature = s_num (o, "temperature");
    g->max_tokens = (uint32_t) s_num (o, "max_tokens");
    return g;
}

static Geak__Candidate *
s_candidate (const cJSON *o)
{
    if (!o)
        return NULL;
    Geak__Candidate *c = s_alloc (sizeof *c);
    geak__candidate__init (c);
    c->attempt_id = s_str (o, "attempt_id");
    c->code = s_str (o, "code");
    c->lineage = s_lineage (cJSON_GetObjectItem (o, "lineage"));
    return c;
}

static Geak__EvalResult *
s_result (const cJSON *o)
{
    if (!o)
        return NULL;
    Geak__EvalResult *r = s_alloc (sizeof *r);
    geak__eval_result__init (r);
    r->error_class = s_class (o, "error_class");
    r->error_message = s_str (o, "error_message");
    r->trace = s_str (o, "trace");
    r->call_ok = s_bool (o, "call_ok");
    r->exec_ok = s_bool (o, "exec_ok");
    r->device = s_device (cJSON_GetObjectItem (o, "device"));
    const cJSON *verdicts = cJSON_GetObjectItem (o, "verdicts");
    r->n_verdicts = (size_t) cJSON_GetArraySize (verdicts);
    r->verdicts = s_alloc (sizeof (void *) * (r->n_verdicts + 1));
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach (v, verdicts) {
        Geak__InputVerdict *iv = s_alloc (sizeof *iv);
        geak__input_verdict__init (iv);
        iv->index = (uint32_t) s_num (v, "index");
        iv->label = s_str (v, "label");
        iv->ok = s_bool (v, "ok");
        iv->error_class = s_class (v, "error_class");
        iv->max_abs_err = s_num (v, "max_abs_err");
        iv->max_rel_err = s_num (v, "max_rel_err");
        iv->message = s_str (v, "message");
        r->verdicts [i++] = iv;
    }
    return r;
}

static Geak__HistoryEntry **
s_history (const cJSON *list, size_t *n)
{
    *n = (size_t) cJSON_GetArraySize (list);
    Geak__HistoryEntry **out = s_alloc (sizeof (void *) * (*n + 1));
    size_t i = 0;
    const cJSON *o;
    cJSON_ArrayForEach (o, list) {
        Geak__HistoryEntry *h = s_alloc (sizeof *h);
        geak__history_entry__init (h);
        h->attempt_id = s_str (o, "attempt_id");
        h->code = s_str (o, "code");
        h->error_class = s_class (o, "error_class");
        h->error_message = s_str (o, "error_message");
        h->latency_ms = s_num (o, "latency_ms");
        h->speedup = s_num (o, "speedup");
        h->iteration = (uint32_t) s_num (o, "iteration");
        out [i++] = h;
    }
    return out;
}

static char *
s_read (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, 0, SEEK_SET);
    char *data = size >= 0 ? geak_malloc0 ((size_t) size + 1) : NULL;
    if (data && fread (data, 1, (size_t) size, f) != (size_t) size) {
        free (data);
        data = NULL;
    }
    fclose (f);
    return data;
}

static void
s_print_reply (const geak_reply_t *reply, geak_rc_t rc)
{
    cJSON *out = cJSON_CreateObject ();
    cJSON_AddStringToObject (out, "rc", geak_rc_name (rc));
    cJSON_AddStringToObject (out, "error", reply && reply->error ? reply->error : "");
    geak_rc_t urc;
    Geak__Envelope *env = reply && reply->body
                        ? geak_proto_unpack (reply->body, reply->size, GEAK__ENVELOPE__BODY__NOT_SET, &urc)
                        : NULL;
    if (env && env->body_case == GEAK__ENVELOPE__BODY_ERROR) {
        cJSON_AddStringToObject (out, "body", "error");
        cJSON_AddStringToObject (out, "error_code", env->error->code);
        cJSON_AddStringToObject (out, "error_message", env->error->message);
    }
    else
    if (env && env->body_case == GEAK__ENVELOPE__BODY_ROLE_REPLY) {
        const Geak__RoleReply *r = env->role_reply;
        cJSON_AddStringToObject (out, "body", "role_reply");
        cJSON_AddStringToObject (out, "error_class", geak_proto_class_name (r->error_class));
        cJSON_AddStringToObject (out, "error_message", r->error_message);
        const Geak__Candidate *c = r->candidate;
        if (c) {
            cJSON_AddStringToObject (out, "attempt_id", c->attempt_id);
            cJSON_AddStringToObject (out, "code", c->code);
            cJSON_AddStringToObject (out, "diagnosis", c->diagnosis);
            cJSON_AddStringToObject (out, "example", c->example);
            cJSON_AddStringToObject (out, "prompt_ref", c->prompt_ref);
            cJSON_AddStringToObject (out, "reply_ref", c->reply_ref);
            if (c->lineage) {
                cJSON_AddStringToObject (out, "role", geak_proto_role_name (c->lineage->role));
                cJSON_AddStringToObject (out, "implementation", c->lineage->implementation);
                cJSON_AddStringToObject (out, "task", c->lineage->task);
                cJSON_AddStringToObject (out, "run_id", c->lineage->run_id);
                cJSON_AddNumberToObject (out, "iteration", c->lineage->iteration);
                cJSON_AddNumberToObject (out, "sample", c->lineage->sample);
                cJSON_AddStringToObject (out, "parent", c->lineage->parent_attempt);
            }
            if (c->usage) {
                cJSON *u = cJSON_AddObjectToObject (out, "usage");
                cJSON_AddStringToObject (u, "provider", c->usage->provider);
                cJSON_AddStringToObject (u, "model", c->usage->model);
                cJSON_AddNumberToObject (u, "tokens_in", (double) c->usage->tokens_in);
                cJSON_AddNumberToObject (u, "tokens_out", (double) c->usage->tokens_out);
                cJSON_AddNumberToObject (u, "latency_ms", c->usage->latency_ms);
                cJSON_AddNumberToObject (u, "retries", c->usage->retries);
                cJSON_AddStringToObject (u, "finish_reason", c->usage->finish_reason);
                cJSON_AddBoolToObject (u, "truncated", c->usage->truncated);
                cJSON_AddNumberToObject (u, "reasoning_tokens", (double) c->usage->reasoning_tokens);
                cJSON_AddNumberToObject (u, "requests", c->usage->requests);
                cJSON_AddBoolToObject (u, "tokens_estimated", c->usage->tokens_estimated);
                cJSON_AddNumberToObject (u, "max_tokens", c->usage->max_tokens);
            }
        }
    }
    else
        cJSON_AddStringToObject (out, "body", env ? "other" : "none");
    geak_proto_free (&env);
    char *line = cJSON_PrintUnformatted (out);
    printf ("%s\n", line);
    free (line);
    cJSON_Delete (out);
}

int
main (int argc, char *argv [])
{
    const char *broker = "tcp://127.0.0.1:5555", *service = NULL, *kind = NULL, *spec_path = NULL;
    const char *envelope_id = "";       //  the Envelope's request_id (the transport id stays random)
    long timeout_ms = 60000;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--broker") == 0 && i + 1 < argc)
            broker = argv [++i];
        else
        if (strcmp (argv [i], "--service") == 0 && i + 1 < argc)
            service = argv [++i];
        else
        if (strcmp (argv [i], "--timeout-ms") == 0 && i + 1 < argc)
            timeout_ms = atol (argv [++i]);
        else
        if (strcmp (argv [i], "--envelope-id") == 0 && i + 1 < argc)
            envelope_id = argv [++i];
        else
        if (!kind)
            kind = argv [i];
        else
            spec_path = argv [i];
    }
    char *text = spec_path ? s_read (spec_path) : NULL;
    cJSON *spec = text ? cJSON_Parse (text) : NULL;
    free (text);
    if (!kind || !spec) {
        fprintf (stderr, "usage: roletool --broker EP [--service NAME] [--envelope-id ID] generate|reflect|optimize SPEC.json\n");
        cJSON_Delete (spec);
        return 2;
    }
    Geak__Envelope env;
    geak_proto_envelope_init (&env, envelope_id, 0, "roletool");
    Geak__GenerateRequest gen = GEAK__GENERATE_REQUEST__INIT;
    Geak__ReflectRequest ref = GEAK__REFLECT_REQUEST__INIT;
    Geak__OptimizeRequest opt = GEAK__OPTIMIZE_REQUEST__INIT;
    if (strcmp (kind, "generate") == 0) {
        gen.task = s_task (cJSON_GetObjectItem (spec, "task"));
        gen.lineage = s_lineage (cJSON_GetObjectItem (spec, "lineage"));
        gen.device = s_device (cJSON_GetObjectItem (spec, "device"));
        gen.options = s_options (cJSON_GetObjectItem (spec, "options"));
        env.body_case = GEAK__ENVELOPE__BODY_GENERATE_REQUEST;
        env.generate_request = &gen;
        service = service ? service : GEAK_SERVICE_GENERATOR;
    }
    else
    if (strcmp (kind, "reflect") == 0) {
        ref.task = s_task (cJSON_GetObjectItem (spec, "task"));
        ref.failing = s_candidate (cJSON_GetObjectItem (spec, "failing"));
        ref.result = s_result (cJSON_GetObjectItem (spec, "result"));
        ref.lineage_history = s_history (cJSON_GetObjectItem (spec, "history"), &ref.n_lineage_history);
        ref.options = s_options (cJSON_GetObjectItem (spec, "options"));
        env.body_case = GEAK__ENVELOPE__BODY_REFLECT_REQUEST;
        env.reflect_request = &ref;
        service = service ? service : GEAK_SERVICE_REFLECTOR;
    }
    else {
        opt.task = s_task (cJSON_GetObjectItem (spec, "task"));
        opt.best = s_candidate (cJSON_GetObjectItem (spec, "best"));
        opt.history = s_history (cJSON_GetObjectItem (spec, "history"), &opt.n_history);
        opt.device = s_device (cJSON_GetObjectItem (spec, "device"));
        opt.options = s_options (cJSON_GetObjectItem (spec, "options"));
        opt.lineage = s_lineage (cJSON_GetObjectItem (spec, "lineage"));
        env.body_case = GEAK__ENVELOPE__BODY_OPTIMIZE_REQUEST;
        env.optimize_request = &opt;
        service = service ? service : GEAK_SERVICE_OPTIMIZER;
    }
    uint8_t *body = NULL;
    size_t size = 0;
    geak_rc_t rc = geak_proto_pack (&env, &body, &size);
    int exit_code = 1;
    if (rc == GEAK_OK) {
        geak_client_t *client = geak_client_new (NULL, broker);
        geak_reply_t *reply = NULL;
        if (client) {
            rc = geak_client_call (client, service, NULL, timeout_ms, body, size, &reply);
            s_print_reply (reply, rc);
            exit_code = reply ? 0 : 1;
            geak_reply_destroy (&reply);
            geak_client_destroy (&client);
        }
    }
    free (body);
    for (size_t i = 0; i < s_arena_size; i++)
        free (s_arena [i]);
    free (s_arena);
    cJSON_Delete (spec);
    return exit_code;
}
