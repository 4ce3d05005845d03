/*  geak_llm_anthropic.c - the Anthropic Messages wire format. */
#include "geak_prelude.h"
#include "geak_llm_wire.h"

#include <cjson/cJSON.h>

static char *
s_body (const geak_llm_shape_t *shape)
{
    if (!shape->model || !shape->user)
        return NULL;
    cJSON *root = cJSON_CreateObject ();
    bool ok = root && cJSON_AddStringToObject (root, "model", shape->model)
           && cJSON_AddNumberToObject (root, "max_tokens", (double) shape->max_tokens);
    if (ok && shape->system && *shape->system)
        ok = cJSON_AddStringToObject (root, "system", shape->system) != NULL;
    cJSON *messages = ok ? cJSON_AddArrayToObject (root, "messages") : NULL;
    cJSON *msg = messages ? cJSON_CreateObject () : NULL;
    ok = msg && cJSON_AddItemToArray (messages, msg)
      && cJSON_AddStringToObject (msg, "role", "user")
      && cJSON_AddStringToObject (msg, "content", shape->user);
    if (ok && shape->send_temperature)
        ok = cJSON_AddNumberToObject (root, "temperature", shape->temperature) != NULL;
    if (ok && shape->thinking_budget > 0) {
        cJSON *thinking = cJSON_AddObjectToObject (root, "thinking");
        ok = thinking && cJSON_AddStringToObject (thinking, "type", "enabled")
          && cJSON_AddNumberToObject (thinking, "budget_tokens", (double) shape->thinking_budget);
    }
    if (ok && shape->stream)
        ok = cJSON_AddTrueToObject (root, "stream") != NULL;
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
    if (strcmp (v, "end_turn") == 0 || strcmp (v, "stop_sequence") == 0)
        return "stop";
    if (strcmp (v, "max_tokens") == 0 || strcmp (v, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp (v, "refusal") == 0)
        return "content_filter";
    if (strcmp (v, "tool_use") == 0)
        return "tool_calls";
    return "other";
}

//  usage -> reply. Input counts replace when present (message_start), the
//  output count replaces (message_delta carries the running total).
static bool
s_usage (const cJSON *usage, geak_llm_reply_t *reply)
{
    if (!usage || cJSON_IsNull (usage))
        return true;
    if (!cJSON_IsObject (usage))
        return false;
    uint64_t in = 0, created = 0, read = 0, out = 0;
    bool has_in = false, has_out = false;
    if (!geak_llm_wire_count (usage, "input_tokens", &in, &has_in)
    ||  !geak_llm_wire_count (usage, "cache_creation_input_tokens", &created, &has_in)
    ||  !geak_llm_wire_count (usage, "cache_read_input_tokens", &read, &has_in)
    ||  !geak_llm_wire_count (usage, "output_tokens", &out, &has_out))
        return false;
    if (has_in)
        reply->tokens_in = in + created + read;
    if (has_out)
        reply->tokens_out = out;
    reply->usage_seen = reply->usage_seen || has_in || has_out;
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
    const cJSON *content = cJSON_GetObjectItemCaseSensitive (root, "content");
    const char *finish = s_finish (cJSON_GetObjectItemCaseSensitive (root, "stop_reason"));
    if (!why && cJSON_GetObjectItemCaseSensitive (root, "error")) {
        char *detail = geak_llm_wire_error_of (root);
        *error = geak_strdupf ("provider returned an error: %s", detail);
        free (detail);
        rc = GEAK_E_LLM;
    }
    else
    if (!why && !cJSON_IsArray (content))
        why = "reply has no content[] array";
    bool any = false;
    const cJSON *part = NULL;
    cJSON_ArrayForEach (part, content) {
        if (why || rc != GEAK_OK)
            break;
        const cJSON *type = cJSON_GetObjectItemCaseSensitive (part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive (part, "text");
        if (cJSON_IsString (type) && strcmp (type->valuestring, "text") == 0 && cJSON_IsString (text)) {
            rc = geak_llm_reply_append (reply, 0, text->valuestring, strlen (text->valuestring));
            any = true;
        }
    }
    if (!why && rc == GEAK_OK && !any) {
        if (*finish)
            //  only thinking (or nothing) before the cap: an empty reply with its reason
            rc = geak_llm_reply_append (reply, 0, "", 0);
        else
            why = "reply has no content[] part of type text";
    }
    if (!why && rc == GEAK_OK)
        geak_llm_reply_finish (reply, 0, finish);
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
    cJSON *root = cJSON_ParseWithLength (data, size);
    if (!cJSON_IsObject (root)) {
        cJSON_Delete (root);
        return GEAK_E_MALFORMED;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive (root, "type");
    const char *kind = cJSON_IsString (type) ? type->valuestring : event;
    geak_rc_t rc = GEAK_OK;
    if (strcmp (kind, "error") == 0) {
        free (reply->error);
        reply->error = geak_llm_wire_error_of (root);
        rc = GEAK_E_LLM;
    }
    else
    if (strcmp (kind, "message_start") == 0) {
        const cJSON *message = cJSON_GetObjectItemCaseSensitive (root, "message");
        if (!s_usage (cJSON_GetObjectItemCaseSensitive (message, "usage"), reply))
            rc = GEAK_E_MALFORMED;
        if (rc == GEAK_OK && reply->count == 0)
            rc = geak_llm_reply_append (reply, 0, "", 0);
    }
    else
    if (strcmp (kind, "content_block_start") == 0 || strcmp (kind, "content_block_delta") == 0) {
        const cJSON *block = cJSON_GetObjectItemCaseSensitive (root, kind [14] == 's'
                                                               ? "content_block" : "delta");
        const cJSON *btype = cJSON_GetObjectItemCaseSensitive (block, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive (block, "text");
        if (cJSON_IsString (btype) && (strcmp (btype->valuestring, "text") == 0
                                       || strcmp (btype->valuestring, "text_delta") == 0)
        &&  cJSON_IsString (text))
            rc = geak_llm_reply_append (reply, 0, text->valuestring, strlen (text->valuestring));
    }
    else
    if (strcmp (kind, "message_delta") == 0) {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive (root, "delta");
        const char *finish = s_finish (cJSON_GetObjectItemCaseSensitive (delta, "stop_reason"));
        if (!s_usage (cJSON_GetObjectItemCaseSensitive (root, "usage"), reply))
            rc = GEAK_E_MALFORMED;
        if (rc == GEAK_OK && *finish) {
            if (reply->count == 0)
                rc = geak_llm_reply_append (reply, 0, "", 0);
            geak_llm_reply_finish (reply, 0, finish);
        }
    }
    else
    if (strcmp (kind, "message_stop") == 0)
        reply->done = true;
    cJSON_Delete (root);
    return rc;
}

const geak_llm_wire_t geak_llm_wire_anthropic = {
    .name = "anthropic", .path = "/v1/messages",
    .body = s_body, .parse = s_parse, .event = s_event,
};
