/*  geak_llm_openai.c - the OpenAI Chat Completions wire format (also what
    vLLM, SGLang, llama.cpp, Ollama, LiteLLM and Azure OpenAI's v1 API speak). */
#include "geak_prelude.h"
#include "geak_llm_wire.h"

#include <cjson/cJSON.h>

static char *
s_body (const geak_llm_shape_t *shape)
{
    if (!shape->model || !shape->user)
        return NULL;
    cJSON *root = cJSON_CreateObject ();
    cJSON *messages = cJSON_AddArrayToObject (root, "messages");
    bool ok = root && messages && cJSON_AddStringToObject (root, "model", shape->model);
    if (ok && shape->system && *shape->system) {
        cJSON *msg = cJSON_CreateObject ();
        ok = msg && cJSON_AddItemToArray (messages, msg)
          && cJSON_AddStringToObject (msg, "role", "system")
          && cJSON_AddStringToObject (msg, "content", shape->system);
    }
    if (ok) {
        cJSON *msg = cJSON_CreateObject ();
        ok = msg && cJSON_AddItemToArray (messages, msg)
          && cJSON_AddStringToObject (msg, "role", "user")
          && cJSON_AddStringToObject (msg, "content", shape->user);
    }
    ok = ok && cJSON_AddNumberToObject (root, shape->max_completion_tokens ? "max_completion_tokens"
                                                                           : "max_tokens",
                                        (double) shape->max_tokens);
    if (ok && shape->send_temperature)
        ok = cJSON_AddNumberToObject (root, "temperature", shape->temperature) != NULL;
    if (ok && shape->reasoning_effort)
        ok = cJSON_AddStringToObject (root, "reasoning_effort", shape->reasoning_effort) != NULL;
    if (ok && shape->n > 1)
        ok = cJSON_AddNumberToObject (root, "n", (double) shape->n) != NULL;
    if (ok && shape->stream) {
        cJSON *options = cJSON_CreateObject ();
        ok = cJSON_AddTrueToObject (root, "stream")
          && options && cJSON_AddItemToObject (root, "stream_options", options)
          && cJSON_AddTrueToObject (options, "include_usage");
    }
    char *text = ok ? cJSON_PrintUnformatted (root) : NULL;
    cJSON_Delete (root);
    return text;
}

static const char *
s_finish (const cJSON *value)
{
    if (!cJSON_IsString (value) || !*value->valuestring)
        return "";
    const char *v = value->valuestring;
    if (strcmp (v, "stop") == 0 || strcmp (v, "eos") == 0)
        return "stop";
    if (strcmp (v, "length") == 0)
        return "length";
    if (strcmp (v, "content_filter") == 0)
        return "content_filter";
    if (strcmp (v, "tool_calls") == 0 || strcmp (v, "function_call") == 0)
        return "tool_calls";
    return "other";
}

//  usage -> reply (replacing what was there: the last usage a stream sends wins)
static bool
s_usage (const cJSON *usage, geak_llm_reply_t *reply)
{
    if (!usage || cJSON_IsNull (usage))
        return true;
    if (!cJSON_IsObject (usage))
        return false;
    uint64_t in = 0, out = 0, reasoning = 0;
    const cJSON *details = cJSON_GetObjectItemCaseSensitive (usage, "completion_tokens_details");
    if (!geak_llm_wire_count (usage, "prompt_tokens", &in, NULL)
    ||  !geak_llm_wire_count (usage, "completion_tokens", &out, NULL)
    ||  (cJSON_IsObject (details)
         && !geak_llm_wire_count (details, "reasoning_tokens", &reasoning, NULL)))
        return false;
    reply->tokens_in = in;
    reply->tokens_out = out;
    reply->reasoning_tokens = reasoning;
    reply->usage_seen = true;
    return true;
}

static geak_rc_t
s_parse (const char *body, size_t size, geak_llm_reply_t *reply, char **error)
{
    cJSON *root = geak_llm_wire_object (body, size, error);
    if (!root)
        return GEAK_E_LLM;
    const char *why = NULL;
    geak_rc_t rc = GEAK_OK;
    if (!s_usage (cJSON_GetObjectItemCaseSensitive (root, "usage"), reply))
        why = "reply usage token counts are not numbers";
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive (root, "choices");
    if (!why && cJSON_GetObjectItemCaseSensitive (root, "error")) {
        char *detail = geak_llm_wire_error_of (root);
        *error = geak_strdupf ("provider returned an error: %s", detail);
        free (detail);
        rc = GEAK_E_LLM;
    }
    else
    if (!why && (!cJSON_IsArray (choices) || cJSON_GetArraySize (choices) == 0))
        why = "reply has no choices[]";
    size_t position = 0;
    const cJSON *choice = NULL;
    cJSON_ArrayForEach (choice, choices) {
        if (why || rc != GEAK_OK)
            break;
        const cJSON *index = cJSON_GetObjectItemCaseSensitive (choice, "index");
        size_t at = cJSON_IsNumber (index) && index->valuedouble >= 0
                  && index->valuedouble < GEAK_LLM_SAMPLES_MAX ? (size_t) index->valuedouble : position;
        position++;
        if (!cJSON_IsObject (choice)) {
            why = "reply choices[] holds something else than objects";
            break;
        }
        const char *finish = s_finish (cJSON_GetObjectItemCaseSensitive (choice, "finish_reason"));
        const cJSON *message = cJSON_GetObjectItemCaseSensitive (choice, "message");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive (message, "content");
        if (cJSON_IsString (content))
            rc = geak_llm_reply_append (reply, at, content->valuestring, strlen (content->valuestring));
        else
        if ((content == NULL || cJSON_IsNull (content)) && cJSON_IsObject (message) && *finish)
            //  no text, but a reason: a reasoning model that spent its budget thinking
            rc = geak_llm_reply_append (reply, at, "", 0);
        else
            why = "reply has no choices[].message.content string";
        if (rc == GEAK_OK && !why)
            geak_llm_reply_finish (reply, at, finish);
    }
    cJSON_Delete (root);
    if (why) {
        *error = geak_strdupf ("%s", why);
        rc = GEAK_E_LLM;
    }
    if (rc == GEAK_E_NOMEM && !*error)
        *error = geak_strdupf ("out of memory");
    return rc;
}

static geak_rc_t
s_event (geak_llm_reply_t *reply, const char *event, const char *data, size_t size)
{
    GEAK_UNUSED (event);
    if (size == 6 && memcmp (data, "[DONE]", 6) == 0) {
        reply->done = true;
        return GEAK_OK;
    }
    cJSON *root = cJSON_ParseWithLength (data, size);
    if (!cJSON_IsObject (root)) {
        cJSON_Delete (root);
        return GEAK_E_MALFORMED;
    }
    geak_rc_t rc = GEAK_OK;
    if (cJSON_GetObjectItemCaseSensitive (root, "error")) {
        free (reply->error);
        reply->error = geak_llm_wire_error_of (root);
        cJSON_Delete (root);
        return GEAK_E_LLM;
    }
    if (!s_usage (cJSON_GetObjectItemCaseSensitive (root, "usage"), reply))
        rc = GEAK_E_MALFORMED;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive (root, "choices");
    const cJSON *choice = NULL;
    size_t position = 0;
    cJSON_ArrayForEach (choice, choices) {
        if (rc != GEAK_OK)
            break;
        const cJSON *index = cJSON_GetObjectItemCaseSensitive (choice, "index");
        size_t at = cJSON_IsNumber (index) && index->valuedouble >= 0
                  && index->valuedouble < GEAK_LLM_SAMPLES_MAX ? (size_t) index->valuedouble : position;
        position++;
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive (choice, "delta");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive (delta, "content");
        if (cJSON_IsString (content))
            rc = geak_llm_reply_append (reply, at, content->valuestring,
                                        strlen (content->valuestring));
        else
        if (at >= reply->count)
            rc = geak_llm_reply_append (reply, at, "", 0);
        const char *finish = s_finish (cJSON_GetObjectItemCaseSensitive (choice, "finish_reason"));
        if (rc == GEAK_OK && *finish)
            geak_llm_reply_finish (reply, at, finish);
    }
    cJSON_Delete (root);
    return rc;
}

const geak_llm_wire_t geak_llm_wire_openai = {
    .name = "openai", .path = "/chat/completions",
    .body = s_body, .parse = s_parse, .event = s_event,
};
