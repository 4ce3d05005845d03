/*  geak_broker.c - the GMDP/1 broker (see geak_broker.h, docs/transport.md). */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_msg.h"
#include "geak_mdp.h"
#include "geak_broker.h"

#include <pthread.h>
#include <cjson/cJSON.h>
#include <zmq.h>

#define TICK_MS             50      //  deadline / expiry scan period, and max poll
#define BATCH               256     //  messages handled per poll wake-up
#define HWM                 100000
#define MALFORMED_LOG_EVERY 1000
#define ABANDONED_MAX_MS    60000   //  a worker silent on a request taken back this long is dropped

//  ------------------------------------------------------------ hash table
//  Chained hash keyed by bytes; values are borrowed pointers.

typedef struct s_hentry_t {
    struct s_hentry_t *next;
    uint64_t hash;
    size_t key_size;
    void *value;
    uint8_t key [];
} s_hentry_t;

typedef struct {
    s_hentry_t **buckets;
    size_t nbuckets;
    size_t count;
} s_htab_t;

static uint64_t
s_hash (const void *key, size_t size)
{
    //  FNV-1a 64
    const uint8_t *bytes = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++) {
        h ^= bytes [i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void
s_htab_init (s_htab_t *self)
{
    self->nbuckets = 256;
    self->count = 0;
    self->buckets = geak_malloc0 (self->nbuckets * sizeof (s_hentry_t *));
}

static void
s_htab_fini (s_htab_t *self)
{
    for (size_t b = 0; b < self->nbuckets; b++) {
        s_hentry_t *entry = self->buckets [b];
        while (entry) {
            s_hentry_t *next = entry->next;
            free (entry);
            entry = next;
        }
    }
    free (self->buckets);
    self->buckets = NULL;
}

static s_hentry_t **
s_htab_slot (s_htab_t *self, const void *key, size_t size, uint64_t hash)
{
    s_hentry_t **slot = &self->buckets [hash & (self->nbuckets - 1)];
    while (*slot) {
        if ((*slot)->hash == hash && (*slot)->key_size == size
        &&  memcmp ((*slot)->key, key, size) == 0)
            break;
        slot = &(*slot)->next;
    }
    return slot;
}

static void *
s_htab_get (s_htab_t *self, const void *key, size_t size)
{
    s_hentry_t **slot = s_htab_slot (self, key, size, s_hash (key, size));
    return *slot ? (*slot)->value : NULL;
}

static void
s_htab_grow (s_htab_t *self)
{
    size_t nbuckets = self->nbuckets * 2;
    s_hentry_t **buckets = geak_malloc0 (nbuckets * sizeof (s_hentry_t *));
    for (size_t b = 0; b < self->nbuckets; b++) {
        s_hentry_t *entry = self->buckets [b];
        while (entry) {
            s_hentry_t *next = entry->next;
            entry->next = buckets [entry->hash & (nbuckets - 1)];
            buckets [entry->hash & (nbuckets - 1)] = entry;
            entry = next;
        }
    }
    free (self->buckets);
    self->buckets = buckets;
    self->nbuckets = nbuckets;
}

//  Insert (key must not be present).
static void
s_htab_put (s_htab_t *self, const void *key, size_t size, void *value)
{
    if (self->count >= self->nbuckets)
        s_htab_grow (self);
    uint64_t hash = s_hash (key, size);
    s_hentry_t **slot = s_htab_slot (self, key, size, hash);
    assert (*slot == NULL);
    s_hentry_t *entry = geak_malloc0 (sizeof *entry + size);
    entry->hash = hash;
    entry->key_size = size;
    entry->value = value;
    memcpy (entry->key, key, size);
    *slot = entry;
    self->count++;
}

static void
s_htab_del (s_htab_t *self, const void *key, size_t size)
{
    s_hentry_t **slot = s_htab_slot (self, key, size, s_hash (key, size));
    if (*slot) {
        s_hentry_t *entry = *slot;
        *slot = entry->next;
        free (entry);
        self->count--;
    }
}

//  ------------------------------------------------------------ structures

typedef struct s_service_t s_service_t;
typedef struct s_worker_t s_worker_t;
typedef struct s_request_t s_request_t;

typedef enum { REQ_QUEUED, REQ_RUNNING } s_req_state_t;

struct s_request_t {
    char *key;                  //  service "\0" request id (table key)
    size_t key_size;
    const char *id;             //  points into key
    size_t id_size;
    s_service_t *service;
    uint8_t client [GEAK_MDP_MAX_ADDRESS];
    size_t client_size;
    int64_t deadline_ms;        //  wall clock, 0 = none
    uint8_t *body;
    size_t size;
    int attempts;               //  dispatches so far
    int64_t accepted_us;        //  mono, for the latency histogram
    int64_t seen_ms;            //  mono: the client's last (re)send
    int64_t dispatched_ms;      //  mono: when the running worker got it
    s_req_state_t state;
    s_worker_t *worker;         //  when running
    s_request_t *prev, *next;   //  service queue
};

struct s_worker_t {
    uint8_t identity [GEAK_MDP_MAX_ADDRESS];
    size_t identity_size;
    char name [2 * 16 + 1];     //  hex of the identity (logs)
    char *implementation;
    s_service_t *service;
    int64_t expiry;             //  mono ms
    s_request_t *request;       //  when busy
    char *abandoned;            //  the id of a request taken back from it (late); busy until
                                //  it answers that id
    int64_t abandoned_ms;       //  mono: when
    int late;                   //  requests taken back from it so far
    s_worker_t *idle_prev, *idle_next;
    s_worker_t *prev, *next;    //  all workers
    bool idle;
};

struct s_service_t {
    char *name;
    s_request_t *queue_head, *queue_tail;
    size_t queued;
    size_t queued_bytes;
    s_worker_t *idle_head, *idle_tail;
    size_t idle;
    size_t workers;
    s_service_t *prev, *next;
    //  metric series (NULL without a registry)
    geak_prom_series_t *m_requests, *m_replies, *m_requeued, *m_latency;
    geak_prom_series_t *m_queued, *m_idle, *m_busy;
};

typedef struct s_cached_t {
    char *key;
    size_t key_size;
    size_t service_size;        //  service is key [0 .. service_size)
    const char *id;
    size_t id_size;
    uint8_t *body;
    size_t size;
    int64_t finished;           //  mono ms
    struct s_cached_t *prev, *next;
} s_cached_t;

//  Metric families (docs/observability.md); all NULL without a registry
typedef struct {
    geak_prom_family_t *requests, *replies, *request_errors, *requeued, *latency;
    geak_prom_family_t *queue_depth, *workers;
    geak_prom_family_t *errors, *curve_refused, *duplicates, *cache_hits, *partials;
    geak_prom_family_t *mmi, *registrations, *running, *cache_entries, *services;
    geak_prom_family_t *curve_enabled, *authorized_keys;
} s_metrics_t;

struct geak_broker_t {
    void *ctx;
    bool own_ctx;
    void *socket;
    bool bound;
    geak_curve_t *curve;        //  CURVE server settings, or NULL
    geak_curve_zap_t *zap;
    void *monitor;              //  PAIR receiving handshake failure events
    geak_prom_t *registry;
    s_metrics_t m;
    int64_t last_poll;          //  atomic, mono ms
    char *endpoint;
    int heartbeat_ms;
    int liveness;
    int max_attempts;
    geak_broker_limits_t limits;
    geak_broker_cacheable_fn *cacheable;
    size_t queued_bytes;
    size_t cache_max;
    int cache_ttl_ms;
    size_t cache_bytes_max;

    s_htab_t workers;           //  identity -> s_worker_t
    s_htab_t services;          //  name -> s_service_t
    s_htab_t requests;          //  key -> s_request_t (queued or running)
    s_htab_t cache;             //  key -> s_cached_t (finished)
    s_worker_t *worker_head;
    s_service_t *service_head;
    s_cached_t *cache_head, *cache_tail;
    size_t cache_bytes;
    size_t queued;
    size_t running;
    size_t idle;

    int64_t heartbeat_at;
    int64_t tick_at;
    geak_broker_stats_t stats;  //  updated with relaxed atomics
    int stop;                   //  atomic
    pthread_t thread;
    bool started;
};

#define STAT_INC(self, field) __atomic_fetch_add (&(self)->stats.field, 1, __ATOMIC_RELAXED)
#define STAT_SET(self, field, v) __atomic_store_n (&(self)->stats.field, (uint64_t) (v), __ATOMIC_RELAXED)

//  ------------------------------------------------------------ sending

static void
s_send_to (geak_broker_t *self, const uint8_t *address, size_t address_size,
           geak_msg_t *msg, bool to_client)
{
    if (!msg) {
        geak_error ("broker_encode_failed", "to_client=%d", to_client);
        return;
    }
    if (geak_msg_pushmem (msg, address, address_size) != GEAK_OK) {
        geak_msg_destroy (&msg);
        return;
    }
    geak_rc_t rc = geak_msg_send (&msg, self->socket, ZMQ_DONTWAIT);
    if (rc != GEAK_OK) {
        if (to_client)
            STAT_INC (self, unroutable);
        geak_debug ("broker_send_failed", "rc=%s errno=%d to_client=%d",
                    geak_rc_name (rc), errno, to_client);
    }
}

static void
s_send_client_error (geak_broker_t *self, const uint8_t *client, size_t client_size,
                     const char *service, size_t service_size,
                     const char *id, size_t id_size, geak_rc_t code, const char *text)
{
    s_send_to (self, client, client_size,
               geak_mdp_encode_client_error (service, service_size, id, id_size, code, text), true);
}

static void
s_send_worker_command (geak_broker_t *self, const uint8_t *identity, size_t identity_size, int cmd)
{
    s_send_to (self, identity, identity_size, geak_mdp_encode_worker_command (cmd), false);
}

//  ------------------------------------------------------------ services

static void
s_service_gauges (s_service_t *service)
{
    geak_prom_set (service->m_queued, (double) service->queued);
    geak_prom_set (service->m_idle, (double) service->idle);
    geak_prom_set (service->m_busy, (double) (service->workers - service->idle));
}

static s_service_t *
s_service_require (geak_broker_t *self, const void *name, size_t size)
{
    s_service_t *service = s_htab_get (&self->services, name, size);
    if (!service) {
        service = geak_malloc0 (sizeof *service);
        service->name = geak_malloc0 (size + 1);
        memcpy (service->name, name, size);
        s_htab_put (&self->services, name, size, service);
        service->next = self->service_head;
        if (self->service_head)
            self->service_head->prev = service;
        self->service_head = service;
        if (self->registry) {
            const char *const *label = GEAK_PROM_VALUES (service->name);
            service->m_requests = geak_prom_series (self->m.requests, label);
            service->m_replies = geak_prom_series (self->m.replies, label);
            service->m_requeued = geak_prom_series (self->m.requeued, label);
            service->m_latency = geak_prom_series (self->m.latency, label);
            service->m_queued = geak_prom_series (self->m.queue_depth, label);
            service->m_idle = geak_prom_series (self->m.workers,
                                                GEAK_PROM_VALUES (service->name, "idle"));
            service->m_busy = geak_prom_series (self->m.workers,
                                                GEAK_PROM_VALUES (service->name, "busy"));
            s_service_gauges (service);
        }
    }
    return service;
}

static void
s_service_destroy (geak_broker_t *self, s_service_t *service)
{
    assert (service->queued == 0 && service->workers == 0);
    //  the gauges of a service that is gone stop being exported
    geak_prom_remove (service->m_queued);
    geak_prom_remove (service->m_idle);
    geak_prom_remove (service->m_busy);
    s_htab_del (&self->services, service->name, strlen (service->name));
    if (service->prev)
        service->prev->next = service->next;
    else
        self->service_head = service->next;
    if (service->next)
        service->next->prev = service->prev;
    free (service->name);
    free (service);
}

//  ------------------------------------------------------------ requests

static void
s_queue_remove (geak_broker_t *self, s_request_t *req)
{
    s_service_t *service = req->service;
    if (req->prev)
        req->prev->next = req->next;
    else
        service->queue_head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        service->queue_tail = req->prev;
    req->prev = req->next = NULL;
    service->queued--;
    self->queued--;
    service->queued_bytes -= req->size;
    self->queued_bytes -= req->size;
    s_service_gauges (service);
}

static void
s_queue_add (geak_broker_t *self, s_request_t *req, bool at_front)
{
    s_service_t *service = req->service;
    req->state = REQ_QUEUED;
    req->worker = NULL;
    if (at_front) {
        req->prev = NULL;
        req->next = service->queue_head;
        if (service->queue_head)
            service->queue_head->prev = req;
        else
            service->queue_tail = req;
        service->queue_head = req;
    }
    else {
        req->next = NULL;
        req->prev = service->queue_tail;
        if (service->queue_tail)
            service->queue_tail->next = req;
        else
            service->queue_head = req;
        service->queue_tail = req;
    }
    service->queued++;
    self->queued++;
    service->queued_bytes += req->size;
    self->queued_bytes += req->size;
    s_service_gauges (service);
}

//  Forget a request (not in a queue, not held by a worker any more).
static void
s_request_destroy (geak_broker_t *self, s_request_t **req_p)
{
    s_request_t *req = *req_p;
    s_htab_del (&self->requests, req->key, req->key_size);
    free (req->key);
    free (req->body);
    free (req);
    *req_p = NULL;
}

static void
s_request_fail (geak_broker_t *self, s_request_t *req, geak_rc_t code, const char *text)
{
    geak_info ("request_failed", "service=%s request_id=%.*s error=%s attempts=%d",
               req->service->name, (int) req->id_size, req->id, geak_rc_name (code), req->attempts);
    s_send_client_error (self, req->client, req->client_size, req->service->name,
                         strlen (req->service->name), req->id, req->id_size, code, text);
    if (code == GEAK_E_DEADLINE)
        STAT_INC (self, failed_deadline);
    else
    if (code == GEAK_E_WORKER_LOST)
        STAT_INC (self, failed_worker_lost);
    if (self->registry)
        geak_prom_inc_with (self->m.request_errors,
                            GEAK_PROM_VALUES (req->service->name, geak_rc_name (code)));
    s_request_destroy (self, &req);
}

//  Remember a finished request's answer for retries; evict old entries.
static void
s_cache_trim (geak_broker_t *self, int64_t now)
{
    while (self->cache_head
       && (self->cache.count > self->cache_max
       ||  self->cache_bytes > self->cache_bytes_max
       ||  now - self->cache_head->finished > self->cache_ttl_ms)) {
        s_cached_t *old = self->cache_head;
        self->cache_head = old->next;
        if (self->cache_head)
            self->cache_head->prev = NULL;
        else
            self->cache_tail = NULL;
        s_htab_del (&self->cache, old->key, old->key_size);
        self->cache_bytes -= old->size;
        free (old->key);
        free (old->body);
        free (old);
    }
}

static void
s_cache_add (geak_broker_t *self, s_request_t *req, const uint8_t *body, size_t size)
{
    if (self->cache_max == 0)
        return;
    s_cached_t *old = s_htab_get (&self->cache, req->key, req->key_size);
    if (old)
        return;     //  cannot happen (ids are unique while active); keep the first
    s_cached_t *entry = geak_malloc0 (sizeof *entry);
    entry->key = geak_malloc0 (req->key_size + 1);
    memcpy (entry->key, req->key, req->key_size);
    entry->key_size = req->key_size;
    entry->service_size = strlen (req->service->name);
    entry->id = entry->key + entry->service_size + 1;
    entry->id_size = req->id_size;
    entry->body = geak_malloc0 (size + 1);
    if (size)
        memcpy (entry->body, body, size);
    entry->size = size;
    entry->finished = geak_clock_mono_ms ();
    entry->prev = self->cache_tail;
    if (self->cache_tail)
        self->cache_tail->next = entry;
    else
        self->cache_head = entry;
    self->cache_tail = entry;
    self->cache_bytes += size;
    s_htab_put (&self->cache, entry->key, entry->key_size, entry);
    s_cache_trim (self, entry->finished);
}

//  ------------------------------------------------------------ workers

static void
s_idle_remove (geak_broker_t *self, s_worker_t *worker)
{
    if (!worker->idle)
        return;
    s_service_t *service = worker->service;
    if (worker->idle_prev)
        worker->idle_prev->idle_next = worker->idle_next;
    else
        service->idle_head = worker->idle_next;
    if (worker->idle_next)
        worker->idle_next->idle_prev = worker->idle_prev;
    else
        service->idle_tail = worker->idle_prev;
    worker->idle_prev = worker->idle_next = NULL;
    worker->idle = false;
    service->idle--;
    self->idle--;
    s_service_gauges (service);
}

static void
s_idle_add (geak_broker_t *self, s_worker_t *worker)
{
    assert (!worker->idle);
    s_service_t *service = worker->service;
    worker->idle_next = NULL;
    worker->idle_prev = service->idle_tail;
    if (service->idle_tail)
        service->idle_tail->idle_next = worker;
    else
        service->idle_head = worker;
    service->idle_tail = worker;
    worker->idle = true;
    service->idle++;
    self->idle++;
    s_service_gauges (service);
}

static void s_dispatch (geak_broker_t *self, s_service_t *service);

//  Drop a worker. Its request (if any) is requeued at the front, or failed
//  with worker_lost once max_attempts dispatches were made.
static void
s_worker_delete (geak_broker_t *self, s_worker_t *worker, bool send_disconnect, const char *why)
{
    s_service_t *service = worker->service;
    if (send_disconnect)
        s_send_worker_command (self, worker->identity, worker->identity_size, GEAK_MDPW_DISCONNECT);
    s_idle_remove (self, worker);
    geak_info ("worker_gone", "service=%s worker=%s impl=%s why=%s busy=%d", service->name,
               worker->name, worker->implementation, why, worker->request != NULL);
    s_request_t *req = worker->request;
    if (req) {
        worker->request = NULL;
        self->running--;
        if (req->attempts >= self->max_attempts)
            s_request_fail (self, req, GEAK_E_WORKER_LOST, NULL);
        else {
            STAT_INC (self, requeued);
            geak_prom_inc (service->m_requeued);
            geak_info ("request_requeued", "service=%s request_id=%.*s attempts=%d",
                       service->name, (int) req->id_size, req->id, req->attempts);
            s_queue_add (self, req, true);
        }
    }
    s_htab_del (&self->workers, worker->identity, worker->identity_size);
    if (worker->prev)
        worker->prev->next = worker->next;
    else
        self->worker_head = worker->next;
    if (worker->next)
        worker->next->prev = worker->prev;
    service->workers--;
    s_service_gauges (service);
    free (worker->implementation);
    free (worker->abandoned);
    free (worker);
    s_dispatch (self, service);
}

static s_worker_t *
s_worker_new (geak_broker_t *self, const geak_mdp_view_t *view)
{
    s_worker_t *worker = geak_malloc0 (sizeof *worker);
    memcpy (worker->identity, view->sender.data, view->sender.size);
    worker->identity_size = view->sender.size;
    size_t shown = worker->identity_size > 16 ? 16 : worker->identity_size;
    for (size_t i = 0; i < shown; i++)
        snprintf (worker->name + 2 * i, 3, "%02x", worker->identity [i]);
    worker->implementation = geak_mdp_strdup (view->implementation);
    worker->service = s_service_require (self, view->service.data, view->service.size);
    worker->service->workers++;
    worker->expiry = geak_clock_mono_ms () + (int64_t) self->heartbeat_ms * self->liveness;
    worker->next = self->worker_head;
    if (self->worker_head)
        self->worker_head->prev = worker;
    self->worker_head = worker;
    s_htab_put (&self->workers, worker->identity, worker->identity_size, worker);
    return worker;
}

//  Hand queued requests of a service to its idle workers, LRU first.
static void
s_dispatch (geak_broker_t *self, s_service_t *service)
{
    int64_t now_wall = 0;
    while (service->queue_head && service->idle_head) {
        s_request_t *req = service->queue_head;
        s_queue_remove (self, req);
        if (req->deadline_ms) {
            if (!now_wall)
                now_wall = geak_clock_wall_ms ();
            if (req->deadline_ms <= now_wall) {
                s_request_fail (self, req, GEAK_E_DEADLINE, NULL);
                continue;
            }
        }
        s_worker_t *worker = service->idle_head;
        s_idle_remove (self, worker);
        geak_msg_t *msg = geak_mdp_encode_worker_request (req->client, req->client_size,
                                                          req->id, req->id_size,
                                                          req->deadline_ms, req->body, req->size);
        if (!msg || geak_msg_pushmem (msg, worker->identity, worker->identity_size) != GEAK_OK) {
            geak_msg_destroy (&msg);
            s_request_fail (self, req, GEAK_E_INTERNAL, "broker could not encode the request");
            s_idle_add (self, worker);
            continue;
        }
        geak_rc_t rc = geak_msg_send (&msg, self->socket, ZMQ_DONTWAIT);
        if (rc != GEAK_OK) {
            //  The worker's connection is gone or full: put the request back
            //  and drop the worker
            s_queue_add (self, req, true);
            s_worker_delete (self, worker, false, "unreachable");
            return;     //  s_worker_delete dispatched again
        }
        req->attempts++;
        req->state = REQ_RUNNING;
        req->dispatched_ms = geak_clock_mono_ms ();
        req->worker = worker;
        worker->request = req;
        self->running++;
        geak_debug ("request_dispatched", "service=%s request_id=%.*s worker=%s attempt=%d",
                    service->name, (int) req->id_size, req->id, worker->name, req->attempts);
    }
}

//  ------------------------------------------------------------ mmi

static char *
s_stats_json (geak_broker_t *self)
{
    geak_broker_stats_t stats;
    geak_broker_stats (self, &stats);
    cJSON *root = cJSON_CreateObject ();
#define ADD(field) cJSON_AddNumberToObject (root, #field, (double) stats.field)
    ADD (requests); ADD (replies); ADD (partials); ADD (requeued);
    ADD (failed_worker_lost); ADD (failed_deadline); ADD (malformed);
    ADD (malformed_client); ADD (malformed_worker); ADD (duplicates); ADD (cache_hits);
    ADD (stale_replies); ADD (unroutable); ADD (workers_expired); ADD (workers_registered);
    ADD (mmi); ADD (queue_depth); ADD (running); ADD (workers); ADD (workers_idle);
    ADD (workers_busy); ADD (cache_entries); ADD (auth_refused); ADD (handshake_failed);
    ADD (refused_full); ADD (dropped_gone); ADD (running_expired); ADD (workers_late);
    ADD (not_cached);
#undef ADD
    cJSON_AddNumberToObject (root, "service_count", (double) stats.services);
    cJSON *services = cJSON_AddObjectToObject (root, "services");
    for (s_service_t *service = self->service_head; service; service = service->next) {
        cJSON *entry = cJSON_AddObjectToObject (services, service->name);
        cJSON_AddNumberToObject (entry, "workers", (double) service->workers);
        cJSON_AddNumberToObject (entry, "idle", (double) service->idle);
        cJSON_AddNumberToObject (entry, "busy", (double) (service->workers - service->idle));
        cJSON_AddNumberToObject (entry, "queued", (double) service->queued);
    }
    char *json = cJSON_PrintUnformatted (root);
    cJSON_Delete (root);
    return json;
}

static void
s_handle_mmi (geak_broker_t *self, const geak_mdp_view_t *view)
{
    STAT_INC (self, mmi);
    char *body = NULL;
    if (geak_mdp_streq (view->service, "mmi.service")) {
        s_service_t *service = s_htab_get (&self->services, view->body.data, view->body.size);
        body = geak_strdup (service && service->workers ? "200" : "404");
    }
    else
    if (geak_mdp_streq (view->service, "mmi.stats"))
        body = s_stats_json (self);
    else
        body = geak_strdup ("501");
    s_send_to (self, view->sender.data, view->sender.size,
               geak_mdp_encode_client_reply (GEAK_MDPC_FINAL, view->service.data, view->service.size,
                                             view->request_id.data, view->request_id.size,
                                             body, body ? strlen (body) : 0), true);
    free (body);
}

//  ------------------------------------------------------------ client input

static void
s_handle_client (geak_broker_t *self, const geak_mdp_view_t *view)
{
    if (view->service.size > 4 && memcmp (view->service.data, "mmi.", 4) == 0) {
        s_handle_mmi (self, view);
        return;
    }
    //  key = service NUL request_id
    size_t key_size = view->service.size + 1 + view->request_id.size;
    char key_small [GEAK_MDP_MAX_NAME + 1 + GEAK_MDP_MAX_REQUEST_ID];
    assert (key_size <= sizeof key_small);
    memcpy (key_small, view->service.data, view->service.size);
    key_small [view->service.size] = 0;
    memcpy (key_small + view->service.size + 1, view->request_id.data, view->request_id.size);

    s_request_t *req = s_htab_get (&self->requests, key_small, key_size);
    if (req) {
        //  A retry of an active request: follow the client's new address
        STAT_INC (self, duplicates);
        memcpy (req->client, view->sender.data, view->sender.size);
        req->client_size = view->sender.size;
        req->seen_ms = geak_clock_mono_ms ();
        if (view->deadline_ms > req->deadline_ms && req->deadline_ms)
            req->deadline_ms = view->deadline_ms;
        geak_debug ("request_retry", "service=%s request_id=%.*s state=%s", req->service->name,
                    (int) req->id_size, req->id, req->state == REQ_QUEUED ? "queued" : "running");
        s_send_to (self, req->client, req->client_size,
                   geak_mdp_encode_client_ack (view->service.data, view->service.size,
                                               view->request_id.data, view->request_id.size,
                                               req->state == REQ_QUEUED ? GEAK_MDP_ACK_QUEUED
                                                                        : GEAK_MDP_ACK_RUNNING), true);
        return;
    }
    s_cached_t *cached = s_htab_get (&self->cache, key_small, key_size);
    if (cached) {
        STAT_INC (self, duplicates);
        STAT_INC (self, cache_hits);
        geak_debug ("request_cached", "request_id=%.*s", (int) cached->id_size, cached->id);
        s_send_to (self, view->sender.data, view->sender.size,
                   geak_mdp_encode_client_reply (GEAK_MDPC_FINAL, cached->key, cached->service_size,
                                                 cached->id, cached->id_size,
                                                 cached->body, cached->size), true);
        return;
    }
    if (view->deadline_ms && view->deadline_ms <= geak_clock_wall_ms ()) {
        STAT_INC (self, failed_deadline);
        if (self->registry)
            geak_prom_inc_with (self->m.request_errors,
                                GEAK_PROM_VALUES (key_small, geak_rc_name (GEAK_E_DEADLINE)));
        s_send_client_error (self, view->sender.data, view->sender.size,
                             (const char *) view->service.data, view->service.size,
                             (const char *) view->request_id.data, view->request_id.size,
                             GEAK_E_DEADLINE, NULL);
        return;
    }
    //  bounded queues: a request that would overflow one is refused, not kept
    s_service_t *target = s_htab_get (&self->services, view->service.data, view->service.size);
    const geak_broker_limits_t *lim = &self->limits;
    const char *full = NULL;
    if (lim->queue_max && self->queued >= lim->queue_max)
        full = "the broker's queue holds its maximum of requests";
    else
    if (lim->queue_bytes && self->queued_bytes + view->body.size > lim->queue_bytes)
        full = "the broker's queue holds its maximum of bytes";
    else
    if (target && lim->service_queue_max && target->queued >= lim->service_queue_max)
        full = "this service's queue holds its maximum of requests";
    else
    if (target && lim->service_queue_bytes
    &&  target->queued_bytes + view->body.size > lim->service_queue_bytes)
        full = "this service's queue holds its maximum of bytes";
    if (full && !(target && target->idle_head)) {
        STAT_INC (self, refused_full);
        if (self->registry)
            geak_prom_inc_with (self->m.request_errors,
                                GEAK_PROM_VALUES (key_small, geak_rc_name (GEAK_E_BUSY)));
        char text [160];
        snprintf (text, sizeof text, "%s (%zu queued, %zu bytes); retry later", full, self->queued,
                  self->queued_bytes);
        geak_warn ("request_refused", "service=%.*s request_id=%.*s why=\"%s\"",
                   (int) view->service.size, view->service.data, (int) view->request_id.size,
                   view->request_id.data, text);
        s_send_client_error (self, view->sender.data, view->sender.size,
                             (const char *) view->service.data, view->service.size,
                             (const char *) view->request_id.data, view->request_id.size,
                             GEAK_E_BUSY, text);
        return;
    }
    STAT_INC (self, requests);
    req = geak_malloc0 (sizeof *req);
    req->key = geak_malloc0 (key_size + 1);
    memcpy (req->key, key_small, key_size);
    req->key_size = key_size;
    req->id = req->key + view->service.size + 1;
    req->id_size = view->request_id.size;
    memcpy (req->client, view->sender.data, view->sender.size);
    req->client_size = view->sender.size;
    req->deadline_ms = view->deadline_ms;
    if (!req->deadline_ms && lim->default_deadline_ms)
        req->deadline_ms = geak_clock_wall_ms () + lim->default_deadline_ms;
    req->seen_ms = geak_clock_mono_ms ();
    req->body = geak_malloc0 (view->body.size + 1);
    if (view->body.size)
        memcpy (req->body, view->body.data, view->body.size);
    req->size = view->body.size;
    req->service = s_service_require (self, view->service.data, view->service.size);
    req->accepted_us = self->registry ? geak_clock_mono_us () : 0;
    geak_prom_inc (req->service->m_requests);
    s_htab_put (&self->requests, req->key, req->key_size, req);
    s_queue_add (self, req, false);
    s_dispatch (self, req->service);
}

//  ------------------------------------------------------------ worker input

static void
s_handle_worker (geak_broker_t *self, const geak_mdp_view_t *view)
{
    s_worker_t *worker = s_htab_get (&self->workers, view->sender.data, view->sender.size);
    if (view->command == GEAK_MDPW_READY) {
        if (worker)     //  a second READY: treat as a fresh registration
            s_worker_delete (self, worker, false, "re_ready");
        if (view->service.size >= 4 && memcmp (view->service.data, "mmi.", 4) == 0) {
            geak_warn ("worker_refused", "reason=reserved_service service=%.*s",
                       (int) view->service.size, view->service.data);
            s_send_worker_command (self, view->sender.data, view->sender.size, GEAK_MDPW_DISCONNECT);
            return;
        }
        worker = s_worker_new (self, view);
        STAT_INC (self, workers_registered);
        geak_info ("worker_ready", "service=%s worker=%s impl=%s workers=%zu",
                   worker->service->name, worker->name, worker->implementation,
                   worker->service->workers);
        s_idle_add (self, worker);
        s_dispatch (self, worker->service);
        return;
    }
    if (!worker) {
        //  Unknown (e.g. we restarted): ask it to reconnect and register
        if (view->command == GEAK_MDPW_PARTIAL || view->command == GEAK_MDPW_FINAL)
            STAT_INC (self, stale_replies);
        if (view->command != GEAK_MDPW_DISCONNECT)
            s_send_worker_command (self, view->sender.data, view->sender.size, GEAK_MDPW_DISCONNECT);
        return;
    }
    worker->expiry = geak_clock_mono_ms () + (int64_t) self->heartbeat_ms * self->liveness;
    switch (view->command) {
        case GEAK_MDPW_HEARTBEAT:
            break;
        case GEAK_MDPW_DISCONNECT:
            s_worker_delete (self, worker, false, "disconnect");
            break;
        case GEAK_MDPW_PARTIAL:
        case GEAK_MDPW_FINAL: {
            s_request_t *req = worker->request;
            if (!req && worker->abandoned && view->command == GEAK_MDPW_FINAL
            &&  strlen (worker->abandoned) == view->request_id.size
            &&  memcmp (worker->abandoned, view->request_id.data, view->request_id.size) == 0) {
                //  the late answer of a request taken back: dropped; the worker is free again
                STAT_INC (self, stale_replies);
                geak_info ("late_reply_dropped", "worker=%s request_id=%s", worker->name,
                           worker->abandoned);
                free (worker->abandoned);
                worker->abandoned = NULL;
                s_idle_add (self, worker);
                s_dispatch (self, worker->service);
                break;
            }
            if (!req || req->id_size != view->request_id.size
            ||  memcmp (req->id, view->request_id.data, req->id_size) != 0) {
                STAT_INC (self, stale_replies);
                geak_debug ("stale_reply", "worker=%s request_id=%.*s", worker->name,
                            (int) view->request_id.size, view->request_id.data);
                break;
            }
            s_service_t *service = worker->service;
            int cmd = view->command == GEAK_MDPW_FINAL ? GEAK_MDPC_FINAL : GEAK_MDPC_PARTIAL;
            s_send_to (self, req->client, req->client_size,
                       geak_mdp_encode_client_reply (cmd, service->name, strlen (service->name),
                                                     req->id, req->id_size,
                                                     view->body.data, view->body.size), true);
            if (cmd == GEAK_MDPC_PARTIAL) {
                STAT_INC (self, partials);
                break;
            }
            STAT_INC (self, replies);
            geak_prom_inc (service->m_replies);
            if (service->m_latency)
                geak_prom_observe (service->m_latency,
                                   (double) (geak_clock_mono_us () - req->accepted_us) / 1e6);
            if (!self->cacheable || self->cacheable (view->body.data, view->body.size))
                s_cache_add (self, req, view->body.data, view->body.size);
            else {
                //  a retry must reach a worker again, not get the same unusable bytes
                STAT_INC (self, not_cached);
                geak_warn ("reply_not_cached", "service=%s request_id=%.*s worker=%s bytes=%zu",
                           service->name, (int) req->id_size, req->id, worker->name,
                           view->body.size);
            }
            worker->request = NULL;
            self->running--;
            s_request_destroy (self, &req);
            s_idle_add (self, worker);
            s_dispatch (self, service);
            break;
        }
        default:
            break;      //  decoder admits nothing else
    }
}

//  ------------------------------------------------------------ timers

static void
s_count_malformed (geak_broker_t *self, const geak_mdp_view_t *view, geak_rc_t rc)
{
    uint64_t n = STAT_INC (self, malformed) + 1;
    if (view->origin == GEAK_MDP_FROM_CLIENT)
        STAT_INC (self, malformed_client);
    else
    if (view->origin == GEAK_MDP_FROM_WORKER)
        STAT_INC (self, malformed_worker);
    if (n <= 10 || n % MALFORMED_LOG_EVERY == 0)
        geak_warn ("malformed_message", "origin=%s rc=%s total=%llu",
                   view->origin == GEAK_MDP_FROM_CLIENT ? "client"
                   : view->origin == GEAK_MDP_FROM_WORKER ? "worker" : "unknown",
                   geak_rc_name (rc), (unsigned long long) n);
}

static void
s_tick (geak_broker_t *self, int64_t now)
{
    //  Silent workers
    s_worker_t *worker = self->worker_head;
    while (worker) {
        s_worker_t *next = worker->next;
        if (worker->expiry <= now) {
            STAT_INC (self, workers_expired);
            s_worker_delete (self, worker, true, "expired");
            //  s_worker_delete may fail a request but never deletes another worker
            //  except through s_dispatch on an unreachable one; restart the scan
            next = self->worker_head;
            while (next && next->expiry > now)
                next = next->next;
        }
        worker = next;
    }
    //  Running requests past their deadline or the longest run allowed: taken back
    int64_t wall = geak_clock_wall_ms ();
    for (worker = self->worker_head; worker; ) {
        s_worker_t *next = worker->next;
        s_request_t *req = worker->request;
        bool past_deadline = req && req->deadline_ms && req->deadline_ms <= wall;
        bool past_run = req && self->limits.max_run_ms
                     && now - req->dispatched_ms > self->limits.max_run_ms;
        if (past_deadline || past_run) {
            s_service_t *service = worker->service;
            worker->request = NULL;
            self->running--;
            free (worker->abandoned);
            worker->abandoned = geak_strdupf ("%.*s", (int) req->id_size, req->id);
            worker->abandoned_ms = now;
            worker->late++;
            STAT_INC (self, running_expired);
            geak_warn ("request_taken_back", "service=%s request_id=%.*s worker=%s why=%s "
                       "held_ms=%lld late=%d", service->name, (int) req->id_size, req->id,
                       worker->name, past_deadline ? "deadline" : "max_run",
                       (long long) (now - req->dispatched_ms), worker->late);
            if (past_deadline || req->attempts >= self->max_attempts)
                s_request_fail (self, req, past_deadline ? GEAK_E_DEADLINE : GEAK_E_WORKER_LOST,
                                past_deadline ? "the request's worker held it past its deadline"
                                              : "every worker held it past the longest run allowed");
            else {
                STAT_INC (self, requeued);
                geak_prom_inc (service->m_requeued);
                s_queue_add (self, req, true);
                s_dispatch (self, service);
            }
            if (self->limits.late_max && worker->late >= self->limits.late_max) {
                STAT_INC (self, workers_late);
                s_worker_delete (self, worker, true, "late");
            }
            next = self->worker_head;           //  dispatching may have changed the list
        }
        else
        if (!req && worker->abandoned && now - worker->abandoned_ms > ABANDONED_MAX_MS) {
            //  still on a request taken back long ago: hung; make it reconnect
            STAT_INC (self, workers_late);
            s_worker_delete (self, worker, true, "hung");
            next = self->worker_head;
        }
        worker = next;
    }
    //  Queued requests past their deadline, or whose client stopped resending; empty services
    s_service_t *service = self->service_head;
    while (service) {
        s_service_t *next = service->next;
        s_request_t *req = service->queue_head;
        while (req) {
            s_request_t *req_next = req->next;
            if (req->deadline_ms && req->deadline_ms <= wall) {
                s_queue_remove (self, req);
                s_request_fail (self, req, GEAK_E_DEADLINE, NULL);
            }
            else
            if (self->limits.client_silence_ms && now - req->seen_ms > self->limits.client_silence_ms) {
                //  a client resends every few seconds while it waits: this one has gone
                STAT_INC (self, dropped_gone);
                geak_info ("request_dropped", "service=%s request_id=%.*s why=client_gone silent_ms=%lld",
                           service->name, (int) req->id_size, req->id,
                           (long long) (now - req->seen_ms));
                s_queue_remove (self, req);
                s_request_destroy (self, &req);
            }
            req = req_next;
        }
        if (service->workers == 0 && service->queued == 0)
            s_service_destroy (self, service);
        service = next;
    }
    s_cache_trim (self, now);
}

static void
s_publish_gauges (geak_broker_t *self)
{
    STAT_SET (self, queue_depth, self->queued);
    STAT_SET (self, running, self->running);
    STAT_SET (self, workers, self->workers.count);
    STAT_SET (self, workers_idle, self->idle);
    STAT_SET (self, workers_busy, self->workers.count - self->idle);
    STAT_SET (self, services, self->services.count);
    STAT_SET (self, cache_entries, self->cache.count);
    if (self->zap)
        STAT_SET (self, auth_refused, geak_curve_zap_refused (self->zap));
}

//  Handshake failures reported by the socket monitor (CURVE only)
static void
s_handle_monitor (geak_broker_t *self)
{
    while (true) {
        geak_msg_t *event = geak_msg_recv_flags (self->monitor, ZMQ_DONTWAIT);
        if (!event)
            return;
        if (geak_msg_size (event) >= 1 && geak_msg_frame_size (event, 0) == 6) {
            uint16_t id;
            uint32_t value;
            memcpy (&id, geak_msg_data (event, 0), sizeof id);
            memcpy (&value, geak_msg_data (event, 0) + 2, sizeof value);
            //  refusals by the ZAP handler are counted there
            if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
                uint64_t n = STAT_INC (self, handshake_failed) + 1;
                const char *reason = id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ? "no_detail"
                    : value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? "mechanism_mismatch"
                    : value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC ? "cryptographic"
                    : "protocol";
                if (n <= 20 || n % MALFORMED_LOG_EVERY == 0)
                    geak_warn ("curve_handshake_failed", "reason=%s code=0x%x total=%llu",
                               reason, value, (unsigned long long) n);
            }
        }
        geak_msg_destroy (&event);
    }
}

//  ------------------------------------------------------------ public API

geak_broker_t *
geak_broker_new (void *ctx)
{
    geak_broker_t *self = geak_malloc0 (sizeof *self);
    self->own_ctx = ctx == NULL;
    self->ctx = ctx ? ctx : zmq_ctx_new ();
    if (!self->ctx) {
        free (self);
        return NULL;
    }
    self->socket = zmq_socket (self->ctx, ZMQ_ROUTER);
    if (!self->socket) {
        if (self->own_ctx)
            zmq_ctx_term (self->ctx);
        free (self);
        return NULL;
    }
    int one = 1, zero = 0, hwm = HWM;
    int64_t maxsize = (int64_t) GEAK_MDP_MAX_BODY + 1024;
    zmq_setsockopt (self->socket, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt (self->socket, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->socket, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    self->heartbeat_ms = GEAK_BROKER_HEARTBEAT_MS;
    self->liveness = GEAK_BROKER_LIVENESS;
    self->max_attempts = GEAK_BROKER_MAX_ATTEMPTS;
    self->cache_max = GEAK_BROKER_CACHE_ENTRIES;
    self->cache_ttl_ms = GEAK_BROKER_CACHE_TTL_MS;
    self->cache_bytes_max = GEAK_BROKER_CACHE_BYTES;
    geak_broker_limits_default (&self->limits);
    s_htab_init (&self->workers);
    s_htab_init (&self->services);
    s_htab_init (&self->requests);
    s_htab_init (&self->cache);
    int64_t now = geak_clock_mono_ms ();
    self->heartbeat_at = now + self->heartbeat_ms;
    self->tick_at = now + TICK_MS;
    self->last_poll = now;
    return self;
}

void
geak_broker_destroy (geak_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_broker_t *self = *self_p;
    if (self->started) {
        geak_broker_stop (self);
        pthread_join (self->thread, NULL);
        self->started = false;
    }
    //  Tell workers we are going; they reconnect to whoever binds next
    for (s_worker_t *worker = self->worker_head; worker; worker = worker->next)
        s_send_worker_command (self, worker->identity, worker->identity_size, GEAK_MDPW_DISCONNECT);
    while (self->worker_head) {
        s_worker_t *worker = self->worker_head;
        self->worker_head = worker->next;
        if (worker->request) {
            s_request_t *req = worker->request;
            s_request_destroy (self, &req);
        }
        free (worker->implementation);
        free (worker->abandoned);
        free (worker);
    }
    while (self->service_head) {
        s_service_t *service = self->service_head;
        self->service_head = service->next;
        while (service->queue_head) {
            s_request_t *req = service->queue_head;
            service->queue_head = req->next;
            s_request_destroy (self, &req);
        }
        free (service->name);
        free (service);
    }
    while (self->cache_head) {
        s_cached_t *entry = self->cache_head;
        self->cache_head = entry->next;
        free (entry->key);
        free (entry->body);
        free (entry);
    }
    s_htab_fini (&self->workers);
    s_htab_fini (&self->services);
    s_htab_fini (&self->requests);
    s_htab_fini (&self->cache);
    if (self->monitor) {
        zmq_socket_monitor (self->socket, NULL, 0);
        zmq_close (self->monitor);
    }
    zmq_close (self->socket);
    geak_curve_zap_destroy (&self->zap);
    geak_curve_destroy (&self->curve);
    if (self->own_ctx)
        zmq_ctx_term (self->ctx);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

void
geak_broker_set_heartbeat (geak_broker_t *self, int interval_ms, int liveness)
{
    assert (self);
    if (interval_ms >= 1)
        self->heartbeat_ms = interval_ms;
    if (liveness >= 1)
        self->liveness = liveness;
    self->heartbeat_at = geak_clock_mono_ms () + self->heartbeat_ms;
}

void
geak_broker_set_max_attempts (geak_broker_t *self, int max_attempts)
{
    assert (self);
    if (max_attempts >= 1)
        self->max_attempts = max_attempts;
}

void
geak_broker_set_cache (geak_broker_t *self, size_t entries, int ttl_ms)
{
    assert (self);
    self->cache_max = entries;
    if (ttl_ms >= 0)
        self->cache_ttl_ms = ttl_ms;
}

void
geak_broker_limits_default (geak_broker_limits_t *limits)
{
    assert (limits);
    limits->queue_max = 100000;
    limits->queue_bytes = (size_t) 2 << 30;
    limits->service_queue_max = 20000;
    limits->service_queue_bytes = (size_t) 1 << 30;
    limits->default_deadline_ms = 3600 * 1000;
    limits->max_run_ms = 0;
    limits->client_silence_ms = 15000;
    limits->late_max = 3;
}

void
geak_broker_set_cacheable (geak_broker_t *self, geak_broker_cacheable_fn *fn)
{
    assert (self);
    self->cacheable = fn;
}

void
geak_broker_set_limits (geak_broker_t *self, const geak_broker_limits_t *limits)
{
    assert (self && limits);
    self->limits = *limits;
}

geak_rc_t
geak_broker_bind (geak_broker_t *self, const char *endpoint)
{
    if (!self || !endpoint)
        return GEAK_E_INVALID;
    if (zmq_bind (self->socket, endpoint) != 0) {
        geak_error ("broker_bind_failed", "endpoint=%s error=\"%s\"", endpoint, zmq_strerror (errno));
        return GEAK_E_TRANSPORT;
    }
    self->bound = true;
    char resolved [256] = "";
    size_t size = sizeof resolved;
    if (zmq_getsockopt (self->socket, ZMQ_LAST_ENDPOINT, resolved, &size) != 0 || !resolved [0])
        snprintf (resolved, sizeof resolved, "%s", endpoint);
    free (self->endpoint);
    self->endpoint = geak_strdup (resolved);
    return GEAK_OK;
}

geak_rc_t
geak_broker_set_curve (geak_broker_t *self, const geak_curve_t *curve)
{
    static int s_sequence = 0;
    if (!self || !geak_curve_is_server (curve) || self->bound || self->curve)
        return GEAK_E_INVALID;
    geak_rc_t rc;
    self->zap = geak_curve_zap_new (self->ctx, geak_curve_authorized_path (curve), &rc);
    if (!self->zap)
        return rc;
    rc = geak_curve_apply (curve, self->socket);
    if (rc == GEAK_OK) {
        char name [96];
        snprintf (name, sizeof name, "inproc://geak-broker-monitor-%d-%p",
                  __atomic_add_fetch (&s_sequence, 1, __ATOMIC_RELAXED), (void *) self);
        int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                   | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
        self->monitor = zmq_socket (self->ctx, ZMQ_PAIR);
        int zero = 0;
        if (!self->monitor
        ||  zmq_setsockopt (self->monitor, ZMQ_LINGER, &zero, sizeof zero) != 0
        ||  zmq_socket_monitor (self->socket, name, events) != 0
        ||  zmq_connect (self->monitor, name) != 0)
            rc = GEAK_E_TRANSPORT;
    }
    if (rc != GEAK_OK) {
        if (self->monitor) {
            zmq_socket_monitor (self->socket, NULL, 0);
            zmq_close (self->monitor);
            self->monitor = NULL;
        }
        geak_curve_zap_destroy (&self->zap);
        return rc;
    }
    self->curve = geak_curve_dup (curve);
    geak_info ("broker_curve", "public_fingerprint=%s authorized=%s keys=%zu",
               geak_curve_own_fingerprint (curve), geak_curve_authorized_path (curve),
               geak_curve_zap_keys (self->zap));
    return GEAK_OK;
}

//  Broker-wide series, refreshed from the counters at each scrape
static void
s_collect (void *arg)
{
    geak_broker_t *self = arg;
    geak_broker_stats_t st;
    geak_broker_stats (self, &st);
    const s_metrics_t *m = &self->m;
    uint64_t other = st.malformed - st.malformed_client - st.malformed_worker;
    struct { const char *name; uint64_t value; } errors [] = {
        { "worker_lost", st.failed_worker_lost }, { "deadline", st.failed_deadline },
        { "malformed_client", st.malformed_client }, { "malformed_worker", st.malformed_worker },
        { "malformed_other", other }, { "stale_reply", st.stale_replies },
        { "unroutable", st.unroutable }, { "worker_expired", st.workers_expired },
        { "refused_full", st.refused_full }, { "client_gone", st.dropped_gone },
        { "running_past_deadline", st.running_expired }, { "worker_late", st.workers_late },
        { "reply_not_cached", st.not_cached },
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors [0]; i++)
        geak_prom_set_with (m->errors, GEAK_PROM_VALUES (errors [i].name), (double) errors [i].value);
    geak_prom_set_with (m->duplicates, NULL, (double) st.duplicates);
    geak_prom_set_with (m->cache_hits, NULL, (double) st.cache_hits);
    geak_prom_set_with (m->partials, NULL, (double) st.partials);
    geak_prom_set_with (m->mmi, NULL, (double) st.mmi);
    geak_prom_set_with (m->registrations, NULL, (double) st.workers_registered);
    geak_prom_set_with (m->running, NULL, (double) st.running);
    geak_prom_set_with (m->cache_entries, NULL, (double) st.cache_entries);
    geak_prom_set_with (m->services, NULL, (double) st.services);
    geak_prom_set_with (m->curve_enabled, NULL, self->zap ? 1 : 0);
    if (self->zap) {
        geak_prom_set_with (m->curve_refused, GEAK_PROM_VALUES ("unauthorized_key"),
                            (double) geak_curve_zap_refused (self->zap));
        geak_prom_set_with (m->curve_refused, GEAK_PROM_VALUES ("handshake_failed"),
                            (double) st.handshake_failed);
        geak_prom_set_with (m->authorized_keys, NULL, (double) geak_curve_zap_keys (self->zap));
    }
}

geak_rc_t
geak_broker_set_metrics (geak_broker_t *self, geak_prom_t *registry)
{
    if (!self || !registry || self->registry || self->started)
        return GEAK_E_INVALID;
    s_metrics_t *m = &self->m;
    const char *const *service = GEAK_PROM_LABELS ("service");
    m->requests = geak_prom_counter (registry, "geak_broker_requests_total",
        "New requests accepted, by service (retries and mmi.* not counted).", service);
    m->replies = geak_prom_counter (registry, "geak_broker_replies_total",
        "Final replies from workers delivered to a pending request, by service.", service);
    m->request_errors = geak_prom_counter (registry, "geak_broker_request_errors_total",
        "ERROR replies the broker sent to clients, by service and code "
        "(worker_lost, deadline, internal).", GEAK_PROM_LABELS ("service", "code"));
    m->requeued = geak_prom_counter (registry, "geak_broker_requeued_total",
        "Requests requeued after their worker was lost, by service.", service);
    m->latency = geak_prom_histogram (registry, "geak_broker_request_duration_seconds",
        "Time from accepting a request to delivering its final reply, by service.", service,
        geak_prom_latency_buckets, GEAK_PROM_LATENCY_COUNT);
    m->queue_depth = geak_prom_gauge (registry, "geak_broker_queue_depth",
        "Requests waiting for an idle worker, by service.", service);
    m->workers = geak_prom_gauge (registry, "geak_broker_workers",
        "Registered workers by service and state (idle, busy).",
        GEAK_PROM_LABELS ("service", "state"));
    m->errors = geak_prom_counter (registry, "geak_broker_errors_total",
        "Broker-level errors by class: worker_lost, deadline, malformed_client, "
        "malformed_worker, malformed_other, stale_reply, unroutable, worker_expired, "
        "refused_full (queue limits), client_gone (queued request of a client that stopped "
        "resending, dropped), running_past_deadline (taken back from its worker), worker_late "
        "(disconnected for holding requests too long), reply_not_cached (not an Envelope).",
        GEAK_PROM_LABELS ("class"));
    m->curve_refused = geak_prom_counter (registry, "geak_broker_curve_refused_total",
        "CURVE connections refused: unauthorized_key (ZAP), handshake_failed (plain "
        "peer, wrong server key, garbage).", GEAK_PROM_LABELS ("reason"));
    m->duplicates = geak_prom_counter (registry, "geak_broker_duplicates_total",
        "Retries of a known request id (answered with ACK or the cached reply).", NULL);
    m->cache_hits = geak_prom_counter (registry, "geak_broker_cache_hits_total",
        "Retries answered from the finished-request cache.", NULL);
    m->partials = geak_prom_counter (registry, "geak_broker_partials_total",
        "PARTIAL replies forwarded to clients.", NULL);
    m->mmi = geak_prom_counter (registry, "geak_broker_mmi_requests_total",
        "mmi.* requests answered by the broker.", NULL);
    m->registrations = geak_prom_counter (registry, "geak_broker_worker_registrations_total",
        "READY commands accepted.", NULL);
    m->running = geak_prom_gauge (registry, "geak_broker_requests_running",
        "Requests held by a worker now.", NULL);
    m->cache_entries = geak_prom_gauge (registry, "geak_broker_cache_entries",
        "Finished requests remembered for retries.", NULL);
    m->services = geak_prom_gauge (registry, "geak_broker_services",
        "Known service names (with workers or queued requests).", NULL);
    m->curve_enabled = geak_prom_gauge (registry, "geak_broker_curve_enabled",
        "1 when the broker requires CURVE, else 0.", NULL);
    m->authorized_keys = geak_prom_gauge (registry, "geak_broker_curve_authorized_keys",
        "Public keys in the authorized-keys file now (CURVE only).", NULL);
    if (!m->requests || !m->replies || !m->request_errors || !m->requeued || !m->latency
    ||  !m->queue_depth || !m->workers || !m->errors || !m->curve_refused || !m->duplicates
    ||  !m->cache_hits || !m->partials || !m->mmi || !m->registrations || !m->running
    ||  !m->cache_entries || !m->services || !m->curve_enabled || !m->authorized_keys) {
        memset (m, 0, sizeof *m);
        return GEAK_E_INVALID;
    }
    geak_rc_t rc = geak_prom_add_collector (registry, s_collect, self);
    if (rc != GEAK_OK) {
        memset (m, 0, sizeof *m);
        return rc;
    }
    self->registry = registry;
    return GEAK_OK;
}

int64_t
geak_broker_last_poll (const geak_broker_t *self)
{
    assert (self);
    return __atomic_load_n (&self->last_poll, __ATOMIC_RELAXED);
}

const char *
geak_broker_endpoint (const geak_broker_t *self)
{
    assert (self);
    return self->endpoint;
}

geak_rc_t
geak_broker_poll (geak_broker_t *self, int timeout_ms)
{
    assert (self);
    int64_t now = geak_clock_mono_ms ();
    int64_t next = self->tick_at < self->heartbeat_at ? self->tick_at : self->heartbeat_at;
    int64_t wait = next - now;
    if (wait < 0)
        wait = 0;
    if (timeout_ms >= 0 && wait > timeout_ms)
        wait = timeout_ms;
    __atomic_store_n (&self->last_poll, now, __ATOMIC_RELAXED);
    zmq_pollitem_t items [2] = {
        { self->socket, 0, ZMQ_POLLIN, 0 },
        { self->monitor, 0, ZMQ_POLLIN, 0 }
    };
    int rc = zmq_poll (items, self->monitor ? 2 : 1, (long) wait);
    if (rc == -1)
        return (errno == EINTR || errno == ETERM) ? GEAK_E_INTERRUPTED : GEAK_E_TRANSPORT;
    if (self->monitor && (items [1].revents & ZMQ_POLLIN))
        s_handle_monitor (self);
    if (items [0].revents & ZMQ_POLLIN) {
        for (int n = 0; n < BATCH; n++) {
            geak_msg_t *msg = geak_msg_recv_flags (self->socket, ZMQ_DONTWAIT);
            if (!msg) {
                if (errno == EAGAIN)
                    break;
                return (errno == EINTR || errno == ETERM) ? GEAK_E_INTERRUPTED : GEAK_E_TRANSPORT;
            }
            geak_mdp_view_t view;
            geak_rc_t vrc = geak_mdp_decode_router (msg, &view);
            if (vrc != GEAK_OK)
                s_count_malformed (self, &view, vrc);
            else
            if (view.origin == GEAK_MDP_FROM_CLIENT)
                s_handle_client (self, &view);
            else
                s_handle_worker (self, &view);
            geak_msg_destroy (&msg);
        }
    }
    now = geak_clock_mono_ms ();
    if (now >= self->heartbeat_at) {
        for (s_worker_t *worker = self->worker_head; worker; worker = worker->next)
            s_send_worker_command (self, worker->identity, worker->identity_size, GEAK_MDPW_HEARTBEAT);
        self->heartbeat_at = now + self->heartbeat_ms;
    }
    if (now >= self->tick_at) {
        s_tick (self, now);
        self->tick_at = now + TICK_MS;
    }
    s_publish_gauges (self);
    return GEAK_OK;
}

geak_rc_t
geak_broker_run (geak_broker_t *self)
{
    assert (self);
    while (!__atomic_load_n (&self->stop, __ATOMIC_ACQUIRE)) {
        geak_rc_t rc = geak_broker_poll (self, TICK_MS);
        if (rc == GEAK_E_INTERRUPTED) {
            if (__atomic_load_n (&self->stop, __ATOMIC_ACQUIRE))
                break;
            if (errno == ETERM)
                return GEAK_E_INTERRUPTED;
            continue;       //  a harmless signal
        }
        if (rc != GEAK_OK)
            return rc;
    }
    return GEAK_OK;
}

static void *
s_broker_thread (void *arg)
{
    geak_broker_t *self = arg;
    geak_rc_t rc = geak_broker_run (self);
    if (rc != GEAK_OK)
        geak_error ("broker_stopped", "rc=%s", geak_rc_name (rc));
    return NULL;
}

geak_rc_t
geak_broker_start (geak_broker_t *self)
{
    if (!self || self->started)
        return GEAK_E_INVALID;
    __atomic_store_n (&self->stop, 0, __ATOMIC_RELEASE);
    if (pthread_create (&self->thread, NULL, s_broker_thread, self) != 0)
        return GEAK_E_INTERNAL;
    self->started = true;
    return GEAK_OK;
}

void
geak_broker_stop (geak_broker_t *self)
{
    if (self)
        __atomic_store_n (&self->stop, 1, __ATOMIC_RELEASE);
}

void
geak_broker_stats (geak_broker_t *self, geak_broker_stats_t *stats)
{
    assert (self && stats);
    const uint64_t *src = (const uint64_t *) &self->stats;
    uint64_t *dst = (uint64_t *) stats;
    for (size_t i = 0; i < sizeof *stats / sizeof (uint64_t); i++)
        dst [i] = __atomic_load_n (&src [i], __ATOMIC_RELAXED);
}

char *
geak_broker_stats_json (geak_broker_t *self)
{
    assert (self);
    return s_stats_json (self);
}

//  ------------------------------------------------------------ selftest
//  Drives the broker from this thread with raw DEALER sockets, so every
//  protocol step is checked by hand.

static geak_msg_t *
s_expect (void *socket, int timeout_ms, geak_broker_t *broker)
{
    int64_t until = geak_clock_mono_ms () + timeout_ms;
    while (geak_clock_mono_ms () < until) {
        geak_broker_poll (broker, 5);
        geak_msg_t *msg = geak_msg_recv_flags (socket, ZMQ_DONTWAIT);
        if (msg)
            return msg;
    }
    return NULL;
}

static geak_msg_t *
s_expect_not_heartbeat (void *socket, int timeout_ms, geak_broker_t *broker)
{
    int64_t until = geak_clock_mono_ms () + timeout_ms;
    while (geak_clock_mono_ms () < until) {
        geak_msg_t *msg = s_expect (socket, (int) (until - geak_clock_mono_ms ()) + 1, broker);
        if (!msg)
            return NULL;
        geak_mdp_view_t view;
        if (geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_OK
        &&  view.command == GEAK_MDPW_HEARTBEAT) {
            geak_msg_destroy (&msg);
            continue;
        }
        return msg;
    }
    return NULL;
}

static void *
s_dealer (void *ctx, const char *endpoint)
{
    void *socket = zmq_socket (ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &zero, sizeof zero);
    int rc = zmq_connect (socket, endpoint);
    assert (rc == 0);
    return socket;
}

static void
s_send (void *socket, geak_msg_t *msg)
{
    assert (msg);
    geak_rc_t rc = geak_msg_send (&msg, socket, 0);
    assert (rc == GEAK_OK);
}

int
geak_broker_test (bool verbose)
{
    int saved_level = geak_log_level_current;
    if (!verbose)
        geak_log_set_level (GEAK_LOG_OFF);
    void *ctx = zmq_ctx_new ();
    geak_broker_t *broker = geak_broker_new (ctx);
    GEAK_CHECK (broker);
    geak_broker_set_heartbeat (broker, 50, 3);
    geak_broker_set_max_attempts (broker, 2);
    geak_prom_t *registry = geak_prom_new ();
    GEAK_CHECK (geak_broker_set_metrics (broker, registry) == GEAK_OK);
    GEAK_CHECK (geak_broker_set_metrics (broker, registry) == GEAK_E_INVALID);
    GEAK_CHECK (geak_broker_set_curve (broker, NULL) == GEAK_E_INVALID);
    GEAK_CHECK (geak_broker_bind (broker, "inproc://geak-broker-test") == GEAK_OK);
    GEAK_CHECK (geak_broker_bind (broker, "bogus://nowhere") == GEAK_E_TRANSPORT);
    GEAK_CHECK (strcmp (geak_broker_endpoint (broker), "inproc://geak-broker-test") == 0);
    const char *ep = "inproc://geak-broker-test";

    void *client = s_dealer (ctx, ep);
    void *w1 = s_dealer (ctx, ep);
    geak_mdp_view_t view;

    //  1. request queued for a service without workers, then served
    s_send (client, geak_mdp_encode_client_request ("echo", "r1", 0, "hi", 2));
    s_send (w1, geak_mdp_encode_worker_ready ("echo", "impl-a"));
    geak_msg_t *msg = s_expect_not_heartbeat (w1, 1000, broker);
    GEAK_CHECK (msg);
    GEAK_CHECK (geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPW_REQUEST && geak_mdp_streq (view.request_id, "r1"));
    GEAK_CHECK (geak_mdp_streq (view.body, "hi"));
    //  a retry while running gets ACK running
    s_send (client, geak_mdp_encode_client_request ("echo", "r1", 0, "hi", 2));
    geak_msg_t *ack = s_expect (client, 1000, broker);
    GEAK_CHECK (ack && geak_mdp_decode_broker_to_client (ack, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_ACK && geak_mdp_streq (view.ack_state, "running"));
    geak_msg_destroy (&ack);
    //  partial + final
    GEAK_CHECK (geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_OK);
    s_send (w1, geak_mdp_encode_worker_reply (GEAK_MDPW_PARTIAL, view.client.data, view.client.size,
                                              "r1", "p", 1));
    s_send (w1, geak_mdp_encode_worker_reply (GEAK_MDPW_FINAL, view.client.data, view.client.size,
                                              "r1", "HI", 2));
    geak_msg_destroy (&msg);
    msg = s_expect (client, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_PARTIAL);
    geak_msg_destroy (&msg);
    msg = s_expect (client, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_FINAL && geak_mdp_streq (view.body, "HI"));
    geak_msg_destroy (&msg);
    //  2. a retry of the finished id gets the cached FINAL, not a new dispatch
    s_send (client, geak_mdp_encode_client_request ("echo", "r1", 0, "hi", 2));
    msg = s_expect (client, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_FINAL && geak_mdp_streq (view.body, "HI"));
    geak_msg_destroy (&msg);

    //  3. mmi
    s_send (client, geak_mdp_encode_client_request ("mmi.service", "m1", 0, "echo", 4));
    msg = s_expect (client, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (geak_mdp_streq (view.body, "200"));
    geak_msg_destroy (&msg);
    s_send (client, geak_mdp_encode_client_request ("mmi.service", "m2", 0, "nope", 4));
    msg = s_expect (client, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (geak_mdp_streq (view.body, "404"));
    geak_msg_destroy (&msg);
    s_send (client, geak_mdp_encode_client_request ("mmi.stats", "m3", 0, NULL, 0));
    msg = s_expect (client, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    char *json = geak_mdp_strdup (view.body);
    if (verbose)
        fprintf (stderr, "stats: %s\n", json);
    cJSON *stats = cJSON_Parse (json);
    GEAK_CHECK (stats);
    GEAK_CHECK (cJSON_GetObjectItem (stats, "requests")->valuedouble == 1);
    GEAK_CHECK (cJSON_GetObjectItem (stats, "duplicates")->valuedouble == 2);
    GEAK_CHECK (cJSON_GetObjectItem (stats, "partials")->valuedouble == 1);
    cJSON *svc = cJSON_GetObjectItem (cJSON_GetObjectItem (stats, "services"), "echo");
    GEAK_CHECK (svc && cJSON_GetObjectItem (svc, "idle")->valuedouble == 1);
    cJSON_Delete (stats);
    free (json);
    geak_msg_destroy (&msg);

    //  4. malformed input from both sides is counted, broker keeps serving
    msg = geak_msg_new ();
    geak_msg_addstr (msg, "garbage");
    s_send (client, msg);
    msg = geak_msg_new ();
    geak_msg_addmem (msg, NULL, 0);
    geak_msg_addstr (msg, GEAK_MDP_WORKER);
    geak_msg_addmem (msg, "\x04", 1);
    s_send (w1, msg);
    msg = geak_msg_new ();
    geak_msg_addmem (msg, NULL, 0);
    geak_msg_addstr (msg, GEAK_MDP_CLIENT);
    geak_msg_addmem (msg, "\x01", 1);
    geak_msg_addstr (msg, "echo");
    geak_msg_addstr (msg, "bad id with spaces");
    geak_msg_addstr (msg, "0");
    geak_msg_addstr (msg, "");
    s_send (client, msg);
    int64_t until = geak_clock_mono_ms () + 1000;
    geak_broker_stats_t counters;
    do {
        geak_broker_poll (broker, 5);
        geak_broker_stats (broker, &counters);
    } while (counters.malformed < 3 && geak_clock_mono_ms () < until);
    GEAK_CHECK (counters.malformed == 3);
    GEAK_CHECK (counters.malformed_client == 1 && counters.malformed_worker == 1);

    //  5. a request past its deadline is refused at once; a queued one expires
    s_send (client, geak_mdp_encode_client_request ("nobody", "d1", geak_clock_wall_ms () - 1, NULL, 0));
    msg = s_expect (client, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_ERROR && view.error == GEAK_E_DEADLINE);
    geak_msg_destroy (&msg);
    s_send (client, geak_mdp_encode_client_request ("nobody", "d2", geak_clock_wall_ms () + 100, NULL, 0));
    msg = s_expect (client, 2000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_ERROR && view.error == GEAK_E_DEADLINE);
    GEAK_CHECK (geak_mdp_streq (view.request_id, "d2"));
    geak_msg_destroy (&msg);

    //  6. a worker that goes silent while busy: requeued to w2, then (max
    //     attempts 2) the client gets worker_lost when w2 dies too
    //  (w1 has been silent since step 1 and may have expired: register it
    //  again, then w2, and drop whatever is waiting for them)
    void *w2 = s_dealer (ctx, ep);
    geak_broker_stats (broker, &counters);
    uint64_t registered = counters.workers_registered;
    s_send (w1, geak_mdp_encode_worker_ready ("echo", "impl-a"));
    until = geak_clock_mono_ms () + 1000;
    do {
        geak_broker_poll (broker, 5);
        geak_broker_stats (broker, &counters);
    } while (counters.workers_registered < registered + 1 && geak_clock_mono_ms () < until);
    s_send (w2, geak_mdp_encode_worker_ready ("echo", "impl-b"));
    until = geak_clock_mono_ms () + 1000;
    do {
        geak_broker_poll (broker, 5);
        geak_broker_stats (broker, &counters);
    } while (counters.workers_registered < registered + 2 && geak_clock_mono_ms () < until);
    GEAK_CHECK (counters.workers == 2);
    while ((msg = geak_msg_recv_flags (w1, ZMQ_DONTWAIT)))
        geak_msg_destroy (&msg);
    //  w1 is the least recently used idle worker: it gets the request
    s_send (client, geak_mdp_encode_client_request ("echo", "lost", 0, "x", 1));
    msg = s_expect_not_heartbeat (w1, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_OK);
    GEAK_CHECK (geak_mdp_streq (view.request_id, "lost"));
    geak_msg_destroy (&msg);
    //  w2 keeps heartbeating, w1 stays silent: the request moves to w2
    msg = NULL;
    until = geak_clock_mono_ms () + 2000;
    while (!msg && geak_clock_mono_ms () < until) {
        s_send (w2, geak_mdp_encode_worker_command (GEAK_MDPW_HEARTBEAT));
        msg = s_expect_not_heartbeat (w2, 20, broker);
    }
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPW_REQUEST && geak_mdp_streq (view.request_id, "lost"));
    geak_msg_destroy (&msg);
    //  a late FINAL from the dropped w1 is stale (w1 is unknown now)
    s_send (w1, geak_mdp_encode_worker_reply (GEAK_MDPW_FINAL, "C", 1, "lost", NULL, 0));
    msg = s_expect_not_heartbeat (w1, 1000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPW_DISCONNECT);
    geak_msg_destroy (&msg);
    //  w2 now goes silent too: attempts exhausted -> worker_lost
    msg = s_expect (client, 2000, broker);
    GEAK_CHECK (msg && geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_ERROR && view.error == GEAK_E_WORKER_LOST);
    geak_msg_destroy (&msg);
    geak_broker_stats (broker, &counters);
    GEAK_CHECK (counters.requeued == 1 && counters.failed_worker_lost == 1);
    GEAK_CHECK (counters.stale_replies == 1);
    GEAK_CHECK (counters.auth_refused == 0 && counters.handshake_failed == 0);
    GEAK_CHECK (geak_clock_mono_ms () - geak_broker_last_poll (broker) < 1000);

    //  the same story in the metrics
    char *text = geak_prom_render (registry, NULL);
    if (verbose)
        fprintf (stderr, "%s", text);
    GEAK_CHECK (strstr (text, "geak_broker_requests_total{service=\"echo\"} 2\n"));
    GEAK_CHECK (strstr (text, "geak_broker_replies_total{service=\"echo\"} 1\n"));
    GEAK_CHECK (strstr (text, "geak_broker_request_duration_seconds_count{service=\"echo\"} 1\n"));
    GEAK_CHECK (strstr (text, "geak_broker_request_errors_total{service=\"echo\",code=\"worker_lost\"} 1\n"));
    GEAK_CHECK (strstr (text, "geak_broker_request_errors_total{service=\"nobody\",code=\"deadline\"} 2\n"));
    GEAK_CHECK (strstr (text, "geak_broker_requeued_total{service=\"echo\"} 1\n"));
    GEAK_CHECK (strstr (text, "geak_broker_errors_total{class=\"malformed_client\"} 1\n"));
    GEAK_CHECK (strstr (text, "geak_broker_errors_total{class=\"malformed_other\"} 1\n"));
    GEAK_CHECK (strstr (text, "geak_broker_errors_total{class=\"stale_reply\"} 1\n"));
    GEAK_CHECK (strstr (text, "geak_broker_duplicates_total 2\n"));
    GEAK_CHECK (strstr (text, "geak_broker_curve_enabled 0\n"));
    GEAK_CHECK (!strstr (text, "geak_broker_queue_depth{service=\"nobody\"}"));    //  gone
    free (text);

    //  7. run in a background thread, stop, destroy
    zmq_close (client);
    zmq_close (w1);
    zmq_close (w2);
    GEAK_CHECK (geak_broker_start (broker) == GEAK_OK);
    geak_broker_destroy (&broker);
    geak_broker_destroy (&broker);
    geak_prom_destroy (&registry);
    zmq_ctx_term (ctx);

    //  8. private context, tcp ephemeral port
    broker = geak_broker_new (NULL);
    GEAK_CHECK (broker);
    GEAK_CHECK (geak_broker_bind (broker, "tcp://127.0.0.1:*") == GEAK_OK);
    GEAK_CHECK (strncmp (geak_broker_endpoint (broker), "tcp://127.0.0.1:", 16) == 0);
    geak_broker_destroy (&broker);
    geak_log_set_level ((geak_log_level_t) saved_level);
    return 0;
}
