/*  geak_sse.h - a Server-Sent Events parser (the framing of streamed LLM
    replies: OpenAI and Anthropic both send "event:" / "data:" fields,
    events ended by a blank line).

    Bytes go in as they arrive, in pieces of any size; each complete event
    is handed to the callback with its name ("" when the event had no
    "event:" field) and its data (the "data:" lines joined by '\n').
    Comment lines (starting with ':') and the "id:" and "retry:" fields are
    ignored. "\n", "\r\n" and "\r" all end a line. An event whose data
    would exceed max_event bytes is an error (GEAK_E_MALFORMED) and the
    parser stays failed; nothing it is fed can crash it. */
#ifndef GEAK_SSE_H_INCLUDED
#define GEAK_SSE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

typedef struct geak_sse_t geak_sse_t;

//  Called once per complete event; a non-OK return stops the parser and
//  is returned by geak_sse_feed. Strings are borrowed (valid during the call).
typedef geak_rc_t (geak_sse_event_fn) (void *arg, const char *event, const char *data,
                                       size_t size);

geak_sse_t *geak_sse_new (size_t max_event, geak_sse_event_fn *fn, void *arg);
void geak_sse_destroy (geak_sse_t **self_p);

//  Feed bytes; GEAK_OK, or the first error (sticky).
geak_rc_t geak_sse_feed (geak_sse_t *self, const char *data, size_t size);
//  End of the stream: an event not yet ended by a blank line is dispatched
//  (a server may close right after the last data line).
geak_rc_t geak_sse_finish (geak_sse_t *self);
//  Events dispatched so far.
size_t geak_sse_events (const geak_sse_t *self);

int geak_sse_test (bool verbose);

#endif
