/*  geak_llm.c - the LLM client: request shaping, HTTP (whole or streamed),
    retries, permanent-error classification, token accounting, a run
    budget, a pre-scan endpoint check, and replay. */
#include "geak_prelude.h"
#include "geak_llm.h"
#include "geak_llm_wire.h"
#include "geak_sse.h"
#include "geak_config.h"
#include "geak_log.h"
#include "geak_replay.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <time.h>

#define LLM_BODY_MAX        (32u * 1024u * 1024u)
#define LLM_EVENT_MAX       (4u * 1024u * 1024u)
#define LLM_CHECK_TOTAL_MS  20000L
#define LLM_CEILING_DEFAULT 65536L

struct geak_llm_t {
    geak_llm_config_t config;
    const geak_llm_wire_t *wire;    //  NULL for replay
    char *url;                      //  the completion endpoint
    char *url_public;               //  the same for messages
    geak_replay_t *replay;
    //  counting semaphore: requests in flight
    pthread_mutex_t lock;
    pthread_cond_t freed;
    long in_flight;
    //  budget
    atomic_uint_fast64_t calls_used;
    atomic_uint_fast64_t tokens_used;
    atomic_bool budget_logged;
    //  GEAK_LLM_RECORD
    pthread_mutex_t record_lock;
    FILE *record;
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s_curl_init_rc = CURLE_OK;

static void
s_curl_global_init (void)
{
    s_curl_init_rc = curl_global_init (CURL_GLOBAL_DEFAULT);
}

const char *
geak_llm_provider_name (geak_llm_provider_t provider)
{
    switch (provider) {
        case GEAK_LLM_OPENAI:    return "openai";
        case GEAK_LLM_ANTHROPIC: return "anthropic";
        case GEAK_LLM_REPLAY:    return "replay";
    }
    return "unknown";
}

// ---------------------------------------------------------------- config

void
geak_llm_config_defaults (geak_llm_config_t *config)
{
    assert (config);
    memset (config, 0, sizeof *config);
    config->provider = GEAK_LLM_OPENAI;
    geak_llm_policy_defaults (&config->policy);
    config->timeout_ms = 600000;
    config->idle_timeout_ms = 60000;
    config->connect_timeout_ms = 10000;
    config->max_retries = 4;
    config->backoff_ms = 500;
    config->backoff_max_ms = 30000;
    config->concurrency = 8;
    config->samples = 1;
    config->truncation_retries = 1;
}

void
geak_llm_config_clear (geak_llm_config_t *config)
{
    if (!config)
        return;
    free (config->base_url);
    if (config->api_key) {
        memset (config->api_key, 0, strlen (config->api_key));
        free (config->api_key);
    }
    free (config->model);
    free (config->replay_path);
    free (config->record_path);
    free (config->ca_file);
    memset (config, 0, sizeof *config);
}

//  One of a list of words, or GEAK_E_CONFIG naming the variable
static geak_rc_t
s_config_word (const char *name, const char *const *words, int count, int *value, char **error)
{
    const char *text = geak_config_str (name, NULL);
    if (!text)
        return GEAK_OK;
    for (int i = 0; i < count; i++)
        if (strcmp (text, words [i]) == 0) {
            *value = i;
            return GEAK_OK;
        }
    char list [200] = "";
    for (int i = 0; i < count; i++)
        snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", i ? ", " : "", words [i]);
    *error = geak_strdupf ("%s must be one of %s, not '%.40s'", name, list, text);
    return GEAK_E_CONFIG;
}

static geak_rc_t
s_config_policy (geak_llm_policy_t *policy, char **error)
{
    static const char *families [] = { "auto", "chat", "reasoning" };
    static const char *params [] = { "auto", "max_tokens", "max_completion_tokens" };
    int family = (int) policy->family, param = (int) policy->token_param;
    if (s_config_word ("GEAK_LLM_FAMILY", families, 3, &family, error) != GEAK_OK
    ||  s_config_word ("GEAK_LLM_TOKEN_PARAM", params, 3, &param, error) != GEAK_OK)
        return GEAK_E_CONFIG;
    policy->family = (geak_llm_family_t) family;
    policy->token_param = (geak_llm_token_param_t) param;
    const char *temperature = geak_config_str ("GEAK_LLM_TEMPERATURE", NULL);
    if (temperature && (strcmp (temperature, "omit") == 0 || strcmp (temperature, "none") == 0))
        policy->temperature_omit = true;
    else
    if (temperature) {
        char *end = NULL;
        errno = 0;
        double value = strtod (temperature, &end);
        if (errno || end == temperature || *end || !(value >= 0 && value <= 2)) {
            *error = geak_strdupf ("GEAK_LLM_TEMPERATURE must be a number in [0, 2] or 'omit'");
            return GEAK_E_CONFIG;
        }
        policy->temperature = value;
        policy->temperature_set = true;
    }
    const char *effort = geak_config_str ("GEAK_LLM_REASONING_EFFORT", NULL);
    if (effort) {
        size_t n = strlen (effort);
        bool ok = n > 0 && n < sizeof policy->reasoning_effort;
        for (size_t i = 0; ok && i < n; i++)
            ok = (effort [i] >= 'a' && effort [i] <= 'z') || effort [i] == '_';
        if (!ok) {
            *error = geak_strdupf ("GEAK_LLM_REASONING_EFFORT must be a word such as minimal, low, "
                                   "medium or high");
            return GEAK_E_CONFIG;
        }
        snprintf (policy->reasoning_effort, sizeof policy->reasoning_effort, "%s", effort);
    }
    long stream = policy->stream;
    if (geak_config_int ("GEAK_LLM_STREAM", stream, 0, 1, &stream) != GEAK_OK) {
        *error = geak_strdupf ("GEAK_LLM_STREAM must be 0 or 1");
        return GEAK_E_CONFIG;
    }
    policy->stream = stream != 0;
    return GEAK_OK;
}

//  The CA bundle: GEAK_LLM_CA_FILE, else the standard variables; readable
static geak_rc_t
s_config_ca (geak_llm_config_t *config, char **error)
{
    const char *names [] = { "GEAK_LLM_CA_FILE", "CURL_CA_BUNDLE", "SSL_CERT_FILE" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        const char *path = geak_config_str (names [i], NULL);
        if (!path)
            continue;
        if (access (path, R_OK) != 0) {
            *error = geak_strdupf ("%s=%s cannot be read (%s)", names [i], path, strerror (errno));
            return GEAK_E_CONFIG;
        }
        config->ca_file = geak_strdup (path);
        return GEAK_OK;
    }
    return GEAK_OK;
}

geak_rc_t
geak_llm_config_from_env (geak_llm_config_t *config, char **error)
{
    assert (config && error);
    *error = NULL;
    geak_llm_config_defaults (config);
    static const char *providers [] = { "openai", "anthropic", "replay" };
    int provider = GEAK_LLM_OPENAI;
    if (s_config_word ("GEAK_LLM_PROVIDER", providers, 3, &provider, error) != GEAK_OK)
        return GEAK_E_CONFIG;
    config->provider = (geak_llm_provider_t) provider;
    static const char *auths [] = { "auto", "bearer", "api-key", "x-api-key" };
    int auth = GEAK_LLM_AUTH_AUTO;
    if (s_config_word ("GEAK_LLM_AUTH", auths, 4, &auth, error) != GEAK_OK)
        return GEAK_E_CONFIG;
    config->auth = (geak_llm_auth_t) auth;
    static const struct {
        const char *name;
        size_t offset;
        long min, max;
    } ints [] = {
        { "GEAK_LLM_TIMEOUT_MS", offsetof (geak_llm_config_t, timeout_ms), 1, 24 * 3600000L },
        { "GEAK_LLM_IDLE_TIMEOUT_MS", offsetof (geak_llm_config_t, idle_timeout_ms), 0, 24 * 3600000L },
        { "GEAK_LLM_CONNECT_TIMEOUT_MS", offsetof (geak_llm_config_t, connect_timeout_ms), 1, 600000 },
        { "GEAK_LLM_MAX_RETRIES", offsetof (geak_llm_config_t, max_retries), 0, 100 },
        { "GEAK_LLM_BACKOFF_MS", offsetof (geak_llm_config_t, backoff_ms), 0, 600000 },
        { "GEAK_LLM_BACKOFF_MAX_MS", offsetof (geak_llm_config_t, backoff_max_ms), 0, 3600000 },
        { "GEAK_LLM_CONCURRENCY", offsetof (geak_llm_config_t, concurrency), 1, 1024 },
        { "GEAK_LLM_SAMPLES", offsetof (geak_llm_config_t, samples), 1, GEAK_LLM_SAMPLES_MAX },
        { "GEAK_LLM_TRUNCATION_RETRIES", offsetof (geak_llm_config_t, truncation_retries), 0, 8 },
        { "GEAK_LLM_MAX_TOKENS_CEILING", offsetof (geak_llm_config_t, max_tokens_ceiling), 0, 10000000 },
        { "GEAK_LLM_BUDGET_TOKENS", offsetof (geak_llm_config_t, budget_tokens), 0, LONG_MAX },
        { "GEAK_LLM_BUDGET_CALLS", offsetof (geak_llm_config_t, budget_calls), 0, LONG_MAX },
        { "GEAK_LLM_MAX_TOKENS", offsetof (geak_llm_config_t, policy.max_tokens), 1, 10000000 },
        { "GEAK_LLM_THINKING_BUDGET", offsetof (geak_llm_config_t, policy.thinking_budget), 0, 10000000 },
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints [0]; i++) {
        long *slot = (long *) ((char *) config + ints [i].offset);
        if (geak_config_int (ints [i].name, *slot, ints [i].min, ints [i].max, slot) != GEAK_OK) {
            *error = geak_strdupf ("%s must be an integer in [%ld, %ld]",
                               ints [i].name, ints [i].min, ints [i].max);
            return GEAK_E_CONFIG;
        }
    }
    if (config->policy.thinking_budget > 0 && config->policy.thinking_budget < 1024) {
        *error = geak_strdupf ("GEAK_LLM_THINKING_BUDGET must be 0 (off) or at least 1024 "
                               "(Anthropic's minimum)");
        return GEAK_E_CONFIG;
    }
    if (s_config_policy (&config->policy, error) != GEAK_OK)
        return GEAK_E_CONFIG;
    const char *record = geak_config_str ("GEAK_LLM_RECORD", NULL);
    if (record)
        config->record_path = geak_strdup (record);
    if (config->provider == GEAK_LLM_REPLAY) {
        const char *path = geak_config_str ("GEAK_LLM_REPLAY", NULL);
        if (!path) {
            *error = geak_strdupf ("GEAK_LLM_PROVIDER=replay needs GEAK_LLM_REPLAY=path.jsonl");
            return GEAK_E_CONFIG;
        }
        config->replay_path = geak_strdup (path);
        config->model = geak_strdup (geak_config_str ("GEAK_LLM_MODEL", "replay"));
        return GEAK_OK;
    }
    if (s_config_ca (config, error) != GEAK_OK)
        return GEAK_E_CONFIG;
    const char *base = geak_config_str ("GEAK_LLM_BASE_URL",
                                        config->provider == GEAK_LLM_OPENAI
                                        ? "https://api.openai.com/v1"
                                        : "https://api.anthropic.com");
    if (!strstr (base, "://")) {
        *error = geak_strdupf ("GEAK_LLM_BASE_URL must be an http:// or https:// URL");
        return GEAK_E_CONFIG;
    }
    config->base_url = geak_llm_wire_base (config->provider == GEAK_LLM_ANTHROPIC, base);
    const char *model = geak_config_str ("GEAK_LLM_MODEL", NULL);
    if (!model) {
        *error = geak_strdupf ("GEAK_LLM_MODEL is not set");
        return GEAK_E_CONFIG;
    }
    config->model = geak_strdup (model);
    geak_rc_t rc;
    config->api_key = geak_config_secret ("GEAK_LLM_API_KEY", &rc);
    if (!config->api_key) {
        *error = geak_strdupf (rc == GEAK_E_IO ? "GEAK_LLM_API_KEY_FILE cannot be read"
                                           : "GEAK_LLM_API_KEY (or GEAK_LLM_API_KEY_FILE) is not set");
        return GEAK_E_CONFIG;
    }
    geak_log_add_secret (config->api_key);
    return GEAK_OK;
}

// ---------------------------------------------------------------- lifecycle

geak_llm_t *
geak_llm_new (geak_llm_config_t *config, geak_rc_t *rc)
{
    assert (config && rc);
    if ((config->provider != GEAK_LLM_REPLAY && (!config->base_url || !config->model
                                                 || !config->api_key))
    ||  (config->provider == GEAK_LLM_REPLAY && !config->replay_path)
    ||  config->concurrency < 1 || config->samples < 1 || config->samples > GEAK_LLM_SAMPLES_MAX) {
        *rc = GEAK_E_CONFIG;
        return NULL;
    }
    pthread_once (&s_curl_once, s_curl_global_init);
    if (s_curl_init_rc != CURLE_OK) {
        *rc = GEAK_E_INTERNAL;
        return NULL;
    }
    geak_llm_t *self = geak_malloc0 (sizeof *self);
    self->config = *config;
    memset (config, 0, sizeof *config);
    if (self->config.api_key)
        geak_log_add_secret (self->config.api_key);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->freed, NULL);
    pthread_mutex_init (&self->record_lock, NULL);
    atomic_init (&self->calls_used, 0);
    atomic_init (&self->tokens_used, 0);
    atomic_init (&self->budget_logged, false);
    if (self->config.provider != GEAK_LLM_REPLAY) {
        self->wire = self->config.provider == GEAK_LLM_ANTHROPIC ? &geak_llm_wire_anthropic
                                                                 : &geak_llm_wire_openai;
        //  the query string (Azure's api-version) goes after the path
        const char *base = self->config.base_url;
        const char *query = strchr (base, '?');
        size_t head = query ? (size_t) (query - base) : strlen (base);
        self->url = geak_strdupf ("%.*s%s%s", (int) head, base, self->wire->path, query ? query : "");
        self->url_public = geak_llm_wire_url_public (self->url);
        if (self->config.auth == GEAK_LLM_AUTH_AUTO)
            self->config.auth = self->config.provider == GEAK_LLM_ANTHROPIC ? GEAK_LLM_AUTH_X_API_KEY
                              : strstr (base, ".openai.azure.com") ? GEAK_LLM_AUTH_API_KEY
                              : GEAK_LLM_AUTH_BEARER;
    }
    if (self->config.provider == GEAK_LLM_REPLAY) {
        self->replay = geak_replay_load (self->config.replay_path, rc);
        if (!self->replay) {
            geak_error ("llm_replay_load_failed", "path=%s code=%s",
                        self->config.replay_path, geak_rc_name (*rc));
            geak_llm_destroy (&self);
            return NULL;
        }
    }
    if (self->config.record_path) {
        self->record = fopen (self->config.record_path, "a");
        if (!self->record) {
            geak_error ("llm_record_open_failed", "path=%s errno=%d", self->config.record_path, errno);
            *rc = GEAK_E_IO;
            geak_llm_destroy (&self);
            return NULL;
        }
    }
    const geak_llm_policy_t *p = &self->config.policy;
    geak_info ("llm_ready", "provider=%s model=%s url=%s family=%s stream=%d concurrency=%ld "
               "timeout_ms=%ld idle_timeout_ms=%ld max_retries=%ld ca_file=%s budget_tokens=%ld "
               "budget_calls=%ld replay=%zu",
               geak_llm_provider_name (self->config.provider), self->config.model,
               self->url_public ? self->url_public : "-",
               geak_llm_family_name (p->family != GEAK_LLM_FAMILY_AUTO ? p->family
                   : geak_llm_family_of (self->config.provider == GEAK_LLM_ANTHROPIC, self->config.model)),
               (int) p->stream, self->config.concurrency, self->config.timeout_ms,
               self->config.idle_timeout_ms, self->config.max_retries,
               self->config.ca_file ? self->config.ca_file : "default", self->config.budget_tokens,
               self->config.budget_calls, geak_replay_size (self->replay));
    *rc = GEAK_OK;
    return self;
}

geak_llm_t *
geak_llm_new_from_env (geak_rc_t *rc)
{
    assert (rc);
    geak_llm_config_t config;
    char *error = NULL;
    *rc = geak_llm_config_from_env (&config, &error);
    if (*rc != GEAK_OK) {
        geak_error ("llm_config_invalid", "error=\"%s\"", error ? error : "?");
        free (error);
        geak_llm_config_clear (&config);
        return NULL;
    }
    geak_llm_t *self = geak_llm_new (&config, rc);
    geak_llm_config_clear (&config);
    return self;
}

void
geak_llm_destroy (geak_llm_t **self_p)
{
    assert (self_p);
    geak_llm_t *self = *self_p;
    if (!self)
        return;
    geak_replay_destroy (&self->replay);
    if (self->record)
        fclose (self->record);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->freed);
    pthread_mutex_destroy (&self->record_lock);
    geak_llm_config_clear (&self->config);
    free (self->url);
    free (self->url_public);
    free (self);
    *self_p = NULL;
}

geak_llm_provider_t
geak_llm_provider (const geak_llm_t *self)
{
    return self->config.provider;
}

const char *
geak_llm_model (const geak_llm_t *self)
{
    return self->config.model;
}

const geak_llm_config_t *
geak_llm_config (const geak_llm_t *self)
{
    return &self->config;
}

uint64_t
geak_llm_calls_used (geak_llm_t *self)
{
    return atomic_load (&self->calls_used);
}

uint64_t
geak_llm_tokens_used (geak_llm_t *self)
{
    return atomic_load (&self->tokens_used);
}

void
geak_llm_result_clear (geak_llm_result_t *result)
{
    if (!result)
        return;
    for (size_t i = 0; i < result->count; i++)
        free (result->texts [i]);
    free (result->texts);
    memset (result, 0, sizeof *result);
    Geak__LlmUsage init = GEAK__LLM_USAGE__INIT;
    result->usage = init;
}

static void
s_result_drop_texts (geak_llm_result_t *result)
{
    for (size_t i = 0; i < result->count; i++)
        free (result->texts [i]);
    free (result->texts);
    result->texts = NULL;
    result->count = 0;
}

long
geak_llm_backoff_ms (int attempt, long base_ms, long max_ms, long retry_after_s, double r)
{
    if (max_ms < 0)
        max_ms = 0;
    if (retry_after_s >= 0) {
        long cap = max_ms > 15000 ? max_ms * 4 : 60000;
        long wanted = retry_after_s > LONG_MAX / 1000 ? LONG_MAX : retry_after_s * 1000;
        return wanted < cap ? wanted : cap;
    }
    long delay = base_ms < 0 ? 0 : base_ms;
    for (int i = 0; i < attempt && delay < max_ms; i++)
        delay = delay > max_ms / 2 ? max_ms : delay * 2;
    if (delay > max_ms)
        delay = max_ms;
    if (r < 0 || r >= 1)
        r = 0;
    return delay / 2 + (long) ((double) (delay - delay / 2) * r);
}

bool
geak_llm_status_retryable (long status)
{
    return status == 408 || status == 409 || status == 425 || status == 429
        || (status >= 500 && status <= 599);
}

// ---------------------------------------------------------------- HTTP

//  One transfer: the body as it arrives, streamed or whole.
typedef struct {
    const geak_llm_wire_t *wire;
    geak_llm_reply_t reply;
    geak_sse_t *sse;
    int kind;                       //  0 before the first byte, 1 whole body, 2 event stream
    char *data;                     //  whole body (or the start of a stream, for errors)
    size_t size, alloc;
    bool overflow;
    geak_rc_t stream_rc;            //  the first event that failed
    long retry_after_s;
    bool event_stream;              //  Content-Type: text/event-stream
    int64_t started_ms, last_byte_ms;
    long idle_ms;
    bool idle_expired;
} s_xfer_t;

static geak_rc_t
s_on_event (void *arg, const char *event, const char *data, size_t size)
{
    s_xfer_t *x = (s_xfer_t *) arg;
    geak_rc_t rc = x->wire->event (&x->reply, event, data, size);
    if (rc != GEAK_OK && x->stream_rc == GEAK_OK)
        x->stream_rc = rc;
    //  an error event ends what we read; a bad event too
    return rc;
}

static bool
s_keep_bytes (s_xfer_t *x, const char *ptr, size_t n)
{
    if (x->size + n + 1 > LLM_BODY_MAX) {
        x->overflow = true;
        return false;
    }
    if (x->size + n + 1 > x->alloc) {
        size_t alloc = x->alloc ? x->alloc : 16384;
        while (alloc < x->size + n + 1)
            alloc *= 2;
        char *bigger = realloc (x->data, alloc);
        if (!bigger)
            return false;
        x->data = bigger;
        x->alloc = alloc;
    }
    memcpy (x->data + x->size, ptr, n);
    x->size += n;
    x->data [x->size] = '\0';
    return true;
}

static size_t
s_on_body (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_xfer_t *x = (s_xfer_t *) arg;
    size_t n = size * nmemb;
    x->last_byte_ms = geak_clock_mono_ms ();
    if (x->kind == 0)
        x->kind = x->event_stream && x->wire && x->wire->event ? 2 : 1;
    if (x->kind == 1)
        return s_keep_bytes (x, ptr, n) ? n : 0;
    //  a stream: keep its first bytes (an error page), parse events
    if (x->size < 4096)
        s_keep_bytes (x, ptr, n < 4096 - x->size ? n : 4096 - x->size);
    if (!x->sse)
        x->sse = geak_sse_new (LLM_EVENT_MAX, s_on_event, x);
    geak_rc_t rc = geak_sse_feed (x->sse, ptr, n);
    if (rc == GEAK_E_MALFORMED && x->stream_rc == GEAK_OK)
        x->stream_rc = GEAK_E_MALFORMED;
    //  an error event is the end of it; an event we cannot read too
    return rc == GEAK_OK ? n : 0;
}

static size_t
s_on_header (char *buffer, size_t size, size_t nitems, void *arg)
{
    s_xfer_t *x = (s_xfer_t *) arg;
    size_t n = size * nitems;
    x->last_byte_ms = geak_clock_mono_ms ();
    static const char retry [] = "retry-after:", type [] = "content-type:";
    if (n > sizeof retry - 1 && strncasecmp (buffer, retry, sizeof retry - 1) == 0) {
        char value [32];
        size_t len = n - (sizeof retry - 1);
        if (len >= sizeof value)
            len = sizeof value - 1;
        memcpy (value, buffer + sizeof retry - 1, len);
        value [len] = '\0';
        char *start = value;
        while (*start == ' ' || *start == '\t')
            start++;
        char *end = NULL;
        long seconds = strtol (start, &end, 10);
        if (end != start && seconds >= 0 && (*end == '\r' || *end == '\n' || *end == '\0'
                                             || *end == ' '))
            x->retry_after_s = seconds;
    }
    else
    if (n > sizeof type - 1 && strncasecmp (buffer, type, sizeof type - 1) == 0) {
        const char *v = buffer + sizeof type - 1;
        size_t len = n - (sizeof type - 1);
        while (len > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        x->event_stream = len >= 17 && strncasecmp (v, "text/event-stream", 17) == 0;
    }
    else
    if (n >= 5 && strncasecmp (buffer, "HTTP/", 5) == 0)
        //  a new response (after a 100 Continue or a redirect): headers start over
        x->event_stream = false;
    return n;
}

static int
s_on_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    GEAK_UNUSED (dltotal); GEAK_UNUSED (dlnow); GEAK_UNUSED (ultotal); GEAK_UNUSED (ulnow);
    s_xfer_t *x = (s_xfer_t *) arg;
    if (x->idle_ms > 0 && geak_clock_mono_ms () - x->last_byte_ms > x->idle_ms) {
        x->idle_expired = true;
        return 1;
    }
    return 0;
}

static double
s_random_unit (void)
{
    static __thread uint64_t state = 0;
    if (state == 0)
        state = (uint64_t) geak_clock_mono_us () ^ ((uint64_t) (uintptr_t) &state << 16) ^ 0x9e3779b97f4a7c15ULL;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double) (state >> 11) / (double) (1ULL << 53);
}

static void
s_sleep_ms (long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

//  The request headers; the key line is built here and zeroed by the caller
static struct curl_slist *
s_headers (const geak_llm_t *self, bool redacted, bool json_body)
{
    const char *key = redacted ? "<redacted>" : self->config.api_key;
    char *auth = self->config.auth == GEAK_LLM_AUTH_X_API_KEY ? geak_strdupf ("x-api-key: %s", key)
               : self->config.auth == GEAK_LLM_AUTH_API_KEY ? geak_strdupf ("api-key: %s", key)
               : geak_strdupf ("Authorization: Bearer %s", key);
    const char *lines [] = {
        json_body ? "Content-Type: application/json" : NULL,
        self->config.policy.stream && json_body ? "Accept: text/event-stream, application/json"
                                                : "Accept: application/json",
        "Expect:", auth,
        self->config.provider == GEAK_LLM_ANTHROPIC ? "anthropic-version: 2023-06-01" : NULL,
    };
    struct curl_slist *headers = NULL;
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof lines / sizeof lines [0]; i++) {
        if (!lines [i])
            continue;
        struct curl_slist *next = curl_slist_append (headers, lines [i]);
        if (!next)
            ok = false;
        else
            headers = next;
    }
    memset (auth, 0, strlen (auth));
    free (auth);
    if (!ok) {
        curl_slist_free_all (headers);
        return NULL;
    }
    return headers;
}

static bool
s_curl_cert_error (CURLcode crc)
{
    return crc == CURLE_PEER_FAILED_VERIFICATION || crc == CURLE_SSL_CACERT_BADFILE
        || crc == CURLE_SSL_CERTPROBLEM || crc == CURLE_SSL_ISSUER_ERROR
        || crc == CURLE_SSL_PINNEDPUBKEYNOTMATCH || crc == CURLE_SSL_INVALIDCERTSTATUS
        || crc == CURLE_SSL_CRL_BADFILE;
}

//  A transport failure no retry can mend: a certificate, a malformed URL
static bool
s_curl_refused (CURLcode crc)
{
    return s_curl_cert_error (crc) || crc == CURLE_URL_MALFORMAT || crc == CURLE_UNSUPPORTED_PROTOCOL;
}

//  One HTTP exchange (POST body, or GET when body is NULL). Fills x; returns
//  the curl code and *status.
static CURLcode
s_http (geak_llm_t *self, const char *url, const char *body, long total_ms, long connect_ms,
        s_xfer_t *x, long *status)
{
    const geak_llm_config_t *config = &self->config;
    *status = 0;
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = s_headers (self, false, body != NULL);
    if (!curl || !headers) {
        curl_slist_free_all (headers);
        if (curl)
            curl_easy_cleanup (curl);
        return CURLE_OUT_OF_MEMORY;
    }
    x->started_ms = x->last_byte_ms = geak_clock_mono_ms ();
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    if (body) {
        curl_easy_setopt (curl, CURLOPT_POST, 1L);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (body));
    }
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms < total_ms ? connect_ms : total_ms);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, x);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "geak-c/" GEAK_VERSION_STRING);
    curl_easy_setopt (curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt (curl, CURLOPT_TCP_KEEPALIVE, 1L);
    if (config->ca_file)
        curl_easy_setopt (curl, CURLOPT_CAINFO, config->ca_file);
    CURLcode crc = curl_easy_perform (curl);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    if (x->sse && crc == CURLE_OK && x->stream_rc == GEAK_OK) {
        geak_rc_t rc = geak_sse_finish (x->sse);
        if (rc != GEAK_OK && x->stream_rc == GEAK_OK)
            x->stream_rc = rc;
    }
    return crc;
}

static void
s_xfer_clear (s_xfer_t *x)
{
    geak_llm_reply_clear (&x->reply);
    geak_sse_destroy (&x->sse);
    free (x->data);
    memset (x, 0, sizeof *x);
}

// ---------------------------------------------------------------- budget

static geak_rc_t
s_budget_take_call (geak_llm_t *self, char **error)
{
    const geak_llm_config_t *config = &self->config;
    uint64_t tokens = atomic_load (&self->tokens_used);
    bool spent = config->budget_tokens > 0 && tokens >= (uint64_t) config->budget_tokens;
    if (!spent && config->budget_calls > 0) {
        uint64_t calls = atomic_fetch_add (&self->calls_used, 1);
        if (calls >= (uint64_t) config->budget_calls) {
            atomic_fetch_sub (&self->calls_used, 1);
            spent = true;
        }
    }
    else
    if (!spent)
        atomic_fetch_add (&self->calls_used, 1);
    if (!spent)
        return GEAK_OK;
    if (!atomic_exchange (&self->budget_logged, true))
        geak_warn ("llm_budget_exhausted", "calls_used=%llu budget_calls=%ld tokens_used=%llu "
                   "budget_tokens=%ld action=refusing_new_llm_work",
                   (unsigned long long) atomic_load (&self->calls_used), config->budget_calls,
                   (unsigned long long) tokens, config->budget_tokens);
    *error = geak_strdupf ("LLM run budget exhausted (calls %llu/%ld, tokens %llu/%ld)",
                       (unsigned long long) atomic_load (&self->calls_used), config->budget_calls,
                       (unsigned long long) tokens, config->budget_tokens);
    return GEAK_E_BUDGET;
}

static void
s_slot_acquire (geak_llm_t *self)
{
    pthread_mutex_lock (&self->lock);
    while (self->in_flight >= self->config.concurrency)
        pthread_cond_wait (&self->freed, &self->lock);
    self->in_flight++;
    pthread_mutex_unlock (&self->lock);
}

static void
s_slot_release (geak_llm_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->in_flight--;
    pthread_cond_signal (&self->freed);
    pthread_mutex_unlock (&self->lock);
}

// ---------------------------------------------------------------- calls

//  The tokens one try cost, into the result (estimated when a stream was
//  cut before the server said)
static void
s_count_tokens (geak_llm_result_t *result, const s_xfer_t *x, size_t prompt_bytes)
{
    if (x->reply.usage_seen) {
        result->usage.tokens_in += x->reply.tokens_in;
        result->usage.tokens_out += x->reply.tokens_out;
        result->usage.reasoning_tokens += x->reply.reasoning_tokens;
        return;
    }
    size_t text = 0;
    for (size_t i = 0; i < x->reply.count; i++)
        text += x->reply.text_len [i];
    if (x->kind == 2 && (text > 0 || x->reply.count > 0)) {
        //  the server did generate: it will bill what it sent
        result->usage.tokens_in += (prompt_bytes + 3) / 4;
        result->usage.tokens_out += (text + 3) / 4;
        result->usage.tokens_estimated = true;
    }
}

//  One provider call with retries. On GEAK_OK result->texts holds the
//  choices and result->truncated says whether one was cut off.
static geak_rc_t
s_call_http (geak_llm_t *self, const geak_llm_request_t *request, const geak_llm_shape_t *shape,
             geak_llm_result_t *result, char **error)
{
    const geak_llm_config_t *config = &self->config;
    char *body = self->wire->body (shape);
    if (!body) {
        *error = geak_strdupf ("could not build the request body");
        return GEAK_E_NOMEM;
    }
    size_t prompt_bytes = strlen (shape->user) + (shape->system ? strlen (shape->system) : 0);
    geak_rc_t rc = GEAK_E_LLM;
    for (long attempt = 0; ; attempt++) {
        s_xfer_t x = { .wire = self->wire, .retry_after_s = -1,
                       .idle_ms = shape->stream ? config->idle_timeout_ms : 0 };
        long status = 0;
        s_slot_acquire (self);
        CURLcode crc = s_http (self, self->url, body, config->timeout_ms, config->connect_timeout_ms,
                               &x, &status);
        s_slot_release (self);
        result->usage.requests++;
        result->http_status = status;
        s_count_tokens (result, &x, prompt_bytes);
        bool retryable = false;
        free (*error);
        *error = NULL;
        if (crc != CURLE_OK && x.stream_rc == GEAK_E_LLM) {
            //  an error event inside the stream (overloaded, ...)
            *error = geak_strdupf ("POST %s: HTTP %ld, the stream carried an error: %s",
                                   self->url_public, status, x.reply.error ? x.reply.error : "?");
            retryable = true;
            rc = GEAK_E_LLM;
        }
        else
        if (crc != CURLE_OK) {
            //  transport failure: connection, timeout, cut-off body or stream
            bool cert = s_curl_cert_error (crc);
            bool total = crc == CURLE_OPERATION_TIMEDOUT && !x.idle_expired && status != 0;
            retryable = !s_curl_refused (crc) && !total && !x.overflow && crc != CURLE_OUT_OF_MEMORY;
            rc = s_curl_refused (crc) ? GEAK_E_LLM_REFUSED : GEAK_E_LLM;
            const char *what = x.idle_expired ? "no byte arrived for GEAK_LLM_IDLE_TIMEOUT_MS"
                             : x.overflow ? "reply body larger than the limit"
                             : x.stream_rc == GEAK_E_MALFORMED ? "a streamed event could not be read"
                             : curl_easy_strerror (crc);
            *error = geak_strdupf ("POST %s: %s%s (curl %d%s)%s", self->url_public,
                                   crc == CURLE_PARTIAL_FILE || (x.kind == 2 && !x.idle_expired
                                                                 && !x.overflow)
                                   ? "reply cut off: " : "", what, (int) crc,
                                   status ? ", after the HTTP headers" : "",
                                   cert ? "; set GEAK_LLM_CA_FILE to the CA bundle that signed the "
                                          "server's certificate"
                                   : total ? "; the whole request took longer than GEAK_LLM_TIMEOUT_MS"
                                   : "");
            if (x.idle_expired)
                rc = GEAK_E_LLM;
        }
        else
        if (status >= 200 && status < 300 && x.kind == 2) {
            //  a stream that ended: complete only with its end marker or a finish reason
            const char *finish = geak_llm_reply_finish_reason (&x.reply);
            if (x.stream_rc != GEAK_OK) {
                *error = geak_strdupf ("POST %s: the stream %s: %s", self->url_public,
                                       x.stream_rc == GEAK_E_LLM ? "carried an error"
                                                                 : "had an event that cannot be read",
                                       x.reply.error ? x.reply.error : geak_rc_str (x.stream_rc));
                retryable = true;
                rc = GEAK_E_LLM;
            }
            else
            if (!x.reply.done && !*finish) {
                *error = geak_strdupf ("POST %s: reply cut off: the stream ended before its end "
                                       "(%zu events)", self->url_public, geak_sse_events (x.sse));
                retryable = true;
                rc = GEAK_E_LLM;
            }
            else
            if (x.reply.count == 0) {
                *error = geak_strdupf ("POST %s: the stream held no reply", self->url_public);
                rc = GEAK_E_LLM;
            }
            else
                rc = GEAK_OK;
        }
        else
        if (status >= 200 && status < 300) {
            char *why = NULL;
            geak_llm_reply_t whole = { 0 };
            rc = self->wire->parse (x.data, x.size, &whole, &why);
            //  the tokens of a whole body: counted here (s_count_tokens saw none)
            if (whole.usage_seen) {
                result->usage.tokens_in += whole.tokens_in;
                result->usage.tokens_out += whole.tokens_out;
                result->usage.reasoning_tokens += whole.reasoning_tokens;
            }
            if (rc != GEAK_OK)
                *error = geak_strdupf ("POST %s: HTTP %ld: %s", self->url_public, status,
                                       why ? why : "unusable reply");
            geak_llm_reply_clear (&x.reply);
            x.reply = whole;
            free (why);
        }
        else {
            char *detail = geak_llm_wire_error_detail (x.data, x.size);
            retryable = geak_llm_status_retryable (status);
            rc = retryable ? GEAK_E_LLM : GEAK_E_LLM_REFUSED;
            const char *hint = status == 401 || status == 403 ? " (the key was refused: check "
                                                                "GEAK_LLM_API_KEY)"
                             : status == 404 ? " (check GEAK_LLM_BASE_URL and GEAK_LLM_MODEL)" : "";
            *error = geak_strdupf ("POST %s: HTTP %ld: %s%s", self->url_public, status, detail, hint);
            free (detail);
        }
        if (rc == GEAK_OK) {
            s_result_drop_texts (result);
            result->texts = geak_malloc0 ((x.reply.count + 1) * sizeof *result->texts);
            for (size_t i = 0; i < x.reply.count; i++)
                result->texts [result->count++] = geak_strdup (x.reply.text [i] ? x.reply.text [i] : "");
            result->truncated = geak_llm_reply_truncated (&x.reply);
            result->streamed = x.kind == 2;
            result->usage.finish_reason = (char *) geak_llm_wire_finish_static (geak_llm_reply_finish_reason (&x.reply));
        }
        long retry_after_s = x.retry_after_s;
        s_xfer_clear (&x);
        if (rc == GEAK_OK || !retryable || attempt >= config->max_retries)
            break;
        long wait_ms = geak_llm_backoff_ms ((int) attempt, config->backoff_ms,
                                            config->backoff_max_ms, retry_after_s, s_random_unit ());
        result->usage.retries++;
        geak_warn ("llm_retry", "provider=%s model=%s task=%s role=%s status=%ld curl=%d "
                   "attempt=%ld wait_ms=%ld retry_after_s=%ld error=\"%s\"",
                   geak_llm_provider_name (config->provider), config->model,
                   request->task ? request->task : "-", request->role ? request->role : "-",
                   status, (int) crc, attempt + 1, wait_ms, retry_after_s, *error ? *error : "");
        s_sleep_ms (wait_ms);
    }
    free (body);
    return rc;
}

static void
s_record (geak_llm_t *self, const geak_llm_request_t *request, const char *text)
{
    cJSON *line = cJSON_CreateObject ();
    if (!line)
        return;
    cJSON_AddStringToObject (line, "role", request->role ? request->role : "");
    cJSON_AddStringToObject (line, "task", request->task ? request->task : "");
    cJSON_AddNumberToObject (line, "sample", request->sample);
    cJSON_AddNumberToObject (line, "iteration", request->iteration);
    cJSON_AddStringToObject (line, "reply", text);
    char *json = cJSON_PrintUnformatted (line);
    cJSON_Delete (line);
    if (!json)
        return;
    pthread_mutex_lock (&self->record_lock);
    fprintf (self->record, "%s\n", json);
    fflush (self->record);
    pthread_mutex_unlock (&self->record_lock);
    free (json);
}

static void
s_shape (const geak_llm_t *self, const geak_llm_request_t *request, uint32_t n,
         geak_llm_shape_t *shape)
{
    geak_llm_shape_make (self->config.provider == GEAK_LLM_ANTHROPIC, self->config.model,
                         &self->config.policy, request->temperature, request->max_tokens, n, shape);
    shape->system = request->system;
    shape->user = request->user;
}

//  One sample set: a call, and again with a larger cap while cut off
static geak_rc_t
s_call_growing (geak_llm_t *self, const geak_llm_request_t *request, uint32_t n,
                geak_llm_result_t *result, char **error)
{
    geak_llm_shape_t shape;
    s_shape (self, request, n, &shape);
    long ceiling = self->config.max_tokens_ceiling > 0 ? self->config.max_tokens_ceiling
                                                       : LLM_CEILING_DEFAULT;
    if (ceiling < (long) shape.max_tokens)
        ceiling = shape.max_tokens;
    geak_rc_t rc;
    for (long grown = 0; ; grown++) {
        result->usage.max_tokens = shape.max_tokens;
        rc = s_call_http (self, request, &shape, result, error);
        if (rc != GEAK_OK || !result->truncated || grown >= self->config.truncation_retries
        ||  (long) shape.max_tokens >= ceiling)
            break;
        uint32_t bigger = shape.max_tokens * 2 > (uint32_t) ceiling ? (uint32_t) ceiling
                                                                    : shape.max_tokens * 2;
        geak_warn ("llm_truncated_retry", "provider=%s model=%s task=%s role=%s max_tokens=%u "
                   "next_max_tokens=%u tokens_out=%llu",
                   geak_llm_provider_name (self->config.provider), self->config.model,
                   request->task ? request->task : "-", request->role ? request->role : "-",
                   shape.max_tokens, bigger, (unsigned long long) result->usage.tokens_out);
        if (shape.thinking_budget > 0)
            //  the reply's share grows; the thinking budget stays
            shape.max_tokens = shape.thinking_budget + 2 * (shape.max_tokens - shape.thinking_budget);
        else
            shape.max_tokens = bigger;
        if ((long) shape.max_tokens > ceiling)
            shape.max_tokens = (uint32_t) ceiling;
    }
    return rc;
}

geak_rc_t
geak_llm_complete (geak_llm_t *self, const geak_llm_request_t *request,
                   geak_llm_result_t *result, char **error)
{
    assert (self && request && result && error);
    *error = NULL;
    memset (result, 0, sizeof *result);
    Geak__LlmUsage init = GEAK__LLM_USAGE__INIT;
    result->usage = init;
    result->usage.provider = (char *) geak_llm_provider_name (self->config.provider);
    result->usage.model = self->config.model;
    result->usage.finish_reason = (char *) "";
    if (!request->user) {
        *error = geak_strdupf ("request has no user message");
        return GEAK_E_INVALID;
    }
    geak_rc_t rc = s_budget_take_call (self, error);
    if (rc != GEAK_OK)
        return rc;
    int64_t t0 = geak_clock_mono_us ();
    uint32_t samples = request->samples ? request->samples : (uint32_t) self->config.samples;
    if (samples > GEAK_LLM_SAMPLES_MAX)
        samples = GEAK_LLM_SAMPLES_MAX;

    if (self->config.provider == GEAK_LLM_REPLAY) {
        for (uint32_t i = 0; i < samples && rc == GEAK_OK; i++) {
            const char *text = geak_replay_find (self->replay, request->role, request->task,
                                                 request->instruction, request->sample + i,
                                                 request->iteration);
            if (!text) {
                *error = geak_strdupf ("replay file has no reply for task '%.100s' role '%.40s'",
                                   request->task ? request->task : "",
                                   request->role ? request->role : "");
                rc = GEAK_E_LLM;
            }
            else {
                char **texts = realloc (result->texts, (result->count + 1) * sizeof *texts);
                if (!texts)
                    rc = GEAK_E_NOMEM;
                else {
                    result->texts = texts;
                    result->texts [result->count++] = geak_strdup (text);
                }
            }
        }
        result->usage.finish_reason = (char *) "stop";
    }
    else
    if (self->config.provider == GEAK_LLM_OPENAI || samples == 1)
        rc = s_call_growing (self, request, samples, result, error);
    else {
        //  Anthropic has no "n": one call per sample, texts gathered
        char **texts = geak_malloc0 ((samples + 1) * sizeof *texts);
        size_t got = 0;
        bool truncated = false;
        for (uint32_t i = 0; i < samples && rc == GEAK_OK; i++) {
            rc = s_call_growing (self, request, 1, result, error);
            if (rc == GEAK_OK && result->count > 0) {
                texts [got++] = result->texts [0];
                result->texts [0] = NULL;
                truncated = truncated || result->truncated;
            }
            s_result_drop_texts (result);
        }
        result->texts = texts;
        result->count = got;
        result->truncated = truncated;
        if (truncated)
            result->usage.finish_reason = (char *) "length";
    }
    result->usage.truncated = result->truncated;
    result->usage.latency_ms = (double) (geak_clock_mono_us () - t0) / 1000.0;
    atomic_fetch_add (&self->tokens_used, result->usage.tokens_in + result->usage.tokens_out);
    if (rc == GEAK_OK) {
        if (self->record)
            for (size_t i = 0; i < result->count; i++)
                s_record (self, request, result->texts [i]);
        geak_info ("llm_done", "provider=%s model=%s task=%s role=%s sample=%u iteration=%u "
                   "texts=%zu finish=%s truncated=%d streamed=%d max_tokens=%u tokens_in=%llu "
                   "tokens_out=%llu reasoning_tokens=%llu estimated=%d requests=%u latency_ms=%.1f "
                   "retries=%u",
                   result->usage.provider, result->usage.model,
                   request->task ? request->task : "-", request->role ? request->role : "-",
                   request->sample, request->iteration, result->count, result->usage.finish_reason,
                   (int) result->truncated, (int) result->streamed, result->usage.max_tokens,
                   (unsigned long long) result->usage.tokens_in,
                   (unsigned long long) result->usage.tokens_out,
                   (unsigned long long) result->usage.reasoning_tokens,
                   (int) result->usage.tokens_estimated, result->usage.requests,
                   result->usage.latency_ms, result->usage.retries);
    }
    else {
        geak_warn ("llm_failed", "provider=%s model=%s task=%s role=%s code=%s http_status=%ld "
                   "retries=%u requests=%u tokens_in=%llu tokens_out=%llu latency_ms=%.1f error=\"%s\"",
                   result->usage.provider, result->usage.model,
                   request->task ? request->task : "-", request->role ? request->role : "-",
                   geak_rc_name (rc), result->http_status, result->usage.retries,
                   result->usage.requests, (unsigned long long) result->usage.tokens_in,
                   (unsigned long long) result->usage.tokens_out,
                   result->usage.latency_ms, *error ? *error : "");
        s_result_drop_texts (result);
        result->truncated = false;
    }
    //  a server may echo the key in its error body: never pass it on
    *error = geak_log_redact (*error);
    return rc;
}

// ---------------------------------------------------------------- check

//  The model ids of a model list ({"data": [{"id"}]}, also {"models": [{"name"}]})
static char *
s_models_offered (const char *body, size_t size, const char *model, bool *found)
{
    *found = false;
    cJSON *root = body && size ? cJSON_ParseWithLength (body, size) : NULL;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive (root, "data");
    if (!cJSON_IsArray (data))
        data = cJSON_GetObjectItemCaseSensitive (root, "models");
    if (!cJSON_IsArray (data)) {
        cJSON_Delete (root);
        return NULL;
    }
    char list [600] = "";
    int listed = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach (item, data) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive (item, "id");
        if (!cJSON_IsString (id))
            id = cJSON_GetObjectItemCaseSensitive (item, "name");
        if (!cJSON_IsString (id))
            continue;
        if (strcmp (id->valuestring, model) == 0)
            *found = true;
        if (listed++ < 12)
            snprintf (list + strlen (list), sizeof list - strlen (list), "%s%.60s",
                      listed > 1 ? ", " : "", id->valuestring);
    }
    if (listed > 12)
        snprintf (list + strlen (list), sizeof list - strlen (list), ", ... (%d in all)", listed);
    cJSON_Delete (root);
    return geak_strdup (listed ? list : "(none)");
}

geak_rc_t
geak_llm_check (geak_llm_t *self, char **report, char **error)
{
    assert (self && report && error);
    *report = NULL;
    *error = NULL;
    if (self->config.provider == GEAK_LLM_REPLAY) {
        *report = geak_strdupf ("replay provider: %zu recorded replies, nothing to check",
                                geak_replay_size (self->replay));
        return GEAK_OK;
    }
    //  the model list: {base}/models (OpenAI) or {root}/v1/models (Anthropic)
    const char *base = self->config.base_url;
    const char *query = strchr (base, '?');
    size_t head = query ? (size_t) (query - base) : strlen (base);
    char *url = geak_strdupf ("%.*s%s%s", (int) head, base,
                              self->config.provider == GEAK_LLM_ANTHROPIC ? "/v1/models" : "/models",
                              query ? query : "");
    char *shown = geak_llm_wire_url_public (url);
    s_xfer_t x = { .wire = NULL, .retry_after_s = -1 };
    long status = 0;
    long total = LLM_CHECK_TOTAL_MS < self->config.timeout_ms ? LLM_CHECK_TOTAL_MS : self->config.timeout_ms;
    CURLcode crc = s_http (self, url, NULL, total, self->config.connect_timeout_ms, &x, &status);
    geak_rc_t rc = GEAK_OK;
    if (crc != CURLE_OK) {
        bool cert = s_curl_cert_error (crc);
        rc = s_curl_refused (crc) ? GEAK_E_LLM_REFUSED : GEAK_E_LLM;
        *error = geak_strdupf ("GET %s: cannot reach the LLM endpoint: %s (curl %d)%s", shown,
                               curl_easy_strerror (crc), (int) crc,
                               cert ? "; set GEAK_LLM_CA_FILE to the CA bundle that signed the "
                                      "server's certificate" : "");
    }
    else
    if (status == 401 || status == 403) {
        char *detail = geak_llm_wire_error_detail (x.data, x.size);
        *error = geak_strdupf ("GET %s: HTTP %ld: %s (the key was refused: check GEAK_LLM_API_KEY)",
                               shown, status, detail);
        free (detail);
        rc = GEAK_E_LLM_REFUSED;
    }
    else
    if (status >= 200 && status < 300) {
        bool found = false;
        char *offered = s_models_offered (x.data, x.size, self->config.model, &found);
        if (offered && found)
            *report = geak_strdupf ("model %s offered by %s", self->config.model, shown);
        else
        if (offered) {
            *error = geak_strdupf ("GET %s: the endpoint does not offer model '%s' (check "
                                   "GEAK_LLM_MODEL); it offers: %s", shown, self->config.model, offered);
            rc = GEAK_E_LLM_REFUSED;
        }
        free (offered);
    }
    s_xfer_clear (&x);
    if (rc == GEAK_OK && !*report) {
        //  no usable model list (404, another shape): ask for one token
        geak_llm_request_t probe = { .user = "Reply with the word ok.", .temperature = -1,
                                     .max_tokens = 16, .role = "check", .task = "-" };
        geak_llm_shape_t shape;
        s_shape (self, &probe, 1, &shape);
        shape.stream = false;
        if (shape.thinking_budget) {
            shape.thinking_budget = 0;
            shape.max_tokens = 16;
        }
        char *body = self->wire->body (&shape);
        s_xfer_t y = { .wire = self->wire, .retry_after_s = -1 };
        crc = body ? s_http (self, self->url, body, total, self->config.connect_timeout_ms, &y, &status)
                   : CURLE_OUT_OF_MEMORY;
        if (crc != CURLE_OK) {
            *error = geak_strdupf ("POST %s: cannot reach the LLM endpoint: %s (curl %d)",
                                   self->url_public, curl_easy_strerror (crc), (int) crc);
            rc = s_curl_refused (crc) ? GEAK_E_LLM_REFUSED : GEAK_E_LLM;
        }
        else
        if (status >= 200 && status < 300)
            *report = geak_strdupf ("model %s answered at %s (no model list at %s)",
                                    self->config.model, self->url_public, shown);
        else {
            char *detail = geak_llm_wire_error_detail (y.data, y.size);
            *error = geak_strdupf ("POST %s: HTTP %ld: %s", self->url_public, status, detail);
            free (detail);
            rc = geak_llm_status_retryable (status) ? GEAK_E_LLM : GEAK_E_LLM_REFUSED;
        }
        s_xfer_clear (&y);
        free (body);
    }
    GEAK_LOG (rc == GEAK_OK ? GEAK_LOG_INFO : GEAK_LOG_WARN, "llm_check",
              "provider=%s model=%s code=%s %s=\"%s\"", geak_llm_provider_name (self->config.provider),
              self->config.model, geak_rc_name (rc), rc == GEAK_OK ? "report" : "error",
              rc == GEAK_OK ? *report : *error);
    free (url);
    free (shown);
    *error = geak_log_redact (*error);
    return rc;
}

char *
geak_llm_describe_request (geak_llm_t *self, const geak_llm_request_t *request)
{
    assert (self && request);
    if (self->config.provider == GEAK_LLM_REPLAY)
        return geak_strdupf ("replay %s (no request goes on the wire)\n", self->config.replay_path);
    geak_llm_shape_t shape;
    s_shape (self, request, request->samples ? request->samples : (uint32_t) self->config.samples,
             &shape);
    char *body = self->wire->body (&shape);
    struct curl_slist *headers = s_headers (self, true, true);
    char *out = geak_strdupf ("POST %s\n", self->url_public);
    for (struct curl_slist *h = headers; h; h = h->next)
        if (strcmp (h->data, "Expect:") != 0) {
            char *more = geak_strdupf ("%s%s\n", out, h->data);
            free (out);
            out = more;
        }
    char *more = geak_strdupf ("%s\n%s\n", out, body ? body : "(no body)");
    free (out);
    out = more;
    curl_slist_free_all (headers);
    free (body);
    return out;
}

// ---------------------------------------------------------------- selftest

int
geak_llm_test (bool verbose)
{
    int fails = 0;
    //  backoff
    fails += geak_llm_backoff_ms (0, 500, 30000, -1, 0.0) != 250;
    fails += geak_llm_backoff_ms (0, 500, 30000, -1, 0.999999) != 499;
    fails += geak_llm_backoff_ms (3, 500, 30000, -1, 0.0) != 2000;
    fails += geak_llm_backoff_ms (40, 500, 30000, -1, 0.0) != 15000;
    fails += geak_llm_backoff_ms (1000, 500, 30000, -1, 0.5) > 30000;
    fails += geak_llm_backoff_ms (2, 500, 30000, 7, 0.3) != 7000;
    fails += geak_llm_backoff_ms (2, 500, 1000, 3600, 0.3) != 60000;
    fails += geak_llm_backoff_ms (2, 500, 30000, 3600, 0.3) != 120000;
    fails += geak_llm_backoff_ms (2, 500, 1000, 0, 0.3) != 0;
    fails += geak_llm_backoff_ms (5, 0, 0, -1, 0.3) != 0;
    for (int a = 0; a < 20; a++) {
        long d = geak_llm_backoff_ms (a, 100, 5000, -1, 0.7);
        long full = 100;
        for (int i = 0; i < a && full < 5000; i++)
            full = full * 2 > 5000 ? 5000 : full * 2;
        fails += d < full / 2 || d > full;
    }
    fails += !geak_llm_status_retryable (429) || !geak_llm_status_retryable (503)
          || !geak_llm_status_retryable (408) || geak_llm_status_retryable (400)
          || geak_llm_status_retryable (404) || geak_llm_status_retryable (200);

    //  config: a replay client needs a file; budget refuses cleanly
    geak_llm_config_t config;
    geak_llm_config_defaults (&config);
    config.provider = GEAK_LLM_REPLAY;
    geak_rc_t rc;
    fails += geak_llm_new (&config, &rc) != NULL || rc != GEAK_E_CONFIG;
    char path [] = "/tmp/geak-llm-test-XXXXXX";
    int fd = mkstemp (path);
    if (fd < 0)
        return fails + 1;
    const char *jsonl = "{\"role\":\"generator\",\"task\":\"t\",\"reply\":\"R\"}\n";
    fails += write (fd, jsonl, strlen (jsonl)) != (ssize_t) strlen (jsonl);
    close (fd);
    config.replay_path = geak_strdup (path);
    config.model = geak_strdup ("replay");
    config.budget_calls = 2;
    geak_llm_t *llm = geak_llm_new (&config, &rc);
    fails += !llm;
    if (llm) {
        geak_llm_request_t request = { .user = "u", .role = "generator", .task = "t",
                                       .temperature = -1 };
        for (int i = 0; i < 3; i++) {
            geak_llm_result_t result;
            char *error = NULL;
            rc = geak_llm_complete (llm, &request, &result, &error);
            if (i < 2)
                fails += rc != GEAK_OK || result.count != 1 || strcmp (result.texts [0], "R")
                      || strcmp (result.usage.finish_reason, "stop");
            else
                fails += rc != GEAK_E_BUDGET || !error;
            free (error);
            geak_llm_result_clear (&result);
        }
        geak_llm_destroy (&llm);
        geak_llm_destroy (&llm);
    }
    unlink (path);
    geak_llm_config_clear (&config);

    //  the request description of an HTTP client never holds the key
    geak_llm_config_defaults (&config);
    config.base_url = geak_llm_wire_base (false, "http://127.0.0.1:9/v1");
    config.model = geak_strdup ("o3-mini");
    config.api_key = geak_strdup ("sk-selftest-secret");
    llm = geak_llm_new (&config, &rc);
    fails += !llm;
    if (llm) {
        geak_llm_request_t request = { .user = "u", .system = "s", .temperature = 0.7 };
        char *text = geak_llm_describe_request (llm, &request);
        if (verbose)
            printf ("%s", text);
        fails += !strstr (text, "POST http://127.0.0.1:9/v1/chat/completions\n")
              || !strstr (text, "Authorization: Bearer <redacted>")
              || strstr (text, "sk-selftest-secret") || strstr (text, "temperature")
              || !strstr (text, "\"max_completion_tokens\":32768");
        free (text);
        geak_llm_destroy (&llm);
    }
    geak_llm_config_clear (&config);
    return fails;
}
