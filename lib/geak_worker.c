/*  geak_worker.c - worker side of GMDP/1 (see geak_worker.h).

    The application thread holds one end of an inproc PAIR pipe; the actor
    thread holds the other end and the DEALER to the broker. Over the pipe:
      actor -> app: broker REQUEST messages, exactly as received;
      app -> actor: worker PARTIAL / FINAL messages, ready for the wire,
                    or the one-frame "$TERM" to stop. */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_msg.h"
#include "geak_mdp.h"
#include "geak_worker.h"
#include "geak_curve.h"

#include <pthread.h>
#include <zmq.h>

struct geak_worker_t {
    void *ctx;
    bool own_ctx;
    void *pipe;                 //  app end
    void *actor_pipe;           //  actor end (owned by the actor thread)
    void *broker;               //  DEALER (owned by the actor thread)
    pthread_t thread;
    bool thread_started;
    char *endpoint;
    char *service;
    char *implementation;
    int heartbeat_ms;           //  atomics: set by the app, read by the actor
    int liveness;
    int reconnect_ms;
    uint64_t connects;
    geak_curve_t *curve;        //  CURVE client settings, or NULL (plain)
    int registered;             //  atomic: the broker has spoken to our READY
};

void
geak_request_destroy (geak_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_request_t *self = *self_p;
    free (self->client);
    free (self->request_id);
    free (self->body);
    free (self);
    *self_p = NULL;
}

static int
s_get (const int *field)
{
    return __atomic_load_n (field, __ATOMIC_RELAXED);
}

//  Open a DEALER to the broker and send READY. Returns NULL on failure.
static void *
s_connect (geak_worker_t *self)
{
    void *socket = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!socket)
        return NULL;
    int linger = 200, ivl = 100, ivl_max = 1000, hwm = 10000;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (socket, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt (socket, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    __atomic_store_n (&self->registered, 0, __ATOMIC_RELAXED);
    if (self->curve && geak_curve_apply (self->curve, socket) != GEAK_OK) {
        zmq_close (socket);
        return NULL;
    }
    if (zmq_connect (socket, self->endpoint) != 0) {
        geak_error ("worker_connect_failed", "endpoint=%s error=\"%s\"", self->endpoint,
                    zmq_strerror (errno));
        zmq_close (socket);
        return NULL;
    }
    geak_msg_t *ready = geak_mdp_encode_worker_ready (self->service, self->implementation);
    if (geak_msg_send (&ready, socket, ZMQ_DONTWAIT) != GEAK_OK)
        geak_debug ("worker_ready_not_sent", "service=%s", self->service);
    __atomic_fetch_add (&self->connects, 1, __ATOMIC_RELAXED);
    geak_info ("worker_connect", "service=%s impl=%s endpoint=%s curve=%s", self->service,
               self->implementation, self->endpoint,
               self->curve ? geak_curve_own_fingerprint (self->curve) : "off");
    return socket;
}

static void
s_send_command (void *socket, int cmd)
{
    geak_msg_t *msg = geak_mdp_encode_worker_command (cmd);
    geak_msg_send (&msg, socket, ZMQ_DONTWAIT);
}

static void *
s_actor (void *arg)
{
    geak_worker_t *self = arg;
    void *pipe = self->actor_pipe;
    void *broker = self->broker;
    int64_t now = geak_clock_mono_ms ();
    int64_t heartbeat_at = now + s_get (&self->heartbeat_ms);
    int64_t last_heard = now;
    int64_t reconnect_at = 0;       //  when broker is NULL
    //  The broker's heartbeat interval may differ from ours: estimate it as
    //  the largest gap between its messages since we connected (0 = none
    //  seen yet: assume the default interval), and allow liveness x that.
    int64_t broker_gap = 0;
    bool running = true;

    while (running) {
        int interval = s_get (&self->heartbeat_ms);
        int64_t expected = broker_gap ? broker_gap : GEAK_WORKER_HEARTBEAT_MS;
        if (expected < interval)
            expected = interval;
        int64_t silence_limit = expected * s_get (&self->liveness);
        now = geak_clock_mono_ms ();
        if (heartbeat_at > now + interval)
            heartbeat_at = now + interval;      //  the interval was shortened
        int64_t next = broker ? heartbeat_at : reconnect_at;
        if (broker && last_heard + silence_limit < next)
            next = last_heard + silence_limit;
        long timeout = next > now ? (long) (next - now) : 0;
        zmq_pollitem_t items [2] = {
            { pipe, 0, ZMQ_POLLIN, 0 },
            { broker, 0, ZMQ_POLLIN, 0 }
        };
        int rc = zmq_poll (items, broker ? 2 : 1, timeout);
        if (rc == -1) {
            if (errno == EINTR)
                continue;
            break;      //  context terminated
        }
        if (items [0].revents & ZMQ_POLLIN) {
            geak_msg_t *msg = geak_msg_recv (pipe);
            if (!msg) {
                if (errno == EINTR)
                    continue;
                break;
            }
            if (geak_msg_size (msg) == 1 && geak_msg_frame_streq (msg, 0, "$TERM")) {
                geak_msg_destroy (&msg);
                running = false;
                break;
            }
            if (broker) {
                if (geak_msg_send (&msg, broker, ZMQ_DONTWAIT) != GEAK_OK)
                    geak_warn ("worker_reply_not_sent", "service=%s errno=%d", self->service, errno);
                heartbeat_at = geak_clock_mono_ms () + interval;
            }
            else {
                geak_warn ("worker_reply_dropped", "service=%s reason=disconnected", self->service);
                geak_msg_destroy (&msg);
            }
        }
        if (broker && (items [1].revents & ZMQ_POLLIN)) {
            //  Drain what the broker sent
            while (true) {
                geak_msg_t *msg = geak_msg_recv_flags (broker, ZMQ_DONTWAIT);
                if (!msg)
                    break;
                int64_t heard = geak_clock_mono_ms ();
                if (heard - last_heard > broker_gap)
                    broker_gap = heard - last_heard < 60000 ? heard - last_heard : 60000;
                last_heard = heard;
                geak_mdp_view_t view;
                geak_rc_t vrc = geak_mdp_decode_broker_to_worker (msg, &view);
                if (vrc != GEAK_OK) {
                    geak_warn ("worker_malformed", "service=%s rc=%s", self->service, geak_rc_name (vrc));
                    geak_msg_destroy (&msg);
                    continue;
                }
                if (view.command != GEAK_MDPW_DISCONNECT)
                    __atomic_store_n (&self->registered, 1, __ATOMIC_RELAXED);
                if (view.command == GEAK_MDPW_REQUEST) {
                    if (geak_msg_send (&msg, pipe, 0) != GEAK_OK)
                        geak_warn ("worker_request_lost", "service=%s", self->service);
                }
                else
                if (view.command == GEAK_MDPW_DISCONNECT) {
                    geak_msg_destroy (&msg);
                    geak_info ("worker_disconnected", "service=%s reason=broker_said_so", self->service);
                    zmq_close (broker);
                    broker = s_connect (self);
                    broker_gap = 0;
                    last_heard = geak_clock_mono_ms ();
                    heartbeat_at = last_heard + interval;
                    if (!broker) {
                        reconnect_at = last_heard + s_get (&self->reconnect_ms);
                        break;
                    }
                }
                else
                    geak_msg_destroy (&msg);        //  heartbeat
            }
        }
        now = geak_clock_mono_ms ();
        if (broker && now - last_heard > silence_limit) {
            geak_warn ("worker_broker_silent", "service=%s silent_ms=%lld", self->service,
                       (long long) (now - last_heard));
            zmq_close (broker);
            broker = NULL;
            __atomic_store_n (&self->registered, 0, __ATOMIC_RELAXED);
            reconnect_at = now + s_get (&self->reconnect_ms);
        }
        if (!broker && now >= reconnect_at) {
            broker = s_connect (self);
            broker_gap = 0;
            last_heard = now;
            heartbeat_at = now;
            if (!broker)
                reconnect_at = now + s_get (&self->reconnect_ms);
        }
        if (broker && now >= heartbeat_at) {
            s_send_command (broker, GEAK_MDPW_HEARTBEAT);
            heartbeat_at = now + interval;
        }
    }
    if (broker) {
        s_send_command (broker, GEAK_MDPW_DISCONNECT);
        zmq_close (broker);
    }
    zmq_close (pipe);
    return NULL;
}

geak_worker_t *
geak_worker_new (void *ctx, const char *endpoint, const char *service, const char *implementation)
{
    static int s_sequence = 0;
    if (!endpoint || !service
    ||  !geak_mdp_valid_name (service, strlen (service), GEAK_MDP_MAX_NAME)
    ||  strncmp (service, "mmi.", 4) == 0)
        return NULL;
    if (!implementation)
        implementation = "";
    if (*implementation
    &&  !geak_mdp_valid_name (implementation, strlen (implementation), GEAK_MDP_MAX_NAME))
        return NULL;
    geak_rc_t curve_rc;
    geak_curve_t *curve = geak_curve_client_from_env (&curve_rc);
    if (curve_rc != GEAK_OK) {
        geak_error ("worker_curve_config", "service=%s code=%s", service, geak_rc_name (curve_rc));
        return NULL;
    }
    geak_worker_t *self = geak_malloc0 (sizeof *self);
    self->curve = curve;
    self->own_ctx = ctx == NULL;
    self->ctx = ctx ? ctx : zmq_ctx_new ();
    self->endpoint = geak_strdup (endpoint);
    self->service = geak_strdup (service);
    self->implementation = geak_strdup (implementation);
    self->heartbeat_ms = GEAK_WORKER_HEARTBEAT_MS;
    self->liveness = GEAK_WORKER_LIVENESS;
    self->reconnect_ms = GEAK_WORKER_RECONNECT_MS;
    if (!self->ctx)
        goto failed;

    char name [96];
    snprintf (name, sizeof name, "inproc://geak-worker-%d-%p",
              __atomic_add_fetch (&s_sequence, 1, __ATOMIC_RELAXED), (void *) self);
    self->pipe = zmq_socket (self->ctx, ZMQ_PAIR);
    self->actor_pipe = zmq_socket (self->ctx, ZMQ_PAIR);
    if (!self->pipe || !self->actor_pipe)
        goto failed;
    int zero = 0, hwm = 0;
    zmq_setsockopt (self->pipe, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->actor_pipe, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->pipe, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->actor_pipe, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind (self->actor_pipe, name) != 0 || zmq_connect (self->pipe, name) != 0)
        goto failed;
    self->broker = s_connect (self);
    if (!self->broker)
        goto failed;
    if (pthread_create (&self->thread, NULL, s_actor, self) != 0) {
        zmq_close (self->broker);
        goto failed;
    }
    self->thread_started = true;
    return self;

failed:
    if (self->pipe)
        zmq_close (self->pipe);
    if (self->actor_pipe)
        zmq_close (self->actor_pipe);
    if (self->own_ctx && self->ctx)
        zmq_ctx_term (self->ctx);
    geak_curve_destroy (&self->curve);
    free (self->endpoint);
    free (self->service);
    free (self->implementation);
    free (self);
    return NULL;
}

void
geak_worker_destroy (geak_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_worker_t *self = *self_p;
    if (self->thread_started) {
        geak_msg_t *term = geak_msg_new ();
        geak_msg_addstr (term, "$TERM");
        if (geak_msg_send (&term, self->pipe, 0) != GEAK_OK)
            geak_debug ("worker_term_not_sent", "errno=%d", errno);
        pthread_join (self->thread, NULL);
    }
    zmq_close (self->pipe);
    if (self->own_ctx)
        zmq_ctx_term (self->ctx);
    geak_info ("worker_stopped", "service=%s impl=%s", self->service, self->implementation);
    geak_curve_destroy (&self->curve);
    free (self->endpoint);
    free (self->service);
    free (self->implementation);
    free (self);
    *self_p = NULL;
}

void
geak_worker_set_heartbeat (geak_worker_t *self, int interval_ms, int liveness)
{
    assert (self);
    if (interval_ms >= 1)
        __atomic_store_n (&self->heartbeat_ms, interval_ms, __ATOMIC_RELAXED);
    if (liveness >= 1)
        __atomic_store_n (&self->liveness, liveness, __ATOMIC_RELAXED);
}

void
geak_worker_set_reconnect (geak_worker_t *self, int reconnect_ms)
{
    assert (self);
    if (reconnect_ms >= 0)
        __atomic_store_n (&self->reconnect_ms, reconnect_ms, __ATOMIC_RELAXED);
}

bool
geak_worker_registered (geak_worker_t *self)
{
    assert (self);
    return __atomic_load_n (&self->registered, __ATOMIC_RELAXED) != 0;
}

bool
geak_worker_curve (const geak_worker_t *self)
{
    assert (self);
    return self->curve != NULL;
}

uint64_t
geak_worker_connects (geak_worker_t *self)
{
    assert (self);
    return __atomic_load_n (&self->connects, __ATOMIC_RELAXED);
}

geak_rc_t
geak_worker_recv (geak_worker_t *self, geak_request_t **req_p, int timeout_ms)
{
    if (!self || !req_p)
        return GEAK_E_INVALID;
    *req_p = NULL;
    int64_t until = timeout_ms >= 0 ? geak_clock_mono_ms () + timeout_ms : 0;
    while (true) {
        long wait = -1;
        if (timeout_ms >= 0) {
            int64_t left = until - geak_clock_mono_ms ();
            wait = left > 0 ? (long) left : 0;
        }
        zmq_pollitem_t item = { self->pipe, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, wait);
        if (rc == -1)
            return (errno == EINTR || errno == ETERM) ? GEAK_E_INTERRUPTED : GEAK_E_TRANSPORT;
        if (rc == 0)
            return GEAK_E_TIMEOUT;
        geak_msg_t *msg = geak_msg_recv_flags (self->pipe, ZMQ_DONTWAIT);
        if (!msg) {
            if (errno == EAGAIN)
                continue;
            return (errno == EINTR || errno == ETERM) ? GEAK_E_INTERRUPTED : GEAK_E_TRANSPORT;
        }
        geak_mdp_view_t view;
        if (geak_mdp_decode_broker_to_worker (msg, &view) != GEAK_OK
        ||  view.command != GEAK_MDPW_REQUEST) {
            geak_msg_destroy (&msg);        //  the actor only forwards requests
            continue;
        }
        geak_request_t *req = geak_malloc0 (sizeof *req);
        req->client = geak_malloc0 (view.client.size);
        memcpy (req->client, view.client.data, view.client.size);
        req->client_size = view.client.size;
        req->request_id = geak_mdp_strdup (view.request_id);
        req->deadline_ms = view.deadline_ms;
        req->body = (uint8_t *) geak_mdp_strdup (view.body);
        req->size = view.body.size;
        geak_msg_destroy (&msg);
        *req_p = req;
        return GEAK_OK;
    }
}

static geak_rc_t
s_reply (geak_worker_t *self, int cmd, const geak_request_t *req, const void *body, size_t size)
{
    if (!self || !req || (size && !body))
        return GEAK_E_INVALID;
    geak_msg_t *msg = geak_mdp_encode_worker_reply (cmd, req->client, req->client_size,
                                                    req->request_id, body, size);
    if (!msg)
        return GEAK_E_INVALID;
    return geak_msg_send (&msg, self->pipe, 0);
}

geak_rc_t
geak_worker_send_partial (geak_worker_t *self, const geak_request_t *req, const void *body, size_t size)
{
    return s_reply (self, GEAK_MDPW_PARTIAL, req, body, size);
}

geak_rc_t
geak_worker_send_final (geak_worker_t *self, geak_request_t **req_p, const void *body, size_t size)
{
    if (!req_p || !*req_p)
        return GEAK_E_INVALID;
    geak_rc_t rc = s_reply (self, GEAK_MDPW_FINAL, *req_p, body, size);
    geak_request_destroy (req_p);
    return rc;
}

//  ------------------------------------------------------------ selftest

#include "geak_broker.h"

typedef struct {
    void *ctx;
    const char *endpoint;
    int served;
    int delay_ms;
} s_echo_args_t;

//  An echo worker thread: answers "<body>!" until it sees "quit".
static void *
s_echo_worker (void *arg)
{
    s_echo_args_t *args = arg;
    geak_worker_t *worker = geak_worker_new (args->ctx, args->endpoint, "echo", "test");
    assert (worker);
    geak_worker_set_heartbeat (worker, 50, 3);
    while (true) {
        geak_request_t *req;
        geak_rc_t rc = geak_worker_recv (worker, &req, 5000);
        if (rc != GEAK_OK)
            break;
        bool quit = strcmp ((char *) req->body, "quit") == 0;
        if (args->delay_ms) {
            //  Busy with the request for longer than the broker's
            //  liveness window: the actor must keep heartbeating
            geak_worker_send_partial (worker, req, "working", 7);
            struct timespec ts = { 0, (long) args->delay_ms * 1000000L };
            nanosleep (&ts, NULL);
        }
        char out [256];
        int len = snprintf (out, sizeof out, "%s!", (char *) req->body);
        rc = geak_worker_send_final (worker, &req, out, (size_t) len);
        assert (rc == GEAK_OK && req == NULL);
        args->served++;
        if (quit)
            break;
    }
    geak_worker_destroy (&worker);
    return NULL;
}

int
geak_worker_test (bool verbose)
{
    int saved_level = geak_log_level_current;
    if (!verbose)
        geak_log_set_level (GEAK_LOG_OFF);
    //  bad arguments
    GEAK_CHECK (geak_worker_new (NULL, "inproc://x", "bad name", "i") == NULL);
    GEAK_CHECK (geak_worker_new (NULL, "inproc://x", "mmi.service", "i") == NULL);
    GEAK_CHECK (geak_worker_new (NULL, "inproc://x", "svc", "bad impl") == NULL);
    GEAK_CHECK (geak_worker_new (NULL, "nonsense", "svc", "i") == NULL);

    void *ctx = zmq_ctx_new ();
    geak_broker_t *broker = geak_broker_new (ctx);
    geak_broker_set_heartbeat (broker, 50, 3);
    GEAK_CHECK (geak_broker_bind (broker, "inproc://geak-worker-test") == GEAK_OK);
    GEAK_CHECK (geak_broker_start (broker) == GEAK_OK);

    //  two worker threads in one process, one context; one is slow (busy
    //  for 4 x the broker's liveness window) and must survive
    s_echo_args_t fast = { ctx, "inproc://geak-worker-test", 0, 0 };
    s_echo_args_t slow = { ctx, "inproc://geak-worker-test", 0, 400 };
    pthread_t t1, t2;
    pthread_create (&t1, NULL, s_echo_worker, &fast);
    pthread_create (&t2, NULL, s_echo_worker, &slow);

    //  a raw DEALER client
    void *client = zmq_socket (ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt (client, ZMQ_LINGER, &zero, sizeof zero);
    GEAK_CHECK (zmq_connect (client, "inproc://geak-worker-test") == 0);
    geak_broker_stats_t stats;
    int64_t until = geak_clock_mono_ms () + 5000;
    do {
        geak_broker_stats (broker, &stats);
    } while (stats.workers < 2 && geak_clock_mono_ms () < until);
    GEAK_CHECK (stats.workers == 2);

    int finals = 0, partials = 0;
    const int total = 20;
    for (int i = 0; i < total; i++) {
        char rid [32], body [32];
        snprintf (rid, sizeof rid, "w-%d", i);
        snprintf (body, sizeof body, "msg-%d", i);
        geak_msg_t *msg = geak_mdp_encode_client_request ("echo", rid, 0, body, strlen (body));
        GEAK_CHECK (geak_msg_send (&msg, client, 0) == GEAK_OK);
    }
    zmq_pollitem_t item = { client, 0, ZMQ_POLLIN, 0 };
    until = geak_clock_mono_ms () + 20000;
    while (finals < total && geak_clock_mono_ms () < until) {
        if (zmq_poll (&item, 1, 100) <= 0)
            continue;
        geak_msg_t *msg = geak_msg_recv (client);
        GEAK_CHECK (msg);
        geak_mdp_view_t view;
        GEAK_CHECK (geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
        if (view.command == GEAK_MDPC_PARTIAL)
            partials++;
        else {
            GEAK_CHECK (view.command == GEAK_MDPC_FINAL);
            GEAK_CHECK (view.body.size > 4 && view.body.data [view.body.size - 1] == '!');
            finals++;
        }
        geak_msg_destroy (&msg);
    }
    GEAK_CHECK (finals == total);
    GEAK_CHECK (fast.served > 0 && slow.served > 0);
    GEAK_CHECK (partials == slow.served);
    geak_broker_stats (broker, &stats);
    if (verbose)
        printf ("fast=%d slow=%d requeued=%llu expired=%llu\n", fast.served, slow.served,
                (unsigned long long) stats.requeued, (unsigned long long) stats.workers_expired);
    GEAK_CHECK (stats.workers_expired == 0 && stats.requeued == 0);

    //  stop both workers
    for (int i = 0; i < 2; i++) {
        char rid [32];
        snprintf (rid, sizeof rid, "quit-%d", i);
        geak_msg_t *msg = geak_mdp_encode_client_request ("echo", rid, 0, "quit", 4);
        GEAK_CHECK (geak_msg_send (&msg, client, 0) == GEAK_OK);
    }
    pthread_join (t1, NULL);
    pthread_join (t2, NULL);
    zmq_close (client);
    geak_broker_destroy (&broker);

    //  a worker outlives its broker: it notices the silence and reconnects
    //  to a new broker on the same endpoint
    geak_worker_t *worker = geak_worker_new (ctx, "inproc://geak-worker-test2", "svc", NULL);
    GEAK_CHECK (worker);
    geak_worker_set_heartbeat (worker, 30, 3);
    geak_worker_set_reconnect (worker, 30);
    broker = geak_broker_new (ctx);
    geak_broker_set_heartbeat (broker, 30, 3);
    GEAK_CHECK (geak_broker_bind (broker, "inproc://geak-worker-test2") == GEAK_OK);
    GEAK_CHECK (geak_broker_start (broker) == GEAK_OK);
    until = geak_clock_mono_ms () + 5000;
    do {
        geak_broker_stats (broker, &stats);
    } while (stats.workers < 1 && geak_clock_mono_ms () < until);
    GEAK_CHECK (stats.workers == 1);
    //  the broker's heartbeats tell the worker it is registered
    until = geak_clock_mono_ms () + 5000;
    while (!geak_worker_registered (worker) && geak_clock_mono_ms () < until)
        geak_worker_recv (worker, &(geak_request_t *) { NULL }, 10);
    GEAK_CHECK (geak_worker_registered (worker) && !geak_worker_curve (worker));
    uint64_t connects = geak_worker_connects (worker);
    geak_broker_destroy (&broker);
    broker = geak_broker_new (ctx);
    geak_broker_set_heartbeat (broker, 30, 3);
    until = geak_clock_mono_ms () + 5000;
    while (geak_broker_bind (broker, "inproc://geak-worker-test2") != GEAK_OK
           && geak_clock_mono_ms () < until)
        ;   //  the old inproc name is released asynchronously
    GEAK_CHECK (geak_broker_start (broker) == GEAK_OK);
    do {
        geak_broker_stats (broker, &stats);
    } while (stats.workers < 1 && geak_clock_mono_ms () < until);
    GEAK_CHECK (stats.workers == 1);
    GEAK_CHECK (geak_worker_connects (worker) > connects);
    geak_request_t *req = NULL;
    GEAK_CHECK (geak_worker_recv (worker, &req, 0) == GEAK_E_TIMEOUT);
    geak_worker_destroy (&worker);
    geak_worker_destroy (&worker);
    geak_broker_destroy (&broker);
    zmq_ctx_term (ctx);
    geak_log_set_level ((geak_log_level_t) saved_level);
    return 0;
}
