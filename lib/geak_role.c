/*  geak_role.c - shared runtime of the LLM role services. */
#include "geak_prelude.h"
#include "geak_role.h"
#include "geak_config.h"
#include "geak_log.h"
#include "geak_prompt.h"
#include "geak_extract.h"
#include "geak_choices.h"
#include "geak_llm_wire.h"

#include <pthread.h>
#include <stdatomic.h>

struct geak_role_t {
    char *role;
    char *implementation;
    geak_llm_t *llm;
    geak_corpus_t *corpus;
    bool use_store;
    char *redis_host;
    int redis_port;
    geak_store_t *stores [GEAK_ROLE_MAX_THREADS];
    atomic_bool store_warned;
    geak_choices_t *choices;        //  n-sample calls shared by their samples
};

static geak_rc_t
s_parse_hostport (const char *text, char **host, int *port)
{
    const char *colon = strrchr (text, ':');
    long value = 6379;
    if (colon && geak_config_parse_long (colon + 1, 1, 65535, &value) != GEAK_OK)
        return GEAK_E_CONFIG;
    size_t len = colon ? (size_t) (colon - text) : strlen (text);
    *host = strndup (text, len);
    if (!*host)
        return GEAK_E_NOMEM;
    if (len == 0) {
        free (*host);
        *host = geak_strdup ("127.0.0.1");
    }
    *port = (int) value;
    return GEAK_OK;
}

geak_role_t *
geak_role_new (const char *role, const char *implementation, int argc, char **argv, geak_rc_t *rc)
{
    assert (role && implementation && rc);
    geak_role_t *self = geak_malloc0 (sizeof *self);
    self->role = geak_strdup (role);
    self->implementation = geak_strdup (implementation);
    atomic_init (&self->store_warned, false);
    const char *tasks = geak_config_str ("GEAK_TASKS", "./tasks");
    const char *corpus = geak_config_str ("GEAK_CORPUS", NULL);
    bool want_llm = true;
    *rc = GEAK_OK;
    for (int i = 1; i < argc && *rc == GEAK_OK; i++) {
        if (strcmp (argv [i], "--redis") == 0 && i + 1 < argc) {
            free (self->redis_host);
            self->redis_host = NULL;
            *rc = s_parse_hostport (argv [++i], &self->redis_host, &self->redis_port);
            self->use_store = true;
        }
        else
        if (strcmp (argv [i], "--tasks") == 0 && i + 1 < argc)
            tasks = argv [++i];
        else
        if (strcmp (argv [i], "--corpus") == 0 && i + 1 < argc)
            corpus = argv [++i];
        else
        if (strcmp (argv [i], "--no-llm") == 0)
            want_llm = false;
        else {
            fprintf (stderr, "geak-%s: unknown option %s\n", role, argv [i]);
            *rc = GEAK_E_CONFIG;
        }
    }
    if (*rc != GEAK_OK) {
        geak_role_destroy (&self);
        return NULL;
    }
    if (!self->use_store && (geak_config_str ("GEAK_REDIS_HOST", NULL)
                            || geak_config_str ("GEAK_REDIS_PORT", NULL)))
        self->use_store = true;
    long port = 0;
    if (self->use_store && !self->redis_host
    &&  geak_config_int ("GEAK_REDIS_PORT", 6379, 1, 65535, &port) != GEAK_OK) {
        //  a store named but unusable is a configuration error now, not a warning later
        fprintf (stderr, "geak-%s: GEAK_REDIS_PORT must be a port number in [1, 65535]\n", role);
        *rc = GEAK_E_CONFIG;
        geak_role_destroy (&self);
        return NULL;
    }
    if (want_llm) {
        self->llm = geak_llm_new_from_env (rc);
        self->choices = geak_choices_new ();
        if (!self->llm) {
            geak_role_destroy (&self);
            return NULL;
        }
    }
    //  the 1-shot corpus: its own source when configured, else the task tree
    //  (above an importer's output: our suite and the other benchmarks); a
    //  task's near twins and its own benchmark's gold are never its example
    char *root = corpus ? geak_strdup (corpus) : geak_corpus_default_root (tasks);
    self->corpus = geak_corpus_load (root, rc);
    free (root);
    if (!self->corpus) {
        geak_role_destroy (&self);
        return NULL;
    }
    if (self->use_store)
        geak_info ("role_store", "role=%s store=redis prompts=kept", role);
    else
        geak_warn ("role_store", "role=%s store=none prompts=not_kept "
                   "hint=\"set GEAK_REDIS_HOST/PORT or --redis to keep prompts and replies\"", role);
    return self;
}

void
geak_role_destroy (geak_role_t **self_p)
{
    assert (self_p);
    geak_role_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < GEAK_ROLE_MAX_THREADS; i++)
        geak_store_destroy (&self->stores [i]);
    geak_llm_destroy (&self->llm);
    geak_choices_destroy (&self->choices);
    geak_corpus_destroy (&self->corpus);
    free (self->redis_host);
    free (self->role);
    free (self->implementation);
    free (self);
    *self_p = NULL;
}

void
geak_role_fini_hook (void *state)
{
    geak_role_t *role = (geak_role_t *) state;
    geak_role_destroy (&role);
}

const char *
geak_role_name (const geak_role_t *self)
{
    return self->role;
}

const char *
geak_role_implementation (const geak_role_t *self)
{
    return self->implementation;
}

geak_llm_t *
geak_role_llm (geak_role_t *self)
{
    return self->llm;
}

const geak_corpus_t *
geak_role_corpus (const geak_role_t *self)
{
    return self->corpus;
}

geak_store_t *
geak_role_store (geak_role_t *self, int thread)
{
    if (!self->use_store || thread < 0 || thread >= GEAK_ROLE_MAX_THREADS)
        return NULL;
    if (self->stores [thread])
        return self->stores [thread];
    geak_rc_t rc;
    geak_store_t *store = NULL;
    if (self->redis_host) {
        store = geak_store_new (self->redis_host, self->redis_port, NULL, 0, &rc);
        const char *prefix = geak_config_str ("GEAK_REDIS_PREFIX", NULL);
        if (store && prefix && geak_store_set_prefix (store, prefix) != GEAK_OK)
            geak_store_destroy (&store);
    }
    else
        store = geak_store_new_from_env (&rc);
    if (!store) {
        if (!atomic_exchange (&self->store_warned, true))
            geak_warn ("role_store_unavailable", "role=%s thread=%d code=%s prompts=not_kept",
                       self->role, thread, geak_rc_name (rc));
        return NULL;
    }
    self->stores [thread] = store;
    return store;
}

void
geak_role_new_attempt_id (char id [33])
{
    geak_random_hex (id, 32);
}

//  Store one text blob; "" in ref when not kept.
static void
s_keep (geak_role_t *self, geak_store_t *store, const char *what, const char *text,
        char ref [GEAK_STORE_REF_SIZE])
{
    ref [0] = '\0';
    if (!store || !text)
        return;
    geak_rc_t rc = geak_store_blob_put_content (store, text, strlen (text), ref);
    if (rc != GEAK_OK) {
        ref [0] = '\0';
        geak_warn ("role_blob_put_failed", "role=%s what=%s code=%s", self->role, what,
                   geak_rc_name (rc));
    }
}

//  The memo of one request: the blob name it lives under (a hash of the
//  request id, so any id makes a valid name).
static void
s_memo_name (const char *request_id, char name [GEAK_STORE_REF_SIZE + 8])
{
    char hex [GEAK_STORE_REF_SIZE];
    geak_store_sha256_hex (request_id, strlen (request_id), hex);
    snprintf (name, GEAK_STORE_REF_SIZE + 8, "memo-%s", hex);
}

//  A reply this role already gave to request_id: GEAK_OK with *reply, the
//  usage it cost then and its refs; anything else means "ask the LLM".
static geak_rc_t
s_memo_get (geak_role_t *self, geak_store_t *store, const char *request_id, char **reply,
            Geak__LlmUsage *usage, char prompt_ref [GEAK_STORE_REF_SIZE],
            char reply_ref [GEAK_STORE_REF_SIZE])
{
    char name [GEAK_STORE_REF_SIZE + 8];
    s_memo_name (request_id, name);
    void *data = NULL;
    size_t size = 0;
    geak_rc_t rc = geak_store_blob_get (store, name, &data, &size);
    if (rc != GEAK_OK)
        return rc;
    unsigned long long tokens_in = 0, tokens_out = 0, reasoning = 0;
    double latency_ms = 0;
    unsigned retries = 0, truncated = 0, max_tokens = 0, requests = 0;
    char pref [GEAK_STORE_REF_SIZE], rref [GEAK_STORE_REF_SIZE], finish [24] = "";
    int fields = sscanf (data, "v2 %64s %64s %llu %llu %lf %u %u %u %llu %u %23s", pref, rref,
                         &tokens_in, &tokens_out, &latency_ms, &retries, &truncated, &max_tokens,
                         &reasoning, &requests, finish);
    if (fields < 6)
        fields = sscanf (data, "v1 %64s %64s %llu %llu %lf %u", pref, rref, &tokens_in,
                         &tokens_out, &latency_ms, &retries);
    free (data);
    if (fields < 6 || strlen (rref) != GEAK_STORE_REF_SIZE - 1) {
        geak_warn ("role_memo_invalid", "role=%s request=%s", self->role, request_id);
        return GEAK_E_MALFORMED;
    }
    usage->finish_reason = (char *) geak_llm_wire_finish_static (finish);
    usage->truncated = truncated != 0;
    usage->max_tokens = max_tokens;
    usage->reasoning_tokens = reasoning;
    usage->requests = requests;
    rc = geak_store_blob_get (store, rref, &data, &size);
    if (rc != GEAK_OK)
        return rc;
    *reply = data;
    usage->tokens_in = tokens_in;
    usage->tokens_out = tokens_out;
    usage->latency_ms = latency_ms;
    usage->retries = retries;
    snprintf (prompt_ref, GEAK_STORE_REF_SIZE, "%s", strcmp (pref, "-") ? pref : "");
    snprintf (reply_ref, GEAK_STORE_REF_SIZE, "%s", rref);
    return GEAK_OK;
}

static void
s_memo_put (geak_role_t *self, geak_store_t *store, const char *request_id,
            const Geak__LlmUsage *usage, const char *prompt_ref, const char *reply_ref)
{
    char name [GEAK_STORE_REF_SIZE + 8];
    s_memo_name (request_id, name);
    char *memo = geak_strdupf ("v2 %s %s %llu %llu %.3f %u %u %u %llu %u %s\n",
                               *prompt_ref ? prompt_ref : "-", reply_ref,
                               (unsigned long long) usage->tokens_in,
                               (unsigned long long) usage->tokens_out, usage->latency_ms,
                               usage->retries, (unsigned) usage->truncated, usage->max_tokens,
                               (unsigned long long) usage->reasoning_tokens, usage->requests,
                               usage->finish_reason && *usage->finish_reason
                               ? usage->finish_reason : "-");
    geak_rc_t rc = geak_store_blob_put (store, name, memo, strlen (memo));
    if (rc != GEAK_OK)
        geak_warn ("role_memo_put_failed", "role=%s request=%s code=%s", self->role, request_id,
                   geak_rc_name (rc));
    free (memo);
}

geak_rc_t
geak_role_ask (geak_role_t *self, int thread, const geak_role_ask_t *ask, char **reply,
               Geak__LlmUsage *usage, char prompt_ref [GEAK_STORE_REF_SIZE],
               char reply_ref [GEAK_STORE_REF_SIZE], char **error)
{
    assert (self && ask && reply && usage && error);
    *reply = NULL;
    *error = NULL;
    prompt_ref [0] = reply_ref [0] = '\0';
    Geak__LlmUsage init = GEAK__LLM_USAGE__INIT;
    *usage = init;
    if (!self->llm) {
        *error = geak_strdup ("this implementation has no LLM client");
        return GEAK_E_UNSUPPORTED;
    }
    geak_store_t *store = geak_role_store (self, thread);
    bool memo = store && ask->request_id && *ask->request_id;
    if (memo && s_memo_get (self, store, ask->request_id, reply, usage, prompt_ref,
                            reply_ref) == GEAK_OK) {
        usage->provider = (char *) geak_llm_provider_name (geak_llm_provider (self->llm));
        usage->model = (char *) geak_llm_model (self->llm);
        geak_info ("role_reply_memo", "role=%s request=%s reply_ref=%s", self->role,
                   ask->request_id, reply_ref);
        return GEAK_OK;
    }
    char *record = geak_prompt_record_json (self->role, ask->task, ask->sample, ask->iteration,
                                            geak_llm_provider_name (geak_llm_provider (self->llm)),
                                            geak_llm_model (self->llm), ask->system, ask->user);
    s_keep (self, store, "prompt", record, prompt_ref);
    free (record);

    geak_llm_request_t request = {
        .system = ask->system, .user = ask->user, .temperature = -1,
        .role = self->role, .task = ask->task, .instruction = ask->instruction,
        .sample = ask->sample, .iteration = ask->iteration, .samples = 1,
    };
    if (ask->options) {
        if (ask->options->temperature > 0)
            request.temperature = ask->options->temperature;
        request.max_tokens = ask->options->max_tokens;
    }
    //  parallel scaling: samples of one prompt share an n-choice call (geak_choices.h)
    const geak_llm_config_t *config = geak_llm_config (self->llm);
    size_t n = (size_t) config->samples;
    char key [GEAK_STORE_REF_SIZE] = "";
    geak_choices_claim_t claim = GEAK_CHOICES_ALONE;
    if (ask->share && n > 1 && config->provider == GEAK_LLM_OPENAI) {
        char *id = geak_strdupf ("%s\x1f%s\x1f%u\x1f%zu\x1f%zu\x1f%s\x1f%s",
                                 ask->run_id ? ask->run_id : "", ask->task ? ask->task : "",
                                 ask->iteration, (size_t) ask->sample / n, n,
                                 ask->system ? ask->system : "", ask->user);
        geak_store_sha256_hex (id, strlen (id), key);
        free (id);
        char *shared = NULL;
        claim = geak_choices_claim (self->choices, key, n, ask->sample % n,
                                    config->timeout_ms * (config->max_retries + 1), &shared);
        if (claim == GEAK_CHOICES_TAKEN) {
            //  another sample's call answered this one: its tokens are counted there
            *reply = shared;
            usage->provider = (char *) geak_llm_provider_name (config->provider);
            usage->model = (char *) geak_llm_model (self->llm);
            usage->finish_reason = (char *) "stop";
            s_keep (self, store, "reply", *reply, reply_ref);
            if (memo && *reply_ref)
                s_memo_put (self, store, ask->request_id, usage, prompt_ref, reply_ref);
            geak_info ("role_reply_shared", "role=%s task=%s sample=%u block=%zu n=%zu", self->role,
                       ask->task ? ask->task : "-", ask->sample, (size_t) ask->sample / n, n);
            return GEAK_OK;
        }
        if (claim == GEAK_CHOICES_CALL)
            request.samples = (uint32_t) n;
    }
    geak_llm_result_t result;
    geak_rc_t rc = geak_llm_complete (self->llm, &request, &result, error);
    *usage = result.usage;
    if (claim == GEAK_CHOICES_CALL) {
        if (rc == GEAK_OK && !result.truncated)
            geak_choices_fill (self->choices, key, ask->sample % n, result.texts, result.count);
        else
            geak_choices_fail (self->choices, key);
    }
    if (rc == GEAK_OK) {
        size_t mine = claim == GEAK_CHOICES_CALL && ask->sample % n < result.count ? ask->sample % n : 0;
        *reply = result.texts [mine];
        result.texts [mine] = geak_strdup ("");
        s_keep (self, store, "reply", *reply, reply_ref);
        if (memo && *reply_ref)
            s_memo_put (self, store, ask->request_id, usage, prompt_ref, reply_ref);
    }
    geak_llm_result_clear (&result);
    return rc;
}

geak_rc_t
geak_role_pack_reply (const Geak__Envelope *request, const char *sender, Geak__Candidate *candidate,
                      Geak__ErrorClass error_class, const char *error_message,
                      uint8_t **data, size_t *size)
{
    Geak__RoleReply reply = GEAK__ROLE_REPLY__INIT;
    reply.candidate = candidate;
    reply.error_class = error_class;
    reply.error_message = (char *) (error_message ? error_message : "");
    Geak__Envelope env;
    geak_proto_envelope_init (&env, request->request_id, 0, sender);
    env.body_case = GEAK__ENVELOPE__BODY_ROLE_REPLY;
    env.role_reply = &reply;
    return geak_proto_pack (&env, data, size);
}

geak_rc_t
geak_role_answer (geak_role_t *self, int thread, const Geak__Envelope *request,
                  const geak_role_ask_t *ask, Geak__Lineage *lineage, size_t prose_max,
                  const char *event, const char *detail,
                  uint8_t **reply_data, size_t *reply_size, char **error_message)
{
    char *reply = NULL;
    char prompt_ref [GEAK_STORE_REF_SIZE], reply_ref [GEAK_STORE_REF_SIZE];
    Geak__LlmUsage usage;
    geak_role_ask_t with_id = *ask;
    with_id.request_id = request->request_id;
    geak_rc_t rc = geak_role_ask (self, thread, &with_id, &reply, &usage, prompt_ref, reply_ref,
                                  error_message);
    if (rc != GEAK_OK)
        return rc;
    size_t reply_len = strlen (reply);
    geak_extract_kind_t kind;
    char *code = geak_extract_code (reply, reply_len, &kind);
    char *prose = prose_max ? geak_extract_prose (reply, reply_len, prose_max) : NULL;
    char attempt_id [33];
    geak_role_new_attempt_id (attempt_id);
    Geak__Candidate candidate = GEAK__CANDIDATE__INIT;
    candidate.attempt_id = attempt_id;
    candidate.code = code ? code : "";
    candidate.lineage = lineage;
    candidate.usage = &usage;
    candidate.prompt_ref = prompt_ref;
    candidate.reply_ref = reply_ref;
    candidate.diagnosis = prose ? prose : "";
    candidate.example = (char *) (ask->example ? ask->example : "");
    geak_info (event, "task=%s sample=%u iteration=%u parent=%s attempt=%s impl=%s extract=%s "
               "code_bytes=%zu prose_bytes=%zu tokens_in=%llu tokens_out=%llu retries=%u "
               "finish=%s truncated=%d%s%s",
               lineage->task, lineage->sample, lineage->iteration, lineage->parent_attempt,
               attempt_id, lineage->implementation, geak_extract_kind_name (kind),
               code ? strlen (code) : 0, prose ? strlen (prose) : 0,
               (unsigned long long) usage.tokens_in, (unsigned long long) usage.tokens_out,
               usage.retries, usage.finish_reason ? usage.finish_reason : "",
               (int) usage.truncated, detail ? " " : "", detail ? detail : "");
    Geak__ErrorClass error_class = code ? GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED
                                        : GEAK__ERROR_CLASS__NO_CODE;
    char *why = code ? NULL : geak_strdup ("the LLM reply held no usable code");
    if (usage.truncated) {
        //  cut off at the cap: whatever code it holds is incomplete; not evaluated
        error_class = GEAK__ERROR_CLASS__TRUNCATED;
        free (why);
        why = geak_strdupf ("the LLM reply was cut off at its token cap (max_tokens=%u, "
                            "finish_reason=length, %llu tokens out, %u requests); %s. Answer again "
                            "with complete code and less explanation",
                            usage.max_tokens, (unsigned long long) usage.tokens_out, usage.requests,
                            code ? "the code in it is incomplete and was not evaluated"
                                 : "it held no code");
    }
    rc = geak_role_pack_reply (request, geak_role_name (self), &candidate, error_class, why,
                               reply_data, reply_size);
    free (why);
    free (code);
    free (prose);
    free (reply);
    return rc;
}

int
geak_role_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    int fails = 0;
    char *host = NULL;
    int port = 0;
    fails += s_parse_hostport ("10.0.0.1:7000", &host, &port) != GEAK_OK
          || strcmp (host, "10.0.0.1") || port != 7000;
    free (host);
    fails += s_parse_hostport (":7001", &host, &port) != GEAK_OK || strcmp (host, "127.0.0.1")
          || port != 7001;
    free (host);
    host = NULL;
    fails += s_parse_hostport ("h:0", &host, &port) != GEAK_E_CONFIG || host != NULL;
    char id [33];
    geak_role_new_attempt_id (id);
    fails += strlen (id) != 32;
    return fails;
}
