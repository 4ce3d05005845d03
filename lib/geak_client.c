/*  geak_client.c - client side of GMDP/1 with Lazy Pirate retries
    (see geak_client.h). */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_msg.h"
#include "geak_mdp.h"
#include "geak_client.h"
#include "geak_config.h"
#include "geak_curve.h"

#include <zmq.h>

typedef struct s_pending_t {
    char *service;
    char *id;
    int64_t deadline_ms;        //  absolute wall clock, 0 = none
    uint8_t *body;
    size_t size;
    int64_t sent_at;            //  mono ms of the last (re)send
    int64_t first_sent;         //  mono ms of the first send
    int64_t resend_at;
    bool retried;               //  the last send was a retry (a live broker
                                //  answers every retry: ACK or FINAL)
    struct s_pending_t *prev, *next;
} s_pending_t;

typedef struct s_ready_t {
    geak_reply_t *reply;
    struct s_ready_t *next;
} s_ready_t;

struct geak_client_t {
    void *ctx;
    bool own_ctx;
    void *socket;
    char *endpoint;
    int retry_ms;
    int silence_ms;             //  a broker silent this long while we wait: it is gone
    s_pending_t *head, *tail;
    size_t pending;
    s_ready_t *ready_head, *ready_tail;
    int64_t last_heard;         //  mono ms of the last message from the broker
    geak_client_partial_fn *partial_fn;
    void *partial_arg;
    uint64_t reconnects;
    bool silence_logged;
    geak_curve_t *curve;        //  CURVE client settings, or NULL (plain)
};

void
geak_reply_destroy (geak_reply_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_reply_t *self = *self_p;
    free (self->service);
    free (self->request_id);
    free (self->error);
    free (self->body);
    free (self);
    *self_p = NULL;
}

static void *
s_open (geak_client_t *self)
{
    void *socket = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!socket)
        return NULL;
    int zero = 0, ivl = 100, ivl_max = 1000, hwm = 100000;
    zmq_setsockopt (socket, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (socket, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt (socket, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (self->curve && geak_curve_apply (self->curve, socket) != GEAK_OK) {
        zmq_close (socket);
        return NULL;
    }
    if (zmq_connect (socket, self->endpoint) != 0) {
        geak_error ("client_connect_failed", "endpoint=%s error=\"%s\"", self->endpoint,
                    zmq_strerror (errno));
        zmq_close (socket);
        return NULL;
    }
    return socket;
}

geak_client_t *
geak_client_new (void *ctx, const char *endpoint)
{
    if (!endpoint)
        return NULL;
    geak_rc_t curve_rc;
    geak_curve_t *curve = geak_curve_client_from_env (&curve_rc);
    if (curve_rc != GEAK_OK) {
        geak_error ("client_curve_config", "endpoint=%s code=%s", endpoint, geak_rc_name (curve_rc));
        return NULL;
    }
    geak_client_t *self = geak_malloc0 (sizeof *self);
    self->curve = curve;
    self->own_ctx = ctx == NULL;
    self->ctx = ctx ? ctx : zmq_ctx_new ();
    self->endpoint = geak_strdup (endpoint);
    self->retry_ms = GEAK_CLIENT_RETRY_MS;
    self->silence_ms = GEAK_CLIENT_SILENCE_MS;
    long silence = self->silence_ms;
    if (geak_config_int ("GEAK_CLIENT_SILENCE_MS", silence, 0, 86400000L, &silence) == GEAK_OK)
        self->silence_ms = (int) silence;
    self->last_heard = geak_clock_mono_ms ();
    if (self->ctx)
        self->socket = s_open (self);
    if (!self->socket) {
        if (self->own_ctx && self->ctx)
            zmq_ctx_term (self->ctx);
        geak_curve_destroy (&self->curve);
        free (self->endpoint);
        free (self);
        return NULL;
    }
    return self;
}

static void
s_pending_free (s_pending_t *p)
{
    free (p->service);
    free (p->id);
    free (p->body);
    free (p);
}

static void
s_pending_remove (geak_client_t *self, s_pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        self->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        self->tail = p->prev;
    self->pending--;
    s_pending_free (p);
}

void
geak_client_destroy (geak_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_client_t *self = *self_p;
    while (self->head)
        s_pending_remove (self, self->head);
    while (self->ready_head) {
        s_ready_t *r = self->ready_head;
        self->ready_head = r->next;
        geak_reply_destroy (&r->reply);
        free (r);
    }
    if (self->socket)
        zmq_close (self->socket);
    if (self->own_ctx)
        zmq_ctx_term (self->ctx);
    geak_curve_destroy (&self->curve);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

void
geak_client_set_silence (geak_client_t *self, int silence_ms)
{
    assert (self);
    if (silence_ms >= 0)
        self->silence_ms = silence_ms;
}

void
geak_client_set_retry (geak_client_t *self, int retry_ms)
{
    assert (self);
    if (retry_ms >= 1)
        self->retry_ms = retry_ms;
}

void
geak_client_set_partial_handler (geak_client_t *self, geak_client_partial_fn *fn, void *arg)
{
    assert (self);
    self->partial_fn = fn;
    self->partial_arg = arg;
}

size_t
geak_client_pending (const geak_client_t *self)
{
    assert (self);
    return self->pending;
}

bool
geak_client_curve (const geak_client_t *self)
{
    assert (self);
    return self->curve != NULL;
}

uint64_t
geak_client_reconnects (const geak_client_t *self)
{
    assert (self);
    return self->reconnects;
}

static geak_rc_t
s_transmit (geak_client_t *self, s_pending_t *p, int64_t now, bool retry)
{
    p->retried = retry;
    geak_msg_t *msg = geak_mdp_encode_client_request (p->service, p->id, p->deadline_ms,
                                                      p->body, p->size);
    if (!msg)
        return GEAK_E_INVALID;
    p->sent_at = now;
    if (!p->first_sent)
        p->first_sent = now;
    p->resend_at = now + self->retry_ms;
    geak_rc_t rc = geak_msg_send (&msg, self->socket, ZMQ_DONTWAIT);
    if (rc == GEAK_E_TIMEOUT)
        rc = GEAK_OK;       //  HWM reached / not connected: the retry will resend
    return rc;
}

geak_rc_t
geak_client_send (geak_client_t *self, const char *service, const char *request_id,
                  int64_t deadline_ms, const void *body, size_t size, const char **id_p)
{
    if (!self || !service || (size && !body) || size > GEAK_MDP_MAX_BODY
    ||  !geak_mdp_valid_name (service, strlen (service), GEAK_MDP_MAX_NAME)
    ||  (request_id && !geak_mdp_valid_name (request_id, strlen (request_id),
                                             GEAK_MDP_MAX_REQUEST_ID))
    ||  deadline_ms < 0)
        return GEAK_E_INVALID;
    char random_id [33];
    if (!request_id) {
        geak_random_hex (random_id, 32);
        request_id = random_id;
    }
    for (s_pending_t *p = self->head; p; p = p->next)
        if (strcmp (p->id, request_id) == 0 && strcmp (p->service, service) == 0)
            return GEAK_E_EXISTS;
    if (deadline_ms > 0 && deadline_ms < GEAK_CLIENT_RELATIVE_MAX)
        deadline_ms += geak_clock_wall_ms ();
    s_pending_t *p = geak_malloc0 (sizeof *p);
    p->service = geak_strdup (service);
    p->id = geak_strdup (request_id);
    p->deadline_ms = deadline_ms;
    p->body = geak_malloc0 (size + 1);
    if (size)
        memcpy (p->body, body, size);
    p->size = size;
    geak_rc_t rc = s_transmit (self, p, geak_clock_mono_ms (), false);
    if (rc != GEAK_OK) {
        s_pending_free (p);
        return rc;
    }
    p->prev = self->tail;
    if (self->tail)
        self->tail->next = p;
    else
        self->head = p;
    self->tail = p;
    self->pending++;
    if (id_p)
        *id_p = p->id;
    return GEAK_OK;
}

static s_pending_t *
s_find (geak_client_t *self, geak_mdp_bytes_t service, geak_mdp_bytes_t id)
{
    for (s_pending_t *p = self->head; p; p = p->next)
        if (geak_mdp_streq (id, p->id) && geak_mdp_streq (service, p->service))
            return p;
    return NULL;
}

//  Lazy Pirate: resend what is due; reopen the socket first when the broker
//  has said nothing since the last resend (a live broker answers every
//  resend, with ACK or the cached FINAL).
static geak_rc_t
s_retry (geak_client_t *self, int64_t now)
{
    int64_t wall = geak_clock_wall_ms ();
    for (s_pending_t *p = self->head; p; p = p->next) {
        if (now < p->resend_at)
            continue;
        if (p->deadline_ms && wall >= p->deadline_ms) {
            p->resend_at = INT64_MAX;   //  only waiting for the broker's verdict now
            continue;
        }
        if (p->retried && self->last_heard < p->sent_at) {
            void *socket = s_open (self);
            if (!socket)
                return GEAK_E_TRANSPORT;
            zmq_close (self->socket);
            self->socket = socket;
            self->reconnects++;
            geak_info ("client_reconnect", "endpoint=%s pending=%zu", self->endpoint, self->pending);
            for (s_pending_t *q = self->head; q; q = q->next)
                s_transmit (self, q, now, true);
            return GEAK_OK;
        }
        geak_debug ("client_resend", "service=%s request_id=%s", p->service, p->id);
        s_transmit (self, p, now, true);
    }
    return GEAK_OK;
}

static geak_reply_t *
s_reply_new (const char *service, const char *id)
{
    geak_reply_t *reply = geak_malloc0 (sizeof *reply);
    reply->service = geak_strdup (service);
    reply->request_id = geak_strdup (id);
    return reply;
}

//  Give up requests past their deadline, or every request once the broker
//  has been silent for silence_ms: the first one becomes a reply.
static geak_reply_t *
s_expire (geak_client_t *self)
{
    int64_t wall = geak_clock_wall_ms ();
    int64_t now = geak_clock_mono_ms ();
    for (s_pending_t *p = self->head; p; p = p->next) {
        int64_t since = p->first_sent > self->last_heard ? p->first_sent : self->last_heard;
        if (self->silence_ms > 0 && p->first_sent && now - since > self->silence_ms) {
            geak_reply_t *reply = s_reply_new (p->service, p->id);
            reply->rc = GEAK_E_TRANSPORT;
            reply->error = geak_strdupf ("no answer from the broker at %s for %lld s (is it "
                                         "running? GEAK_CLIENT_SILENCE_MS sets this limit)",
                                         self->endpoint, (long long) (now - since) / 1000);
            if (!self->silence_logged) {
                geak_warn ("client_broker_silent", "endpoint=%s silent_ms=%lld pending=%zu",
                           self->endpoint, (long long) (now - since), self->pending);
                self->silence_logged = true;
            }
            s_pending_remove (self, p);
            return reply;
        }
    }
    for (s_pending_t *p = self->head; p; p = p->next)
        if (p->deadline_ms && wall >= p->deadline_ms + GEAK_CLIENT_GRACE_MS) {
            geak_reply_t *reply = s_reply_new (p->service, p->id);
            reply->rc = GEAK_E_TIMEOUT;
            reply->error = geak_strdup ("no reply before the request's deadline");
            geak_info ("client_timeout", "service=%s request_id=%s", p->service, p->id);
            s_pending_remove (self, p);
            return reply;
        }
    return NULL;
}

//  Milliseconds until the next timer (resend or deadline), at most cap.
static int64_t
s_next_timer (geak_client_t *self, int64_t now, int64_t cap)
{
    int64_t wait = cap;
    int64_t wall = geak_clock_wall_ms ();
    for (s_pending_t *p = self->head; p; p = p->next) {
        if (p->resend_at - now < wait)
            wait = p->resend_at - now;
        if (p->deadline_ms && p->deadline_ms + GEAK_CLIENT_GRACE_MS - wall < wait)
            wait = p->deadline_ms + GEAK_CLIENT_GRACE_MS - wall;
        int64_t since = p->first_sent > self->last_heard ? p->first_sent : self->last_heard;
        if (self->silence_ms > 0 && p->first_sent && since + self->silence_ms + 1 - now < wait)
            wait = since + self->silence_ms + 1 - now;
    }
    return wait < 0 ? 0 : wait;
}

//  Turn a broker message into a reply for a pending request, or NULL.
static geak_reply_t *
s_handle (geak_client_t *self, geak_msg_t *msg)
{
    geak_mdp_view_t view;
    geak_rc_t rc = geak_mdp_decode_broker_to_client (msg, &view);
    if (rc != GEAK_OK) {
        geak_warn ("client_malformed", "rc=%s frames=%zu", geak_rc_name (rc), geak_msg_size (msg));
        return NULL;
    }
    s_pending_t *p = s_find (self, view.service, view.request_id);
    if (!p)
        return NULL;        //  a late duplicate, or an answer we gave up on
    if (view.command == GEAK_MDPC_ACK) {
        p->resend_at = geak_clock_mono_ms () + self->retry_ms;
        return NULL;
    }
    geak_reply_t *reply = s_reply_new (p->service, p->id);
    if (view.command == GEAK_MDPC_ERROR) {
        reply->rc = view.error;
        reply->error = geak_mdp_strdup (view.error_text);
    }
    else {
        reply->partial = view.command == GEAK_MDPC_PARTIAL;
        reply->body = (uint8_t *) geak_mdp_strdup (view.body);
        reply->size = view.body.size;
    }
    if (reply->partial) {
        p->resend_at = geak_clock_mono_ms () + self->retry_ms;
        if (self->partial_fn) {
            self->partial_fn (reply, self->partial_arg);
            geak_reply_destroy (&reply);
        }
    }
    else
        s_pending_remove (self, p);
    return reply;
}

geak_rc_t
geak_client_recv (geak_client_t *self, geak_reply_t **reply_p, int timeout_ms)
{
    if (!self || !reply_p)
        return GEAK_E_INVALID;
    *reply_p = NULL;
    if (self->ready_head) {
        s_ready_t *r = self->ready_head;
        self->ready_head = r->next;
        if (!self->ready_head)
            self->ready_tail = NULL;
        *reply_p = r->reply;
        free (r);
        return GEAK_OK;
    }
    int64_t until = timeout_ms >= 0 ? geak_clock_mono_ms () + timeout_ms : INT64_MAX;
    while (true) {
        geak_reply_t *reply = s_expire (self);
        if (reply) {
            *reply_p = reply;
            return GEAK_OK;
        }
        int64_t now = geak_clock_mono_ms ();
        geak_rc_t rc = s_retry (self, now);
        if (rc != GEAK_OK)
            return rc;
        //  Drain what is already there without waiting
        geak_msg_t *msg = geak_msg_recv_flags (self->socket, ZMQ_DONTWAIT);
        if (!msg && errno != EAGAIN)
            return (errno == EINTR || errno == ETERM) ? GEAK_E_INTERRUPTED : GEAK_E_TRANSPORT;
        if (msg) {
            self->last_heard = geak_clock_mono_ms ();
            self->silence_logged = false;
            reply = s_handle (self, msg);
            geak_msg_destroy (&msg);
            if (reply) {
                *reply_p = reply;
                return GEAK_OK;
            }
            continue;
        }
        if (now >= until)
            return GEAK_E_TIMEOUT;
        int64_t cap = until - now;
        if (cap > 1000)
            cap = 1000;
        int64_t wait = s_next_timer (self, now, cap);
        zmq_pollitem_t item = { self->socket, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) wait) == -1)
            return (errno == EINTR || errno == ETERM) ? GEAK_E_INTERRUPTED : GEAK_E_TRANSPORT;
    }
}

geak_rc_t
geak_client_call (geak_client_t *self, const char *service, const char *request_id,
                  int64_t deadline_ms, const void *body, size_t size, geak_reply_t **reply_p)
{
    if (!reply_p)
        return GEAK_E_INVALID;
    *reply_p = NULL;
    const char *id;
    geak_rc_t rc = geak_client_send (self, service, request_id, deadline_ms, body, size, &id);
    if (rc != GEAK_OK)
        return rc;
    char *mine = geak_strdup (id);
    char *my_service = geak_strdup (service);
    //  Keep replies for other requests aside, in order
    s_ready_t *held = self->ready_head;
    s_ready_t *held_tail = self->ready_tail;
    self->ready_head = self->ready_tail = NULL;
    while (true) {
        geak_reply_t *reply;
        rc = geak_client_recv (self, &reply, -1);
        if (rc != GEAK_OK)
            break;
        bool ours = strcmp (reply->request_id, mine) == 0 && strcmp (reply->service, my_service) == 0;
        if (ours && reply->partial) {
            geak_reply_destroy (&reply);    //  no handler (it would have taken it)
            continue;
        }
        if (ours) {
            *reply_p = reply;
            rc = reply->rc;
            break;
        }
        s_ready_t *r = geak_malloc0 (sizeof *r);
        r->reply = reply;
        if (held_tail)
            held_tail->next = r;
        else
            held = r;
        held_tail = r;
    }
    //  Put the held replies back in front of anything queued meanwhile
    if (held) {
        held_tail->next = self->ready_head;
        if (!self->ready_head)
            self->ready_tail = held_tail;
        self->ready_head = held;
    }
    if (rc != GEAK_OK && !*reply_p) {
        //  interrupted: forget the request
        for (s_pending_t *p = self->head; p; p = p->next)
            if (strcmp (p->id, mine) == 0 && strcmp (p->service, my_service) == 0) {
                s_pending_remove (self, p);
                break;
            }
    }
    free (mine);
    free (my_service);
    return rc;
}

//  ------------------------------------------------------------ selftest

#include "geak_broker.h"
#include "geak_worker.h"
#include <pthread.h>

typedef struct {
    void *ctx;
    const char *endpoint;
    const char *service;
    int partials;
    int served;
} s_worker_args_t;

static void *
s_test_worker (void *arg)
{
    s_worker_args_t *args = arg;
    geak_worker_t *worker = geak_worker_new (args->ctx, args->endpoint, args->service, "t");
    GEAK_CHECK (worker);
    geak_worker_set_heartbeat (worker, 50, 3);
    while (true) {
        geak_request_t *req;
        if (geak_worker_recv (worker, &req, 5000) != GEAK_OK)
            break;
        for (int i = 0; i < args->partials; i++)
            geak_worker_send_partial (worker, req, "part", 4);
        bool quit = strcmp ((char *) req->body, "quit") == 0;
        geak_worker_send_final (worker, &req, "done", 4);
        args->served++;
        if (quit)
            break;
    }
    geak_worker_destroy (&worker);
    return NULL;
}

static void
s_count_partial (const geak_reply_t *partial, void *arg)
{
    assert (partial->partial);
    (*(int *) arg)++;
}

int
geak_client_test (bool verbose)
{
    int saved_level = geak_log_level_current;
    if (!verbose)
        geak_log_set_level (GEAK_LOG_OFF);
    void *ctx = zmq_ctx_new ();
    geak_broker_t *broker = geak_broker_new (ctx);
    geak_broker_set_heartbeat (broker, 50, 3);
    GEAK_CHECK (geak_broker_bind (broker, "tcp://127.0.0.1:*") == GEAK_OK);
    char endpoint [256];
    snprintf (endpoint, sizeof endpoint, "%s", geak_broker_endpoint (broker));
    GEAK_CHECK (geak_broker_start (broker) == GEAK_OK);

    s_worker_args_t args = { ctx, endpoint, "echo", 2, 0 };
    pthread_t thread;
    pthread_create (&thread, NULL, s_test_worker, &args);

    geak_client_t *client = geak_client_new (ctx, endpoint);
    GEAK_CHECK (client);
    geak_client_set_retry (client, 200);
    geak_reply_t *reply = NULL;

    //  bad arguments
    GEAK_CHECK (geak_client_call (client, "bad service", NULL, 0, NULL, 0, &reply) == GEAK_E_INVALID);
    GEAK_CHECK (geak_client_send (client, "echo", "bad id", 0, NULL, 0, NULL) == GEAK_E_INVALID);

    //  sync call with partials through the handler
    int partials = 0;
    geak_client_set_partial_handler (client, s_count_partial, &partials);
    geak_rc_t rc = geak_client_call (client, "echo", "c-1", 5000, "hello", 5, &reply);
    GEAK_CHECK (rc == GEAK_OK && reply);
    GEAK_CHECK (reply->rc == GEAK_OK && reply->size == 4 && memcmp (reply->body, "done", 4) == 0);
    GEAK_CHECK (strcmp (reply->request_id, "c-1") == 0 && !reply->partial);
    GEAK_CHECK (partials == 2);
    geak_reply_destroy (&reply);
    geak_client_set_partial_handler (client, NULL, NULL);

    //  async: many in flight; partials come back through recv
    const int total = 50;
    for (int i = 0; i < total; i++)
        GEAK_CHECK (geak_client_send (client, "echo", NULL, 10000, "x", 1, NULL) == GEAK_OK);
    GEAK_CHECK (geak_client_pending (client) == (size_t) total);
    int finals = 0, seen_partials = 0;
    while (geak_client_pending (client) > 0) {
        rc = geak_client_recv (client, &reply, 5000);
        GEAK_CHECK (rc == GEAK_OK);
        GEAK_CHECK (reply->rc == GEAK_OK);
        if (reply->partial)
            seen_partials++;
        else
            finals++;
        geak_reply_destroy (&reply);
    }
    GEAK_CHECK (finals == total && seen_partials == 2 * total);

    //  a duplicate id while pending is refused
    GEAK_CHECK (geak_client_send (client, "nobody", "dup", 2000, NULL, 0, NULL) == GEAK_OK);
    GEAK_CHECK (geak_client_send (client, "nobody", "dup", 2000, NULL, 0, NULL) == GEAK_E_EXISTS);

    //  sync call while another request is pending: the other's reply
    //  (deadline error from the broker) is kept for recv
    rc = geak_client_call (client, "nobody", "short", 300, NULL, 0, &reply);
    GEAK_CHECK (rc == GEAK_E_DEADLINE || rc == GEAK_E_TIMEOUT);
    GEAK_CHECK (reply && reply->rc == rc && reply->error);
    geak_reply_destroy (&reply);
    rc = geak_client_recv (client, &reply, 5000);
    GEAK_CHECK (rc == GEAK_OK && reply);
    GEAK_CHECK (strcmp (reply->request_id, "dup") == 0);
    GEAK_CHECK (reply->rc == GEAK_E_DEADLINE || reply->rc == GEAK_E_TIMEOUT);
    geak_reply_destroy (&reply);
    GEAK_CHECK (geak_client_pending (client) == 0);
    GEAK_CHECK (geak_client_recv (client, &reply, 10) == GEAK_E_TIMEOUT);

    //  mmi
    rc = geak_client_call (client, "mmi.service", NULL, 2000, "echo", 4, &reply);
    GEAK_CHECK (rc == GEAK_OK && reply->size == 3 && memcmp (reply->body, "200", 3) == 0);
    geak_reply_destroy (&reply);

    //  broker gone: the client gives up at the deadline, reconnecting meanwhile
    geak_broker_destroy (&broker);
    rc = geak_client_call (client, "echo", NULL, 700, "x", 1, &reply);
    GEAK_CHECK (rc == GEAK_E_TIMEOUT && reply && reply->rc == GEAK_E_TIMEOUT);
    geak_reply_destroy (&reply);
    GEAK_CHECK (geak_client_reconnects (client) >= 1);

    //  broker back on the same port: worker re-registers, Lazy Pirate
    //  delivers a request that was sent while the broker was down
    GEAK_CHECK (geak_client_send (client, "echo", "after-restart", 10000, "quit", 4, NULL) == GEAK_OK);
    broker = geak_broker_new (ctx);
    geak_broker_set_heartbeat (broker, 50, 3);
    GEAK_CHECK (geak_broker_bind (broker, endpoint) == GEAK_OK);
    GEAK_CHECK (geak_broker_start (broker) == GEAK_OK);
    rc = geak_client_recv (client, &reply, 10000);
    GEAK_CHECK (rc == GEAK_OK && reply && reply->rc == GEAK_OK);
    GEAK_CHECK (strcmp (reply->request_id, "after-restart") == 0);
    geak_reply_destroy (&reply);
    pthread_join (thread, NULL);

    geak_client_destroy (&client);
    geak_client_destroy (&client);
    geak_broker_destroy (&broker);
    zmq_ctx_term (ctx);

    //  private context
    client = geak_client_new (NULL, "tcp://127.0.0.1:1");
    GEAK_CHECK (client);
    geak_client_destroy (&client);
    GEAK_CHECK (geak_client_new (NULL, "nonsense") == NULL);
    geak_log_set_level ((geak_log_level_t) saved_level);
    return 0;
}
