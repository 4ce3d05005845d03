/*  geak_service.c - the shared runner of every role service. */
#include "geak_prelude.h"
#include "geak_service.h"
#include "geak_config.h"
#include "geak_http.h"
#include "geak_log.h"
#include "geak_prom.h"
#include "geak_worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    geak_service_t *service;
    int index;
    pthread_t thread;
    bool started;
    atomic_bool alive;          //  started and its loop has not ended
    atomic_bool registered;     //  its worker is registered with the broker
} s_thread_t;

//  Metric families (docs/observability.md)
typedef struct {
    geak_prom_family_t *requests, *latency, *errors, *tokens, *role_replies, *eval_outcomes;
    geak_prom_family_t *busy, *threads, *registered;
} s_metrics_t;

struct geak_service_t {
    const geak_service_def_t *def;
    void *state;
    char *endpoint;
    char *name;
    char *implementation;
    int threads;
    int heartbeat_ms;
    void *ctx;
    s_thread_t *pool;
    atomic_bool stopping;
    atomic_uint_fast64_t served;
    atomic_uint_fast64_t malformed;
    atomic_uint_fast64_t failed;
    atomic_int busy;
    int64_t started_ms;
    char host [128];
    geak_prom_t *registry;
    s_metrics_t m;
    geak_http_t *http;
};

struct geak_service_call_t {
    geak_worker_t *worker;
    geak_request_t *request;
    int thread;
    geak_service_t *service;
};

static volatile sig_atomic_t s_interrupted = 0;

static void
s_signal_handler (int signum)
{
    GEAK_UNUSED (signum);
    s_interrupted = 1;
}

geak_rc_t
geak_service_call_partial (geak_service_call_t *call, const Geak__Envelope *env)
{
    if (!call || !env)
        return GEAK_E_INVALID;
    uint8_t *data = NULL;
    size_t size = 0;
    geak_rc_t rc = geak_proto_pack (env, &data, &size);
    if (rc == GEAK_OK)
        rc = geak_worker_send_partial (call->worker, call->request, data, size);
    free (data);
    return rc;
}

int
geak_service_call_thread (const geak_service_call_t *call)
{
    return call ? call->thread : -1;
}

geak_prom_t *
geak_service_call_metrics (const geak_service_call_t *call)
{
    return call && call->service ? call->service->registry : NULL;
}

geak_rc_t
geak_service_handle_unsupported (void *state, geak_service_call_t *call,
                                 const Geak__Envelope *request, uint8_t **reply_data,
                                 size_t *reply_size, char **error_message)
{
    GEAK_UNUSED (state);
    GEAK_UNUSED (call);
    GEAK_UNUSED (request);
    GEAK_UNUSED (reply_data);
    GEAK_UNUSED (reply_size);
    *error_message = geak_strdup ("this service has no policy for that request yet");
    return GEAK_E_UNSUPPORTED;
}

//  Build the health reply for one thread. Strings point into self or the
//  stack buffer worker_id, valid until the reply is packed.
static geak_rc_t
s_health_reply (geak_service_t *self, int thread, const Geak__Envelope *request,
                uint8_t **data, size_t *size)
{
    char worker_id [192];
    snprintf (worker_id, sizeof worker_id, "%s:%d/%d", self->host, (int) getpid (), thread);
    Geak__HealthReply health = GEAK__HEALTH_REPLY__INIT;
    health.service = self->name;
    health.implementation = self->implementation;
    health.version = GEAK_VERSION_STRING;
    health.uptime_ms = (uint64_t) (geak_clock_mono_ms () - self->started_ms);
    health.served = atomic_load (&self->served);
    health.worker = worker_id;
    health.ready = true;
    if (self->def->health)
        self->def->health (self->state, &health);
    Geak__Envelope env;
    geak_proto_envelope_init (&env, request->request_id, 0, worker_id);
    env.body_case = GEAK__ENVELOPE__BODY_HEALTH_REPLY;
    env.health_reply = &health;
    return geak_proto_pack (&env, data, size);
}

static const char *
s_kind_name (const Geak__Envelope *request)
{
    if (!request)
        return "malformed";
    switch (request->body_case) {
        case GEAK__ENVELOPE__BODY_HEALTH_REQUEST:   return "health";
        case GEAK__ENVELOPE__BODY_EVAL_REQUEST:     return "eval";
        case GEAK__ENVELOPE__BODY_GENERATE_REQUEST: return "generate";
        case GEAK__ENVELOPE__BODY_REFLECT_REQUEST:  return "reflect";
        case GEAK__ENVELOPE__BODY_OPTIMIZE_REQUEST: return "optimize";
        default:                                    return "other";
    }
}

//  Count what a reply says: the error code of an ErrorReply, the outcome
//  class of an EvalResult / RoleReply, the tokens of a RoleReply candidate.
static void
s_count_reply (geak_service_t *self, const uint8_t *reply, size_t size)
{
    geak_rc_t rc;
    Geak__Envelope *env = geak_proto_unpack (reply, size, GEAK__ENVELOPE__BODY__NOT_SET, &rc);
    if (!env)
        return;
    const s_metrics_t *m = &self->m;
    if (env->body_case == GEAK__ENVELOPE__BODY_ERROR && env->error)
        geak_prom_inc_with (m->errors, GEAK_PROM_VALUES (self->name,
                            env->error->code && *env->error->code ? env->error->code : "unknown"));
    else
    if (env->body_case == GEAK__ENVELOPE__BODY_EVAL_RESULT && env->eval_result)
        geak_prom_inc_with (m->eval_outcomes, GEAK_PROM_VALUES (self->name,
                            geak_proto_class_name (env->eval_result->error_class)));
    else
    if (env->body_case == GEAK__ENVELOPE__BODY_ROLE_REPLY && env->role_reply) {
        const Geak__RoleReply *role = env->role_reply;
        geak_prom_inc_with (m->role_replies, GEAK_PROM_VALUES (self->name,
                            role->error_class == GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED
                            ? "ok" : geak_proto_class_name (role->error_class)));
        if (role->candidate && role->candidate->usage) {
            geak_prom_add_with (m->tokens, GEAK_PROM_VALUES (self->name, "in"),
                                (double) role->candidate->usage->tokens_in);
            geak_prom_add_with (m->tokens, GEAK_PROM_VALUES (self->name, "out"),
                                (double) role->candidate->usage->tokens_out);
        }
    }
    geak_proto_free (&env);
}

//  Answer one request; always produces a reply body (an ErrorReply when
//  anything went wrong), so the client is never left without an answer.
static void
s_serve_one (geak_service_t *self, int thread, geak_worker_t *worker, geak_request_t **req_p)
{
    geak_request_t *req = *req_p;
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    char *error_message = NULL;
    geak_rc_t rc;
    int64_t t0 = geak_clock_mono_us ();

    Geak__Envelope *request = geak_proto_unpack (req->body, req->size,
                                                 GEAK__ENVELOPE__BODY__NOT_SET, &rc);
    if (!request) {
        atomic_fetch_add (&self->malformed, 1);
        geak_warn ("malformed_request", "request_id=%s size=%zu code=%s",
                   req->request_id, req->size, geak_rc_name (rc));
        error_message = geak_strdup (rc == GEAK_E_PROTOCOL
                                     ? "request envelope has the wrong protocol version"
                                     : "request body is not a valid geak Envelope");
    }
    else
    if (req->deadline_ms > 0 && geak_clock_wall_ms () > req->deadline_ms) {
        rc = GEAK_E_DEADLINE;
        error_message = geak_strdup ("request deadline passed before work started");
    }
    else
    if (request->body_case == GEAK__ENVELOPE__BODY_HEALTH_REQUEST)
        rc = s_health_reply (self, thread, request, &reply, &reply_size);
    else {
        geak_service_call_t call = { .worker = worker, .request = req, .thread = thread,
                                     .service = self };
        rc = self->def->handle (self->state, &call, request, &reply, &reply_size, &error_message);
        if (rc == GEAK_OK && !reply) {
            rc = GEAK_E_INTERNAL;
            error_message = geak_strdup ("handler returned no reply");
        }
    }
    if (rc != GEAK_OK) {
        free (reply);
        reply = NULL;
        atomic_fetch_add (&self->failed, 1);
        if (geak_proto_pack_error (req->request_id, rc, error_message, &reply, &reply_size))
            geak_error ("reply_pack_failed", "request_id=%s", req->request_id);
    }
    geak_debug ("request_done", "request_id=%s body=%d rc=%s us=%lld", req->request_id,
                request ? (int) request->body_case : -1, geak_rc_name (rc),
                (long long) (geak_clock_mono_us () - t0));
    const char *kind = s_kind_name (request);
    geak_proto_free (&request);
    free (error_message);
    atomic_fetch_add (&self->served, 1);
    geak_rc_t send_rc = geak_worker_send_final (worker, req_p, reply ? reply : (uint8_t *) "",
                                                reply ? reply_size : 0);
    if (send_rc != GEAK_OK)
        geak_warn ("reply_send_failed", "code=%s", geak_rc_name (send_rc));
    geak_prom_inc_with (self->m.requests, GEAK_PROM_VALUES (self->name, kind));
    geak_prom_observe_with (self->m.latency, GEAK_PROM_VALUES (self->name, kind),
                            (double) (geak_clock_mono_us () - t0) / 1e6);
    if (reply)
        s_count_reply (self, reply, reply_size);
    free (reply);
}

static void *
s_thread_main (void *arg)
{
    s_thread_t *slot = (s_thread_t *) arg;
    geak_service_t *self = slot->service;
    geak_worker_t *worker = geak_worker_new (self->ctx, self->endpoint, self->name,
                                             self->implementation);
    if (!worker) {
        geak_error ("worker_start_failed", "service=%s endpoint=%s", self->name, self->endpoint);
        atomic_store (&slot->alive, false);
        return NULL;
    }
    if (self->heartbeat_ms > 0)
        geak_worker_set_heartbeat (worker, self->heartbeat_ms, GEAK_WORKER_LIVENESS);
    geak_info ("worker_started", "service=%s impl=%s thread=%d endpoint=%s",
               self->name, self->implementation, slot->index, self->endpoint);
    while (!atomic_load (&self->stopping)) {
        geak_request_t *req = NULL;
        geak_rc_t rc = geak_worker_recv (worker, &req, 250);
        atomic_store (&slot->registered, geak_worker_registered (worker));
        if (rc == GEAK_E_TIMEOUT)
            continue;
        if (rc != GEAK_OK)
            break;
        atomic_fetch_add (&self->busy, 1);
        s_serve_one (self, slot->index, worker, &req);
        atomic_fetch_sub (&self->busy, 1);
        geak_request_destroy (&req);
    }
    atomic_store (&slot->registered, false);
    atomic_store (&slot->alive, false);
    geak_worker_destroy (&worker);
    return NULL;
}

//  Gauges refreshed at each scrape
static void
s_collect (void *arg)
{
    geak_service_t *self = arg;
    int registered = 0;
    for (int i = 0; i < self->threads; i++)
        registered += atomic_load (&self->pool [i].registered) ? 1 : 0;
    const char *const *label = GEAK_PROM_VALUES (self->name);
    geak_prom_set_with (self->m.registered, label, registered);
    geak_prom_set_with (self->m.busy, label, atomic_load (&self->busy));
}

static geak_rc_t
s_metrics_init (geak_service_t *self)
{
    geak_prom_t *registry = self->registry;
    s_metrics_t *m = &self->m;
    const char *const *service = GEAK_PROM_LABELS ("service");
    const char *const *service_kind = GEAK_PROM_LABELS ("service", "kind");
    m->requests = geak_prom_counter (registry, "geak_service_requests_total",
        "Requests answered, by service and kind (health, eval, generate, reflect, optimize, "
        "other, malformed).", service_kind);
    m->latency = geak_prom_histogram (registry, "geak_service_request_duration_seconds",
        "Time from receiving a request to sending its reply, by service and kind.",
        service_kind, geak_prom_latency_buckets, GEAK_PROM_LATENCY_COUNT);
    m->errors = geak_prom_counter (registry, "geak_service_errors_total",
        "ErrorReply answers by service and error code (geak_rc_name: malformed, deadline, "
        "llm, unsupported, ...).", GEAK_PROM_LABELS ("service", "code"));
    m->tokens = geak_prom_counter (registry, "geak_service_llm_tokens_total",
        "LLM tokens reported in RoleReply candidates, by service and direction (in, out).",
        GEAK_PROM_LABELS ("service", "direction"));
    m->role_replies = geak_prom_counter (registry, "geak_service_role_replies_total",
        "RoleReply answers by service and class (ok, or the error class such as no_code).",
        GEAK_PROM_LABELS ("service", "class"));
    m->eval_outcomes = geak_prom_counter (registry, "geak_service_eval_outcomes_total",
        "EvalResult answers by service and error class (pass, mismatch, timeout, ...).",
        GEAK_PROM_LABELS ("service", "class"));
    m->busy = geak_prom_gauge (registry, "geak_service_busy_threads",
        "Worker threads handling a request now.", service);
    m->threads = geak_prom_gauge (registry, "geak_service_threads",
        "Worker threads configured.", service);
    m->registered = geak_prom_gauge (registry, "geak_service_registered_threads",
        "Worker threads whose registration the broker has acknowledged.", service);
    geak_prom_family_t *info = geak_prom_gauge (registry, "geak_build_info",
        "geak-c version and process role (always 1).", GEAK_PROM_LABELS ("version", "role"));
    geak_prom_family_t *start = geak_prom_gauge (registry, "geak_process_start_time_seconds",
        "Start time of the process since the Unix epoch.", NULL);
    if (!m->requests || !m->latency || !m->errors || !m->tokens || !m->role_replies
    ||  !m->eval_outcomes || !m->busy || !m->threads || !m->registered || !info || !start)
        return GEAK_E_INTERNAL;
    geak_prom_set_with (info, GEAK_PROM_VALUES (GEAK_VERSION_STRING,
                                                self->def->role ? self->def->role : "service"), 1);
    geak_prom_set_with (start, NULL, (double) geak_clock_wall_ms () / 1000.0);
    geak_prom_set_with (m->threads, GEAK_PROM_VALUES (self->name), self->threads);
    return geak_prom_add_collector (registry, s_collect, self);
}

geak_service_t *
geak_service_new (const geak_service_def_t *def, void *state, const char *endpoint,
                  const char *name, const char *implementation, int threads, int heartbeat_ms)
{
    assert (def && def->handle && endpoint && name && implementation);
    if (threads < 1)
        return NULL;
    geak_service_t *self = geak_malloc0 (sizeof *self);
    self->def = def;
    self->state = state;
    self->endpoint = geak_strdup (endpoint);
    self->name = geak_strdup (name);
    self->implementation = geak_strdup (implementation);
    self->threads = threads;
    self->heartbeat_ms = heartbeat_ms;
    self->started_ms = geak_clock_mono_ms ();
    if (gethostname (self->host, sizeof self->host) != 0)
        snprintf (self->host, sizeof self->host, "unknown");
    self->host [sizeof self->host - 1] = '\0';
    self->ctx = zmq_ctx_new ();
    self->pool = geak_malloc0 (sizeof (s_thread_t) * (size_t) threads);
    self->registry = geak_prom_new ();
    if (!self->ctx || s_metrics_init (self) != GEAK_OK) {
        geak_service_destroy (&self);
        return NULL;
    }
    return self;
}

geak_rc_t
geak_service_start (geak_service_t *self)
{
    for (int i = 0; i < self->threads; i++) {
        self->pool [i].service = self;
        self->pool [i].index = i;
        //  alive from the start: only a loop that ended makes /healthz fail
        atomic_store (&self->pool [i].alive, true);
        if (pthread_create (&self->pool [i].thread, NULL, s_thread_main, &self->pool [i]) != 0) {
            atomic_store (&self->pool [i].alive, false);
            return GEAK_E_INTERNAL;
        }
        self->pool [i].started = true;
    }
    return GEAK_OK;
}

void
geak_service_destroy (geak_service_t **self_p)
{
    assert (self_p);
    geak_service_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stopping, true);
    //  the HTTP thread reads the pool and calls the ready hook: stop it first
    geak_http_destroy (&self->http);
    for (int i = 0; i < self->threads; i++)
        if (self->pool [i].started)
            pthread_join (self->pool [i].thread, NULL);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    geak_prom_destroy (&self->registry);
    free (self->pool);
    free (self->endpoint);
    free (self->name);
    free (self->implementation);
    free (self);
    *self_p = NULL;
}

geak_prom_t *
geak_service_metrics (geak_service_t *self)
{
    assert (self);
    return self->registry;
}

bool
geak_service_live (geak_service_t *self, char *why, size_t why_size)
{
    assert (self);
    for (int i = 0; i < self->threads; i++)
        if (!atomic_load (&self->pool [i].alive)) {
            if (why && why_size)
                snprintf (why, why_size, "worker thread %d is not running", i);
            return false;
        }
    return true;
}

bool
geak_service_ready (geak_service_t *self, char *why, size_t why_size)
{
    assert (self);
    char dummy [8];
    if (!why || !why_size) {
        why = dummy;
        why_size = sizeof dummy;
    }
    if (atomic_load (&self->stopping)) {
        snprintf (why, why_size, "stopping");
        return false;
    }
    int registered = 0;
    for (int i = 0; i < self->threads; i++)
        registered += atomic_load (&self->pool [i].registered) ? 1 : 0;
    if (registered < self->threads) {
        snprintf (why, why_size, "%d of %d worker threads registered with the broker",
                  registered, self->threads);
        return false;
    }
    if (self->def->ready && !self->def->ready (self->state, why, why_size)) {
        if (!why [0])
            snprintf (why, why_size, "%s not ready", self->def->role ? self->def->role : "role");
        return false;
    }
    return true;
}

static bool
s_check_live (void *arg, char *why, size_t why_size)
{
    return geak_service_live ((geak_service_t *) arg, why, why_size);
}

static bool
s_check_ready (void *arg, char *why, size_t why_size)
{
    return geak_service_ready ((geak_service_t *) arg, why, why_size);
}

geak_rc_t
geak_service_serve_http (geak_service_t *self, const char *bind, int *port_p)
{
    if (!self || !bind || self->http)
        return GEAK_E_INVALID;
    geak_rc_t rc;
    geak_http_t *http = geak_http_new (bind, &rc);
    if (!http)
        return rc;
    if ((rc = geak_http_route_metrics (http, "/metrics", self->registry)) != GEAK_OK
    ||  (rc = geak_http_route_check (http, "/healthz", s_check_live, self)) != GEAK_OK
    ||  (rc = geak_http_route_check (http, "/readyz", s_check_ready, self)) != GEAK_OK
    ||  (rc = geak_http_start (http)) != GEAK_OK) {
        geak_http_destroy (&http);
        return rc;
    }
    if (port_p)
        *port_p = geak_http_port (http);
    self->http = http;
    return GEAK_OK;
}

static void
s_usage (const geak_service_def_t *def)
{
    fprintf (stderr,
             "usage: geak-%s [--broker ENDPOINT] [--service NAME] [--impl NAME]\n"
             "       [--threads N] [--heartbeat-ms N] [--metrics-bind HOST:PORT]\n"
             "       [role options]\n", def->role);
}

int
geak_service_main (const geak_service_def_t *def, int argc, char **argv)
{
    assert (def && def->role && def->service && def->handle);
    char log_name [64];
    snprintf (log_name, sizeof log_name, "%s", def->role);
    geak_log_init (log_name);

    const char *endpoint = geak_config_str ("GEAK_BROKER", GEAK_DEFAULT_BROKER);
    const char *name = geak_config_str ("GEAK_SERVICE", def->service);
    const char *impl = geak_config_str ("GEAK_IMPL", def->implementation ? def->implementation : "default");
    const char *metrics_bind = geak_config_str ("GEAK_METRICS_BIND", NULL);
    long threads = 1, heartbeat = 0;
    if (geak_config_int ("GEAK_THREADS", 1, 1, 256, &threads)
    ||  geak_config_int ("GEAK_HEARTBEAT_MS", 0, 0, 600000, &heartbeat)) {
        geak_error ("bad_config", "what=%s", "GEAK_THREADS or GEAK_HEARTBEAT_MS");
        return 2;
    }
    //  Common options; the rest go to the role's init hook
    char **rest = geak_malloc0 (sizeof (char *) * (size_t) (argc + 1));
    int nrest = 0;
    rest [nrest++] = argv [0];
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool has_value = i + 1 < argc;
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_usage (def);
            free (rest);
            return 0;
        }
        else
        if (strcmp (arg, "--broker") == 0 && has_value)
            endpoint = argv [++i];
        else
        if (strcmp (arg, "--service") == 0 && has_value)
            name = argv [++i];
        else
        if (strcmp (arg, "--impl") == 0 && has_value)
            impl = argv [++i];
        else
        if (strcmp (arg, "--metrics-bind") == 0 && has_value) {
            metrics_bind = argv [++i];
            if (!*metrics_bind)
                metrics_bind = NULL;
        }
        else
        if (strcmp (arg, "--threads") == 0 && has_value) {
            if (geak_config_parse_long (argv [++i], 1, 256, &threads)) {
                s_usage (def);
                free (rest);
                return 2;
            }
        }
        else
        if (strcmp (arg, "--heartbeat-ms") == 0 && has_value) {
            if (geak_config_parse_long (argv [++i], 1, 600000, &heartbeat)) {
                s_usage (def);
                free (rest);
                return 2;
            }
        }
        else
            rest [nrest++] = argv [i];
    }
    void *state = NULL;
    if (def->init) {
        geak_rc_t rc = def->init (nrest, rest, &state);
        if (rc != GEAK_OK) {
            geak_error ("init_failed", "role=%s code=%s", def->role, geak_rc_name (rc));
            free (rest);
            return 2;
        }
    }
    else
    if (nrest > 1) {
        fprintf (stderr, "geak-%s: unknown option %s\n", def->role, rest [1]);
        s_usage (def);
        free (rest);
        return 2;
    }
    free (rest);

    struct sigaction action = { .sa_handler = s_signal_handler };
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGPIPE, SIG_IGN);

    geak_service_t *service = geak_service_new (def, state, endpoint, name, impl,
                                                (int) threads, (int) heartbeat);
    int exit_code = 0;
    int metrics_port = 0;
    geak_rc_t http_rc = GEAK_OK;
    if (!service || geak_service_start (service) != GEAK_OK) {
        geak_error ("service_start_failed", "service=%s", name);
        exit_code = 1;
    }
    else
    if (metrics_bind
    &&  (http_rc = geak_service_serve_http (service, metrics_bind, &metrics_port)) != GEAK_OK) {
        geak_error ("service_start_failed", "service=%s reason=metrics bind=%s code=%s", name,
                    metrics_bind, geak_rc_name (http_rc));
        exit_code = 2;
    }
    else {
        if (metrics_bind)
            geak_info ("metrics_ready", "bind=%s port=%d", metrics_bind, metrics_port);
        geak_info ("service_ready", "service=%s impl=%s threads=%ld endpoint=%s",
                   name, impl, threads, endpoint);
        //  The main thread only waits for a signal; workers do the work
        sigset_t empty;
        sigemptyset (&empty);
        while (!s_interrupted)
            sigsuspend (&empty);
        geak_info ("service_stopping", "service=%s served=%llu malformed=%llu",
                   name, (unsigned long long) atomic_load (&service->served),
                   (unsigned long long) atomic_load (&service->malformed));
    }
    geak_service_destroy (&service);
    if (def->fini)
        def->fini (state);
    return exit_code;
}

//  --------------------------------------------------------------------------
//  Selftest: a broker thread, a service with an echo handler, a client.

#include "geak_broker.h"
#include "geak_client.h"

static geak_rc_t
s_test_echo (void *state, geak_service_call_t *call, const Geak__Envelope *request,
             uint8_t **reply_data, size_t *reply_size, char **error_message)
{
    GEAK_UNUSED (state);
    GEAK_UNUSED (call);
    if (request->body_case != GEAK__ENVELOPE__BODY_EVAL_REQUEST) {
        *error_message = geak_strdup ("selftest handler only takes eval requests");
        return GEAK_E_UNSUPPORTED;
    }
    Geak__Envelope env;
    geak_proto_envelope_init (&env, request->request_id, 0, "selftest");
    Geak__EvalResult result = GEAK__EVAL_RESULT__INIT;
    result.attempt_id = request->eval_request->candidate->attempt_id;
    result.call_ok = true;
    result.error_class = GEAK__ERROR_CLASS__PASS;
    env.body_case = GEAK__ENVELOPE__BODY_EVAL_RESULT;
    env.eval_result = &result;
    return geak_proto_pack (&env, reply_data, reply_size);
}

static Geak__Envelope *
s_test_call (geak_client_t *client, const Geak__Envelope *env, const uint8_t *raw, size_t raw_size)
{
    uint8_t *data = NULL;
    size_t size = 0;
    if (env && geak_proto_pack (env, &data, &size))
        return NULL;
    geak_reply_t *reply = NULL;
    geak_rc_t rc = geak_client_call (client, "geak.selftest", NULL, 10000,
                                     env ? data : raw, env ? size : raw_size, &reply);
    free (data);
    Geak__Envelope *answer = NULL;
    if (rc == GEAK_OK && reply)
        answer = geak_proto_unpack (reply->body, reply->size, GEAK__ENVELOPE__BODY__NOT_SET, &rc);
    geak_reply_destroy (&reply);
    return answer;
}

static bool
s_test_ready (void *state, char *why, size_t why_size)
{
    if (__atomic_load_n ((int *) state, __ATOMIC_RELAXED))
        return true;
    snprintf (why, why_size, "harness down");
    return false;
}

//  All of needles in the rendered registry (polled: replies reach the
//  client before the runner counts them)
static bool
s_test_metrics (geak_service_t *service, const char *const *needles, bool verbose)
{
    int64_t until = geak_clock_mono_ms () + 5000;
    while (true) {
        char *text = geak_prom_render (geak_service_metrics (service), NULL);
        bool all = text != NULL;
        for (size_t i = 0; all && needles [i]; i++)
            all = strstr (text, needles [i]) != NULL;
        if (!all && verbose && geak_clock_mono_ms () >= until)
            fprintf (stderr, "%s", text);
        free (text);
        if (all || geak_clock_mono_ms () >= until)
            return all;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep (&ts, NULL);
    }
}

int
geak_service_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    int result = -1;
    geak_log_level_t saved = (geak_log_level_t) geak_log_level_current;
    geak_log_set_level (GEAK_LOG_ERROR);
    geak_broker_t *broker = geak_broker_new (NULL);
    geak_service_t *service = NULL;
    geak_client_t *client = NULL;
    Geak__Envelope *answer = NULL;
    if (!broker || geak_broker_bind (broker, "tcp://127.0.0.1:*") || geak_broker_start (broker))
        goto done;
    static const geak_service_def_t def = {
        .role = "selftest", .service = "geak.selftest", .handle = s_test_echo,
        .ready = s_test_ready
    };
    static int role_ready;
    __atomic_store_n (&role_ready, 0, __ATOMIC_RELAXED);
    service = geak_service_new (&def, &role_ready, geak_broker_endpoint (broker), "geak.selftest",
                                "echo", 2, 0);
    if (!service || geak_service_start (service))
        goto done;
    client = geak_client_new (NULL, geak_broker_endpoint (broker));
    if (!client)
        goto done;

    //  Health
    Geak__Envelope env;
    geak_proto_envelope_init (&env, "h1", 0, "selftest");
    Geak__HealthRequest health = GEAK__HEALTH_REQUEST__INIT;
    env.body_case = GEAK__ENVELOPE__BODY_HEALTH_REQUEST;
    env.health_request = &health;
    answer = s_test_call (client, &env, NULL, 0);
    if (!answer || answer->body_case != GEAK__ENVELOPE__BODY_HEALTH_REPLY
    ||  strcmp (answer->health_reply->service, "geak.selftest")
    ||  strcmp (answer->health_reply->implementation, "echo") || !answer->health_reply->ready)
        goto done;
    geak_proto_free (&answer);

    //  Handled request
    Geak__EvalRequest request = GEAK__EVAL_REQUEST__INIT;
    Geak__TaskRef task = GEAK__TASK_REF__INIT;
    Geak__Candidate candidate = GEAK__CANDIDATE__INIT;
    candidate.attempt_id = "att-7";
    request.task = &task;
    request.candidate = &candidate;
    env.body_case = GEAK__ENVELOPE__BODY_EVAL_REQUEST;
    env.eval_request = &request;
    answer = s_test_call (client, &env, NULL, 0);
    if (!answer || answer->body_case != GEAK__ENVELOPE__BODY_EVAL_RESULT
    ||  strcmp (answer->eval_result->attempt_id, "att-7"))
        goto done;
    geak_proto_free (&answer);

    //  Garbage body -> ErrorReply "malformed", and the service keeps serving
    const uint8_t garbage [] = "\xff\xfe not protobuf";
    answer = s_test_call (client, NULL, garbage, sizeof garbage - 1);
    if (!answer || answer->body_case != GEAK__ENVELOPE__BODY_ERROR
    ||  strcmp (answer->error->code, "malformed"))
        goto done;
    geak_proto_free (&answer);
    if (atomic_load (&service->malformed) != 1)
        goto done;

    //  Unsupported body -> ErrorReply from the handler's code
    Geak__GenerateRequest generate = GEAK__GENERATE_REQUEST__INIT;
    generate.task = &task;
    env.body_case = GEAK__ENVELOPE__BODY_GENERATE_REQUEST;
    env.generate_request = &generate;
    answer = s_test_call (client, &env, NULL, 0);
    if (!answer || answer->body_case != GEAK__ENVELOPE__BODY_ERROR
    ||  strcmp (answer->error->code, "unsupported"))
        goto done;

    //  Metrics: counted from what the runner answered
    static const char *const needles [] = {
        "geak_service_requests_total{service=\"geak.selftest\",kind=\"health\"} 1\n",
        "geak_service_requests_total{service=\"geak.selftest\",kind=\"eval\"} 1\n",
        "geak_service_requests_total{service=\"geak.selftest\",kind=\"malformed\"} 1\n",
        "geak_service_requests_total{service=\"geak.selftest\",kind=\"generate\"} 1\n",
        "geak_service_eval_outcomes_total{service=\"geak.selftest\",class=\"pass\"} 1\n",
        "geak_service_errors_total{service=\"geak.selftest\",code=\"malformed\"} 1\n",
        "geak_service_errors_total{service=\"geak.selftest\",code=\"unsupported\"} 1\n",
        "geak_service_request_duration_seconds_count{service=\"geak.selftest\",kind=\"eval\"} 1\n",
        "geak_service_threads{service=\"geak.selftest\"} 2\n",
        "geak_build_info{version=\"" GEAK_VERSION_STRING "\",role=\"selftest\"} 1\n",
        NULL
    };
    if (!s_test_metrics (service, needles, verbose))
        goto done;

    //  Readiness: every thread registered (the broker's heartbeat says so),
    //  then the role's own hook
    char why [128] = "";
    int64_t until = geak_clock_mono_ms () + 10000;
    while (geak_clock_mono_ms () < until) {
        geak_service_ready (service, why, sizeof why);
        if (strcmp (why, "harness down") == 0)
            break;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep (&ts, NULL);
    }
    if (strcmp (why, "harness down") != 0 || !geak_service_live (service, NULL, 0))
        goto done;
    __atomic_store_n (&role_ready, 1, __ATOMIC_RELAXED);
    if (!geak_service_ready (service, NULL, 0))
        goto done;
    result = 0;
done:
    geak_proto_free (&answer);
    geak_client_destroy (&client);
    geak_service_destroy (&service);
    geak_service_destroy (&service);
    geak_broker_destroy (&broker);
    geak_log_set_level (saved);
    return result;
}
