/*  geak ping / geak stats - talk to the broker and the services. */
#include "geak_prelude.h"
#include "geak_client.h"
#include "geak_config.h"
#include "geak_log.h"
#include "geak_proto.h"
#include "commands.h"

#include <cjson/cJSON.h>

//  Parse --broker and --timeout-ms; leaves positional args in place.
static int
s_common (int argc, char **argv, const char **endpoint, long *timeout_ms, char ***rest, int *nrest)
{
    *endpoint = geak_config_str ("GEAK_BROKER", GEAK_DEFAULT_BROKER);
    *timeout_ms = 5000;
    *rest = geak_malloc0 (sizeof (char *) * (size_t) (argc + 1));
    *nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--broker") == 0 && i + 1 < argc)
            *endpoint = argv [++i];
        else
        if (strcmp (argv [i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (geak_config_parse_long (argv [++i], 1, 86400000, timeout_ms))
                return -1;
        }
        else
        if (argv [i][0] == '-' && argv [i][1] == '-')
            return -1;
        else
            (*rest) [(*nrest)++] = argv [i];
    }
    return 0;
}

int
geak_cmd_ping (int argc, char **argv)
{
    const char *endpoint;
    long timeout_ms;
    char **services;
    int nservices;
    if (s_common (argc, argv, &endpoint, &timeout_ms, &services, &nservices) || nservices == 0) {
        fprintf (stderr, "usage: geak ping [--broker EP] [--timeout-ms N] SERVICE...\n");
        free (services);
        return 2;
    }
    geak_client_t *client = geak_client_new (NULL, endpoint);
    if (!client) {
        fprintf (stderr, "geak ping: cannot connect to %s\n", endpoint);
        free (services);
        return 1;
    }
    int failures = 0;
    for (int i = 0; i < nservices; i++) {
        Geak__Envelope env;
        geak_proto_envelope_init (&env, NULL, 0, "geak-cli");
        Geak__HealthRequest health = GEAK__HEALTH_REQUEST__INIT;
        health.from = "geak ping";
        env.body_case = GEAK__ENVELOPE__BODY_HEALTH_REQUEST;
        env.health_request = &health;
        uint8_t *data = NULL;
        size_t size = 0;
        geak_reply_t *reply = NULL;
        geak_rc_t rc = geak_proto_pack (&env, &data, &size);
        if (rc == GEAK_OK)
            rc = geak_client_call (client, services [i], NULL, timeout_ms, data, size, &reply);
        free (data);
        Geak__Envelope *answer = NULL;
        if (rc == GEAK_OK)
            answer = geak_proto_unpack (reply->body, reply->size,
                                        GEAK__ENVELOPE__BODY_HEALTH_REPLY, &rc);
        cJSON *line = cJSON_CreateObject ();
        cJSON_AddStringToObject (line, "service", services [i]);
        cJSON_AddBoolToObject (line, "ok", answer != NULL);
        if (answer) {
            Geak__HealthReply *h = answer->health_reply;
            cJSON_AddStringToObject (line, "implementation", h->implementation);
            cJSON_AddStringToObject (line, "worker", h->worker);
            cJSON_AddStringToObject (line, "version", h->version);
            cJSON_AddNumberToObject (line, "uptime_ms", (double) h->uptime_ms);
            cJSON_AddNumberToObject (line, "served", (double) h->served);
            if (h->device) {
                cJSON *device = cJSON_AddObjectToObject (line, "device");
                cJSON_AddStringToObject (device, "vendor", h->device->vendor);
                cJSON_AddStringToObject (device, "name", h->device->name);
                cJSON_AddStringToObject (device, "arch", h->device->arch);
                cJSON_AddBoolToObject (device, "interpreted", h->device->interpreted);
            }
        }
        else {
            cJSON_AddStringToObject (line, "error", geak_rc_name (rc));
            cJSON_AddStringToObject (line, "message",
                                     reply && reply->error ? reply->error : geak_rc_str (rc));
            failures++;
        }
        char *text = cJSON_PrintUnformatted (line);
        if (text)
            printf ("%s\n", text);
        free (text);
        cJSON_Delete (line);
        geak_proto_free (&answer);
        geak_reply_destroy (&reply);
    }
    geak_client_destroy (&client);
    free (services);
    return failures ? 1 : 0;
}

int
geak_cmd_stats (int argc, char **argv)
{
    const char *endpoint;
    long timeout_ms;
    char **rest;
    int nrest;
    if (s_common (argc, argv, &endpoint, &timeout_ms, &rest, &nrest) || nrest) {
        fprintf (stderr, "usage: geak stats [--broker EP] [--timeout-ms N]\n");
        free (rest);
        return 2;
    }
    free (rest);
    geak_client_t *client = geak_client_new (NULL, endpoint);
    if (!client)
        return 1;
    geak_reply_t *reply = NULL;
    geak_rc_t rc = geak_client_call (client, "mmi.stats", NULL, timeout_ms, "", 0, &reply);
    if (rc == GEAK_OK)
        printf ("%.*s\n", (int) reply->size, (const char *) reply->body);
    else
        fprintf (stderr, "geak stats: %s\n", geak_rc_str (rc));
    geak_reply_destroy (&reply);
    geak_client_destroy (&client);
    return rc == GEAK_OK ? 0 : 1;
}

//  geak call SERVICE [--body-file F | --health]: send raw bytes (or a
//  health request) and print what came back as one JSON line. For tests
//  and debugging: lets a person send exactly the bytes they want.
int
geak_cmd_call (int argc, char **argv)
{
    const char *endpoint;
    long timeout_ms;
    char **rest;
    int nrest;
    const char *body_file = NULL;
    //  Pull --body-file out before the common parser sees it
    char **args = geak_malloc0 (sizeof (char *) * (size_t) (argc + 1));
    int nargs = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp (argv [i], "--body-file") == 0 && i + 1 < argc)
            body_file = argv [++i];
        else
            args [nargs++] = argv [i];
    }
    int bad = s_common (nargs, args, &endpoint, &timeout_ms, &rest, &nrest);
    free (args);
    if (bad || nrest != 1 || !body_file) {
        fprintf (stderr, "usage: geak call [--broker EP] [--timeout-ms N] --body-file F SERVICE\n");
        free (rest);
        return 2;
    }
    const char *service = rest [0];
    free (rest);
    FILE *file = fopen (body_file, "rb");
    if (!file) {
        fprintf (stderr, "geak call: cannot open %s: %s\n", body_file, strerror (errno));
        return 1;
    }
    uint8_t *body = geak_malloc0 (GEAK_PROTO_MAX_BYTES);
    size_t size = fread (body, 1, GEAK_PROTO_MAX_BYTES, file);
    fclose (file);
    geak_client_t *client = geak_client_new (NULL, endpoint);
    if (!client) {
        free (body);
        return 1;
    }
    geak_reply_t *reply = NULL;
    geak_rc_t rc = geak_client_call (client, service, NULL, timeout_ms, body, size, &reply);
    free (body);
    cJSON *line = cJSON_CreateObject ();
    cJSON_AddBoolToObject (line, "transport_ok", rc == GEAK_OK);
    if (rc != GEAK_OK) {
        cJSON_AddStringToObject (line, "error", geak_rc_name (rc));
        cJSON_AddStringToObject (line, "message", reply && reply->error ? reply->error : geak_rc_str (rc));
    }
    else {
        geak_rc_t decode_rc;
        Geak__Envelope *answer = geak_proto_unpack (reply->body, reply->size,
                                                    GEAK__ENVELOPE__BODY__NOT_SET, &decode_rc);
        cJSON_AddNumberToObject (line, "size", (double) reply->size);
        if (!answer)
            cJSON_AddStringToObject (line, "decode_error", geak_rc_name (decode_rc));
        else {
            cJSON_AddNumberToObject (line, "body_case", answer->body_case);
            if (answer->body_case == GEAK__ENVELOPE__BODY_ERROR) {
                cJSON_AddStringToObject (line, "error", answer->error->code);
                cJSON_AddStringToObject (line, "message", answer->error->message);
            }
        }
        geak_proto_free (&answer);
    }
    char *text = cJSON_PrintUnformatted (line);
    if (text)
        printf ("%s\n", text);
    free (text);
    cJSON_Delete (line);
    geak_reply_destroy (&reply);
    geak_client_destroy (&client);
    return rc == GEAK_OK ? 0 : 1;
}
