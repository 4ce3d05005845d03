/*  geak-broker - the GMDP/1 broker daemon (docs/transport.md).

    geak-broker [--bind ENDPOINT]... [--heartbeat-ms N] [--liveness N]
                [--max-attempts N] [--cache-entries N] [--cache-ttl-ms N]
                [--io-threads N]

    Environment: GEAK_BROKER_BIND (default GEAK_DEFAULT_BIND, port 5555; several endpoints
    separated by commas), GEAK_BROKER_HEARTBEAT_MS, GEAK_BROKER_LIVENESS,
    GEAK_BROKER_MAX_ATTEMPTS, GEAK_BROKER_IO_THREADS (ZeroMQ I/O threads,
    default 1), GEAK_LOG_LEVEL. Options override them.
    Once every endpoint is bound it prints one line per endpoint on stdout,
    "broker_ready endpoint=tcp://0.0.0.0:5555", and logs the same event.
    SIGINT / SIGTERM stop it cleanly (exit 0). */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_config.h"
#include "geak_broker.h"

#include <signal.h>
#include <zmq.h>

#define MAX_BINDS 16

static geak_broker_t *s_broker = NULL;

static void
s_on_signal (int signum)
{
    GEAK_UNUSED (signum);
    geak_broker_stop (s_broker);
}

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: geak-broker [--bind ENDPOINT]... [--heartbeat-ms N] [--liveness N]\n"
             "                   [--max-attempts N] [--cache-entries N] [--cache-ttl-ms N]\n"
             "                   [--io-threads N]\n"
             "env: GEAK_BROKER_BIND (default %s), GEAK_BROKER_HEARTBEAT_MS,\n"
             "     GEAK_BROKER_LIVENESS, GEAK_BROKER_MAX_ATTEMPTS, GEAK_BROKER_IO_THREADS,\n"
             "     GEAK_LOG_LEVEL\n",
             GEAK_DEFAULT_BIND);
}

static bool
s_int_option (const char *name, const char *text, long min, long max, long *value)
{
    if (!text || geak_config_parse_long (text, min, max, value) != GEAK_OK) {
        fprintf (stderr, "geak-broker: %s needs an integer in [%ld, %ld]\n", name, min, max);
        return false;
    }
    return true;
}

int
main (int argc, char *argv [])
{
    geak_log_init ("broker");
    long heartbeat_ms, liveness, max_attempts, io_threads;
    long cache_entries = GEAK_BROKER_CACHE_ENTRIES, cache_ttl_ms = GEAK_BROKER_CACHE_TTL_MS;
    if (geak_config_int ("GEAK_BROKER_HEARTBEAT_MS", GEAK_BROKER_HEARTBEAT_MS, 1, 3600000, &heartbeat_ms)
    ||  geak_config_int ("GEAK_BROKER_LIVENESS", GEAK_BROKER_LIVENESS, 1, 1000, &liveness)
    ||  geak_config_int ("GEAK_BROKER_MAX_ATTEMPTS", GEAK_BROKER_MAX_ATTEMPTS, 1, 1000, &max_attempts)
    ||  geak_config_int ("GEAK_BROKER_IO_THREADS", 1, 1, 64, &io_threads)) {
        fprintf (stderr, "geak-broker: bad GEAK_BROKER_* environment value\n");
        return 2;
    }
    const char *binds [MAX_BINDS];
    int nbinds = 0;
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
            if (!s_int_option (arg, value, 1, 3600000, &heartbeat_ms))
                return 2;
        }
        else
        if (strcmp (arg, "--liveness") == 0) {
            if (!s_int_option (arg, value, 1, 1000, &liveness))
                return 2;
        }
        else
        if (strcmp (arg, "--max-attempts") == 0) {
            if (!s_int_option (arg, value, 1, 1000, &max_attempts))
                return 2;
        }
        else
        if (strcmp (arg, "--io-threads") == 0) {
            if (!s_int_option (arg, value, 1, 64, &io_threads))
                return 2;
        }
        else
        if (strcmp (arg, "--cache-entries") == 0) {
            if (!s_int_option (arg, value, 0, 10000000, &cache_entries))
                return 2;
        }
        else
        if (strcmp (arg, "--cache-ttl-ms") == 0) {
            if (!s_int_option (arg, value, 0, 86400000, &cache_ttl_ms))
                return 2;
        }
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

    void *ctx = zmq_ctx_new ();
    if (ctx)
        zmq_ctx_set (ctx, ZMQ_IO_THREADS, (int) io_threads);
    s_broker = ctx ? geak_broker_new (ctx) : NULL;
    if (!s_broker) {
        geak_error ("broker_start_failed", "reason=zmq");
        if (ctx)
            zmq_ctx_term (ctx);
        free (env_binds);
        return 1;
    }
    geak_broker_set_heartbeat (s_broker, (int) heartbeat_ms, (int) liveness);
    geak_broker_set_max_attempts (s_broker, (int) max_attempts);
    geak_broker_set_cache (s_broker, (size_t) cache_entries, (int) cache_ttl_ms);
    for (int i = 0; i < nbinds; i++) {
        if (geak_broker_bind (s_broker, binds [i]) != GEAK_OK) {
            geak_broker_destroy (&s_broker);
            zmq_ctx_term (ctx);
            free (env_binds);
            return 1;
        }
        const char *resolved = geak_broker_endpoint (s_broker);
        geak_info ("broker_ready", "endpoint=%s heartbeat_ms=%ld liveness=%ld max_attempts=%ld",
                   resolved, heartbeat_ms, liveness, max_attempts);
        printf ("broker_ready endpoint=%s\n", resolved);
        fflush (stdout);
    }
    free (env_binds);

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
    geak_broker_destroy (&s_broker);
    zmq_ctx_term (ctx);
    return rc == GEAK_OK ? 0 : 1;
}
