/*  geak_sse.c - Server-Sent Events framing, incremental. */
#include "geak_prelude.h"
#include "geak_sse.h"

struct geak_sse_t {
    size_t max_event;
    geak_sse_event_fn *fn;
    void *arg;
    char *line;                 //  the line being read
    size_t line_size, line_alloc;
    char *data;                 //  data of the event being read
    size_t data_size, data_alloc;
    bool has_data;
    char event [64];
    bool after_cr;              //  the last byte was '\r' (a following '\n' is part of it)
    geak_rc_t failed;
    size_t events;
};

geak_sse_t *
geak_sse_new (size_t max_event, geak_sse_event_fn *fn, void *arg)
{
    assert (fn && max_event > 0);
    geak_sse_t *self = geak_malloc0 (sizeof *self);
    self->max_event = max_event;
    self->fn = fn;
    self->arg = arg;
    return self;
}

void
geak_sse_destroy (geak_sse_t **self_p)
{
    assert (self_p);
    geak_sse_t *self = *self_p;
    if (!self)
        return;
    free (self->line);
    free (self->data);
    free (self);
    *self_p = NULL;
}

size_t
geak_sse_events (const geak_sse_t *self)
{
    return self->events;
}

static geak_rc_t
s_grow (char **buf, size_t *alloc, size_t need)
{
    if (need <= *alloc)
        return GEAK_OK;
    size_t size = *alloc ? *alloc : 256;
    while (size < need)
        size *= 2;
    char *bigger = realloc (*buf, size);
    if (!bigger)
        return GEAK_E_NOMEM;
    *buf = bigger;
    *alloc = size;
    return GEAK_OK;
}

static geak_rc_t
s_dispatch (geak_sse_t *self)
{
    geak_rc_t rc = GEAK_OK;
    if (self->has_data) {
        if (s_grow (&self->data, &self->data_alloc, self->data_size + 1) != GEAK_OK)
            return GEAK_E_NOMEM;
        self->data [self->data_size] = '\0';
        self->events++;
        rc = self->fn (self->arg, self->event, self->data, self->data_size);
    }
    self->has_data = false;
    self->data_size = 0;
    self->event [0] = '\0';
    return rc;
}

//  One complete line (without its end)
static geak_rc_t
s_line (geak_sse_t *self, const char *line, size_t size)
{
    if (size == 0)
        return s_dispatch (self);
    if (line [0] == ':')
        return GEAK_OK;
    const char *colon = memchr (line, ':', size);
    size_t name_len = colon ? (size_t) (colon - line) : size;
    const char *value = colon ? colon + 1 : line + size;
    size_t value_len = colon ? size - name_len - 1 : 0;
    if (value_len > 0 && *value == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && memcmp (line, "data", 4) == 0) {
        size_t need = self->data_size + (self->has_data ? 1 : 0) + value_len;
        if (need > self->max_event)
            return GEAK_E_MALFORMED;
        if (s_grow (&self->data, &self->data_alloc, need + 1) != GEAK_OK)
            return GEAK_E_NOMEM;
        if (self->has_data)
            self->data [self->data_size++] = '\n';
        memcpy (self->data + self->data_size, value, value_len);
        self->data_size += value_len;
        self->has_data = true;
    }
    else
    if (name_len == 5 && memcmp (line, "event", 5) == 0) {
        size_t n = value_len < sizeof self->event - 1 ? value_len : sizeof self->event - 1;
        memcpy (self->event, value, n);
        self->event [n] = '\0';
    }
    return GEAK_OK;
}

geak_rc_t
geak_sse_feed (geak_sse_t *self, const char *data, size_t size)
{
    assert (self);
    for (size_t i = 0; i < size && self->failed == GEAK_OK; i++) {
        char c = data [i];
        if (c == '\n' && self->after_cr) {
            self->after_cr = false;
            continue;
        }
        self->after_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            self->failed = s_line (self, self->line ? self->line : "", self->line_size);
            self->line_size = 0;
            continue;
        }
        if (self->line_size + 1 > self->max_event + 16)
            self->failed = GEAK_E_MALFORMED;
        else
        if (s_grow (&self->line, &self->line_alloc, self->line_size + 1) != GEAK_OK)
            self->failed = GEAK_E_NOMEM;
        else
            self->line [self->line_size++] = c;
    }
    return self->failed;
}

geak_rc_t
geak_sse_finish (geak_sse_t *self)
{
    assert (self);
    if (self->failed == GEAK_OK && self->line_size > 0) {
        self->failed = s_line (self, self->line, self->line_size);
        self->line_size = 0;
    }
    if (self->failed == GEAK_OK)
        self->failed = s_dispatch (self);
    return self->failed;
}

// ---------------------------------------------------------------- selftest

typedef struct {
    char log [512];
    int stop_after;
} s_test_t;

static geak_rc_t
s_test_event (void *arg, const char *event, const char *data, size_t size)
{
    s_test_t *t = (s_test_t *) arg;
    size_t at = strlen (t->log);
    snprintf (t->log + at, sizeof t->log - at, "[%s|%.*s]", event, (int) size, data);
    if (t->stop_after > 0 && --t->stop_after == 0)
        return GEAK_E_INTERRUPTED;
    return GEAK_OK;
}

//  Feed text one byte at a time and all at once; both must give want
static int
s_check (const char *text, size_t max_event, const char *want, geak_rc_t want_rc, bool verbose)
{
    int fails = 0;
    for (int whole = 0; whole < 2; whole++) {
        s_test_t t = { .log = "" };
        geak_sse_t *sse = geak_sse_new (max_event, s_test_event, &t);
        geak_rc_t rc = GEAK_OK;
        size_t n = strlen (text);
        if (whole)
            rc = geak_sse_feed (sse, text, n);
        else
            for (size_t i = 0; i < n && rc == GEAK_OK; i++)
                rc = geak_sse_feed (sse, text + i, 1);
        if (rc == GEAK_OK)
            rc = geak_sse_finish (sse);
        bool bad = rc != want_rc || strcmp (t.log, want) != 0;
        if (bad || verbose)
            printf ("  sse %s [%s] -> %s %s\n", whole ? "whole" : "bytes", want, t.log,
                    geak_rc_name (rc));
        fails += bad;
        geak_sse_destroy (&sse);
    }
    return fails;
}

int
geak_sse_test (bool verbose)
{
    int fails = 0;
    fails += s_check ("data: {\"a\":1}\n\ndata: [DONE]\n\n", 100, "[|{\"a\":1}][|[DONE]]", GEAK_OK, verbose);
    fails += s_check ("event: message_start\r\ndata: x\r\n\r\n: ping\r\nevent: e2\rdata:y\r\rdata: z",
                      100, "[message_start|x][e2|y][|z]", GEAK_OK, verbose);
    fails += s_check ("data: a\ndata: b\nid: 7\nretry: 10\n\n", 100, "[|a\nb]", GEAK_OK, verbose);
    fails += s_check ("event: only\n\n\n\ndata\n\n", 100, "[|]", GEAK_OK, verbose);
    fails += s_check ("data: 0123456789\n\n", 5, "", GEAK_E_MALFORMED, verbose);
    //  a callback error stops the parser and sticks
    s_test_t t = { .log = "", .stop_after = 1 };
    geak_sse_t *sse = geak_sse_new (100, s_test_event, &t);
    fails += geak_sse_feed (sse, "data: 1\n\ndata: 2\n\n", 18) != GEAK_E_INTERRUPTED;
    fails += geak_sse_feed (sse, "data: 3\n\n", 9) != GEAK_E_INTERRUPTED;
    fails += strcmp (t.log, "[|1]") != 0 || geak_sse_events (sse) != 1;
    geak_sse_destroy (&sse);
    geak_sse_destroy (&sse);
    return fails;
}
