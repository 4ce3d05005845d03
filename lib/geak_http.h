/*  geak_http.h - a minimal HTTP/1.1 server for /metrics, /healthz and
    /readyz (docs/observability.md).

    One background thread, poll-based, no keep-alive: each connection sends
    one request head (at most GEAK_HTTP_MAX_REQUEST bytes, within
    GEAK_HTTP_TIMEOUT_MS of being accepted) and gets one response, then the
    connection is closed. GET and HEAD only. Answers:
      200 a route's answer (or 503 from a failing check)
      400 a malformed request line or header, a missing Host in HTTP/1.1
      404 unknown path          405 another method (Allow: GET, HEAD)
      408 the head did not arrive in time
      414 path longer than GEAK_HTTP_MAX_PATH
      431 head larger than GEAK_HTTP_MAX_REQUEST
      505 an HTTP version other than 1.0 / 1.1
    At most GEAK_HTTP_MAX_CONNECTIONS connections are served at once; more
    wait in the listen backlog. Bytes from the network never crash it.

    Routes are added before geak_http_start; handlers run on the server's
    thread (so they must be thread-safe with respect to the rest of the
    program). */
#ifndef GEAK_HTTP_H_INCLUDED
#define GEAK_HTTP_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_prom.h"

#define GEAK_HTTP_MAX_REQUEST       8192
#define GEAK_HTTP_MAX_PATH          1024
#define GEAK_HTTP_MAX_CONNECTIONS   32
#define GEAK_HTTP_MAX_ROUTES        16
#define GEAK_HTTP_TIMEOUT_MS        5000

//  One parsed request head.
typedef struct {
    int status;                             //  0: valid; else the status to answer
    char method [17];
    char path [GEAK_HTTP_MAX_PATH + 1];     //  without the query string
    int minor;                              //  HTTP/1.<minor>
    bool has_host;
} geak_http_request_t;

//  Parse the request head at the start of buf. Returns 0 when more bytes
//  are needed (no blank line yet and size < GEAK_HTTP_MAX_REQUEST), else
//  the number of bytes the head took (size when it is too large); then
//  req->status is 0 for a valid request or the error status to answer
//  (400, 414, 431, 505). The method is not judged here. Pure function.
size_t geak_http_parse (const char *buf, size_t size, geak_http_request_t *req);

//  A route handler: fill *body (malloc'd; the server frees it; may stay
//  NULL for an empty body), *size and *content_type (static string; NULL =
//  text/plain); return the status (200, 503, ...).
typedef int (geak_http_handler_fn) (void *arg, char **body, size_t *size,
                                    const char **content_type);
//  A health check: true when healthy; may write a short reason into why.
typedef bool (geak_http_check_fn) (void *arg, char *why, size_t why_size);

typedef struct geak_http_t geak_http_t;

//  Listen on bind: "HOST:PORT", ":PORT" (all interfaces), "[V6]:PORT";
//  PORT 0 picks a free port (see geak_http_port). Returns NULL and *rc
//  (GEAK_E_CONFIG for a bad address, GEAK_E_IO when it cannot listen).
geak_http_t *geak_http_new (const char *bind, geak_rc_t *rc);
//  Stops the thread, closes every connection, frees.
void geak_http_destroy (geak_http_t **self_p);

//  The port actually bound.
int geak_http_port (const geak_http_t *self);

//  Add a route for an exact path (before start). GEAK_E_INVALID when full,
//  started, or the path does not start with '/'.
geak_rc_t geak_http_route (geak_http_t *self, const char *path, geak_http_handler_fn *fn, void *arg);
//  GET path -> the registry rendered in Prometheus text format.
geak_rc_t geak_http_route_metrics (geak_http_t *self, const char *path, geak_prom_t *registry);
//  GET path -> 200 "ok" when fn says healthy (or fn is NULL), else 503
//  with the reason.
geak_rc_t geak_http_route_check (geak_http_t *self, const char *path, geak_http_check_fn *fn,
                                 void *arg);

//  Time a connection has to send its request head (before start; default
//  GEAK_HTTP_TIMEOUT_MS).
void geak_http_set_timeout (geak_http_t *self, int timeout_ms);
//  Start serving in a background thread.
geak_rc_t geak_http_start (geak_http_t *self);

//  Requests answered, by outcome (any thread; for tests and logs).
uint64_t geak_http_served (const geak_http_t *self);
uint64_t geak_http_rejected (const geak_http_t *self);

int geak_http_test (bool verbose);

#endif
