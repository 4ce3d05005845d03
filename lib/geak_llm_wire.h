/*  geak_llm_wire.h - the wire formats of the LLM providers, behind one
    table of functions (after curl's lib/vtls): request body, whole reply,
    streamed events. Pure code, no I/O: the client (geak_llm.c) does HTTP.

    OpenAI Chat Completions  POST {base}/chat/completions, base ends in /v1
      (or another API root: Azure's /openai/v1, a proxy path). Text from
      choices[i].message.content (streamed: choices[i].delta.content),
      finish from choices[i].finish_reason, tokens from usage.prompt_tokens
      / completion_tokens (reasoning tokens inside completion_tokens, also
      counted apart from completion_tokens_details.reasoning_tokens).
    Anthropic Messages       POST {root}/v1/messages. Text from the "text"
      parts of content[] (streamed: content_block_delta text_delta; thinking
      parts are skipped), finish from stop_reason, tokens from usage:
      input_tokens + cache_creation_input_tokens + cache_read_input_tokens,
      output_tokens (thinking included).

    Finish reasons are normalised: stop (OpenAI stop, Anthropic end_turn /
    stop_sequence), length (length / max_tokens: the reply was cut off),
    content_filter (content_filter / refusal), tool_calls (tool_calls /
    function_call / tool_use), other; "" when the provider said nothing. */
#ifndef GEAK_LLM_WIRE_H_INCLUDED
#define GEAK_LLM_WIRE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_LLM_SAMPLES_MAX    64
#define GEAK_LLM_FINISH_MAX     16

//  One request as it goes on the wire, after per-model shaping
//  (geak_llm_shape.h). Strings borrowed.
typedef struct {
    const char *model;
    const char *system;             //  may be NULL
    const char *user;
    bool send_temperature;
    double temperature;
    bool max_completion_tokens;     //  OpenAI: name the cap max_completion_tokens
    uint32_t max_tokens;            //  the cap (reasoning / thinking included)
    const char *reasoning_effort;   //  OpenAI reasoning_effort; NULL: not sent
    uint32_t thinking_budget;       //  Anthropic thinking.budget_tokens; 0: off
    uint32_t n;                     //  OpenAI choices per call (1: not sent)
    bool stream;
} geak_llm_shape_t;

//  What a reply (whole, or streamed so far) has said.
typedef struct {
    char *text [GEAK_LLM_SAMPLES_MAX];          //  NULL: no content for that choice
    size_t text_len [GEAK_LLM_SAMPLES_MAX];
    char finish [GEAK_LLM_SAMPLES_MAX][GEAK_LLM_FINISH_MAX];
    size_t count;                               //  choices seen (highest index + 1)
    uint64_t tokens_in, tokens_out, reasoning_tokens;
    bool usage_seen;
    bool done;                                  //  stream: the end marker arrived
    char *error;                                //  an error the provider sent in the body
} geak_llm_reply_t;

void geak_llm_reply_clear (geak_llm_reply_t *reply);
//  Append text to choice index (creates it). GEAK_E_MALFORMED for an index
//  out of range, GEAK_E_NOMEM.
geak_rc_t geak_llm_reply_append (geak_llm_reply_t *reply, size_t index, const char *text,
                                 size_t size);
void geak_llm_reply_finish (geak_llm_reply_t *reply, size_t index, const char *normalised);
//  The normalised finish reason `name` as a static string ("" when it is
//  none of them): what LlmUsage.finish_reason may point at.
const char *geak_llm_wire_finish_static (const char *name);
//  Whether any choice was cut off (finish "length").
bool geak_llm_reply_truncated (const geak_llm_reply_t *reply);
//  The first non-empty finish reason of the choices ("" when none).
const char *geak_llm_reply_finish_reason (const geak_llm_reply_t *reply);

typedef struct {
    const char *name;
    //  Path appended to the normalised base URL
    const char *path;
    //  Request body (malloc'd JSON) or NULL when shape is incomplete.
    char *(*body) (const geak_llm_shape_t *shape);
    //  A whole (non-streamed) 2xx body. GEAK_E_LLM with *error when it is
    //  not a usable reply; tokens are recorded even then, when present.
    geak_rc_t (*parse) (const char *body, size_t size, geak_llm_reply_t *reply, char **error);
    //  One streamed event (geak_sse). GEAK_E_LLM with reply->error set for
    //  an error event; GEAK_E_MALFORMED for an event we cannot read.
    geak_rc_t (*event) (geak_llm_reply_t *reply, const char *event, const char *data, size_t size);
} geak_llm_wire_t;

extern const geak_llm_wire_t geak_llm_wire_openai;
extern const geak_llm_wire_t geak_llm_wire_anthropic;

//  The API root a user wrote, made what the provider's path expects:
//  trailing '/' dropped; a pasted endpoint (".../chat/completions",
//  ".../v1/messages") cut back; OpenAI: a bare host gets "/v1";
//  Anthropic: a trailing "/v1" is dropped (the path adds it). Malloc'd.
char *geak_llm_wire_base (bool anthropic, const char *raw);
//  The URL for messages: user:password@ removed, the query string removed
//  (keys hide there). Malloc'd.
char *geak_llm_wire_url_public (const char *url);
//  The message of an error body: error.message, error (a string),
//  detail (a string, or FastAPI's [{"msg": ...}]), message; cut to 300
//  bytes, quotes and control characters blanked. Malloc'd; "(no error
//  message in the body: N bytes)" when there is none.
char *geak_llm_wire_error_detail (const char *body, size_t size);

//  For the formats: a reply body as a JSON object, or NULL with *error
//  ("empty reply body", "not valid JSON", "not a JSON object"; N bytes).
struct cJSON;
struct cJSON *geak_llm_wire_object (const char *body, size_t size, char **error);
//  A token count field: missing or null -> 0 and true; a negative, absurd
//  or non-number value -> false. *present (may be NULL) set when given.
bool geak_llm_wire_count (const struct cJSON *obj, const char *name, uint64_t *value, bool *present);
//  The error message of a parsed body (geak_llm_wire_error_detail of it).
char *geak_llm_wire_error_of (const struct cJSON *root);

int geak_llm_wire_test (bool verbose);

#endif
