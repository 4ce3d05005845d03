/*  geak_worker.h - worker side of GMDP/1: register a service with the
    broker and answer requests.

    The broker socket lives in a background thread (an actor) that talks to
    the application over an inproc pipe; the actor heartbeats the broker
    also while the application is busy with a request, and reconnects and
    re-registers (READY) when the broker goes silent or says DISCONNECT
    (e.g. after a broker restart). One geak_worker_t is used by one thread;
    several workers in several threads of a process may share one context.

    Typical loop:

        geak_worker_t *w = geak_worker_new (NULL, "tcp://127.0.0.1:5555", "geak.evaluator", "triton");
        while (running) {
            geak_request_t *req;
            geak_rc_t rc = geak_worker_recv (w, &req, 1000);
            if (rc == GEAK_E_TIMEOUT) continue;
            if (rc != GEAK_OK) break;               //  interrupted
            ... geak_worker_send_partial (w, req, tokens, n) ...
            geak_worker_send_final (w, &req, answer, answer_size);   //  consumes req
        }
        geak_worker_destroy (&w);
*/
#ifndef GEAK_WORKER_H_INCLUDED
#define GEAK_WORKER_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_WORKER_HEARTBEAT_MS  1000
#define GEAK_WORKER_LIVENESS      3
#define GEAK_WORKER_RECONNECT_MS  1000

//  One request handed to the application. Caller owns it: pass it to
//  geak_worker_send_final (which destroys it) or geak_request_destroy.
typedef struct {
    uint8_t *client;            //  broker's routing id of the client (opaque)
    size_t client_size;
    char *request_id;           //  NUL-terminated, validated charset
    int64_t deadline_ms;        //  wall clock ms since epoch, 0 = none
    uint8_t *body;              //  the request body (serialized Envelope);
    size_t size;                //  body is also NUL-terminated at body[size]
} geak_request_t;

void geak_request_destroy (geak_request_t **self_p);

typedef struct geak_worker_t geak_worker_t;

//  ctx: a ZeroMQ context to share, or NULL for a private one. Connects and
//  sends READY at once (in the background). CURVE comes from the
//  environment (GEAK_CURVE_KEY_FILE and GEAK_CURVE_SERVER_PUBLIC[_FILE],
//  see geak_curve.h); none set = plain TCP. Returns NULL on bad arguments
//  (invalid service / implementation name), a bad CURVE setting, or a
//  ZeroMQ failure.
geak_worker_t *geak_worker_new (void *ctx, const char *endpoint, const char *service,
                                const char *implementation);
//  Sends DISCONNECT to the broker, stops the actor, frees. A request the
//  application still holds is simply never answered (the broker will
//  requeue it).
void geak_worker_destroy (geak_worker_t **self_p);

//  Our heartbeat interval (keep it <= the broker's, whose liveness window
//  must not run out between two of our heartbeats) and liveness. The broker
//  counts as silent, and we reconnect, after liveness x the larger of our
//  interval and the broker's observed heartbeat gap (1000 ms assumed until
//  seen). Takes effect within one interval. Defaults 1000 ms, 3.
void geak_worker_set_heartbeat (geak_worker_t *self, int interval_ms, int liveness);
//  Delay before reconnecting after the broker went silent. Default 1000 ms.
void geak_worker_set_reconnect (geak_worker_t *self, int reconnect_ms);

//  Wait up to timeout_ms (-1 = forever) for the next request. Returns
//  GEAK_OK (*req_p set, caller owns), GEAK_E_TIMEOUT, GEAK_E_INTERRUPTED
//  (signal or context terminated) or GEAK_E_TRANSPORT.
geak_rc_t geak_worker_recv (geak_worker_t *self, geak_request_t **req_p, int timeout_ms);
//  Stream a partial answer; req stays owned by the caller.
geak_rc_t geak_worker_send_partial (geak_worker_t *self, const geak_request_t *req,
                                    const void *body, size_t size);
//  Send the final answer and destroy the request (*req_p NULLed, also on
//  failure). Then the worker counts as idle again.
geak_rc_t geak_worker_send_final (geak_worker_t *self, geak_request_t **req_p,
                                  const void *body, size_t size);

//  How many times the actor (re)connected and sent READY (1 after start).
uint64_t geak_worker_connects (geak_worker_t *self);
//  True once the broker has answered our current READY (a HEARTBEAT or a
//  REQUEST arrived on this connection); false again after a reconnect.
//  Any thread. Used for readiness (/readyz).
bool geak_worker_registered (geak_worker_t *self);
//  True when this worker talks CURVE (GEAK_CURVE_* set, see geak_curve.h).
bool geak_worker_curve (const geak_worker_t *self);

int geak_worker_test (bool verbose);

#endif
