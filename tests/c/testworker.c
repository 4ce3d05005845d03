/*  testworker - a GMDP/1 echo worker for cross-process tests.

    testworker [--endpoint E] [--service S] [--impl I] [--id ID]
               [--delay-ms N] [--threads T] [--heartbeat-ms N] [--liveness N]
               [--reconnect-ms N]

    Each thread registers S with the broker. For every request it prints
    "got <request_id> worker=<id>" on stdout (flushed) as soon as the
    request arrives, waits delay-ms, and answers the body with "|<id>"
    appended, where <id> is ID (default <impl>-<pid>) plus "/<thread>" when
    T > 1. Stops on SIGINT / SIGTERM. */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_config.h"
#include "geak_worker.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t s_interrupted = 0;
static pthread_mutex_t s_out_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    void *ctx;
    const char *endpoint;
    const char *service;
    const char *impl;
    char id [128];
    long delay_ms;
    long heartbeat_ms;
    long liveness;
    long reconnect_ms;
    int rc;
} s_args_t;

static void
s_on_signal (int signum)
{
    GEAK_UNUSED (signum);
    s_interrupted = 1;
}

static void *
s_thread (void *arg)
{
    s_args_t *args = arg;
    geak_worker_t *worker = geak_worker_new (args->ctx, args->endpoint, args->service, args->impl);
    if (!worker) {
        fprintf (stderr, "testworker: cannot create worker\n");
        args->rc = 1;
        return NULL;
    }
    geak_worker_set_heartbeat (worker, (int) args->heartbeat_ms, (int) args->liveness);
    geak_worker_set_reconnect (worker, (int) args->reconnect_ms);
    while (!s_interrupted) {
        geak_request_t *req;
        geak_rc_t rc = geak_worker_recv (worker, &req, 100);
        if (rc == GEAK_E_TIMEOUT)
            continue;
        if (rc != GEAK_OK)
            break;
        pthread_mutex_lock (&s_out_lock);
        printf ("got %s worker=%s\n", req->request_id, args->id);
        fflush (stdout);
        pthread_mutex_unlock (&s_out_lock);
        if (args->delay_ms > 0) {
            //  Sleep in small steps so that a signal stops us promptly
            int64_t until = geak_clock_mono_ms () + args->delay_ms;
            while (!s_interrupted && geak_clock_mono_ms () < until) {
                struct timespec ts = { 0, 10 * 1000000L };
                nanosleep (&ts, NULL);
            }
        }
        size_t id_size = strlen (args->id);
        uint8_t *out = geak_malloc0 (req->size + 1 + id_size);
        memcpy (out, req->body, req->size);
        out [req->size] = '|';
        memcpy (out + req->size + 1, args->id, id_size);
        rc = geak_worker_send_final (worker, &req, out, req->size + 1 + id_size);
        free (out);
        if (rc != GEAK_OK)
            geak_warn ("testworker_send_failed", "rc=%s", geak_rc_name (rc));
    }
    geak_worker_destroy (&worker);
    return NULL;
}

int
main (int argc, char *argv [])
{
    geak_log_init ("testworker");
    const char *endpoint = geak_config_str ("GEAK_BROKER", "tcp://127.0.0.1:5555");
    const char *service = "test.echo";
    const char *impl = "echo";
    const char *id = NULL;
    long delay_ms = 0, threads = 1, heartbeat_ms = GEAK_WORKER_HEARTBEAT_MS;
    long liveness = GEAK_WORKER_LIVENESS, reconnect_ms = GEAK_WORKER_RECONNECT_MS;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = i + 1 < argc ? argv [++i] : NULL;
        bool ok = value != NULL;
        if (!ok)
            ;
        else if (strcmp (arg, "--endpoint") == 0) endpoint = value;
        else if (strcmp (arg, "--service") == 0)  service = value;
        else if (strcmp (arg, "--impl") == 0)     impl = value;
        else if (strcmp (arg, "--id") == 0)       id = value;
        else if (strcmp (arg, "--delay-ms") == 0) ok = geak_config_option_long ("testworker", arg, value, 0, 3600000, &delay_ms);
        else if (strcmp (arg, "--threads") == 0)  ok = geak_config_option_long ("testworker", arg, value, 1, 256, &threads);
        else if (strcmp (arg, "--heartbeat-ms") == 0) ok = geak_config_option_long ("testworker", arg, value, 1, 3600000, &heartbeat_ms);
        else if (strcmp (arg, "--liveness") == 0) ok = geak_config_option_long ("testworker", arg, value, 1, 1000, &liveness);
        else if (strcmp (arg, "--reconnect-ms") == 0) ok = geak_config_option_long ("testworker", arg, value, 0, 3600000, &reconnect_ms);
        else ok = false;
        if (!ok) {
            fprintf (stderr, "usage: testworker [--endpoint E] [--service S] [--impl I] [--id ID]\n"
                             "       [--delay-ms N] [--threads T] [--heartbeat-ms N] [--liveness N]\n"
                             "       [--reconnect-ms N]\n");
            return 2;
        }
    }
    char default_id [96];
    if (!id) {
        snprintf (default_id, sizeof default_id, "%s-%d", impl, (int) getpid ());
        id = default_id;
    }
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    void *ctx = zmq_ctx_new ();
    s_args_t *args = geak_malloc0 ((size_t) threads * sizeof *args);
    pthread_t *tids = geak_malloc0 ((size_t) threads * sizeof *tids);
    for (long t = 0; t < threads; t++) {
        args [t].ctx = ctx;
        args [t].endpoint = endpoint;
        args [t].service = service;
        args [t].impl = impl;
        args [t].delay_ms = delay_ms;
        args [t].heartbeat_ms = heartbeat_ms;
        args [t].liveness = liveness;
        args [t].reconnect_ms = reconnect_ms;
        if (threads > 1)
            snprintf (args [t].id, sizeof args [t].id, "%s/%ld", id, t);
        else
            snprintf (args [t].id, sizeof args [t].id, "%s", id);
        pthread_create (&tids [t], NULL, s_thread, &args [t]);
    }
    printf ("testworker_started id=%s threads=%ld service=%s\n", id, threads, service);
    fflush (stdout);
    int rc = 0;
    for (long t = 0; t < threads; t++) {
        pthread_join (tids [t], NULL);
        rc |= args [t].rc;
    }
    free (args);
    free (tids);
    zmq_ctx_term (ctx);
    return rc;
}
