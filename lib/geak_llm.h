/*  geak_llm.h - the LLM client of geak-c (libcurl + cJSON).

    Providers (wire formats in geak_llm_wire.h, per-model parameters in
    geak_llm_shape.h)
      openai     POST {base}/chat/completions, "Authorization: Bearer KEY"
                 (Azure hosts: "api-key: KEY"). Also vLLM, SGLang, Ollama,
                 llama.cpp, LiteLLM.
      anthropic  POST {root}/v1/messages, "x-api-key: KEY",
                 "anthropic-version: 2023-06-01".
      replay     no network: replies come from a JSONL file (geak_replay.h).

    Environment (geak_llm_config_from_env; docs/llm.md has the table):
      GEAK_LLM_PROVIDER      openai | anthropic | replay (default openai)
      GEAK_LLM_BASE_URL      normalised per provider: with or without /v1,
                             a pasted endpoint URL is cut back
      GEAK_LLM_MODEL, GEAK_LLM_API_KEY / GEAK_LLM_API_KEY_FILE
      GEAK_LLM_FAMILY, GEAK_LLM_TEMPERATURE (number or "omit"),
      GEAK_LLM_TOKEN_PARAM, GEAK_LLM_MAX_TOKENS, GEAK_LLM_REASONING_EFFORT,
      GEAK_LLM_THINKING_BUDGET          request shaping (geak_llm_shape.h)
      GEAK_LLM_STREAM        1 (default) streams replies (SSE)
      GEAK_LLM_TIMEOUT_MS    total per HTTP request (default 600000)
      GEAK_LLM_IDLE_TIMEOUT_MS  no byte for this long ends a streamed
                             request (default 60000; not applied without
                             streaming, where the whole reply comes at once)
      GEAK_LLM_CONNECT_TIMEOUT_MS  (default 10000)
      GEAK_LLM_MAX_RETRIES (4), GEAK_LLM_BACKOFF_MS (500), GEAK_LLM_BACKOFF_MAX_MS (30000)
      GEAK_LLM_TRUNCATION_RETRIES  a cut-off reply is asked again with twice
                             the cap, up to GEAK_LLM_MAX_TOKENS_CEILING (default 1
                             retry, ceiling 65536 or the cap, whichever is larger)
      GEAK_LLM_CA_FILE       CA bundle for TLS (else CURL_CA_BUNDLE, SSL_CERT_FILE)
      GEAK_LLM_AUTH          auto | bearer | api-key | x-api-key
      GEAK_LLM_CONCURRENCY (8), GEAK_LLM_SAMPLES (1: OpenAI n, else that many calls),
      GEAK_LLM_BUDGET_TOKENS, GEAK_LLM_BUDGET_CALLS, GEAK_LLM_REPLAY, GEAK_LLM_RECORD

    Errors. Transient (retried with backoff and full jitter; Retry-After
    honoured): HTTP 408, 409, 425, 429, 5xx, connection failures, an idle
    stream, a stream or body cut off, an error event inside a stream.
    Permanent (GEAK_E_LLM_REFUSED, never retried): other 4xx (400 bad
    parameter, 401/403 key, 404 path or model, 413, 422), TLS certificate
    failures, a malformed URL. A 2xx body that is not a usable reply fails
    with GEAK_E_LLM at once; the total timeout too (a retry would start the
    same long generation again). Every message names the method, the URL
    (no credentials, no query) and the status.

    Tokens: every count the server reports is added, for usable, unusable,
    failed and retried replies alike; a stream cut before its usage arrived
    is estimated (4 bytes a token) and marked. The budget counts them all.

    Threading: a geak_llm_t is shared by all threads of a process. Every
    call uses its own CURL easy handle; a counting semaphore limits the
    requests in flight to `concurrency`. */
#ifndef GEAK_LLM_H_INCLUDED
#define GEAK_LLM_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_proto.h"
#include "geak_llm_shape.h"

typedef enum {
    GEAK_LLM_OPENAI = 0,
    GEAK_LLM_ANTHROPIC = 1,
    GEAK_LLM_REPLAY = 2
} geak_llm_provider_t;

typedef enum {
    GEAK_LLM_AUTH_AUTO = 0,
    GEAK_LLM_AUTH_BEARER,
    GEAK_LLM_AUTH_API_KEY,          //  "api-key: KEY" (Azure OpenAI)
    GEAK_LLM_AUTH_X_API_KEY         //  "x-api-key: KEY" (Anthropic)
} geak_llm_auth_t;

//  Configuration (strings owned by the config; geak_llm_config_clear frees).
typedef struct {
    geak_llm_provider_t provider;
    char *base_url;             //  normalised (geak_llm_wire_base)
    char *model;
    char *api_key;              //  NULL for replay
    char *replay_path;
    char *record_path;
    char *ca_file;              //  NULL: curl's default trust store
    geak_llm_auth_t auth;
    geak_llm_policy_t policy;
    long timeout_ms;
    long idle_timeout_ms;
    long connect_timeout_ms;
    long max_retries;
    long backoff_ms;
    long backoff_max_ms;
    long concurrency;
    long samples;
    long truncation_retries;
    long max_tokens_ceiling;    //  0: max (65536, the cap)
    long budget_tokens;         //  0 = unlimited
    long budget_calls;          //  0 = unlimited
} geak_llm_config_t;

//  Defaults, then the environment. On error returns GEAK_E_CONFIG (bad
//  number, unknown provider, missing model / key / replay file, unreadable
//  CA file) and sets *error (malloc'd, caller frees) to a sentence naming
//  the variable.
geak_rc_t geak_llm_config_from_env (geak_llm_config_t *config, char **error);
void geak_llm_config_defaults (geak_llm_config_t *config);
void geak_llm_config_clear (geak_llm_config_t *config);
const char *geak_llm_provider_name (geak_llm_provider_t provider);

typedef struct geak_llm_t geak_llm_t;

//  Create a client; takes ownership of the config's strings (the config is
//  zeroed). Registers the key as a log secret. NULL with *rc on failure.
geak_llm_t *geak_llm_new (geak_llm_config_t *config, geak_rc_t *rc);
//  Shorthand: config from the environment, error sentence logged.
geak_llm_t *geak_llm_new_from_env (geak_rc_t *rc);
void geak_llm_destroy (geak_llm_t **self_p);

geak_llm_provider_t geak_llm_provider (const geak_llm_t *self);
const char *geak_llm_model (const geak_llm_t *self);
const geak_llm_config_t *geak_llm_config (const geak_llm_t *self);

//  One chat request. Strings are borrowed.
typedef struct {
    const char *system;         //  may be NULL
    const char *user;           //  required
    double temperature;         //  < 0: the configured default
    uint32_t max_tokens;        //  0: the configured default
    uint32_t samples;           //  0: the configured default
    //  For replay, the record file and logs:
    const char *role;           //  "generator", ...
    const char *task;           //  task name
    const char *instruction;    //  task instruction (TritonBench replay key)
    uint32_t sample;
    uint32_t iteration;
} geak_llm_request_t;

//  The answer: count texts (caller owns; geak_llm_result_clear frees).
//  usage.provider / usage.model point into the client, usage.finish_reason
//  to a static string.
typedef struct {
    char **texts;
    size_t count;
    Geak__LlmUsage usage;
    long http_status;           //  last HTTP status seen (0: none)
    bool truncated;             //  cut off at the cap (also after the larger-budget retries)
    bool streamed;              //  the (last) reply came as an event stream
} geak_llm_result_t;
void geak_llm_result_clear (geak_llm_result_t *result);

//  Run a request (blocking; thread-safe). GEAK_OK with result filled (a
//  cut-off reply is GEAK_OK with result->truncated: its text, possibly
//  empty, is what the model wrote), or GEAK_E_LLM / GEAK_E_LLM_REFUSED /
//  GEAK_E_BUDGET / GEAK_E_INVALID / GEAK_E_NOMEM with *error (malloc'd
//  sentence, never the key). result->usage is filled in every case.
geak_rc_t geak_llm_complete (geak_llm_t *self, const geak_llm_request_t *request,
                             geak_llm_result_t *result, char **error);

//  Check the endpoint before a scan: GET the model list and find the model
//  in it (a server without a model list is asked a 1-token question
//  instead). GEAK_OK with *report ("model M offered by URL"), or
//  GEAK_E_LLM_REFUSED (wrong key, path, model: *error says which and
//  lists the models offered), GEAK_E_LLM (unreachable). Bounded by the
//  connect timeout and 20 s. Replay: checks nothing.
geak_rc_t geak_llm_check (geak_llm_t *self, char **report, char **error);

//  The request the client would send for `request` (first try): method
//  and URL, headers with the key shown as "<redacted>", body. Malloc'd.
char *geak_llm_describe_request (geak_llm_t *self, const geak_llm_request_t *request);

//  Budget: counts so far (this process)
uint64_t geak_llm_calls_used (geak_llm_t *self);
uint64_t geak_llm_tokens_used (geak_llm_t *self);

//  Backoff before retry number attempt (0-based): min(max_ms, base_ms << attempt),
//  then jittered to [d/2, d] by the random value r in [0, 1). A Retry-After
//  of retry_after_s >= 0 seconds replaces it (capped at max(60000, 4 x max_ms)).
long geak_llm_backoff_ms (int attempt, long base_ms, long max_ms, long retry_after_s, double r);

//  Whether an HTTP status is retried (408, 409, 425, 429, 5xx).
bool geak_llm_status_retryable (long status);

int geak_llm_test (bool verbose);

#endif
