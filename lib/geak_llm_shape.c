/*  geak_llm_shape.c - model families and the parameters each accepts. */
#include "geak_prelude.h"
#include "geak_llm_shape.h"

#include <strings.h>

void
geak_llm_policy_defaults (geak_llm_policy_t *policy)
{
    memset (policy, 0, sizeof *policy);
    policy->temperature = 0.7;
    policy->stream = true;
}

const char *
geak_llm_family_name (geak_llm_family_t family)
{
    return family == GEAK_LLM_FAMILY_REASONING ? "reasoning"
         : family == GEAK_LLM_FAMILY_CHAT ? "chat" : "auto";
}

static bool
s_starts (const char *s, const char *prefix)
{
    return strncasecmp (s, prefix, strlen (prefix)) == 0;
}

geak_llm_family_t
geak_llm_family_of (bool anthropic, const char *model)
{
    if (!model)
        return GEAK_LLM_FAMILY_CHAT;
    const char *slash = strrchr (model, '/');
    const char *name = slash ? slash + 1 : model;
    if (anthropic) {
        bool thinking = s_starts (name, "claude-3-7") || s_starts (name, "claude-4")
                     || ((s_starts (name, "claude-sonnet-") || s_starts (name, "claude-opus-")
                          || s_starts (name, "claude-haiku-"))
                         && name [strcspn (name, "0123456789")] >= '4');
        return thinking ? GEAK_LLM_FAMILY_REASONING : GEAK_LLM_FAMILY_CHAT;
    }
    bool o_series = (name [0] == 'o' || name [0] == 'O') && name [1] >= '1' && name [1] <= '9';
    bool gpt5 = s_starts (name, "gpt-5") && !strstr (name, "-chat");
    return o_series || gpt5 ? GEAK_LLM_FAMILY_REASONING : GEAK_LLM_FAMILY_CHAT;
}

static uint32_t
s_effort_budget (const char *effort)
{
    if (strcmp (effort, "minimal") == 0 || strcmp (effort, "low") == 0)
        return 2048;
    if (strcmp (effort, "medium") == 0)
        return 8192;
    if (strcmp (effort, "high") == 0)
        return 24576;
    return 0;
}

void
geak_llm_shape_make (bool anthropic, const char *model, const geak_llm_policy_t *policy,
                     double req_temperature, uint32_t req_max_tokens, uint32_t n,
                     geak_llm_shape_t *shape)
{
    assert (policy && shape);
    memset (shape, 0, sizeof *shape);
    shape->model = model;
    shape->stream = policy->stream;
    shape->n = n ? n : 1;
    geak_llm_family_t family = policy->family != GEAK_LLM_FAMILY_AUTO
                             ? policy->family : geak_llm_family_of (anthropic, model);
    bool reasoning = family == GEAK_LLM_FAMILY_REASONING;
    uint32_t cap = req_max_tokens ? req_max_tokens
                 : policy->max_tokens > 0 ? (uint32_t) policy->max_tokens
                 : reasoning && !anthropic ? GEAK_LLM_REASONING_MAX_TOKENS
                 : GEAK_LLM_CHAT_MAX_TOKENS;
    bool temperature = !policy->temperature_omit;
    if (anthropic) {
        uint32_t budget = policy->thinking_budget > 0 ? (uint32_t) policy->thinking_budget
                        : reasoning ? s_effort_budget (policy->reasoning_effort) : 0;
        if (budget > 0) {
            shape->thinking_budget = budget;
            //  the cap covers thinking and the reply
            uint32_t reply = req_max_tokens || policy->max_tokens > 0 ? cap
                                                                      : GEAK_LLM_THINKING_REPLY_TOKENS;
            cap = budget + reply;
            temperature = temperature && policy->temperature_set;
        }
    }
    else {
        if (reasoning)
            temperature = temperature && policy->temperature_set;
        shape->max_completion_tokens = policy->token_param == GEAK_LLM_TOKENS_MAX_COMPLETION
                                    || (policy->token_param == GEAK_LLM_TOKENS_AUTO && reasoning);
        if (policy->reasoning_effort [0])
            shape->reasoning_effort = policy->reasoning_effort;
    }
    shape->max_tokens = cap;
    shape->send_temperature = temperature;
    shape->temperature = policy->temperature;
    //  a request's own temperature, where the family takes one and config did not pin it
    if (temperature && req_temperature >= 0 && !policy->temperature_set)
        shape->temperature = req_temperature;
}

int
geak_llm_shape_test (bool verbose)
{
    int fails = 0;
    struct { bool anthropic; const char *model; geak_llm_family_t want; } families [] = {
        { false, "o1-preview", GEAK_LLM_FAMILY_REASONING }, { false, "o3-mini", GEAK_LLM_FAMILY_REASONING },
        { false, "openai/o4-mini", GEAK_LLM_FAMILY_REASONING }, { false, "gpt-5", GEAK_LLM_FAMILY_REASONING },
        { false, "gpt-5-mini-2025-08-07", GEAK_LLM_FAMILY_REASONING },
        { false, "gpt-5-chat-latest", GEAK_LLM_FAMILY_CHAT }, { false, "gpt-4o", GEAK_LLM_FAMILY_CHAT },
        { false, "Qwen/Qwen2.5-Coder-32B", GEAK_LLM_FAMILY_CHAT }, { false, "omni", GEAK_LLM_FAMILY_CHAT },
        { true, "claude-3-5-sonnet-20241022", GEAK_LLM_FAMILY_CHAT },
        { true, "claude-3-7-sonnet-latest", GEAK_LLM_FAMILY_REASONING },
        { true, "claude-sonnet-4-20250514", GEAK_LLM_FAMILY_REASONING },
        { true, "claude-opus-4-1", GEAK_LLM_FAMILY_REASONING },
        { true, "claude-haiku-3", GEAK_LLM_FAMILY_CHAT }, { false, NULL, GEAK_LLM_FAMILY_CHAT },
    };
    for (size_t i = 0; i < sizeof families / sizeof families [0]; i++) {
        geak_llm_family_t got = geak_llm_family_of (families [i].anthropic, families [i].model);
        if (got != families [i].want || verbose)
            printf ("  family %s -> %s\n", families [i].model ? families [i].model : "(null)",
                    geak_llm_family_name (got));
        fails += got != families [i].want;
    }
    geak_llm_policy_t policy;
    geak_llm_policy_defaults (&policy);
    geak_llm_shape_t s;
    //  chat: temperature (the request's own when config did not pin it), max_tokens 4096
    geak_llm_shape_make (false, "gpt-4o", &policy, 0.2, 0, 1, &s);
    fails += !s.send_temperature || s.temperature != 0.2 || s.max_completion_tokens
          || s.max_tokens != 4096 || s.reasoning_effort || !s.stream;
    //  reasoning: no temperature, max_completion_tokens, a larger cap
    geak_llm_shape_make (false, "o3-mini", &policy, 0.7, 0, 1, &s);
    fails += s.send_temperature || !s.max_completion_tokens || s.max_tokens != 32768;
    snprintf (policy.reasoning_effort, sizeof policy.reasoning_effort, "high");
    geak_llm_shape_make (false, "gpt-5", &policy, -1, 1000, 2, &s);
    fails += !s.reasoning_effort || strcmp (s.reasoning_effort, "high") || s.max_tokens != 1000
          || s.n != 2;
    //  an explicit temperature is sent, even to a reasoning model; "omit" is honoured everywhere
    policy.temperature_set = true;
    policy.temperature = 1.0;
    geak_llm_shape_make (false, "o3", &policy, 0.3, 0, 1, &s);
    fails += !s.send_temperature || s.temperature != 1.0;
    policy.temperature_omit = true;
    geak_llm_shape_make (false, "gpt-4o", &policy, 0.3, 0, 1, &s);
    fails += s.send_temperature;
    //  forced param name and family
    geak_llm_policy_defaults (&policy);
    policy.token_param = GEAK_LLM_TOKENS_MAX_COMPLETION;
    geak_llm_shape_make (false, "my-local-model", &policy, -1, 0, 1, &s);
    fails += !s.max_completion_tokens || !s.send_temperature || s.max_tokens != 4096;
    policy.family = GEAK_LLM_FAMILY_REASONING;
    policy.token_param = GEAK_LLM_TOKENS_MAX_TOKENS;
    geak_llm_shape_make (false, "deepseek-r1", &policy, -1, 0, 1, &s);
    fails += s.send_temperature || s.max_completion_tokens || s.max_tokens != 32768;
    //  Anthropic: no thinking unless asked; with a budget the cap covers it
    geak_llm_policy_defaults (&policy);
    geak_llm_shape_make (true, "claude-sonnet-4-5", &policy, -1, 0, 1, &s);
    fails += s.thinking_budget || !s.send_temperature || s.max_tokens != 4096 || s.reasoning_effort;
    policy.thinking_budget = 10000;
    geak_llm_shape_make (true, "claude-sonnet-4-5", &policy, 0.5, 0, 1, &s);
    fails += s.thinking_budget != 10000 || s.send_temperature || s.max_tokens != 18192;
    geak_llm_policy_defaults (&policy);
    snprintf (policy.reasoning_effort, sizeof policy.reasoning_effort, "medium");
    geak_llm_shape_make (true, "claude-opus-4-1", &policy, -1, 2000, 1, &s);
    fails += s.thinking_budget != 8192 || s.max_tokens != 10192 || s.send_temperature;
    geak_llm_shape_make (true, "claude-3-5-haiku", &policy, -1, 0, 1, &s);
    fails += s.thinking_budget != 0 || !s.send_temperature;
    if (verbose)
        printf ("  shape: %d failures\n", fails);
    return fails;
}
