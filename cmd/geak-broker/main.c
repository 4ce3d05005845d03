/*  geak-broker - the GMDP/1 broker daemon (docs/transport.md).

    geak-broker [--bind ENDPOINT]... [--heartbeat-ms N] [--liveness N]
                [--max-attempts N] [--cache-entries N] [--cache-ttl-ms N]
                [--io-threads N] [--metrics-bind HOST:PORT]

    Environment: GEAK_BROKER_BIND (default GEAK_DEFAULT_BIND, port 5555; several endpoints
    separated by commas), GEAK_BROKER_HEARTBEAT_MS, GEAK_BROKER_LIVENESS,
    GEAK_BROKER_MAX_ATTEMPTS, GEAK_BROKER_IO_THREADS (ZeroMQ I/O threads,
    default 1), GEAK_METRICS_BIND (HTTP /metrics, /healthz, /readyz; unset =
    off), GEAK_CURVE_KEY_FILE + GEAK_CURVE_AUTHORIZED_FILE (CURVE server,
    docs/transport.md), GEAK_LOG_LEVEL. Options override them.
    Once every endpoint is bound it prints one line per endpoint on stdout,
    "broker_ready endpoint=tcp://0.0.0.0:5555", and logs the same event.
    SIGINT / SIGTERM stop it cleanly (exit 0). */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_config.h"
#include "geak_broker.h"
#include "geak_proto.h"
#include "geak_curve.h"
#include "geak_http.h"
#include "geak_prom.h"

#include <signal.h>
#include <zmq.h>

#define MAX_BINDS 16
#define LIVENESS_MS 5000        //  /healthz fails when the loop stalls this long

static geak_broker_t *s_broker = NULL;
static int s_ready = 0;         //  atomic: every endpoint bound, not stopping

static bool
s_check_live (void *arg, char *why, size_t why_size)
{
    int64_t silent = geak_clock_mono_ms () - geak_broker_last_poll ((geak_broker_t *) arg);
    if (silent < LIVENESS_MS)
        return true;
    snprintf (why, why_size, "broker loop silent for %lld ms", (long long) silent);
    return false;
}

static bool
s_check_ready (void *arg, char *why, size_t why_size)
{
    GEAK_UNUSED (arg);
    if (__atomic_load_n (&s_ready, __ATOMIC_RELAXED))
        return true;
    snprintf (why, why_size, "not bound yet or stopping");
    return false;
}

static void
s_on_signal (int signum)
{
    GEAK_UNUSED (signum);
    __atomic_store_n (&s_ready, 0, __ATOMIC_RELAXED);
    geak_broker_stop (s_broker);
}

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: geak-broker [--bind ENDPOINT]... [--heartbeat-ms N] [--liveness N]\n"
             "                   [--max-attempts N] [--cache-entries N] [--cache-ttl-ms N]\n"
             "                   [--io-threads N] [--metrics-bind HOST:PORT]\n"
             "                   [--cache-bodies envelopes|any]\n"
             "env: GEAK_BROKER_BIND (default %s), GEAK_BROKER_HEARTBEAT_MS,\n"
             "     GEAK_BROKER_LIVENESS, GEAK_BROKER_MAX_ATTEMPTS, GEAK_BROKER_IO_THREADS,\n"
             "     GEAK_BROKER_QUEUE_MAX, GEAK_BROKER_QUEUE_MB, GEAK_BROKER_SERVICE_QUEUE_MAX,\n"
             "     GEAK_BROKER_SERVICE_QUEUE_MB, GEAK_BROKER_DEFAULT_DEADLINE_MS,\n"
             "     GEAK_BROKER_MAX_RUN_MS, GEAK_BROKER_CLIENT_SILENCE_MS, GEAK_BROKER_LATE_MAX,\n"
             "     GEAK_METRICS_BIND, GEAK_CURVE_KEY_FILE, GEAK_CURVE_AUTHORIZED_FILE,\n"
             "     GEAK_LOG_LEVEL\n",
             GEAK_DEFAULT_BIND);
}

//  Replies worth keeping for retries: what a geak service sends
static bool
s_is_envelope (const uint8_t *body, size_t size)
{
    geak_rc_t rc;
    Geak__Envelope *env = geak_proto_unpack (body, size, GEAK__ENVELOPE__BODY__NOT_SET, &rc);
    bool ok = env != NULL;
    geak_proto_free (&env);
    return ok;
}

//  Queue bounds and request limits (geak_broker.h) from GEAK_BROKER_*
static int
s_limits_from_env (geak_broker_limits_t *limits)
{
    geak_broker_limits_default (limits);
    long queue_max = (long) limits->queue_max, service_max = (long) limits->service_queue_max;
    long queue_mb = (long) (limits->queue_bytes >> 20), service_mb = (long) (limits->service_queue_bytes >> 20);
    long deadline = (long) limits->default_deadline_ms, max_run = (long) limits->max_run_ms;
    long silence = (long) limits->client_silence_ms, late = limits->late_max;
    const struct { const char *name; long *value; long max; } vars [] = {
        { "GEAK_BROKER_QUEUE_MAX", &queue_max, 100000000 },
        { "GEAK_BROKER_QUEUE_MB", &queue_mb, 1 << 20 },
        { "GEAK_BROKER_SERVICE_QUEUE_MAX", &service_max, 100000000 },
        { "GEAK_BROKER_SERVICE_QUEUE_MB", &service_mb, 1 << 20 },
        { "GEAK_BROKER_DEFAULT_DEADLINE_MS", &deadline, 7L * 86400000L },
        { "GEAK_BROKER_MAX_RUN_MS", &max_run, 7L * 86400000L },
        { "GEAK_BROKER_CLIENT_SILENCE_MS", &silence, 86400000L },
        { "GEAK_BROKER_LATE_MAX", &late, 1000 },
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars [0]; i++)
        if (geak_config_int (vars [i].name, *vars [i].value, 0, vars [i].max, vars [i].value) != GEAK_OK) {
            fprintf (stderr, "geak-broker: %s must be an integer in [0, %ld] (0: no bound)\n",
                     vars [i].name, vars [i].max);
            return 1;
        }
    limits->queue_max = (size_t) queue_max;
    limits->queue_bytes = (size_t) queue_mb << 20;
    limits->service_queue_max = (size_t) service_max;
    limits->service_queue_bytes = (size_t) service_mb << 20;
    limits->default_deadline_ms = deadline;
    limits->max_run_ms = max_run;
    limits->client_silence_ms = silence;
    limits->late_max = (int) late;
    return 0;
}

int
main (int argc, char *argv [])
{
    geak_log_init ("broker");
    long heartbeat_ms, liveness, max_attempts, io_threads;
    long cache_entries = GEAK_BROKER_CACHE_ENTRIES, cache_ttl_ms = GEAK_BROKER_CACHE_TTL_MS;
    bool cache_any = false;
    if (geak_config_int ("GEAK_BROKER_HEARTBEAT_MS", GEAK_BROKER_HEARTBEAT_MS, 1, 3600000, &heartbeat_ms)
    ||  geak_config_int ("GEAK_BROKER_LIVENESS", GEAK_BROKER_LIVENESS, 1, 1000, &liveness)
    ||  geak_config_int ("GEAK_BROKER_MAX_ATTEMPTS", GEAK_BROKER_MAX_ATTEMPTS, 1, 1000, &max_attempts)
    ||  geak_config_int ("GEAK_BROKER_IO_THREADS", 1, 1, 64, &io_threads)) {
        fprintf (stderr, "geak-broker: bad GEAK_BROKER_* environment value\n");
        return 2;
    }
    const char *binds [MAX_BINDS];
    int nbinds = 0;
    const char *metrics_bind = geak_config_str ("GEAK_METRICS_BIND", NULL);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = i + 1 < argc ? argv [i + 1] : NULL;
        if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0) {
            s_usage (stdout);
            return 0;
        }
        if (!value) {
            s_usage (stderr);
            return 2;
        }
        i++;
        if (strcmp (arg, "--bind") == 0) {
            if (nbinds == MAX_BINDS) {
                fprintf (stderr, "geak-broker: at most %d --bind\n", MAX_BINDS);
                return 2;
            }
            binds [nbinds++] = value;
        }
        else
        if (strcmp (arg, "--heartbeat-ms") == 0) {
            if (!geak_config_option_long ("geak-broker", arg, value, 1, 3600000, &heartbeat_ms))
                return 2;
        }
        else
        if (strcmp (arg, "--liveness") == 0) {
            if (!geak_config_option_long ("geak-broker", arg, value, 1, 1000, &liveness))
                return 2;
        }
        else
        if (strcmp (arg, "--max-attempts") == 0) {
            if (!geak_config_option_long ("geak-broker", arg, value, 1, 1000, &max_attempts))
                return 2;
        }
        else
        if (strcmp (arg, "--io-threads") == 0) {
            if (!geak_config_option_long ("geak-broker", arg, value, 1, 64, &io_threads))
                return 2;
        }
        else
        if (strcmp (arg, "--cache-entries") == 0) {
            if (!geak_config_option_long ("geak-broker", arg, value, 0, 10000000, &cache_entries))
                return 2;
        }
        else
        if (strcmp (arg, "--cache-bodies") == 0) {
            if (strcmp (value, "any") != 0 && strcmp (value, "envelopes") != 0) {
                fprintf (stderr, "geak-broker: --cache-bodies takes envelopes or any\n");
                return 2;
            }
            cache_any = strcmp (value, "any") == 0;
        }
        else
        if (strcmp (arg, "--cache-ttl-ms") == 0) {
            if (!geak_config_option_long ("geak-broker", arg, value, 0, 86400000, &cache_ttl_ms))
                return 2;
        }
        else
        if (strcmp (arg, "--metrics-bind") == 0)
            metrics_bind = *value ? value : NULL;
        else {
            fprintf (stderr, "geak-broker: unknown option %s\n", arg);
            s_usage (stderr);
            return 2;
        }
    }
    //  Endpoints from the environment when no --bind was given
    char *env_binds = NULL;
    if (nbinds == 0) {
        env_binds = geak_strdup (geak_config_str ("GEAK_BROKER_BIND", GEAK_DEFAULT_BIND));
        char *save = NULL;
        for (char *tok = strtok_r (env_binds, ",", &save); tok && nbinds < MAX_BINDS;
             tok = strtok_r (NULL, ",", &save))
            if (*tok)
                binds [nbinds++] = tok;
    }

    geak_rc_t curve_rc;
    geak_curve_t *curve = geak_curve_server_from_env (&curve_rc);
    if (curve_rc != GEAK_OK) {
        fprintf (stderr, "geak-broker: bad CURVE configuration (GEAK_CURVE_*): %s\n",
                 geak_rc_str (curve_rc));
        free (env_binds);
        return 2;
    }
    void *ctx = zmq_ctx_new ();
    if (ctx)
        zmq_ctx_set (ctx, ZMQ_IO_THREADS, (int) io_threads);
    s_broker = ctx ? geak_broker_new (ctx) : NULL;
    if (!s_broker) {
        geak_error ("broker_start_failed", "reason=zmq");
        if (ctx)
            zmq_ctx_term (ctx);
        geak_curve_destroy (&curve);
        free (env_binds);
        return 1;
    }
    int exit_code = 0;
    geak_prom_t *registry = NULL;
    geak_http_t *http = NULL;
    if (curve) {
        geak_rc_t rc = geak_broker_set_curve (s_broker, curve);
        geak_curve_destroy (&curve);
        if (rc != GEAK_OK) {
            geak_error ("broker_start_failed", "reason=curve code=%s", geak_rc_name (rc));
            exit_code = 2;
            goto done;
        }
    }
    if (metrics_bind) {
        geak_rc_t rc;
        registry = geak_prom_new ();
        http = geak_http_new (metrics_bind, &rc);
        if (!http
        ||  geak_broker_set_metrics (s_broker, registry) != GEAK_OK
        ||  geak_http_route_metrics (http, "/metrics", registry) != GEAK_OK
        ||  geak_http_route_check (http, "/healthz", s_check_live, s_broker) != GEAK_OK
        ||  geak_http_route_check (http, "/readyz", s_check_ready, NULL) != GEAK_OK
        ||  geak_http_start (http) != GEAK_OK) {
            geak_error ("broker_start_failed", "reason=metrics bind=%s", metrics_bind);
            exit_code = 2;
            goto done;
        }
        geak_prom_set_with (geak_prom_gauge (registry, "geak_build_info",
                                             "geak-c version and process role (always 1).",
                                             GEAK_PROM_LABELS ("version", "role")),
                            GEAK_PROM_VALUES (GEAK_VERSION_STRING, "broker"), 1);
        geak_prom_set_with (geak_prom_gauge (registry, "geak_process_start_time_seconds",
                                             "Start time of the process since the Unix epoch.", NULL),
                            NULL, (double) geak_clock_wall_ms () / 1000.0);
        geak_info ("metrics_ready", "bind=%s port=%d", metrics_bind, geak_http_port (http));
    }
    geak_broker_set_heartbeat (s_broker, (int) heartbeat_ms, (int) liveness);
    geak_broker_set_max_attempts (s_broker, (int) max_attempts);
    geak_broker_set_cache (s_broker, (size_t) cache_entries, (int) cache_ttl_ms);
    if (!cache_any)
        geak_broker_set_cacheable (s_broker, s_is_envelope);
    geak_broker_limits_t limits;
    if (s_limits_from_env (&limits) != 0) {
        exit_code = 2;
        goto done;
    }
    geak_broker_set_limits (s_broker, &limits);
    for (int i = 0; i < nbinds; i++) {
        if (geak_broker_bind (s_broker, binds [i]) != GEAK_OK) {
            exit_code = 1;
            goto done;
        }
        const char *resolved = geak_broker_endpoint (s_broker);
        geak_info ("broker_ready", "endpoint=%s heartbeat_ms=%ld liveness=%ld max_attempts=%ld",
                   resolved, heartbeat_ms, liveness, max_attempts);
        printf ("broker_ready endpoint=%s\n", resolved);
        fflush (stdout);
    }
    free (env_binds);
    env_binds = NULL;
    __atomic_store_n (&s_ready, 1, __ATOMIC_RELAXED);

    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    geak_rc_t rc = geak_broker_run (s_broker);
    geak_broker_stats_t stats;
    geak_broker_stats (s_broker, &stats);
    geak_info ("broker_stopped", "rc=%s requests=%llu replies=%llu malformed=%llu requeued=%llu",
               geak_rc_name (rc), (unsigned long long) stats.requests,
               (unsigned long long) stats.replies, (unsigned long long) stats.malformed,
               (unsigned long long) stats.requeued);
    exit_code = rc == GEAK_OK ? 0 : 1;
done:
    //  the HTTP thread reads the broker: stop it first
    geak_http_destroy (&http);
    geak_broker_destroy (&s_broker);
    geak_prom_destroy (&registry);
    zmq_ctx_term (ctx);
    free (env_binds);
    return exit_code;
}
