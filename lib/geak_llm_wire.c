/*  geak_llm_wire.c - what the wire formats share: the reply being built,
    base URLs, error bodies; and the selftest of both formats. */
#include "geak_prelude.h"
#include "geak_llm_wire.h"
#include "geak_sse.h"

#include <cjson/cJSON.h>

#define ERROR_DETAIL_MAX    300

void
geak_llm_reply_clear (geak_llm_reply_t *reply)
{
    if (!reply)
        return;
    for (size_t i = 0; i < GEAK_LLM_SAMPLES_MAX; i++)
        free (reply->text [i]);
    free (reply->error);
    memset (reply, 0, sizeof *reply);
}

geak_rc_t
geak_llm_reply_append (geak_llm_reply_t *reply, size_t index, const char *text, size_t size)
{
    if (index >= GEAK_LLM_SAMPLES_MAX)
        return GEAK_E_MALFORMED;
    size_t have = reply->text [index] ? reply->text_len [index] : 0;
    if (size > SIZE_MAX / 2 - have)
        return GEAK_E_NOMEM;
    char *bigger = realloc (reply->text [index], have + size + 1);
    if (!bigger)
        return GEAK_E_NOMEM;
    memcpy (bigger + have, text, size);
    bigger [have + size] = '\0';
    reply->text [index] = bigger;
    reply->text_len [index] = have + size;
    if (index + 1 > reply->count)
        reply->count = index + 1;
    return GEAK_OK;
}

void
geak_llm_reply_finish (geak_llm_reply_t *reply, size_t index, const char *normalised)
{
    if (index < GEAK_LLM_SAMPLES_MAX && normalised)
        snprintf (reply->finish [index], GEAK_LLM_FINISH_MAX, "%s", normalised);
}

const char *
geak_llm_wire_finish_static (const char *name)
{
    static const char *names [] = { "stop", "length", "content_filter", "tool_calls", "other" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        if (name && strcmp (name, names [i]) == 0)
            return names [i];
    return "";
}

bool
geak_llm_reply_truncated (const geak_llm_reply_t *reply)
{
    for (size_t i = 0; i < reply->count; i++)
        if (strcmp (reply->finish [i], "length") == 0)
            return true;
    return false;
}

const char *
geak_llm_reply_finish_reason (const geak_llm_reply_t *reply)
{
    if (geak_llm_reply_truncated (reply))
        return "length";
    for (size_t i = 0; i < reply->count; i++)
        if (reply->finish [i][0])
            return reply->finish [i];
    return "";
}

static bool
s_ends_with (const char *s, size_t len, const char *tail)
{
    size_t n = strlen (tail);
    return len >= n && strncasecmp (s + len - n, tail, n) == 0;
}

char *
geak_llm_wire_base (bool anthropic, const char *raw)
{
    char *base = geak_strdup (raw ? raw : "");
    size_t len = strlen (base);
    //  a query string is kept apart and put back (Azure's ?api-version=)
    char *query = strchr (base, '?');
    char *kept = query ? geak_strdup (query) : geak_strdup ("");
    if (query) {
        *query = '\0';
        len = strlen (base);
    }
    while (len > 0 && base [len - 1] == '/')
        base [--len] = '\0';
    const char *pasted [] = { "/chat/completions", "/v1/messages", "/messages" };
    for (size_t i = 0; i < sizeof pasted / sizeof pasted [0]; i++)
        if (s_ends_with (base, len, pasted [i])) {
            len -= strlen (pasted [i]);
            base [len] = '\0';
            break;
        }
    while (len > 0 && base [len - 1] == '/')
        base [--len] = '\0';
    const char *scheme = strstr (base, "://");
    const char *path = scheme ? strchr (scheme + 3, '/') : NULL;
    char *out;
    if (anthropic)
        out = s_ends_with (base, len, "/v1") ? geak_strdupf ("%.*s%s", (int) (len - 3), base, kept)
                                             : geak_strdupf ("%s%s", base, kept);
    else
        out = path ? geak_strdupf ("%s%s", base, kept) : geak_strdupf ("%s/v1%s", base, kept);
    free (base);
    free (kept);
    return out;
}

char *
geak_llm_wire_url_public (const char *url)
{
    if (!url)
        return geak_strdup ("");
    const char *scheme = strstr (url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *slash = strchr (host, '/');
    const char *at = strchr (host, '@');
    if (at && (!slash || at < slash))
        host = at + 1;
    size_t head = scheme ? (size_t) (scheme + 3 - url) : 0;
    const char *query = strchr (host, '?');
    size_t rest = query ? (size_t) (query - host) : strlen (host);
    return geak_strdupf ("%.*s%.*s", (int) head, url, (int) rest, host);
}

static const char *
s_message_of (const cJSON *root)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive (root, "error");
    if (cJSON_IsString (error) && *error->valuestring)
        return error->valuestring;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive (error, "message");
    if (cJSON_IsString (m) && *m->valuestring)
        return m->valuestring;
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive (root, "detail");
    if (cJSON_IsString (detail) && *detail->valuestring)
        return detail->valuestring;
    if (cJSON_IsArray (detail)) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive (cJSON_GetArrayItem (detail, 0), "msg");
        if (cJSON_IsString (msg))
            return msg->valuestring;
    }
    m = cJSON_GetObjectItemCaseSensitive (root, "message");
    if (cJSON_IsString (m) && *m->valuestring)
        return m->valuestring;
    return NULL;
}

char *
geak_llm_wire_error_detail (const char *body, size_t size)
{
    cJSON *root = body && size ? cJSON_ParseWithLength (body, size) : NULL;
    const char *message = s_message_of (root);
    char *detail;
    if (message)
        detail = geak_strdupf ("%.*s", ERROR_DETAIL_MAX, message);
    else
    if (body && size && !root) {
        //  not JSON (an HTML error page, a proxy's text): its first bytes
        size_t n = size < 120 ? size : 120;
        detail = geak_strdupf ("(no JSON error; the body starts: %.*s)", (int) n, body);
    }
    else
        detail = geak_strdupf ("(no error message in the body: %zu bytes)", size);
    cJSON_Delete (root);
    for (char *c = detail; *c; c++)
        if (*c == '"' || (unsigned char) *c < 0x20)
            *c = ' ';
    return detail;
}

cJSON *
geak_llm_wire_object (const char *body, size_t size, char **error)
{
    *error = NULL;
    cJSON *root = body && size ? cJSON_ParseWithLength (body, size) : NULL;
    const char *why = !body || size == 0 ? "empty reply body"
                    : !root ? "reply body is not valid JSON (truncated or malformed)"
                    : !cJSON_IsObject (root) ? "reply body is not a JSON object" : NULL;
    if (why) {
        cJSON_Delete (root);
        *error = geak_strdupf ("%s (%zu bytes)", why, size);
        return NULL;
    }
    return root;
}

bool
geak_llm_wire_count (const cJSON *obj, const char *name, uint64_t *value, bool *present)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    *value = 0;
    if (!item || cJSON_IsNull (item))
        return true;
    if (!cJSON_IsNumber (item) || !(item->valuedouble >= 0 && item->valuedouble < 1e15))
        return false;
    *value = (uint64_t) item->valuedouble;
    if (present)
        *present = true;
    return true;
}

char *
geak_llm_wire_error_of (const cJSON *root)
{
    char *json = cJSON_PrintUnformatted (root);
    char *detail = geak_llm_wire_error_detail (json, json ? strlen (json) : 0);
    free (json);
    return detail;
}

// ---------------------------------------------------------------- selftest

typedef struct {
    const geak_llm_wire_t *wire;
    geak_llm_reply_t *reply;
    geak_rc_t rc;
} s_stream_t;

static geak_rc_t
s_on_event (void *arg, const char *event, const char *data, size_t size)
{
    s_stream_t *s = (s_stream_t *) arg;
    s->rc = s->wire->event (s->reply, event, data, size);
    return s->rc == GEAK_E_MALFORMED ? GEAK_E_MALFORMED : GEAK_OK;
}

static int
s_check_stream (const geak_llm_wire_t *wire, const char *sse, const char *want_text,
                const char *want_finish, uint64_t in, uint64_t out, bool want_done, bool verbose)
{
    geak_llm_reply_t reply = { 0 };
    s_stream_t s = { .wire = wire, .reply = &reply };
    geak_sse_t *parser = geak_sse_new (1 << 20, s_on_event, &s);
    geak_rc_t rc = geak_sse_feed (parser, sse, strlen (sse));
    if (rc == GEAK_OK)
        rc = geak_sse_finish (parser);
    geak_sse_destroy (&parser);
    bool bad = rc != GEAK_OK || reply.count < 1 || !reply.text [0]
            || strcmp (reply.text [0], want_text) || strcmp (geak_llm_reply_finish_reason (&reply), want_finish)
            || reply.tokens_in != in || reply.tokens_out != out || reply.done != want_done;
    if (bad || verbose)
        printf ("  stream %s -> [%s] finish=%s in=%llu out=%llu done=%d rc=%s\n", wire->name,
                reply.text [0] ? reply.text [0] : "(null)", geak_llm_reply_finish_reason (&reply),
                (unsigned long long) reply.tokens_in, (unsigned long long) reply.tokens_out,
                reply.done, geak_rc_name (rc));
    geak_llm_reply_clear (&reply);
    return bad;
}

static int
s_check_parse (const geak_llm_wire_t *wire, const char *body, geak_rc_t want_rc,
               const char *want_text, const char *want_finish, uint64_t in, uint64_t out,
               bool verbose)
{
    geak_llm_reply_t reply = { 0 };
    char *error = NULL;
    geak_rc_t rc = wire->parse (body, body ? strlen (body) : 0, &reply, &error);
    bool bad = rc != want_rc || reply.tokens_in != in || reply.tokens_out != out;
    if (rc == GEAK_OK)
        bad |= reply.count < 1 || !reply.text [0] || strcmp (reply.text [0], want_text)
            || strcmp (geak_llm_reply_finish_reason (&reply), want_finish) || error;
    else
        bad |= !error;
    if (bad || verbose)
        printf ("  parse %s [%.70s] -> %s %s in=%llu out=%llu\n", wire->name, body ? body : "(null)",
                geak_rc_name (rc), error ? error : "", (unsigned long long) reply.tokens_in,
                (unsigned long long) reply.tokens_out);
    free (error);
    geak_llm_reply_clear (&reply);
    return bad;
}

static int
s_check_str (char *got, const char *want, bool verbose)
{
    bool bad = !got || strcmp (got, want) != 0;
    if (bad || verbose)
        printf ("  got [%s] want [%s]\n", got ? got : "(null)", want);
    free (got);
    return bad;
}

int
geak_llm_wire_test (bool verbose)
{
    int fails = 0;
    const geak_llm_wire_t *oa = &geak_llm_wire_openai, *an = &geak_llm_wire_anthropic;
    //  bodies
    geak_llm_shape_t shape = { .model = "o3", .system = "S", .user = "U", .max_tokens = 32768,
                               .max_completion_tokens = true, .reasoning_effort = "high",
                               .n = 3, .stream = true };
    fails += s_check_str (oa->body (&shape),
        "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"U\"}],"
        "\"model\":\"o3\",\"max_completion_tokens\":32768,\"reasoning_effort\":\"high\",\"n\":3,"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true}}", verbose);
    shape = (geak_llm_shape_t) { .model = "gpt-4o", .user = "U", .max_tokens = 100,
                                 .send_temperature = true, .temperature = 0.5, .n = 1 };
    fails += s_check_str (oa->body (&shape),
        "{\"messages\":[{\"role\":\"user\",\"content\":\"U\"}],\"model\":\"gpt-4o\",\"max_tokens\":100,"
        "\"temperature\":0.5}", verbose);
    shape = (geak_llm_shape_t) { .model = "claude-sonnet-4-5", .system = "S", .user = "U",
                                 .max_tokens = 12288, .thinking_budget = 8192, .stream = true };
    fails += s_check_str (an->body (&shape),
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":12288,\"system\":\"S\",\"messages\":"
        "[{\"role\":\"user\",\"content\":\"U\"}],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":8192},"
        "\"stream\":true}", verbose);
    shape.user = NULL;
    fails += oa->body (&shape) != NULL || an->body (&shape) != NULL;

    //  whole replies
    fails += s_check_parse (oa, "{\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"message\":"
        "{\"content\":\"hi\"}}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}",
        GEAK_OK, "hi", "stop", 12, 3, verbose);
    //  a reasoning model that spent its budget: no text, counted, cut off
    fails += s_check_parse (oa, "{\"choices\":[{\"index\":0,\"finish_reason\":\"length\",\"message\":"
        "{\"role\":\"assistant\",\"content\":null}}],\"usage\":{\"prompt_tokens\":1234,"
        "\"completion_tokens\":4096,\"completion_tokens_details\":{\"reasoning_tokens\":4096}}}",
        GEAK_OK, "", "length", 1234, 4096, verbose);
    fails += s_check_parse (oa, "{\"choices\":[{\"message\":{\"content\":null}}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6}}", GEAK_E_LLM, NULL, NULL, 5, 6, verbose);
    fails += s_check_parse (oa, "{\"error\":{\"message\":\"bad\"},\"usage\":{\"prompt_tokens\":2}}",
        GEAK_E_LLM, NULL, NULL, 2, 0, verbose);
    const char *bad_oa [] = { NULL, "", "{", "[]", "42", "{\"choices\":[]}", "{\"choices\":{}}",
        "{\"choices\":[{}]}", "{\"choices\":[5]}", "{\"choices\":[{\"message\":{\"content\":5}}]}",
        "{\"id\":\"x\",\"usage\":{}}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":\"7\"}}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":3}" };
    for (size_t i = 0; i < sizeof bad_oa / sizeof bad_oa [0]; i++)
        fails += s_check_parse (oa, bad_oa [i], GEAK_E_LLM, NULL, NULL, 0, 0, verbose);
    fails += s_check_parse (an, "{\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\"},"
        "{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}],\"stop_reason\":\"end_turn\","
        "\"usage\":{\"input_tokens\":7,\"cache_read_input_tokens\":3,\"output_tokens\":9}}",
        GEAK_OK, "ab", "stop", 10, 9, verbose);
    fails += s_check_parse (an, "{\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\"}],"
        "\"stop_reason\":\"max_tokens\",\"usage\":{\"input_tokens\":7,\"output_tokens\":4096}}",
        GEAK_OK, "", "length", 7, 4096, verbose);
    const char *bad_an [] = { "{\"content\":[]}", "{\"content\":\"text\"}",
        "{\"content\":[{\"type\":\"tool_use\",\"text\":\"x\"}]}", "{\"content\":[{\"type\":\"te",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}" };
    for (size_t i = 0; i < sizeof bad_an / sizeof bad_an [0]; i++)
        fails += s_check_parse (an, bad_an [i], GEAK_E_LLM, NULL, NULL, 0, 0, verbose);

    //  streams
    fails += s_check_stream (oa,
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"he\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"llo\"},\"finish_reason\":null}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n"
        "data: [DONE]\n\n", "hello", "length", 4, 2, true, verbose);
    fails += s_check_stream (oa, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part\"}}]}\n\n",
        "part", "", 0, 0, false, verbose);
    fails += s_check_stream (an,
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":"
        "{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n"
        "event: ping\ndata: {\"type\":\"ping\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"co\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"de\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
        "\"usage\":{\"output_tokens\":15}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "code", "stop", 25, 15, true, verbose);
    //  an error event inside a stream
    geak_llm_reply_t reply = { 0 };
    const char *overloaded = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                             "\"message\":\"Overloaded\"}}";
    fails += an->event (&reply, "error", overloaded, strlen (overloaded)) != GEAK_E_LLM
          || !reply.error || strcmp (reply.error, "Overloaded") != 0;
    geak_llm_reply_clear (&reply);
    fails += oa->event (&reply, "", "not json", 8) != GEAK_E_MALFORMED;
    const char *far = "{\"choices\":[{\"index\":99,\"delta\":{\"content\":\"x\"}}]}";
    fails += oa->event (&reply, "", far, strlen (far)) != GEAK_OK || !reply.text [0];            //  out-of-range index: taken as the position
    geak_llm_reply_clear (&reply);

    //  base URLs
    fails += s_check_str (geak_llm_wire_base (false, "https://api.openai.com"), "https://api.openai.com/v1", verbose);
    fails += s_check_str (geak_llm_wire_base (false, "https://api.openai.com/v1/"), "https://api.openai.com/v1", verbose);
    fails += s_check_str (geak_llm_wire_base (false, "http://h:8000/v1/chat/completions"), "http://h:8000/v1", verbose);
    fails += s_check_str (geak_llm_wire_base (false, "https://r.openai.azure.com/openai/v1?api-version=preview"),
                          "https://r.openai.azure.com/openai/v1?api-version=preview", verbose);
    fails += s_check_str (geak_llm_wire_base (true, "https://api.anthropic.com/v1"), "https://api.anthropic.com", verbose);
    fails += s_check_str (geak_llm_wire_base (true, "https://api.anthropic.com/v1/messages/"), "https://api.anthropic.com", verbose);
    fails += s_check_str (geak_llm_wire_base (true, "http://proxy:4000"), "http://proxy:4000", verbose);
    fails += s_check_str (geak_llm_wire_url_public ("https://u:secret@h/v1/chat/completions?key=k"),
                          "https://h/v1/chat/completions", verbose);
    //  error bodies
    const char *fastapi = "{\"detail\":\"Not Found\"}";
    fails += s_check_str (geak_llm_wire_error_detail (fastapi, strlen (fastapi)), "Not Found", verbose);
    const char *pydantic = "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"field required\"}]}";
    fails += s_check_str (geak_llm_wire_error_detail (pydantic, strlen (pydantic)), "field required", verbose);
    const char *plain = "{\"error\":\"model \\\"x\\\" not found\"}";
    fails += s_check_str (geak_llm_wire_error_detail (plain, strlen (plain)), "model  x  not found", verbose);
    fails += s_check_str (geak_llm_wire_error_detail ("<html>502</html>", 16),
                          "(no JSON error; the body starts: <html>502</html>)", verbose);
    fails += s_check_str (geak_llm_wire_error_detail ("{}", 2), "(no error message in the body: 2 bytes)", verbose);
    return fails;
}
