/*  geak_broker.h - the GMDP/1 broker (docs/transport.md): one ROUTER socket
    (bound to one or more endpoints) between clients and workers.

    - workers register under any service name (several implementations may
      serve one name); requests go to exactly one idle worker of their
      service, least recently used first, and queue while none is idle
      (also for a service no worker has registered yet) until their deadline;
    - heartbeats both ways; a silent worker (idle or busy) is dropped and its
      request requeued at the front, up to max_attempts dispatches, then the
      client gets ERROR worker_lost; a queued request past its deadline gets
      ERROR deadline;
    - request ids make retries idempotent: a retry of a queued/running id
      updates the client address and gets ACK; a retry of a recently
      finished id gets the cached FINAL again;
    - malformed input is rejected and counted, never asserted on;
    - built-in services mmi.service and mmi.stats.

    A broker is used by one thread: either call geak_broker_run/poll from
    your own thread, or geak_broker_start to run it in a background thread
    (then only geak_broker_stats, geak_broker_stop and destroy may be called
    from other threads). */
#ifndef GEAK_BROKER_H_INCLUDED
#define GEAK_BROKER_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_curve.h"
#include "geak_prom.h"

#define GEAK_BROKER_HEARTBEAT_MS   1000
#define GEAK_BROKER_LIVENESS       3
#define GEAK_BROKER_MAX_ATTEMPTS   3
#define GEAK_BROKER_CACHE_ENTRIES  10000
#define GEAK_BROKER_CACHE_TTL_MS   120000
#define GEAK_BROKER_CACHE_BYTES    (64u * 1024u * 1024u)

typedef struct geak_broker_t geak_broker_t;

//  Bounds (0 = no bound). A new request that would overflow a queue is
//  answered ERROR busy (unless an idle worker takes it at once); a request
//  without a deadline gets default_deadline_ms; a running request past its
//  deadline is failed with ERROR deadline and taken back from its worker
//  (whose late reply is dropped), one running longer than max_run_ms is
//  handed to another worker (up to max_attempts); a worker that had
//  late_max requests taken back is disconnected; a queued request whose
//  client has not resent for client_silence_ms is dropped (a waiting
//  client resends every GEAK_CLIENT_RETRY_MS).
typedef struct {
    size_t queue_max;               //  requests queued, all services (100000)
    size_t queue_bytes;             //  bytes queued, all services (2 GiB)
    size_t service_queue_max;       //  per service (20000)
    size_t service_queue_bytes;     //  per service (1 GiB)
    int64_t default_deadline_ms;    //  (1 h)
    int64_t max_run_ms;             //  (0: only the deadline)
    int64_t client_silence_ms;      //  (15000)
    int late_max;                   //  (3)
} geak_broker_limits_t;
void geak_broker_limits_default (geak_broker_limits_t *limits);

//  Counters since start (monotonic) and current gauges. Safe to read from
//  any thread (relaxed atomics, so a snapshot is not one instant).
typedef struct {
    uint64_t requests;            //  new requests accepted (not retries, not mmi)
    uint64_t replies;             //  FINALs from workers delivered to a request
    uint64_t partials;            //  PARTIALs forwarded
    uint64_t requeued;            //  requests requeued after losing their worker
    uint64_t failed_worker_lost;  //  ERROR worker_lost sent
    uint64_t failed_deadline;     //  ERROR deadline sent
    uint64_t malformed;           //  messages rejected by the decoders (all)
    uint64_t malformed_client;    //    ... of them claiming to be from a client
    uint64_t malformed_worker;    //    ... claiming to be from a worker
    uint64_t duplicates;          //  retries of a known request id (ACK or cached FINAL)
    uint64_t cache_hits;          //    ... of them answered from the finished cache
    uint64_t stale_replies;       //  FINAL/PARTIAL for a request the worker no longer holds
    uint64_t unroutable;          //  replies to a client that is gone / not writable
    uint64_t workers_expired;     //  workers dropped for silence
    uint64_t workers_registered;  //  READY commands accepted
    uint64_t refused_full;        //  requests refused: a queue at its limit (ERROR busy)
    uint64_t dropped_gone;        //  queued requests dropped: their client stopped resending
    uint64_t running_expired;     //  running requests taken back (deadline or max run time)
    uint64_t workers_late;        //  workers disconnected for holding requests too long
    uint64_t not_cached;          //  FINALs forwarded but not cached (not a decodable Envelope)
    uint64_t mmi;                 //  mmi.* requests answered
    //  gauges
    uint64_t queue_depth;         //  requests waiting for a worker
    uint64_t running;             //  requests held by a worker
    uint64_t workers;             //  registered workers
    uint64_t workers_idle;
    uint64_t workers_busy;
    uint64_t services;            //  known service names
    uint64_t cache_entries;       //  finished requests remembered
    //  CURVE (0 without): counters
    uint64_t auth_refused;        //  handshakes the ZAP handler refused (key not authorized)
    uint64_t handshake_failed;    //  other failed handshakes (plain peer, wrong server key)
} geak_broker_stats_t;

//  ctx: a ZeroMQ context to share, or NULL for a private one (terminated
//  on destroy). Returns NULL on failure.
geak_broker_t *geak_broker_new (void *ctx);
//  Stops a background thread if any, sends DISCONNECT to workers, frees.
void geak_broker_destroy (geak_broker_t **self_p);

//  Settings (before run/start). interval_ms >= 1, liveness >= 1.
void geak_broker_set_heartbeat (geak_broker_t *self, int interval_ms, int liveness);
void geak_broker_set_max_attempts (geak_broker_t *self, int max_attempts);
void geak_broker_set_cache (geak_broker_t *self, size_t entries, int ttl_ms);
void geak_broker_set_limits (geak_broker_t *self, const geak_broker_limits_t *limits);
//  Which FINAL bodies may be kept for retries (NULL: all). geak-broker keeps
//  only bodies that decode as an Envelope: a retry of a request whose reply
//  could not be read reaches a worker again.
typedef bool (geak_broker_cacheable_fn) (const uint8_t *body, size_t size);
void geak_broker_set_cacheable (geak_broker_t *self, geak_broker_cacheable_fn *fn);

//  Be a CURVE server (before any bind): start a ZAP handler on the
//  context (one per context) that admits only the public keys of the
//  curve's authorized-keys file; plain peers are refused as well. The
//  settings are copied. GEAK_E_INVALID (not a server curve, or already
//  bound), GEAK_E_CONFIG / GEAK_E_IO (authorized-keys file), GEAK_E_EXISTS
//  (the context has a ZAP handler), GEAK_E_TRANSPORT.
geak_rc_t geak_broker_set_curve (geak_broker_t *self, const geak_curve_t *curve);
//  Export metrics into registry (before run/start; borrowed, must outlive
//  the broker): per-service requests, replies, errors, queue depth,
//  workers, latency, and the broker-wide counters (docs/observability.md).
geak_rc_t geak_broker_set_metrics (geak_broker_t *self, geak_prom_t *registry);
//  Monotonic ms of the last loop iteration (liveness; any thread).
int64_t geak_broker_last_poll (const geak_broker_t *self);

//  Bind to an endpoint (may be called several times, e.g. tcp and ipc).
//  "tcp://127.0.0.1:*" picks a free port; see geak_broker_endpoint.
geak_rc_t geak_broker_bind (geak_broker_t *self, const char *endpoint);
//  The resolved endpoint of the last successful bind (e.g.
//  "tcp://127.0.0.1:41234"); owned by the broker. NULL before any bind.
const char *geak_broker_endpoint (const geak_broker_t *self);

//  Handle traffic for up to timeout_ms (one poll, then timers). Returns
//  GEAK_OK, GEAK_E_INTERRUPTED on EINTR / ETERM, GEAK_E_TRANSPORT.
geak_rc_t geak_broker_poll (geak_broker_t *self, int timeout_ms);
//  Loop until geak_broker_stop or interrupt; returns GEAK_OK when stopped,
//  GEAK_E_INTERRUPTED when a signal interrupted it.
geak_rc_t geak_broker_run (geak_broker_t *self);
//  Run in a background thread. destroy stops and joins it.
geak_rc_t geak_broker_start (geak_broker_t *self);
//  Ask run / the background thread to return (thread- and signal-safe).
void geak_broker_stop (geak_broker_t *self);

//  Snapshot of the counters (any thread).
void geak_broker_stats (geak_broker_t *self, geak_broker_stats_t *stats);
//  mmi.stats body: JSON with the counters (the services gauge as
//  "service_count") and "services": {name: {"workers",
//  "idle", "busy", "queued"}}. Broker thread only (or before start).
//  Caller frees.
char *geak_broker_stats_json (geak_broker_t *self);

int geak_broker_test (bool verbose);

#endif
