/*  fuzz_http.c - libFuzzer target for the HTTP request parser of the
    metrics endpoint (lib/geak_http.h) and the Prometheus text renderer's
    escaping (lib/geak_prom.h).

    Parser invariants: it never reads past size; 0 ("need more") only for
    an input shorter than GEAK_HTTP_MAX_REQUEST; a valid request has a token
    method, a path starting with '/' within GEAK_HTTP_MAX_PATH and HTTP/1.x;
    the head ends exactly where it says (one byte less is "need more").
    Renderer invariant: whatever bytes a label value and a help text hold,
    each rendered line is a comment or starts with the metric's name, and
    the sample line ends with its value. */
#include "geak_prelude.h"
#include "geak_http.h"
#include "geak_log.h"
#include "geak_prom.h"

static void
s_check (bool ok)
{
    if (!ok)
        abort ();
}

static void
s_parser (const uint8_t *data, size_t size)
{
    //  a private copy: the parser must not rely on a terminating NUL
    char *buf = malloc (size ? size : 1);
    s_check (buf != NULL);
    if (size)
        memcpy (buf, data, size);
    geak_http_request_t req;
    size_t used = geak_http_parse (buf, size, &req);
    s_check (used <= size);
    if (used == 0) {
        s_check (size < GEAK_HTTP_MAX_REQUEST && req.status == 0);
        free (buf);
        return;
    }
    if (req.status == 0) {
        size_t method_len = strlen (req.method);
        s_check (method_len >= 1 && method_len < sizeof req.method);
        s_check (req.path [0] == '/' && strlen (req.path) <= GEAK_HTTP_MAX_PATH);
        s_check (req.minor >= 0 && req.minor <= 9);
    }
    else
        s_check (req.status == 400 || req.status == 414 || req.status == 431 || req.status == 505);
    if (req.status != 431 && used > 0) {
        geak_http_request_t shorter;
        s_check (geak_http_parse (buf, used - 1, &shorter) == 0);
    }
    free (buf);
}

static void
s_renderer (const uint8_t *data, size_t size)
{
    size_t half = size / 2;
    char *value = geak_malloc0 (half + 1);
    char *help = geak_malloc0 (size - half + 1);
    memcpy (value, data, half);
    memcpy (help, data + half, size - half);
    geak_prom_t *reg = geak_prom_new ();
    geak_prom_family_t *family = geak_prom_counter (reg, "fuzz_total", help,
                                                    GEAK_PROM_LABELS ("v"));
    s_check (family != NULL);
    geak_prom_inc_with (family, GEAK_PROM_VALUES (value));
    size_t text_size = 0;
    char *text = geak_prom_render (reg, &text_size);
    s_check (text && strlen (text) == text_size);
    int samples = 0;
    for (char *line = text; *line;) {
        char *end = strchr (line, '\n');
        s_check (end != NULL);
        *end = '\0';
        if (line [0] != '#') {
            s_check (strncmp (line, "fuzz_total{v=\"", 14) == 0);
            s_check (end - line >= 2 && strcmp (end - 2, " 1") == 0);
            samples++;
        }
        line = end + 1;
    }
    s_check (samples == 1);
    free (text);
    geak_prom_destroy (&reg);
    free (value);
    free (help);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static bool quiet = false;
    if (!quiet) {
        geak_log_set_level (GEAK_LOG_OFF);
        quiet = true;
    }
    s_parser (data, size);
    s_renderer (data, size);
    return 0;
}
