/*  geak_client.h - client side of GMDP/1 with Lazy Pirate reliability.

    Each pending request is resent every retry interval (default 2500 ms)
    with the same request id (the broker deduplicates and answers each
    resend with ACK, or the cached FINAL). If the broker sent nothing at all
    since the last resend, the client closes and reopens its socket before
    resending everything pending (so a dead broker is noticed within two
    retry intervals). A
    request is given up with GEAK_E_TIMEOUT at its deadline plus
    GEAK_CLIENT_GRACE_MS (so that a live broker's own "deadline" error for
    a request still queued there arrives first).

    Deadlines (deadline_ms arguments): absolute wall-clock milliseconds since
    the epoch, as on the wire; 0 = no deadline (retry forever). For
    convenience a value below GEAK_CLIENT_RELATIVE_MAX is taken as a
    duration from now (so 30000 means "30 s from now").

    A geak_client_t is used by one thread. Synchronous: geak_client_call.
    Asynchronous (many requests in flight): geak_client_send, then
    geak_client_recv until geak_client_pending is 0. */
#ifndef GEAK_CLIENT_H_INCLUDED
#define GEAK_CLIENT_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_CLIENT_RETRY_MS        2500
#define GEAK_CLIENT_GRACE_MS        250
#define GEAK_CLIENT_SILENCE_MS      20000
#define GEAK_CLIENT_RELATIVE_MAX    1000000000000LL     //  ~2001-09-09 in ms

//  One reply. Caller owns it: geak_reply_destroy.
typedef struct {
    char *service;
    char *request_id;
    bool partial;               //  a PARTIAL; a FINAL or error follows later
    geak_rc_t rc;               //  GEAK_OK, the broker's error, or GEAK_E_TIMEOUT
    char *error;                //  human message when rc != GEAK_OK, else NULL
    uint8_t *body;              //  reply body (NULL on error); NUL-terminated
    size_t size;                //  at body[size]
} geak_reply_t;

void geak_reply_destroy (geak_reply_t **self_p);

typedef struct geak_client_t geak_client_t;

//  When set, called for every PARTIAL (by call and by recv; the reply is
//  borrowed: do not keep it). Without a handler, PARTIALs of the call's own
//  request are dropped by call, and recv returns them (partial = true).
typedef void (geak_client_partial_fn) (const geak_reply_t *partial, void *arg);

//  ctx: a ZeroMQ context to share, or NULL for a private one. CURVE comes
//  from the environment (GEAK_CURVE_KEY_FILE and
//  GEAK_CURVE_SERVER_PUBLIC[_FILE], see geak_curve.h); none set = plain
//  TCP. NULL on a bad CURVE setting or a ZeroMQ failure.
geak_client_t *geak_client_new (void *ctx, const char *endpoint);
void geak_client_destroy (geak_client_t **self_p);

//  Lazy Pirate resend interval (default 2500 ms).
void geak_client_set_retry (geak_client_t *self, int retry_ms);
//  How long a silent broker is waited for (default GEAK_CLIENT_SILENCE_MS;
//  0 = for ever).
void geak_client_set_silence (geak_client_t *self, int silence_ms);
void geak_client_set_partial_handler (geak_client_t *self, geak_client_partial_fn *fn, void *arg);

//  Send and wait for the final answer. request_id NULL: a random one.
//  Always sets *reply_p when a reply (or the timeout) arrived; returns the
//  reply's rc (GEAK_OK, GEAK_E_DEADLINE, GEAK_E_WORKER_LOST, GEAK_E_TIMEOUT,
//  ...), or GEAK_E_INVALID / GEAK_E_EXISTS / GEAK_E_INTERRUPTED /
//  GEAK_E_TRANSPORT with *reply_p NULL. Replies to other pending requests
//  that arrive meanwhile are kept for geak_client_recv.
geak_rc_t geak_client_call (geak_client_t *self, const char *service, const char *request_id,
                            int64_t deadline_ms, const void *body, size_t size,
                            geak_reply_t **reply_p);

//  Send without waiting. request_id NULL: a random one. If id_p is not NULL
//  *id_p gets the id (borrowed; valid while the request is pending).
//  GEAK_E_EXISTS when that id is already pending on this client.
geak_rc_t geak_client_send (geak_client_t *self, const char *service, const char *request_id,
                            int64_t deadline_ms, const void *body, size_t size,
                            const char **id_p);
//  Wait up to timeout_ms (-1 = forever) for the next reply (partial, final,
//  error, or a GEAK_E_TIMEOUT reply for a request past its deadline).
//  Returns GEAK_OK (*reply_p set), GEAK_E_TIMEOUT (nothing yet),
//  GEAK_E_INTERRUPTED, GEAK_E_TRANSPORT.
geak_rc_t geak_client_recv (geak_client_t *self, geak_reply_t **reply_p, int timeout_ms);
//  Requests sent and not yet answered with a FINAL / error / timeout.
size_t geak_client_pending (const geak_client_t *self);
//  How many times Lazy Pirate reopened the socket.
uint64_t geak_client_reconnects (const geak_client_t *self);
//  True when this client talks CURVE.
bool geak_client_curve (const geak_client_t *self);

int geak_client_test (bool verbose);

#endif
