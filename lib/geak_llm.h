/*  geak_llm.h - the LLM client of geak-c (libcurl + cJSON).

    Providers
      openai     POST {base}/chat/completions, "Authorization: Bearer KEY";
                 text = choices[i].message.content,
                 usage = usage.prompt_tokens / usage.completion_tokens.
      anthropic  POST {base}/v1/messages, "x-api-key: KEY",
                 "anthropic-version: 2023-06-01"; body {model, max_tokens,
                 system, messages}; text = the "text" parts of content[],
                 usage = usage.input_tokens / usage.output_tokens.
      replay     no network: replies come from a JSONL file (see
                 geak_llm_replay below and docs/llm.md).

    Environment (geak_llm_config_from_env):
      GEAK_LLM_PROVIDER      openai | anthropic | replay (default openai)
      GEAK_LLM_BASE_URL      default https://api.openai.com/v1 or
                             https://api.anthropic.com
      GEAK_LLM_MODEL         model name (required for openai/anthropic)
      GEAK_LLM_API_KEY       or GEAK_LLM_API_KEY_FILE: the key; registered
                             as a log secret, never logged, never stored
      GEAK_LLM_TIMEOUT_MS    per HTTP request (default 120000)
      GEAK_LLM_MAX_RETRIES   retries after the first try (default 4)
      GEAK_LLM_BACKOFF_MS    first backoff (default 500), doubling, capped by
      GEAK_LLM_BACKOFF_MAX_MS  (default 30000)
      GEAK_LLM_CONCURRENCY   requests in flight per process (default 8)
      GEAK_LLM_TEMPERATURE   default 0.7 (a request may override)
      GEAK_LLM_MAX_TOKENS    default 4096 (a request may override)
      GEAK_LLM_SAMPLES       completions per call (OpenAI "n"; Anthropic:
                             that many calls), default 1
      GEAK_LLM_BUDGET_TOKENS run budget in tokens (in + out), 0 = none
      GEAK_LLM_BUDGET_CALLS  run budget in calls, 0 = none
      GEAK_LLM_REPLAY        path of the JSONL for the replay provider
      GEAK_LLM_RECORD        optional: append every reply as a JSONL line
                             {"role","task","sample","iteration","reply"}

    Retries: HTTP 429, any 5xx, connection errors, timeouts and truncated
    bodies are retried up to max_retries times with exponential backoff and
    full jitter in [d/2, d]; a Retry-After header (seconds) sets the wait
    instead (capped at max(60 s, 4 x backoff_max_ms)). Everything else (4xx, a 2xx with
    malformed JSON or missing fields) fails at once with GEAK_E_LLM.

    Threading: a geak_llm_t is shared by all threads of a process. Every
    call uses its own CURL easy handle; a counting semaphore limits the
    requests in flight to `concurrency`. The budget is checked before each
    call (atomics); once spent, calls fail with GEAK_E_BUDGET and the log
    says so once (event llm_budget_exhausted). */
#ifndef GEAK_LLM_H_INCLUDED
#define GEAK_LLM_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_proto.h"

typedef enum {
    GEAK_LLM_OPENAI = 0,
    GEAK_LLM_ANTHROPIC = 1,
    GEAK_LLM_REPLAY = 2
} geak_llm_provider_t;

//  Configuration (strings owned by the config; geak_llm_config_clear frees).
typedef struct {
    geak_llm_provider_t provider;
    char *base_url;
    char *model;
    char *api_key;              //  NULL for replay
    char *replay_path;
    char *record_path;
    long timeout_ms;
    long max_retries;
    long backoff_ms;
    long backoff_max_ms;
    long concurrency;
    double temperature;
    long max_tokens;
    long samples;
    long budget_tokens;         //  0 = unlimited
    long budget_calls;          //  0 = unlimited
} geak_llm_config_t;

//  Defaults, then the environment. On error returns GEAK_E_CONFIG (bad
//  number, unknown provider, missing model / key / replay file) and sets
//  *error (malloc'd, caller frees) to a sentence naming the variable.
geak_rc_t geak_llm_config_from_env (geak_llm_config_t *config, char **error);
void geak_llm_config_defaults (geak_llm_config_t *config);
void geak_llm_config_clear (geak_llm_config_t *config);
const char *geak_llm_provider_name (geak_llm_provider_t provider);

typedef struct geak_llm_t geak_llm_t;

//  Create a client; takes ownership of the config's strings (the config is
//  zeroed). Registers the key as a log secret. NULL with *rc on failure
//  (GEAK_E_CONFIG, GEAK_E_IO for an unreadable replay file, GEAK_E_MALFORMED
//  for a replay file without a single usable line).
geak_llm_t *geak_llm_new (geak_llm_config_t *config, geak_rc_t *rc);
//  Shorthand: config from the environment, error sentence logged.
geak_llm_t *geak_llm_new_from_env (geak_rc_t *rc);
void geak_llm_destroy (geak_llm_t **self_p);

geak_llm_provider_t geak_llm_provider (const geak_llm_t *self);
const char *geak_llm_model (const geak_llm_t *self);

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
//  usage.provider / usage.model point into the client (valid while it lives).
typedef struct {
    char **texts;
    size_t count;
    Geak__LlmUsage usage;
    long http_status;           //  last HTTP status seen (0: none)
} geak_llm_result_t;
void geak_llm_result_clear (geak_llm_result_t *result);

//  Run a request (blocking; thread-safe). GEAK_OK with result filled, or
//  GEAK_E_LLM / GEAK_E_BUDGET / GEAK_E_INVALID / GEAK_E_NOMEM with *error
//  (malloc'd sentence, caller frees; never contains the key). On failure
//  result->usage still reports retries and latency.
geak_rc_t geak_llm_complete (geak_llm_t *self, const geak_llm_request_t *request,
                             geak_llm_result_t *result, char **error);

//  Budget: counts so far (this process)
uint64_t geak_llm_calls_used (geak_llm_t *self);
uint64_t geak_llm_tokens_used (geak_llm_t *self);

// ---------------------------------------------------------------- pure parts
//  (exposed for tests and the fuzzer)

//  Request body JSON for provider (malloc'd, caller frees).
char *geak_llm_build_body (geak_llm_provider_t provider, const char *model,
                           const char *system, const char *user,
                           double temperature, uint32_t max_tokens, uint32_t samples);

//  Parse a reply body. On GEAK_OK result->texts/count and tokens are set;
//  else GEAK_E_LLM and *error says what was wrong. Never crashes on any
//  bytes (body need not be NUL-terminated).
geak_rc_t geak_llm_parse_reply (geak_llm_provider_t provider, const char *body, size_t size,
                                geak_llm_result_t *result, char **error);

//  Backoff before retry number attempt (0-based): min(max_ms, base_ms << attempt),
//  then jittered to [d/2, d] by the random value r in [0, 1). A Retry-After
//  of retry_after_s >= 0 seconds replaces it (capped at max(60000, 4 x max_ms)).
long geak_llm_backoff_ms (int attempt, long base_ms, long max_ms, long retry_after_s, double r);

//  Whether an HTTP status is retried (429, 5xx).
bool geak_llm_status_retryable (long status);

int geak_llm_test (bool verbose);

#endif
