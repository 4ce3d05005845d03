/*  testclient - a GMDP/1 client for cross-process tests.

    testclient [--endpoint E] [--service S] [-n N] [--window W]
               [--deadline-ms D] [--retry-ms R] [--prefix P] [--body B]
               [--repeat]
        Sends N requests with ids "<P>-<i>" (default P is random), one at a
        time (W = 1, geak_client_call) or W in flight (geak_client_send /
        recv). Prints one JSON line per final reply:
          {"request_id":..,"status":"ok"|"error","code":..,"worker":..,"error":..}
        ("worker" is the text after the last '|' of the body, which is what
        testworker appends), then one summary line:
          {"summary":true,"ok":N,"errors":N,"codes":{..},"workers":{..},
           "reconnects":N,"elapsed_ms":N}
        --repeat sends every id a second time after all replies (to read
        cached answers). Exit status 0 once it ran, 2 on bad usage.

    testclient [--endpoint E] --stats
        Prints the broker's mmi.stats JSON on one line.
    testclient [--endpoint E] --mmi-service NAME
        Prints the mmi.service answer (200 or 404).
    testclient [--endpoint E] --garbage client|worker|raw [--count K]
        Sends K malformed messages of many shapes from a raw DEALER. */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_config.h"
#include "geak_msg.h"
#include "geak_mdp.h"
#include "geak_client.h"

#include <cjson/cJSON.h>
#include <zmq.h>

typedef struct {
    cJSON *codes;
    cJSON *workers;
    int ok;
    int errors;
} s_tally_t;

static void
s_bump (cJSON *object, const char *key)
{
    cJSON *item = cJSON_GetObjectItem (object, key);
    if (item)
        cJSON_SetNumberValue (item, item->valuedouble + 1);
    else
        cJSON_AddNumberToObject (object, key, 1);
}

static void
s_report (s_tally_t *tally, const geak_reply_t *reply)
{
    cJSON *line = cJSON_CreateObject ();
    cJSON_AddStringToObject (line, "request_id", reply->request_id);
    cJSON_AddStringToObject (line, "status", reply->rc == GEAK_OK ? "ok" : "error");
    cJSON_AddStringToObject (line, "code", geak_rc_name (reply->rc));
    if (reply->rc == GEAK_OK) {
        tally->ok++;
        const char *body = (const char *) reply->body;
        const char *bar = body ? strrchr (body, '|') : NULL;
        cJSON_AddStringToObject (line, "worker", bar ? bar + 1 : "");
        if (bar)
            s_bump (tally->workers, bar + 1);
    }
    else {
        tally->errors++;
        cJSON_AddStringToObject (line, "error", reply->error ? reply->error : "");
        s_bump (tally->codes, geak_rc_name (reply->rc));
    }
    char *text = cJSON_PrintUnformatted (line);
    printf ("%s\n", text);
    fflush (stdout);
    free (text);
    cJSON_Delete (line);
}

static int
s_run (geak_client_t *client, const char *service, long n, long window, long deadline_ms,
       const char *prefix, const char *body, s_tally_t *tally)
{
    char id [160];
    if (window <= 1) {
        for (long i = 0; i < n; i++) {
            snprintf (id, sizeof id, "%s-%ld", prefix, i);
            geak_reply_t *reply = NULL;
            geak_rc_t rc = geak_client_call (client, service, id, deadline_ms, body, strlen (body), &reply);
            if (!reply) {
                fprintf (stderr, "testclient: call failed: %s\n", geak_rc_name (rc));
                return 1;
            }
            s_report (tally, reply);
            geak_reply_destroy (&reply);
        }
        return 0;
    }
    long sent = 0, done = 0;
    while (done < n) {
        while (sent < n && (long) geak_client_pending (client) < window) {
            snprintf (id, sizeof id, "%s-%ld", prefix, sent);
            geak_rc_t rc = geak_client_send (client, service, id, deadline_ms, body, strlen (body), NULL);
            if (rc != GEAK_OK) {
                fprintf (stderr, "testclient: send failed: %s\n", geak_rc_name (rc));
                return 1;
            }
            sent++;
        }
        geak_reply_t *reply = NULL;
        geak_rc_t rc = geak_client_recv (client, &reply, -1);
        if (rc != GEAK_OK) {
            fprintf (stderr, "testclient: recv failed: %s\n", geak_rc_name (rc));
            return 1;
        }
        if (!reply->partial) {
            s_report (tally, reply);
            done++;
        }
        geak_reply_destroy (&reply);
    }
    return 0;
}

//  Malformed messages of many shapes. kind: "client", "worker" or "raw".
static int
s_garbage (const char *endpoint, const char *kind, long count)
{
    void *ctx = zmq_ctx_new ();
    void *socket = zmq_socket (ctx, ZMQ_DEALER);
    int linger = 2000;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (socket, endpoint) != 0) {
        fprintf (stderr, "testclient: cannot connect to %s\n", endpoint);
        zmq_close (socket);
        zmq_ctx_term (ctx);
        return 1;
    }
    const char *header = strcmp (kind, "worker") == 0 ? GEAK_MDP_WORKER
                       : strcmp (kind, "client") == 0 ? GEAK_MDP_CLIENT : NULL;
    for (long i = 0; i < count; i++) {
        geak_msg_t *msg = geak_msg_new ();
        int shape = (int) (i % 6);
        if (!header) {
            //  raw junk: no delimiter, random-ish frames
            for (int f = 0; f <= shape; f++)
                geak_msg_addf (msg, "junk-%ld-%d\xff", i, f);
        }
        else {
            geak_msg_addmem (msg, NULL, 0);
            geak_msg_addstr (msg, header);
            bool worker = header [4] == 'W';
            switch (shape) {
                case 0:     //  unknown command
                    geak_msg_addmem (msg, "\x7f", 1);
                    break;
                case 1:     //  command frame too long
                    geak_msg_addstr (msg, "\x01\x01");
                    geak_msg_addstr (msg, "svc");
                    break;
                case 2:     //  too few frames
                    geak_msg_addmem (msg, worker ? "\x04" : "\x01", 1);
                    geak_msg_addstr (msg, "svc");
                    break;
                case 3:     //  bad characters in a name / id
                    geak_msg_addmem (msg, "\x01", 1);
                    geak_msg_addstr (msg, "bad service name");
                    if (!worker) {
                        geak_msg_addstr (msg, "rid");
                        geak_msg_addstr (msg, "0");
                        geak_msg_addstr (msg, "");
                    }
                    else
                        geak_msg_addstr (msg, "impl");
                    break;
                case 4:     //  bad number / too many frames
                    geak_msg_addmem (msg, worker ? "\x05" : "\x01", 1);
                    geak_msg_addstr (msg, "svc");
                    geak_msg_addstr (msg, "rid");
                    geak_msg_addstr (msg, "-12x");
                    geak_msg_addstr (msg, "");
                    break;
                default:    //  the other side's command set
                    geak_msg_addmem (msg, worker ? "\x02" : "\x03", 1);
                    break;
            }
        }
        if (geak_msg_send (&msg, socket, 0) != GEAK_OK) {
            fprintf (stderr, "testclient: send failed\n");
            break;
        }
    }
    zmq_close (socket);         //  linger delivers what is queued
    zmq_ctx_term (ctx);
    printf ("{\"garbage\":\"%s\",\"sent\":%ld}\n", kind, count);
    fflush (stdout);
    return 0;
}

static bool
s_long (const char *name, const char *text, long min, long max, long *value)
{
    if (!text || geak_config_parse_long (text, min, max, value) != GEAK_OK) {
        fprintf (stderr, "testclient: %s needs an integer in [%ld, %ld]\n", name, min, max);
        return false;
    }
    return true;
}

int
main (int argc, char *argv [])
{
    geak_log_init ("testclient");
    const char *endpoint = geak_config_str ("GEAK_BROKER", "tcp://127.0.0.1:5555");
    const char *service = "test.echo";
    const char *prefix = NULL;
    const char *body = "payload";
    const char *garbage = NULL;
    const char *mmi_service = NULL;
    bool stats = false, repeat = false;
    long n = 1, window = 1, deadline_ms = 10000, retry_ms = GEAK_CLIENT_RETRY_MS, count = 10;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool ok = true;
        if (strcmp (arg, "--stats") == 0) {
            stats = true;
            continue;
        }
        if (strcmp (arg, "--repeat") == 0) {
            repeat = true;
            continue;
        }
        const char *value = i + 1 < argc ? argv [++i] : NULL;
        if (!value) ok = false;
        else if (strcmp (arg, "--endpoint") == 0)   endpoint = value;
        else if (strcmp (arg, "--service") == 0)    service = value;
        else if (strcmp (arg, "--prefix") == 0)     prefix = value;
        else if (strcmp (arg, "--body") == 0)       body = value;
        else if (strcmp (arg, "--garbage") == 0)    garbage = value;
        else if (strcmp (arg, "--mmi-service") == 0) mmi_service = value;
        else if (strcmp (arg, "-n") == 0)           ok = s_long (arg, value, 0, 100000000, &n);
        else if (strcmp (arg, "--window") == 0)     ok = s_long (arg, value, 1, 100000, &window);
        else if (strcmp (arg, "--deadline-ms") == 0) ok = s_long (arg, value, 0, 86400000, &deadline_ms);
        else if (strcmp (arg, "--retry-ms") == 0)   ok = s_long (arg, value, 1, 3600000, &retry_ms);
        else if (strcmp (arg, "--count") == 0)      ok = s_long (arg, value, 1, 1000000, &count);
        else ok = false;
        if (!ok) {
            fprintf (stderr, "usage: see the comment at the top of tests/c/testclient.c\n");
            return 2;
        }
    }
    if (garbage) {
        if (strcmp (garbage, "client") && strcmp (garbage, "worker") && strcmp (garbage, "raw")) {
            fprintf (stderr, "testclient: --garbage client|worker|raw\n");
            return 2;
        }
        return s_garbage (endpoint, garbage, count);
    }
    geak_client_t *client = geak_client_new (NULL, endpoint);
    if (!client) {
        fprintf (stderr, "testclient: cannot connect to %s\n", endpoint);
        return 1;
    }
    geak_client_set_retry (client, (int) retry_ms);
    int rc = 0;
    if (stats || mmi_service) {
        geak_reply_t *reply = NULL;
        geak_rc_t grc = stats
            ? geak_client_call (client, "mmi.stats", NULL, deadline_ms, NULL, 0, &reply)
            : geak_client_call (client, "mmi.service", NULL, deadline_ms, mmi_service,
                                strlen (mmi_service), &reply);
        if (grc == GEAK_OK)
            printf ("%s\n", (char *) reply->body);
        else {
            printf ("{\"error\":\"%s\"}\n", geak_rc_name (grc));
            rc = 1;
        }
        fflush (stdout);
        geak_reply_destroy (&reply);
        geak_client_destroy (&client);
        return rc;
    }
    char random_prefix [17];
    if (!prefix) {
        geak_random_hex (random_prefix, 16);
        prefix = random_prefix;
    }
    s_tally_t tally = { cJSON_CreateObject (), cJSON_CreateObject (), 0, 0 };
    int64_t started = geak_clock_mono_ms ();
    rc = s_run (client, service, n, window, deadline_ms, prefix, body, &tally);
    if (rc == 0 && repeat)
        rc = s_run (client, service, n, window, deadline_ms, prefix, body, &tally);
    cJSON *summary = cJSON_CreateObject ();
    cJSON_AddBoolToObject (summary, "summary", true);
    cJSON_AddNumberToObject (summary, "ok", tally.ok);
    cJSON_AddNumberToObject (summary, "errors", tally.errors);
    cJSON_AddItemToObject (summary, "codes", tally.codes);
    cJSON_AddItemToObject (summary, "workers", tally.workers);
    cJSON_AddNumberToObject (summary, "reconnects", (double) geak_client_reconnects (client));
    cJSON_AddNumberToObject (summary, "elapsed_ms", (double) (geak_clock_mono_ms () - started));
    char *text = cJSON_PrintUnformatted (summary);
    printf ("%s\n", text);
    fflush (stdout);
    free (text);
    cJSON_Delete (summary);
    geak_client_destroy (&client);
    return rc;
}
