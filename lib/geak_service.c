/*  geak_service.c - the shared runner of every role service. */
#include "geak_prelude.h"
#include "geak_service.h"
#include "geak_config.h"
#include "geak_log.h"
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
} s_thread_t;

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
    int64_t started_ms;
    char host [128];
};

struct geak_service_call_t {
    geak_worker_t *worker;
    geak_request_t *request;
    int thread;
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
        geak_service_call_t call = { .worker = worker, .request = req, .thread = thread };
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
    geak_proto_free (&request);
    free (error_message);
    atomic_fetch_add (&self->served, 1);
    geak_rc_t send_rc = geak_worker_send_final (worker, req_p, reply ? reply : (uint8_t *) "",
                                                reply ? reply_size : 0);
    if (send_rc != GEAK_OK)
        geak_warn ("reply_send_failed", "code=%s", geak_rc_name (send_rc));
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
        return NULL;
    }
    if (self->heartbeat_ms > 0)
        geak_worker_set_heartbeat (worker, self->heartbeat_ms, GEAK_WORKER_LIVENESS);
    geak_info ("worker_started", "service=%s impl=%s thread=%d endpoint=%s",
               self->name, self->implementation, slot->index, self->endpoint);
    while (!atomic_load (&self->stopping)) {
        geak_request_t *req = NULL;
        geak_rc_t rc = geak_worker_recv (worker, &req, 250);
        if (rc == GEAK_E_TIMEOUT)
            continue;
        if (rc != GEAK_OK)
            break;
        s_serve_one (self, slot->index, worker, &req);
        geak_request_destroy (&req);
    }
    geak_worker_destroy (&worker);
    return NULL;
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
    if (!self->ctx) {
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
        if (pthread_create (&self->pool [i].thread, NULL, s_thread_main, &self->pool [i]) != 0)
            return GEAK_E_INTERNAL;
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
    for (int i = 0; i < self->threads; i++)
        if (self->pool [i].started)
            pthread_join (self->pool [i].thread, NULL);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    free (self->pool);
    free (self->endpoint);
    free (self->name);
    free (self->implementation);
    free (self);
    *self_p = NULL;
}

static void
s_usage (const geak_service_def_t *def)
{
    fprintf (stderr,
             "usage: geak-%s [--broker ENDPOINT] [--service NAME] [--impl NAME]\n"
             "       [--threads N] [--heartbeat-ms N] [role options]\n", def->role);
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
    if (!service || geak_service_start (service) != GEAK_OK) {
        geak_error ("service_start_failed", "service=%s", name);
        exit_code = 1;
    }
    else {
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
        .role = "selftest", .service = "geak.selftest", .handle = s_test_echo
    };
    service = geak_service_new (&def, NULL, geak_broker_endpoint (broker), "geak.selftest",
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
