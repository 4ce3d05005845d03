/*  geak_error.c - names and human strings for geak_rc_t. */
#include "geak_prelude.h"
#include "geak_error.h"

static const struct {
    const char *name;
    const char *text;
} s_errors [GEAK_E__COUNT] = {
    [GEAK_OK]            = { "ok",            "no error" },
    [GEAK_E_INVALID]     = { "invalid",       "invalid argument" },
    [GEAK_E_NOMEM]       = { "nomem",         "out of memory" },
    [GEAK_E_MALFORMED]   = { "malformed",     "malformed message" },
    [GEAK_E_PROTOCOL]    = { "protocol",      "protocol or version mismatch" },
    [GEAK_E_TIMEOUT]     = { "timeout",       "timed out waiting for a reply" },
    [GEAK_E_NO_SERVICE]  = { "no_service",    "no worker serves that service" },
    [GEAK_E_WORKER_LOST] = { "worker_lost",   "worker died mid-request and retries are exhausted" },
    [GEAK_E_DEADLINE]    = { "deadline",      "request deadline expired before a worker took it" },
    [GEAK_E_TRANSPORT]   = { "transport",     "ZeroMQ transport error" },
    [GEAK_E_STORE]       = { "store",         "Redis returned an error" },
    [GEAK_E_STORE_CONN]  = { "store_conn",    "Redis connection lost and could not be restored" },
    [GEAK_E_NOT_FOUND]   = { "not_found",     "not found" },
    [GEAK_E_EXISTS]      = { "exists",        "already exists" },
    [GEAK_E_IO]          = { "io",            "input/output error" },
    [GEAK_E_CONFIG]      = { "config",        "configuration error" },
    [GEAK_E_INTERRUPTED] = { "interrupted",   "interrupted" },
    [GEAK_E_REMOTE]      = { "remote",        "the worker answered with an error" },
    [GEAK_E_UNSUPPORTED] = { "unsupported",   "not supported here" },
    [GEAK_E_LLM]         = { "llm",           "LLM provider error" },
    [GEAK_E_BUDGET]      = { "budget",        "run budget exhausted" },
    [GEAK_E_LLM_REFUSED] = { "llm_refused",   "LLM endpoint refused the request (retrying cannot help)" },
    [GEAK_E_FENCED]      = { "fenced",        "another driver holds the run" },
    [GEAK_E_LOST]        = { "store_lost",    "the store lost data this process wrote" },
    [GEAK_E_BUSY]        = { "busy",          "the broker's queue is full; retry later" },
    [GEAK_E_INTERNAL]    = { "internal",      "internal error" },
};

const char *
geak_rc_name (geak_rc_t rc)
{
    if ((int) rc < 0 || rc >= GEAK_E__COUNT)
        return "unknown";
    return s_errors [rc].name;
}

const char *
geak_rc_str (geak_rc_t rc)
{
    if ((int) rc < 0 || rc >= GEAK_E__COUNT)
        return "unknown error";
    return s_errors [rc].text;
}

geak_rc_t
geak_rc_from_name (const char *name)
{
    if (!name)
        return GEAK_E_INTERNAL;
    for (int i = 0; i < GEAK_E__COUNT; i++)
        if (strcmp (s_errors [i].name, name) == 0)
            return (geak_rc_t) i;
    return GEAK_E_INTERNAL;
}

int
geak_error_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    for (int i = 0; i < GEAK_E__COUNT; i++) {
        if (!s_errors [i].name || !s_errors [i].text)
            return -1;
        if (geak_rc_from_name (geak_rc_name ((geak_rc_t) i)) != (geak_rc_t) i)
            return -1;
    }
    if (strcmp (geak_rc_name ((geak_rc_t) 999), "unknown") != 0)
        return -1;
    return 0;
}
