/*  geak_proto.c - envelope packing and validated unpacking. */
#include "geak_prelude.h"
#include "geak_proto.h"

//  Bounds for strings we accept from the wire (code may be large)
#define MAX_ID_BYTES      256
#define MAX_TEXT_BYTES    (8u * 1024u * 1024u)
#define MAX_REPEATED      100000

void
geak_proto_envelope_init (Geak__Envelope *env, const char *request_id,
                          int64_t deadline_ms, const char *sender)
{
    assert (env);
    geak__envelope__init (env);
    env->version = GEAK_PROTOCOL_VERSION;
    env->request_id = (char *) (request_id ? request_id : "");
    env->deadline_ms = deadline_ms;
    env->sender = (char *) (sender ? sender : "");
}

geak_rc_t
geak_proto_pack (const Geak__Envelope *env, uint8_t **data_p, size_t *size_p)
{
    if (!env || !data_p || !size_p)
        return GEAK_E_INVALID;
    size_t size = geak__envelope__get_packed_size (env);
    if (size > GEAK_PROTO_MAX_BYTES)
        return GEAK_E_MALFORMED;
    uint8_t *data = malloc (size ? size : 1);
    if (!data)
        return GEAK_E_NOMEM;
    size_t packed = geak__envelope__pack (env, data);
    if (packed != size) {
        free (data);
        return GEAK_E_INTERNAL;
    }
    *data_p = data;
    *size_p = size;
    return GEAK_OK;
}

static bool
s_str_ok (const char *s, size_t max)
{
    //  protobuf-c gives "" for unset strings; NULL never appears after unpack
    return s && strnlen (s, max + 1) <= max;
}

static bool
s_lineage_ok (const Geak__Lineage *l)
{
    return !l || (s_str_ok (l->run_id, MAX_ID_BYTES) && s_str_ok (l->task, MAX_ID_BYTES)
                  && s_str_ok (l->parent_attempt, MAX_ID_BYTES)
                  && s_str_ok (l->implementation, MAX_ID_BYTES));
}

static bool
s_candidate_ok (const Geak__Candidate *c)
{
    return !c || (s_str_ok (c->attempt_id, MAX_ID_BYTES) && s_str_ok (c->code, MAX_TEXT_BYTES)
                  && s_lineage_ok (c->lineage));
}

static bool
s_task_ok (const Geak__TaskRef *t)
{
    return !t || (s_str_ok (t->name, MAX_ID_BYTES) && s_str_ok (t->suite, MAX_ID_BYTES)
                  && s_str_ok (t->path, 4096));
}

static bool
s_result_ok (const Geak__EvalResult *r)
{
    return !r || (r->n_verdicts <= MAX_REPEATED && s_str_ok (r->attempt_id, MAX_ID_BYTES));
}

static bool
s_history_ok (Geak__HistoryEntry **h, size_t n)
{
    if (n > MAX_REPEATED)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!h [i] || !s_str_ok (h [i]->code, MAX_TEXT_BYTES))
            return false;
    return true;
}

//  Semantic checks protobuf-c cannot do; false means malformed.
static bool
s_body_ok (const Geak__Envelope *env)
{
    switch (env->body_case) {
        case GEAK__ENVELOPE__BODY_HEALTH_REQUEST:
        case GEAK__ENVELOPE__BODY_HEALTH_REPLY:
            return true;
        case GEAK__ENVELOPE__BODY_ERROR:
            return s_str_ok (env->error->code, MAX_ID_BYTES);
        case GEAK__ENVELOPE__BODY_EVAL_REQUEST:
            //  a selfcheck (options.selfcheck) checks the task's reference: no candidate
            return env->eval_request->task
                && (env->eval_request->candidate
                    || (env->eval_request->options && env->eval_request->options->selfcheck))
                && s_task_ok (env->eval_request->task)
                && s_candidate_ok (env->eval_request->candidate);
        case GEAK__ENVELOPE__BODY_EVAL_RESULT:
            return s_result_ok (env->eval_result);
        case GEAK__ENVELOPE__BODY_GENERATE_REQUEST:
            return env->generate_request->task && s_task_ok (env->generate_request->task)
                && s_lineage_ok (env->generate_request->lineage);
        case GEAK__ENVELOPE__BODY_REFLECT_REQUEST:
            return env->reflect_request->task && env->reflect_request->failing
                && s_task_ok (env->reflect_request->task)
                && s_candidate_ok (env->reflect_request->failing)
                && s_result_ok (env->reflect_request->result)
                && s_history_ok (env->reflect_request->lineage_history,
                                 env->reflect_request->n_lineage_history);
        case GEAK__ENVELOPE__BODY_OPTIMIZE_REQUEST:
            return env->optimize_request->task && s_task_ok (env->optimize_request->task)
                && s_candidate_ok (env->optimize_request->best)
                && s_history_ok (env->optimize_request->history,
                                 env->optimize_request->n_history);
        case GEAK__ENVELOPE__BODY_ROLE_REPLY:
            return s_candidate_ok (env->role_reply->candidate);
        default:
            return false;
    }
}

Geak__Envelope *
geak_proto_unpack (const uint8_t *data, size_t size,
                   Geak__Envelope__BodyCase expected, geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    if (!data || size == 0 || size > GEAK_PROTO_MAX_BYTES) {
        *rc = GEAK_E_MALFORMED;
        return NULL;
    }
    Geak__Envelope *env = geak__envelope__unpack (NULL, size, data);
    if (!env) {
        *rc = GEAK_E_MALFORMED;
        return NULL;
    }
    if (env->version != GEAK_PROTOCOL_VERSION) {
        *rc = GEAK_E_PROTOCOL;
        geak__envelope__free_unpacked (env, NULL);
        return NULL;
    }
    if (env->body_case == GEAK__ENVELOPE__BODY__NOT_SET
    ||  !s_str_ok (env->request_id, MAX_ID_BYTES)
    ||  !s_str_ok (env->sender, MAX_ID_BYTES)
    ||  !s_body_ok (env)) {
        *rc = GEAK_E_MALFORMED;
        geak__envelope__free_unpacked (env, NULL);
        return NULL;
    }
    if (expected != GEAK__ENVELOPE__BODY__NOT_SET && env->body_case != expected) {
        *rc = GEAK_E_PROTOCOL;
        geak__envelope__free_unpacked (env, NULL);
        return NULL;
    }
    *rc = GEAK_OK;
    return env;
}

void
geak_proto_free (Geak__Envelope **env_p)
{
    assert (env_p);
    if (*env_p) {
        geak__envelope__free_unpacked (*env_p, NULL);
        *env_p = NULL;
    }
}

geak_rc_t
geak_proto_pack_error (const char *request_id, geak_rc_t code, const char *message,
                       uint8_t **data_p, size_t *size_p)
{
    Geak__Envelope env;
    geak_proto_envelope_init (&env, request_id, 0, NULL);
    Geak__ErrorReply error = GEAK__ERROR_REPLY__INIT;
    error.code = (char *) geak_rc_name (code);
    error.message = (char *) (message ? message : geak_rc_str (code));
    env.body_case = GEAK__ENVELOPE__BODY_ERROR;
    env.error = &error;
    return geak_proto_pack (&env, data_p, size_p);
}

static const char *s_class_names [] = {
    "unspecified", "pass", "syntax_error", "import_error", "compile_error",
    "runtime_error", "illegal_memory_access", "timeout", "mismatch",
    "no_kernel_launched", "input_mutated", "sandbox_violation", "no_code",
    "forbidden_construct", "nondeterministic", "harness_error", "implausible_timing",
    "truncated"
};
#define CLASS_COUNT ((int) (sizeof s_class_names / sizeof s_class_names [0]))

const char *
geak_proto_class_name (Geak__ErrorClass cls)
{
    if ((int) cls < 0 || (int) cls >= CLASS_COUNT)
        return "unspecified";
    return s_class_names [cls];
}

int
geak_proto_class_from_name (const char *name)
{
    if (name)
        for (int i = 0; i < CLASS_COUNT; i++)
            if (strcmp (name, s_class_names [i]) == 0)
                return i;
    return -1;
}

const char *
geak_proto_role_name (Geak__Role role)
{
    static const char *names [] = {
        "unspecified", "generator", "evaluator", "reflector", "optimizer", "human"
    };
    if ((int) role < 0 || (int) role >= (int) (sizeof names / sizeof names [0]))
        return "unspecified";
    return names [role];
}

Geak__Attempt *
geak_proto_attempt_unpack (const uint8_t *data, size_t size, geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    if (!data || size == 0 || size > GEAK_PROTO_MAX_BYTES) {
        *rc = GEAK_E_MALFORMED;
        return NULL;
    }
    Geak__Attempt *attempt = geak__attempt__unpack (NULL, size, data);
    if (!attempt
    ||  !s_str_ok (attempt->attempt_id, MAX_ID_BYTES)
    ||  !s_candidate_ok (attempt->candidate)
    ||  !s_result_ok (attempt->result)) {
        if (attempt)
            geak__attempt__free_unpacked (attempt, NULL);
        *rc = GEAK_E_MALFORMED;
        return NULL;
    }
    *rc = GEAK_OK;
    return attempt;
}

ProtobufCMessage *
geak_proto_dup (const ProtobufCMessage *message)
{
    assert (message);
    size_t size = protobuf_c_message_get_packed_size (message);
    uint8_t *buf = malloc (size ? size : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack (message, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack (message->descriptor, NULL, size, buf);
    free (buf);
    return copy;
}

int
geak_proto_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    int rc = -1;
    uint8_t *data = NULL;
    size_t size = 0;
    Geak__Envelope *env = NULL;
    Geak__Candidate *dup = NULL;
    geak_rc_t err;

    //  Round trip of an eval request
    Geak__Envelope out;
    geak_proto_envelope_init (&out, "req-1", 1234, "selftest");
    Geak__EvalRequest request = GEAK__EVAL_REQUEST__INIT;
    Geak__TaskRef task = GEAK__TASK_REF__INIT;
    Geak__Candidate candidate = GEAK__CANDIDATE__INIT;
    task.name = "softmax";
    candidate.code = "import triton\n";
    candidate.attempt_id = "a1";
    request.task = &task;
    request.candidate = &candidate;
    out.body_case = GEAK__ENVELOPE__BODY_EVAL_REQUEST;
    out.eval_request = &request;
    if (geak_proto_pack (&out, &data, &size))
        goto done;
    env = geak_proto_unpack (data, size, GEAK__ENVELOPE__BODY_EVAL_REQUEST, &err);
    if (!env || err != GEAK_OK || strcmp (env->request_id, "req-1")
    ||  strcmp (env->eval_request->task->name, "softmax") || env->deadline_ms != 1234)
        goto done;
    geak_proto_free (&env);
    geak_proto_free (&env);             //  safe twice

    //  Wrong expected body -> protocol error
    env = geak_proto_unpack (data, size, GEAK__ENVELOPE__BODY_GENERATE_REQUEST, &err);
    if (env || err != GEAK_E_PROTOCOL)
        goto done;

    //  Missing required sub-message -> malformed
    free (data);
    request.task = NULL;
    if (geak_proto_pack (&out, &data, &size))
        goto done;
    env = geak_proto_unpack (data, size, GEAK__ENVELOPE__BODY__NOT_SET, &err);
    if (env || err != GEAK_E_MALFORMED)
        goto done;

    //  Wrong version -> protocol error
    free (data);
    request.task = &task;
    out.version = 99;
    if (geak_proto_pack (&out, &data, &size))
        goto done;
    env = geak_proto_unpack (data, size, GEAK__ENVELOPE__BODY__NOT_SET, &err);
    if (env || err != GEAK_E_PROTOCOL)
        goto done;

    //  Garbage and empty input -> malformed, no crash
    const uint8_t garbage [] = { 0xff, 0xff, 0xff, 0x0f, 0x12, 0x80 };
    env = geak_proto_unpack (garbage, sizeof garbage, GEAK__ENVELOPE__BODY__NOT_SET, &err);
    if (env || err != GEAK_E_MALFORMED)
        goto done;
    env = geak_proto_unpack (garbage, 0, GEAK__ENVELOPE__BODY__NOT_SET, &err);
    if (env || err != GEAK_E_MALFORMED)
        goto done;

    //  Error reply round trip
    free (data);
    data = NULL;
    if (geak_proto_pack_error ("r9", GEAK_E_WORKER_LOST, NULL, &data, &size))
        goto done;
    env = geak_proto_unpack (data, size, GEAK__ENVELOPE__BODY_ERROR, &err);
    if (!env || strcmp (env->error->code, "worker_lost") || strcmp (env->request_id, "r9"))
        goto done;
    geak_proto_free (&env);

    //  Deep copy: equal content, no shared pointers
    dup = (Geak__Candidate *) geak_proto_dup (&candidate.base);
    if (!dup || dup == &candidate || strcmp (dup->code, candidate.code)
    ||  dup->code == candidate.code || strcmp (dup->attempt_id, "a1"))
        goto done;

    //  Class names round trip
    for (int i = 0; i < CLASS_COUNT; i++)
        if (geak_proto_class_from_name (geak_proto_class_name ((Geak__ErrorClass) i)) != i)
            goto done;
    if (geak_proto_class_from_name ("bogus") != -1)
        goto done;
    rc = 0;
done:
    if (dup)
        protobuf_c_message_free_unpacked (&dup->base, NULL);
    geak_proto_free (&env);
    free (data);
    return rc;
}
