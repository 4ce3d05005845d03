/*  geak_llm.c - the LLM client: OpenAI Chat Completions, Anthropic Messages,
    and replay, with retries, a concurrency limit and a run budget. */
#include "geak_prelude.h"
#include "geak_llm.h"
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
#define LLM_SAMPLES_MAX     64
#define LLM_ERROR_SNIPPET   300

struct geak_llm_t {
    geak_llm_config_t config;
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
    config->timeout_ms = 120000;
    config->max_retries = 4;
    config->backoff_ms = 500;
    config->backoff_max_ms = 30000;
    config->concurrency = 8;
    config->temperature = 0.7;
    config->max_tokens = 4096;
    config->samples = 1;
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
    memset (config, 0, sizeof *config);
}

geak_rc_t
geak_llm_config_from_env (geak_llm_config_t *config, char **error)
{
    assert (config && error);
    *error = NULL;
    geak_llm_config_defaults (config);
    const char *provider = geak_config_str ("GEAK_LLM_PROVIDER", "openai");
    if (strcmp (provider, "openai") == 0)
        config->provider = GEAK_LLM_OPENAI;
    else
    if (strcmp (provider, "anthropic") == 0)
        config->provider = GEAK_LLM_ANTHROPIC;
    else
    if (strcmp (provider, "replay") == 0)
        config->provider = GEAK_LLM_REPLAY;
    else {
        *error = geak_strdupf ("GEAK_LLM_PROVIDER must be openai, anthropic or replay, not '%.40s'",
                           provider);
        return GEAK_E_CONFIG;
    }
    static const struct {
        const char *name;
        size_t offset;
        long min, max;
    } ints [] = {
        { "GEAK_LLM_TIMEOUT_MS", offsetof (geak_llm_config_t, timeout_ms), 1, 3600000 },
        { "GEAK_LLM_MAX_RETRIES", offsetof (geak_llm_config_t, max_retries), 0, 100 },
        { "GEAK_LLM_BACKOFF_MS", offsetof (geak_llm_config_t, backoff_ms), 0, 600000 },
        { "GEAK_LLM_BACKOFF_MAX_MS", offsetof (geak_llm_config_t, backoff_max_ms), 0, 3600000 },
        { "GEAK_LLM_CONCURRENCY", offsetof (geak_llm_config_t, concurrency), 1, 1024 },
        { "GEAK_LLM_MAX_TOKENS", offsetof (geak_llm_config_t, max_tokens), 1, 1000000 },
        { "GEAK_LLM_SAMPLES", offsetof (geak_llm_config_t, samples), 1, LLM_SAMPLES_MAX },
        { "GEAK_LLM_BUDGET_TOKENS", offsetof (geak_llm_config_t, budget_tokens), 0, LONG_MAX },
        { "GEAK_LLM_BUDGET_CALLS", offsetof (geak_llm_config_t, budget_calls), 0, LONG_MAX },
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints [0]; i++) {
        long *slot = (long *) ((char *) config + ints [i].offset);
        if (geak_config_int (ints [i].name, *slot, ints [i].min, ints [i].max, slot) != GEAK_OK) {
            *error = geak_strdupf ("%s must be an integer in [%ld, %ld]",
                               ints [i].name, ints [i].min, ints [i].max);
            return GEAK_E_CONFIG;
        }
    }
    const char *temperature = geak_config_str ("GEAK_LLM_TEMPERATURE", NULL);
    if (temperature) {
        char *end = NULL;
        errno = 0;
        double value = strtod (temperature, &end);
        if (errno || end == temperature || *end || !(value >= 0 && value <= 2)) {
            *error = geak_strdupf ("GEAK_LLM_TEMPERATURE must be a number in [0, 2]");
            return GEAK_E_CONFIG;
        }
        config->temperature = value;
    }
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
    const char *base = geak_config_str ("GEAK_LLM_BASE_URL",
                                        config->provider == GEAK_LLM_OPENAI
                                        ? "https://api.openai.com/v1"
                                        : "https://api.anthropic.com");
    config->base_url = geak_strdup (base);
    size_t len = strlen (config->base_url);
    while (len > 0 && config->base_url [len - 1] == '/')
        config->base_url [--len] = '\0';
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
    ||  config->concurrency < 1 || config->samples < 1 || config->samples > LLM_SAMPLES_MAX) {
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
    geak_info ("llm_ready", "provider=%s model=%s base_url=%s concurrency=%ld timeout_ms=%ld "
               "max_retries=%ld budget_tokens=%ld budget_calls=%ld replay=%zu",
               geak_llm_provider_name (self->config.provider), self->config.model,
               self->config.base_url ? self->config.base_url : "-", self->config.concurrency,
               self->config.timeout_ms, self->config.max_retries, self->config.budget_tokens,
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

// ---------------------------------------------------------------- pure parts

char *
geak_llm_build_body (geak_llm_provider_t provider, const char *model, const char *system,
                     const char *user, double temperature, uint32_t max_tokens, uint32_t samples)
{
    if (!model || !user)
        return NULL;
    cJSON *root = cJSON_CreateObject ();
    cJSON *messages = cJSON_CreateArray ();
    bool ok = root && messages;
    ok = ok && cJSON_AddStringToObject (root, "model", model);
    ok = ok && cJSON_AddNumberToObject (root, "max_tokens", (double) max_tokens);
    if (ok && temperature >= 0)
        ok = cJSON_AddNumberToObject (root, "temperature", temperature) != NULL;
    if (ok && provider == GEAK_LLM_ANTHROPIC && system && *system)
        ok = cJSON_AddStringToObject (root, "system", system) != NULL;
    if (ok && provider == GEAK_LLM_OPENAI && samples > 1)
        ok = cJSON_AddNumberToObject (root, "n", (double) samples) != NULL;
    if (ok && provider == GEAK_LLM_OPENAI && system && *system) {
        cJSON *msg = cJSON_CreateObject ();
        ok = msg && cJSON_AddItemToArray (messages, msg)
          && cJSON_AddStringToObject (msg, "role", "system")
          && cJSON_AddStringToObject (msg, "content", system);
    }
    if (ok) {
        cJSON *msg = cJSON_CreateObject ();
        ok = msg && cJSON_AddItemToArray (messages, msg)
          && cJSON_AddStringToObject (msg, "role", "user")
          && cJSON_AddStringToObject (msg, "content", user);
    }
    char *text = NULL;
    if (ok && cJSON_AddItemToObject (root, "messages", messages)) {
        messages = NULL;
        text = cJSON_PrintUnformatted (root);
    }
    cJSON_Delete (messages);
    cJSON_Delete (root);
    return text;
}

//  Number field as an unsigned count (missing -> 0; negative or absurd -> false)
static bool
s_count_field (const cJSON *obj, const char *name, uint64_t *value)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!item || cJSON_IsNull (item)) {
        *value = 0;
        return true;
    }
    if (!cJSON_IsNumber (item) || !(item->valuedouble >= 0 && item->valuedouble < 1e15))
        return false;
    *value = (uint64_t) item->valuedouble;
    return true;
}

static geak_rc_t
s_add_text (geak_llm_result_t *result, const char *text)
{
    char **texts = realloc (result->texts, (result->count + 1) * sizeof *texts);
    if (!texts)
        return GEAK_E_NOMEM;
    result->texts = texts;
    result->texts [result->count++] = geak_strdup (text);
    return GEAK_OK;
}

//  A short description of a provider error body ("error": {"message"} or "error": "...")
static char *
s_error_detail (const char *body, size_t size)
{
    cJSON *root = body ? cJSON_ParseWithLength (body, size) : NULL;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive (root, "error");
    const char *message = NULL;
    if (cJSON_IsString (error))
        message = error->valuestring;
    else
    if (cJSON_IsObject (error)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive (error, "message");
        if (cJSON_IsString (m))
            message = m->valuestring;
    }
    char *detail = geak_strdupf ("%.*s", LLM_ERROR_SNIPPET, message ? message : "(no error message)");
    cJSON_Delete (root);
    //  logfmt-safe: no quotes or newlines inside
    for (char *c = detail; c && *c; c++)
        if (*c == '"' || *c == '\n' || *c == '\r' || (unsigned char) *c < 0x20)
            *c = ' ';
    return detail;
}

geak_rc_t
geak_llm_parse_reply (geak_llm_provider_t provider, const char *body, size_t size,
                      geak_llm_result_t *result, char **error)
{
    assert (result && error);
    *error = NULL;
    if (!body || size == 0) {
        *error = geak_strdupf ("empty reply body");
        return GEAK_E_LLM;
    }
    cJSON *root = cJSON_ParseWithLength (body, size);
    if (!root) {
        *error = geak_strdupf ("reply body is not valid JSON (%zu bytes; truncated or malformed)", size);
        return GEAK_E_LLM;
    }
    geak_rc_t rc = GEAK_OK;
    const char *why = NULL;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive (root, "usage");
    uint64_t tokens_in = 0, tokens_out = 0;
    if (!cJSON_IsObject (root))
        why = "reply body is not a JSON object";
    else
    if (cJSON_GetObjectItemCaseSensitive (root, "error")) {
        char *detail = s_error_detail (body, size);
        *error = geak_strdupf ("provider returned an error: %s", detail ? detail : "?");
        free (detail);
        rc = GEAK_E_LLM;
    }
    else
    if (usage && !cJSON_IsObject (usage))
        why = "reply field usage is not an object";
    else
    if (provider == GEAK_LLM_OPENAI) {
        if (!s_count_field (usage, "prompt_tokens", &tokens_in)
        ||  !s_count_field (usage, "completion_tokens", &tokens_out))
            why = "reply usage token counts are not numbers";
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive (root, "choices");
        if (!why && (!cJSON_IsArray (choices) || cJSON_GetArraySize (choices) == 0))
            why = "reply has no choices[]";
        const cJSON *choice = NULL;
        cJSON_ArrayForEach (choice, choices) {
            if (why || rc)
                break;
            const cJSON *message = cJSON_GetObjectItemCaseSensitive (choice, "message");
            const cJSON *content = cJSON_GetObjectItemCaseSensitive (message, "content");
            if (!cJSON_IsString (content) || !content->valuestring)
                why = "reply has no choices[].message.content string";
            else
                rc = s_add_text (result, content->valuestring);
        }
    }
    else {
        if (!s_count_field (usage, "input_tokens", &tokens_in)
        ||  !s_count_field (usage, "output_tokens", &tokens_out))
            why = "reply usage token counts are not numbers";
        const cJSON *content = cJSON_GetObjectItemCaseSensitive (root, "content");
        if (!why && !cJSON_IsArray (content))
            why = "reply has no content[] array";
        size_t length = 0;
        const cJSON *part = NULL;
        cJSON_ArrayForEach (part, content) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive (part, "type");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive (part, "text");
            if (cJSON_IsString (type) && strcmp (type->valuestring, "text") == 0
            &&  cJSON_IsString (text) && text->valuestring)
                length += strlen (text->valuestring);
        }
        if (!why) {
            //  concatenate every text part (tool-use / thinking parts are skipped)
            char *joined = malloc (length + 1);
            bool any = false;
            if (!joined)
                rc = GEAK_E_NOMEM;
            else {
                size_t at = 0;
                cJSON_ArrayForEach (part, content) {
                    const cJSON *type = cJSON_GetObjectItemCaseSensitive (part, "type");
                    const cJSON *text = cJSON_GetObjectItemCaseSensitive (part, "text");
                    if (cJSON_IsString (type) && strcmp (type->valuestring, "text") == 0
                    &&  cJSON_IsString (text) && text->valuestring) {
                        size_t n = strlen (text->valuestring);
                        memcpy (joined + at, text->valuestring, n);
                        at += n;
                        any = true;
                    }
                }
                joined [at] = '\0';
                if (!any)
                    why = "reply has no content[] part of type text";
                else
                    rc = s_add_text (result, joined);
                free (joined);
            }
        }
    }
    cJSON_Delete (root);
    if (why) {
        *error = geak_strdupf ("%s", why);
        rc = GEAK_E_LLM;
    }
    if (rc == GEAK_OK) {
        result->usage.tokens_in += tokens_in;
        result->usage.tokens_out += tokens_out;
    }
    else {
        if (!*error)
            *error = geak_strdupf ("%s", geak_rc_str (rc));
        for (size_t i = 0; i < result->count; i++)
            free (result->texts [i]);
        free (result->texts);
        result->texts = NULL;
        result->count = 0;
    }
    return rc;
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
    return status == 429 || (status >= 500 && status <= 599);
}

// ---------------------------------------------------------------- HTTP

typedef struct {
    char *data;
    size_t size;
    size_t alloc;
    bool overflow;
    long retry_after_s;
} s_response_t;

static size_t
s_on_body (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_response_t *resp = (s_response_t *) arg;
    size_t n = size * nmemb;
    if (resp->size + n + 1 > LLM_BODY_MAX) {
        resp->overflow = true;
        return 0;
    }
    if (resp->size + n + 1 > resp->alloc) {
        size_t alloc = resp->alloc ? resp->alloc : 16384;
        while (alloc < resp->size + n + 1)
            alloc *= 2;
        char *bigger = realloc (resp->data, alloc);
        if (!bigger)
            return 0;
        resp->data = bigger;
        resp->alloc = alloc;
    }
    memcpy (resp->data + resp->size, ptr, n);
    resp->size += n;
    resp->data [resp->size] = '\0';
    return n;
}

static size_t
s_on_header (char *buffer, size_t size, size_t nitems, void *arg)
{
    s_response_t *resp = (s_response_t *) arg;
    size_t n = size * nitems;
    static const char name [] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp (buffer, name, sizeof name - 1) == 0) {
        char value [32];
        size_t len = n - (sizeof name - 1);
        if (len >= sizeof value)
            len = sizeof value - 1;
        memcpy (value, buffer + sizeof name - 1, len);
        value [len] = '\0';
        char *start = value;
        while (*start == ' ' || *start == '\t')
            start++;
        char *end = NULL;
        long seconds = strtol (start, &end, 10);
        if (end != start && seconds >= 0 && (*end == '\r' || *end == '\n' || *end == '\0'
                                             || *end == ' '))
            resp->retry_after_s = seconds;
    }
    return n;
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

//  One HTTP exchange. Returns GEAK_OK with resp filled and *status set, or
//  GEAK_E_LLM with *curl_rc describing the transport failure.
static geak_rc_t
s_http_post (geak_llm_t *self, const char *body, s_response_t *resp, long *status, CURLcode *curl_rc)
{
    const geak_llm_config_t *config = &self->config;
    CURL *curl = curl_easy_init ();
    if (!curl) {
        *curl_rc = CURLE_FAILED_INIT;
        return GEAK_E_LLM;
    }
    char *url = geak_strdupf ("%s%s", config->base_url,
                          config->provider == GEAK_LLM_OPENAI ? "/chat/completions" : "/v1/messages");
    char *auth = config->provider == GEAK_LLM_OPENAI
               ? geak_strdupf ("Authorization: Bearer %s", config->api_key)
               : geak_strdupf ("x-api-key: %s", config->api_key);
    struct curl_slist *headers = NULL, *next = NULL;
    bool ok = url && auth;
    const char *lines [] = {
        "Content-Type: application/json", "Accept: application/json", "Expect:", auth,
        config->provider == GEAK_LLM_ANTHROPIC ? "anthropic-version: 2023-06-01" : NULL,
    };
    for (size_t i = 0; ok && i < sizeof lines / sizeof lines [0]; i++) {
        if (!lines [i])
            continue;
        next = curl_slist_append (headers, lines [i]);
        if (!next)
            ok = false;
        else
            headers = next;
    }
    if (auth) {
        memset (auth, 0, strlen (auth));
        free (auth);
    }
    CURLcode crc = CURLE_OUT_OF_MEMORY;
    if (ok) {
        curl_easy_setopt (curl, CURLOPT_URL, url);
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (curl, CURLOPT_POST, 1L);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (body));
        curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, config->timeout_ms);
        curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS,
                          config->timeout_ms < 30000 ? config->timeout_ms : 30000L);
        curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
        curl_easy_setopt (curl, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
        curl_easy_setopt (curl, CURLOPT_HEADERDATA, resp);
        curl_easy_setopt (curl, CURLOPT_USERAGENT, "geak-c/" GEAK_VERSION_STRING);
        curl_easy_setopt (curl, CURLOPT_ACCEPT_ENCODING, "");
        crc = curl_easy_perform (curl);
    }
    *curl_rc = crc;
    *status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    free (url);
    return crc == CURLE_OK ? GEAK_OK : GEAK_E_LLM;
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

//  One provider call with retries (one or n samples).
static geak_rc_t
s_call_http (geak_llm_t *self, const geak_llm_request_t *request, double temperature,
             uint32_t max_tokens, uint32_t samples, geak_llm_result_t *result, char **error)
{
    const geak_llm_config_t *config = &self->config;
    char *body = geak_llm_build_body (config->provider, config->model, request->system,
                                      request->user, temperature, max_tokens, samples);
    if (!body) {
        *error = geak_strdupf ("could not build the request body");
        return GEAK_E_NOMEM;
    }
    geak_rc_t rc = GEAK_E_LLM;
    for (long attempt = 0; ; attempt++) {
        s_response_t resp = { .retry_after_s = -1 };
        long status = 0;
        CURLcode crc = CURLE_OK;
        s_slot_acquire (self);
        geak_rc_t http_rc = s_http_post (self, body, &resp, &status, &crc);
        s_slot_release (self);
        result->http_status = status;
        bool retryable = false;
        free (*error);
        *error = NULL;
        if (http_rc != GEAK_OK) {
            //  transport failure: connection, timeout, truncated body
            retryable = !resp.overflow && crc != CURLE_OUT_OF_MEMORY
                     && crc != CURLE_URL_MALFORMAT && crc != CURLE_UNSUPPORTED_PROTOCOL;
            *error = geak_strdupf ("%s%s (curl %d%s)",
                               crc == CURLE_PARTIAL_FILE ? "reply body truncated: " : "",
                               resp.overflow ? "reply body larger than the limit"
                                             : curl_easy_strerror (crc), (int) crc,
                               status ? ", after HTTP headers" : "");
            rc = GEAK_E_LLM;
        }
        else
        if (status >= 200 && status < 300)
            rc = geak_llm_parse_reply (config->provider, resp.data, resp.size, result, error);
        else {
            char *detail = s_error_detail (resp.data, resp.size);
            *error = geak_strdupf ("HTTP %ld from %s: %s", status,
                               geak_llm_provider_name (config->provider), detail ? detail : "?");
            free (detail);
            retryable = geak_llm_status_retryable (status);
            rc = GEAK_E_LLM;
        }
        free (resp.data);
        if (rc == GEAK_OK || !retryable || attempt >= config->max_retries)
            break;
        long wait_ms = geak_llm_backoff_ms ((int) attempt, config->backoff_ms,
                                            config->backoff_max_ms, resp.retry_after_s,
                                            s_random_unit ());
        result->usage.retries++;
        geak_warn ("llm_retry", "provider=%s model=%s task=%s role=%s status=%ld curl=%d "
                   "attempt=%ld wait_ms=%ld retry_after_s=%ld error=\"%s\"",
                   geak_llm_provider_name (config->provider), config->model,
                   request->task ? request->task : "-", request->role ? request->role : "-",
                   status, (int) crc, attempt + 1, wait_ms, resp.retry_after_s,
                   *error ? *error : "");
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
    if (!request->user) {
        *error = geak_strdupf ("request has no user message");
        return GEAK_E_INVALID;
    }
    geak_rc_t rc = s_budget_take_call (self, error);
    if (rc != GEAK_OK)
        return rc;
    int64_t t0 = geak_clock_mono_us ();
    double temperature = request->temperature >= 0 ? request->temperature : self->config.temperature;
    uint32_t max_tokens = request->max_tokens ? request->max_tokens : (uint32_t) self->config.max_tokens;
    uint32_t samples = request->samples ? request->samples : (uint32_t) self->config.samples;
    if (samples > LLM_SAMPLES_MAX)
        samples = LLM_SAMPLES_MAX;

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
            else
                rc = s_add_text (result, text);
        }
    }
    else
    if (self->config.provider == GEAK_LLM_OPENAI || samples == 1)
        rc = s_call_http (self, request, temperature, max_tokens, samples, result, error);
    else
        //  Anthropic has no "n": one call per sample
        for (uint32_t i = 0; i < samples && rc == GEAK_OK; i++)
            rc = s_call_http (self, request, temperature, max_tokens, 1, result, error);

    result->usage.latency_ms = (double) (geak_clock_mono_us () - t0) / 1000.0;
    atomic_fetch_add (&self->tokens_used, result->usage.tokens_in + result->usage.tokens_out);
    if (rc == GEAK_OK) {
        if (self->record)
            for (size_t i = 0; i < result->count; i++)
                s_record (self, request, result->texts [i]);
        geak_info ("llm_done", "provider=%s model=%s task=%s role=%s sample=%u iteration=%u "
                   "texts=%zu tokens_in=%llu tokens_out=%llu latency_ms=%.1f retries=%u",
                   result->usage.provider, result->usage.model,
                   request->task ? request->task : "-", request->role ? request->role : "-",
                   request->sample, request->iteration, result->count,
                   (unsigned long long) result->usage.tokens_in,
                   (unsigned long long) result->usage.tokens_out,
                   result->usage.latency_ms, result->usage.retries);
    }
    else {
        geak_warn ("llm_failed", "provider=%s model=%s task=%s role=%s code=%s http_status=%ld "
                   "retries=%u latency_ms=%.1f error=\"%s\"",
                   result->usage.provider, result->usage.model,
                   request->task ? request->task : "-", request->role ? request->role : "-",
                   geak_rc_name (rc), result->http_status, result->usage.retries,
                   result->usage.latency_ms, *error ? *error : "");
        for (size_t i = 0; i < result->count; i++)
            free (result->texts [i]);
        free (result->texts);
        result->texts = NULL;
        result->count = 0;
    }
    return rc;
}

// ---------------------------------------------------------------- selftest

static int
s_check_parse (geak_llm_provider_t provider, const char *body, geak_rc_t want_rc,
               const char *want_text, uint64_t want_in, uint64_t want_out, bool verbose)
{
    geak_llm_result_t result = { 0 };
    char *error = NULL;
    geak_rc_t rc = geak_llm_parse_reply (provider, body, body ? strlen (body) : 0, &result, &error);
    int fail = rc != want_rc;
    if (rc == GEAK_OK)
        fail |= result.count < 1 || strcmp (result.texts [0], want_text) != 0
             || result.usage.tokens_in != want_in || result.usage.tokens_out != want_out;
    else
        fail |= error == NULL || result.count != 0;
    if (fail || verbose)
        printf ("  parse %s [%.60s] -> %s %s\n", geak_llm_provider_name (provider),
                body ? body : "(null)", geak_rc_name (rc), error ? error : "");
    free (error);
    geak_llm_result_clear (&result);
    return fail;
}

int
geak_llm_test (bool verbose)
{
    int fails = 0;
    //  request bodies
    char *body = geak_llm_build_body (GEAK_LLM_OPENAI, "gpt-x", "SYS", "USER \"q\"", 0.5, 100, 3);
    cJSON *root = body ? cJSON_Parse (body) : NULL;
    const cJSON *messages = cJSON_GetObjectItem (root, "messages");
    fails += !root || cJSON_GetArraySize (messages) != 2
          || strcmp (cJSON_GetObjectItem (cJSON_GetArrayItem (messages, 0), "role")->valuestring, "system")
          || strcmp (cJSON_GetObjectItem (cJSON_GetArrayItem (messages, 1), "content")->valuestring, "USER \"q\"")
          || cJSON_GetObjectItem (root, "n")->valueint != 3
          || cJSON_GetObjectItem (root, "max_tokens")->valueint != 100
          || cJSON_GetObjectItem (root, "system") != NULL;
    if (verbose)
        printf ("  openai body: %s\n", body);
    cJSON_Delete (root);
    free (body);
    body = geak_llm_build_body (GEAK_LLM_ANTHROPIC, "claude-x", "SYS", "USER", 0.2, 50, 2);
    root = body ? cJSON_Parse (body) : NULL;
    messages = cJSON_GetObjectItem (root, "messages");
    fails += !root || cJSON_GetArraySize (messages) != 1
          || strcmp (cJSON_GetObjectItem (root, "system")->valuestring, "SYS")
          || strcmp (cJSON_GetObjectItem (cJSON_GetArrayItem (messages, 0), "role")->valuestring, "user")
          || cJSON_GetObjectItem (root, "n") != NULL
          || cJSON_GetObjectItem (root, "max_tokens")->valueint != 50;
    if (verbose)
        printf ("  anthropic body: %s\n", body);
    cJSON_Delete (root);
    free (body);
    fails += geak_llm_build_body (GEAK_LLM_OPENAI, NULL, NULL, "u", 0, 1, 1) != NULL;

    //  replies, good and bad
    fails += s_check_parse (GEAK_LLM_OPENAI,
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hi\"}}],"
        "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}", GEAK_OK, "hi", 12, 3, verbose);
    fails += s_check_parse (GEAK_LLM_OPENAI,
        "{\"choices\":[{\"message\":{\"content\":\"no usage\"}}]}", GEAK_OK, "no usage", 0, 0, verbose);
    fails += s_check_parse (GEAK_LLM_ANTHROPIC,
        "{\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\"},{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}],\"usage\":{\"input_tokens\":7,\"output_tokens\":9}}",
        GEAK_OK, "ab", 7, 9, verbose);
    const char *bad_openai [] = {
        NULL, "", "{", "{\"choices\":[{\"message\":{\"content\":\"hi\"}}", "[]", "null", "42",
        "{\"choices\":[]}", "{\"choices\":{}}", "{\"choices\":[{}]}",
        "{\"choices\":[{\"message\":{\"content\":null}}]}",
        "{\"choices\":[{\"message\":{\"content\":5}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":\"7\"}}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":-1}}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":3}",
        "{\"error\":{\"message\":\"rate limited\",\"type\":\"x\"}}",
    };
    for (size_t i = 0; i < sizeof bad_openai / sizeof bad_openai [0]; i++)
        fails += s_check_parse (GEAK_LLM_OPENAI, bad_openai [i], GEAK_E_LLM, NULL, 0, 0, verbose);
    const char *bad_anthropic [] = {
        "{\"content\":[]}", "{\"content\":\"text\"}", "{\"content\":[{\"type\":\"text\"}]}",
        "{\"content\":[{\"type\":\"tool_use\",\"text\":\"x\"}]}", "{\"content\":[{\"type\":\"te",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
    };
    for (size_t i = 0; i < sizeof bad_anthropic / sizeof bad_anthropic [0]; i++)
        fails += s_check_parse (GEAK_LLM_ANTHROPIC, bad_anthropic [i], GEAK_E_LLM, NULL, 0, 0, verbose);

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
          || geak_llm_status_retryable (400) || geak_llm_status_retryable (200);

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
                fails += rc != GEAK_OK || result.count != 1 || strcmp (result.texts [0], "R");
            else
                fails += rc != GEAK_E_BUDGET || !error;
            free (error);
            geak_llm_result_clear (&result);
        }
        request.task = "other";
        geak_llm_destroy (&llm);
        geak_llm_destroy (&llm);
    }
    unlink (path);
    geak_llm_config_clear (&config);
    return fails;
}
