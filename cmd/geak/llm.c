/*  geak llm - the LLM endpoint as the roles will see it (docs/llm.md).

    geak llm check [--llm SPEC]      reach the endpoint, find the model
    geak llm request [--llm SPEC] [--system TEXT] [--user TEXT]
                                     the request that would go on the wire
                                     (key redacted), sending nothing
    The configuration is the GEAK_LLM_* environment, with --llm SPEC
    (replay:FILE, openai:MODEL[@URL], anthropic:MODEL[@URL]) on top.

    llm_preflight is what `geak run` calls before a scan. */
#include "geak_prelude.h"
#include "geak_llm.h"
#include "geak_config.h"
#include "geak_log.h"
#include "commands.h"
#include "llm.h"
#include "standalone.h"

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: geak llm check [--llm SPEC]\n"
                  "       geak llm request [--llm SPEC] [--system TEXT] [--user TEXT]\n"
                  "The LLM configuration is GEAK_LLM_* (docs/llm.md); --llm replay:FILE | "
                  "openai:MODEL[@URL] | anthropic:MODEL[@URL] sets provider, model and URL.\n"
                  "check: reach the endpoint and find the model (exit 0 ok, 1 refused or unreachable).\n"
                  "request: print the request the roles would send, key redacted; nothing is sent.\n");
}

//  Put the --llm spec's variables into this process's environment
static geak_rc_t
s_apply (char **env)
{
    for (size_t i = 0; env && env [i]; i++) {
        char *eq = strchr (env [i], '=');
        if (!eq)
            continue;
        char *name = geak_strdupf ("%.*s", (int) (eq - env [i]), env [i]);
        int rc = setenv (name, eq + 1, 1);
        free (name);
        if (rc != 0)
            return GEAK_E_NOMEM;
    }
    return GEAK_OK;
}

static geak_llm_t *
s_client (const char *tool, char **env)
{
    if (s_apply (env) != GEAK_OK)
        return NULL;
    geak_llm_config_t config;
    char *error = NULL;
    geak_rc_t rc = geak_llm_config_from_env (&config, &error);
    geak_llm_t *llm = NULL;
    if (rc == GEAK_OK)
        llm = geak_llm_new (&config, &rc);
    if (!llm)
        fprintf (stderr, "%s: the LLM configuration is not usable: %s\n", tool,
                 error ? error : geak_rc_str (rc));
    free (error);
    geak_llm_config_clear (&config);
    return llm;
}

int
llm_preflight (const char *tool, char **env, bool required)
{
    bool configured = (env && env [0]) || geak_config_str ("GEAK_LLM_PROVIDER", NULL)
                   || geak_config_str ("GEAK_LLM_MODEL", NULL);
    //  this process prints what the roles answer: their errors must not carry the key
    geak_rc_t krc;
    char *key = geak_config_secret ("GEAK_LLM_API_KEY", &krc);
    if (key) {
        geak_log_add_secret (key);
        memset (key, 0, strlen (key));
        free (key);
    }
    if (!configured && !required) {
        geak_info ("llm_check_skipped", "note=\"no GEAK_LLM_* here: the role services hold the "
                   "LLM configuration\"");
        return 0;
    }
    geak_llm_t *llm = s_client (tool, env);
    if (!llm)
        return 1;
    char *report = NULL, *error = NULL;
    geak_rc_t rc = geak_llm_check (llm, &report, &error);
    if (rc != GEAK_OK)
        fprintf (stderr, "%s: LLM endpoint check failed (%s): %s\n", tool, geak_rc_name (rc),
                 error ? error : geak_rc_str (rc));
    free (report);
    free (error);
    geak_llm_destroy (&llm);
    return rc == GEAK_OK ? 0 : 1;
}

int
geak_cmd_llm (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *what = argv [1];
    const char *spec = NULL, *system = "You write Triton kernels.",
               *user = "Write a Triton kernel that adds two vectors.";
    for (int i = 2; i < argc; i++) {
        const char *val = i + 1 < argc ? argv [i + 1] : NULL;
        if (strcmp (argv [i], "--llm") == 0 && val)
            spec = argv [++i];
        else
        if (strcmp (argv [i], "--system") == 0 && val)
            system = argv [++i];
        else
        if (strcmp (argv [i], "--user") == 0 && val)
            user = argv [++i];
        else {
            fprintf (stderr, "geak llm: unknown or incomplete option '%s'\n", argv [i]);
            s_usage (stderr);
            return 2;
        }
    }
    if (strcmp (what, "check") != 0 && strcmp (what, "request") != 0) {
        fprintf (stderr, "geak llm: unknown subcommand '%s'\n", what);
        s_usage (stderr);
        return 2;
    }
    char **env = NULL;
    if (spec && standalone_llm_env (spec, &env) != GEAK_OK) {
        fprintf (stderr, "geak llm: --llm %s: expected replay:FILE, openai:MODEL[@URL], "
                         "anthropic:MODEL[@URL] or env\n", spec);
        return 2;
    }
    int status;
    if (strcmp (what, "check") == 0) {
        geak_llm_t *llm = s_client ("geak llm", env);
        status = 1;
        if (llm) {
            char *report = NULL, *error = NULL;
            geak_rc_t rc = geak_llm_check (llm, &report, &error);
            if (rc == GEAK_OK)
                printf ("ok: %s\n", report);
            else
                fprintf (stderr, "geak llm check: %s: %s\n", geak_rc_name (rc), error ? error : "?");
            status = rc == GEAK_OK ? 0 : 1;
            free (report);
            free (error);
            geak_llm_destroy (&llm);
        }
    }
    else {
        geak_llm_t *llm = s_client ("geak llm", env);
        status = 1;
        if (llm) {
            geak_llm_request_t request = { .system = system, .user = user, .temperature = -1 };
            char *text = geak_llm_describe_request (llm, &request);
            fputs (text, stdout);
            free (text);
            geak_llm_destroy (&llm);
            status = 0;
        }
    }
    standalone_env_free (&env);
    return status;
}
