/*  bench_transport - round trips through the GMDP/1 broker over tcp loopback.

    bench_transport [--workers N (8)] [--requests N (20000)] [--window W (64)]
                    [--size BYTES (64)] [--io-threads N (1)] [--metrics] [--curve]

    Starts a broker and N echo workers in threads of this process (broker,
    workers and client each with their own ZeroMQ context, so that each has
    its own I/O thread; the workers share one, like the threads of one
    service process), then a client in the main thread. Two runs: sync (1
    request in flight, geak_client_call) and pipelined (W in flight,
    geak_client_send / recv). Prints round trips per second and p50 / p99
    latency for each. --io-threads sets the broker's ZeroMQ I/O threads
    (geak-broker --io-threads). --metrics makes the broker keep its
    Prometheus metrics (geak-broker --metrics-bind); --curve runs every
    connection over CURVE with an authorized-keys file (docs/transport.md),
    to measure what each costs. */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_broker.h"
#include "geak_worker.h"
#include "geak_client.h"
#include "geak_curve.h"
#include "geak_prom.h"

#include <pthread.h>
#include <unistd.h>
#include <zmq.h>

static int s_stop = 0;

typedef struct {
    void *ctx;
    const char *endpoint;
    long served;
} s_worker_args_t;

static void *
s_worker (void *arg)
{
    s_worker_args_t *args = arg;
    geak_worker_t *worker = geak_worker_new (args->ctx, args->endpoint, "bench.echo", "bench");
    if (!worker)
        return NULL;
    while (!__atomic_load_n (&s_stop, __ATOMIC_RELAXED)) {
        geak_request_t *req;
        geak_rc_t rc = geak_worker_recv (worker, &req, 100);
        if (rc == GEAK_E_TIMEOUT)
            continue;
        if (rc != GEAK_OK)
            break;
        uint8_t *body = req->body;
        size_t size = req->size;
        req->body = NULL;       //  reply with the request body (echo)
        geak_worker_send_final (worker, &req, body, size);
        free (body);
        args->served++;
    }
    geak_worker_destroy (&worker);
    return NULL;
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static void
s_print (const char *mode, long window, long n, int64_t elapsed_us, int64_t *lat, long errors)
{
    qsort (lat, (size_t) n, sizeof *lat, s_cmp);
    double rate = (double) n * 1e6 / (double) (elapsed_us ? elapsed_us : 1);
    printf ("%-10s window=%-4ld requests=%ld errors=%ld  %.0f round trips/s  "
            "p50=%.1f us  p99=%.1f us\n", mode, window, n, errors, rate,
            (double) lat [n / 2], (double) lat [(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
    fflush (stdout);
}

static bool
s_long (const char *text, long min, long max, long *value)
{
    char *end;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *value = v;
    return true;
}

int
main (int argc, char *argv [])
{
    geak_log_init ("bench");
    geak_log_set_level (GEAK_LOG_WARN);
    long workers = 8, requests = 20000, window = 64, size = 64, io_threads = 1;
    bool with_metrics = false, with_curve = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (strcmp (arg, "--metrics") == 0 || strcmp (arg, "--curve") == 0) {
            *(arg [2] == 'm' ? &with_metrics : &with_curve) = true;
            continue;
        }
        const char *value = i + 1 < argc ? argv [++i] : "";
        bool ok;
        if (strcmp (arg, "--workers") == 0)       ok = s_long (value, 1, 64, &workers);
        else if (strcmp (arg, "--requests") == 0) ok = s_long (value, 1, 100000000, &requests);
        else if (strcmp (arg, "--window") == 0)   ok = s_long (value, 1, 100000, &window);
        else if (strcmp (arg, "--size") == 0)     ok = s_long (value, 0, 16 * 1024 * 1024, &size);
        else if (strcmp (arg, "--io-threads") == 0) ok = s_long (value, 1, 64, &io_threads);
        else ok = false;
        if (!ok) {
            fprintf (stderr, "usage: bench_transport [--workers N] [--requests N] [--window W] "
                             "[--size BYTES] [--io-threads N] [--metrics] [--curve]\n");
            return 2;
        }
    }
    void *broker_ctx = zmq_ctx_new ();
    zmq_ctx_set (broker_ctx, ZMQ_IO_THREADS, (int) io_threads);
    geak_broker_t *broker = geak_broker_new (broker_ctx);
    geak_prom_t *registry = with_metrics ? geak_prom_new () : NULL;
    if (broker && registry && geak_broker_set_metrics (broker, registry) != GEAK_OK) {
        fprintf (stderr, "bench_transport: cannot set up metrics\n");
        return 1;
    }
    //  CURVE: key files in a scratch directory; workers and the client read
    //  theirs from the environment, as the daemons do
    char keydir [] = "/tmp/geak-bench-curve-XXXXXX";
    char paths [4][64];
    if (broker && with_curve) {
        geak_curve_keypair_t kp [3];
        const char *names [3] = { "broker.key", "worker.key", "client.key" };
        if (!mkdtemp (keydir))
            return 1;
        for (int k = 0; k < 3; k++) {
            snprintf (paths [k], sizeof paths [k], "%s/%s", keydir, names [k]);
            if (geak_curve_keypair_generate (&kp [k]) != GEAK_OK
            ||  geak_curve_keypair_save (paths [k], &kp [k], false) != GEAK_OK)
                return 1;
        }
        snprintf (paths [3], sizeof paths [3], "%s/authorized", keydir);
        FILE *file = fopen (paths [3], "w");
        if (!file)
            return 1;
        fprintf (file, "%s\n%s\n", kp [1].public_key, kp [2].public_key);
        fclose (file);
        geak_curve_t *server = geak_curve_new_server (&kp [0], paths [3]);
        if (!server || geak_broker_set_curve (broker, server) != GEAK_OK) {
            fprintf (stderr, "bench_transport: cannot set up CURVE\n");
            return 1;
        }
        geak_curve_destroy (&server);
        setenv ("GEAK_CURVE_KEY_FILE", paths [1], 1);
        setenv ("GEAK_CURVE_SERVER_PUBLIC", kp [0].public_key, 1);
        for (int k = 0; k < 3; k++)
            geak_curve_keypair_wipe (&kp [k]);
    }
    if (!broker || geak_broker_bind (broker, "tcp://127.0.0.1:*") != GEAK_OK
    ||  geak_broker_start (broker) != GEAK_OK) {
        fprintf (stderr, "bench_transport: cannot start the broker\n");
        return 1;
    }
    char endpoint [256];
    snprintf (endpoint, sizeof endpoint, "%s", geak_broker_endpoint (broker));
    pthread_t *threads = geak_malloc0 ((size_t) workers * sizeof *threads);
    s_worker_args_t *args = geak_malloc0 ((size_t) workers * sizeof *args);
    //  The workers share one context (one I/O thread), like the threads of
    //  one service process do
    void *worker_ctx = zmq_ctx_new ();
    for (long w = 0; w < workers; w++) {
        args [w].ctx = worker_ctx;
        args [w].endpoint = endpoint;
        pthread_create (&threads [w], NULL, s_worker, &args [w]);
    }
    geak_broker_stats_t stats;
    int64_t until = geak_clock_mono_ms () + 10000;
    do
        geak_broker_stats (broker, &stats);
    while ((long) stats.workers < workers && geak_clock_mono_ms () < until);
    if ((long) stats.workers < workers) {
        fprintf (stderr, "bench_transport: workers did not register\n");
        return 1;
    }
    printf ("bench_transport: broker %s (%ld I/O thread(s)), %ld worker(s), body %ld bytes, "
            "metrics %s, curve %s\n", endpoint, io_threads, workers, size,
            with_metrics ? "on" : "off", with_curve ? "on" : "off");

    if (with_curve)
        setenv ("GEAK_CURVE_KEY_FILE", paths [2], 1);      //  the workers have read theirs
    geak_client_t *client = geak_client_new (NULL, endpoint);
    if (!client)
        return 1;
    uint8_t *body = geak_malloc0 ((size_t) size + 1);
    memset (body, 'x', (size_t) size);
    int64_t *lat = geak_malloc0 ((size_t) requests * sizeof *lat);
    char id [32];

    //  warm-up
    for (int i = 0; i < 200; i++) {
        geak_reply_t *reply = NULL;
        geak_client_call (client, "bench.echo", NULL, 10000, body, (size_t) size, &reply);
        geak_reply_destroy (&reply);
    }

    //  sync
    long errors = 0;
    int64_t t0 = geak_clock_mono_us ();
    for (long i = 0; i < requests; i++) {
        snprintf (id, sizeof id, "s-%ld", i);
        int64_t start = geak_clock_mono_us ();
        geak_reply_t *reply = NULL;
        if (geak_client_call (client, "bench.echo", id, 30000, body, (size_t) size, &reply) != GEAK_OK)
            errors++;
        lat [i] = geak_clock_mono_us () - start;
        geak_reply_destroy (&reply);
    }
    s_print ("sync", 1, requests, geak_clock_mono_us () - t0, lat, errors);

    //  pipelined
    int64_t *sent_at = geak_malloc0 ((size_t) requests * sizeof *sent_at);
    long sent = 0, done = 0;
    errors = 0;
    t0 = geak_clock_mono_us ();
    while (done < requests) {
        while (sent < requests && (long) geak_client_pending (client) < window) {
            snprintf (id, sizeof id, "p-%ld", sent);
            sent_at [sent] = geak_clock_mono_us ();
            if (geak_client_send (client, "bench.echo", id, 30000, body, (size_t) size, NULL) != GEAK_OK)
                abort ();
            sent++;
        }
        geak_reply_t *reply = NULL;
        if (geak_client_recv (client, &reply, 30000) != GEAK_OK)
            break;
        long index = strtol (reply->request_id + 2, NULL, 10);
        if (index >= 0 && index < requests)
            lat [done] = geak_clock_mono_us () - sent_at [index];
        if (reply->rc != GEAK_OK)
            errors++;
        geak_reply_destroy (&reply);
        done++;
    }
    s_print ("pipelined", window, done, geak_clock_mono_us () - t0, lat, errors);

    geak_client_destroy (&client);
    __atomic_store_n (&s_stop, 1, __ATOMIC_RELAXED);
    for (long w = 0; w < workers; w++)
        pthread_join (threads [w], NULL);
    zmq_ctx_term (worker_ctx);
    if (registry) {
        //  (the broker's collector reads the broker: render while it lives)
        size_t text_size = 0;
        char *text = geak_prom_render (registry, &text_size);
        printf ("metrics: %zu bytes rendered\n", text_size);
        free (text);
    }
    geak_broker_destroy (&broker);
    geak_prom_destroy (&registry);
    zmq_ctx_term (broker_ctx);
    if (with_curve) {
        for (int k = 0; k < 4; k++)
            unlink (paths [k]);
        rmdir (keydir);
    }
    free (threads);
    free (args);
    free (body);
    free (lat);
    free (sent_at);
    return errors ? 1 : 0;
}
