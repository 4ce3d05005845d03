/*  geak_service.h - the runner every role service shares: parse the common
    command line, register N worker threads with the broker under a service
    name, decode each request envelope, answer health requests, pass the
    rest to the role's handler, and answer malformed input with an
    ErrorReply (counted, never a crash). A role's main.c supplies only its
    policy: a handler and optional health / init / fini hooks.

    Common options (env in brackets):
      --broker ENDPOINT     [GEAK_BROKER]   default tcp://127.0.0.1:5555
      --service NAME        [GEAK_SERVICE]  default the role's well-known name
      --impl NAME           [GEAK_IMPL]     implementation label
      --threads N           [GEAK_THREADS]  worker threads, default 1
      --heartbeat-ms N      [GEAK_HEARTBEAT_MS]
      --metrics-bind H:P    [GEAK_METRICS_BIND] HTTP /metrics, /healthz,
                            /readyz (docs/observability.md); unset = off
    Unknown options are passed to the role's init hook (argc/argv).

    Every service counts requests, latency, error replies, LLM tokens and
    outcome classes (read back from the replies it sends) in a metrics
    registry (geak_service_metrics). /readyz answers 200 once every worker
    thread is registered with the broker and the role's ready hook (if any)
    agrees; /healthz 200 while every worker thread's loop runs. */
#ifndef GEAK_SERVICE_H_INCLUDED
#define GEAK_SERVICE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_proto.h"
#include "geak_prom.h"

typedef struct geak_service_t geak_service_t;

//  Passed to the handler; lets it stream PARTIAL replies (e.g. LLM tokens).
typedef struct geak_service_call_t geak_service_call_t;
geak_rc_t geak_service_call_partial (geak_service_call_t *call, const Geak__Envelope *env);
//  Which worker thread (0..threads-1) runs this call
int geak_service_call_thread (const geak_service_call_t *call);
//  The service's metrics registry, for role-specific metrics (borrowed).
geak_prom_t *geak_service_call_metrics (const geak_service_call_t *call);

typedef struct {
    const char *role;              //  "generator", ...: log name and default service
    const char *service;           //  default service name, e.g. GEAK_SERVICE_EVALUATOR
    const char *implementation;    //  default implementation label
    //  Optional: parse role-specific options, set up state. *state_p is
    //  passed to every other hook. Return GEAK_OK or an error to exit.
    geak_rc_t (*init) (int argc, char **argv, void **state_p);
    //  Handle one decoded request (never a health request). Called from
    //  several worker threads at once when --threads > 1: be thread-safe. Pack the reply
    //  envelope (use geak_proto_envelope_init with request->request_id)
    //  into *reply_data / *reply_size (malloc'd; the runner frees it).
    //  On error return the code and set *error_message (malloc'd or NULL);
    //  the runner then sends an ErrorReply.
    geak_rc_t (*handle) (void *state, geak_service_call_t *call, const Geak__Envelope *request,
                         uint8_t **reply_data, size_t *reply_size, char **error_message);
    //  Optional: add facts to a health reply (e.g. the device).
    //  Fields the hook sets must stay valid until the next call on this thread.
    void (*health) (void *state, Geak__HealthReply *health);
    //  Optional: release the state.
    void (*fini) (void *state);
    //  Optional: readiness of the role itself (e.g. the evaluator's harness
    //  is up), asked by /readyz on the HTTP thread: must be thread-safe and
    //  quick. Return false, with a short reason in why, while not ready.
    bool (*ready) (void *state, char *why, size_t why_size);
} geak_service_def_t;

//  A handler for roles without a policy yet: answers GEAK_E_UNSUPPORTED.
geak_rc_t geak_service_handle_unsupported (void *state, geak_service_call_t *call,
                                           const Geak__Envelope *request, uint8_t **reply_data,
                                           size_t *reply_size, char **error_message);

//  Embedding API (geak_service_main uses it; tests and benches may too).
//  Create a service, not yet running; strings are copied, def and state
//  are borrowed. heartbeat_ms 0 = the worker default. NULL on bad args.
geak_service_t *geak_service_new (const geak_service_def_t *def, void *state,
                                  const char *endpoint, const char *name,
                                  const char *implementation, int threads, int heartbeat_ms);
//  Start the worker threads.
geak_rc_t geak_service_start (geak_service_t *self);
//  Stop and join the threads, free. Safe twice.
void geak_service_destroy (geak_service_t **self_p);

//  The service's metrics registry (owned by the service).
geak_prom_t *geak_service_metrics (geak_service_t *self);
//  Serve /metrics, /healthz and /readyz on bind ("HOST:PORT", port 0 = a
//  free one, reported in *port_p) until destroy.
geak_rc_t geak_service_serve_http (geak_service_t *self, const char *bind, int *port_p);
//  Readiness and liveness as /readyz and /healthz answer them (any thread);
//  why (may be NULL) gets the reason when false.
bool geak_service_ready (geak_service_t *self, char *why, size_t why_size);
bool geak_service_live (geak_service_t *self, char *why, size_t why_size);

//  Run the service until SIGINT/SIGTERM; returns the process exit code.
int geak_service_main (const geak_service_def_t *def, int argc, char **argv);

int geak_service_test (bool verbose);

#endif
