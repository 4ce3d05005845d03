/*  geak_llm_shape.h - per-model request shaping: which parameters a model
    accepts, chosen by model family and overridable in config.

    Families (from the model name; a "provider/" prefix is ignored):
      reasoning  OpenAI o1*, o3*, o4*, gpt-5* (not *-chat*): temperature is
                 not sent (they accept only the default), the cap is sent as
                 max_completion_tokens and covers the reasoning tokens
                 (default 32768); reasoning_effort is sent when configured.
                 Anthropic claude-3-7*, claude-*-4*, claude-4*: extended
                 thinking is available; with a thinking budget (configured,
                 or from the reasoning effort: low 2048, medium 8192, high
                 24576) the request carries thinking {type: enabled,
                 budget_tokens}, no temperature, and max_tokens = budget +
                 the reply's own cap (default 8192).
      chat       everything else: temperature (default 0.7) and max_tokens
                 (default 4096).
    Config overrides (GEAK_LLM_*, docs/llm.md): FAMILY (auto|chat|reasoning),
    TEMPERATURE (a number, or "omit"), TOKEN_PARAM (auto|max_tokens|
    max_completion_tokens), MAX_TOKENS, REASONING_EFFORT, THINKING_BUDGET.
    An explicitly configured temperature is always sent. */
#ifndef GEAK_LLM_SHAPE_H_INCLUDED
#define GEAK_LLM_SHAPE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_llm_wire.h"

typedef enum {
    GEAK_LLM_FAMILY_AUTO = 0,
    GEAK_LLM_FAMILY_CHAT,
    GEAK_LLM_FAMILY_REASONING
} geak_llm_family_t;

typedef enum {
    GEAK_LLM_TOKENS_AUTO = 0,
    GEAK_LLM_TOKENS_MAX_TOKENS,
    GEAK_LLM_TOKENS_MAX_COMPLETION
} geak_llm_token_param_t;

#define GEAK_LLM_CHAT_MAX_TOKENS        4096
#define GEAK_LLM_REASONING_MAX_TOKENS   32768
#define GEAK_LLM_THINKING_REPLY_TOKENS  8192

typedef struct {
    geak_llm_family_t family;
    bool temperature_set;           //  configured explicitly
    bool temperature_omit;          //  GEAK_LLM_TEMPERATURE=omit
    double temperature;             //  used when set (default 0.7)
    geak_llm_token_param_t token_param;
    long max_tokens;                //  0: by family
    char reasoning_effort [16];     //  "": not sent
    long thinking_budget;           //  0: from the effort, or off
    bool stream;
} geak_llm_policy_t;

void geak_llm_policy_defaults (geak_llm_policy_t *policy);
const char *geak_llm_family_name (geak_llm_family_t family);
//  The family of a model name (never AUTO).
geak_llm_family_t geak_llm_family_of (bool anthropic, const char *model);

//  The request as it goes on the wire. req_temperature < 0 and
//  req_max_tokens 0 mean "the configured default"; a request temperature
//  is dropped where the family sends none. Strings of shape are borrowed
//  from model / policy (system and user are left for the caller).
void geak_llm_shape_make (bool anthropic, const char *model, const geak_llm_policy_t *policy,
                          double req_temperature, uint32_t req_max_tokens, uint32_t n,
                          geak_llm_shape_t *shape);

int geak_llm_shape_test (bool verbose);

#endif
