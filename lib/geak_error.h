/*  geak_error.h - the one error enum of libgeak, with human strings (after
    curl's CURLcode). Every fallible libgeak call returns geak_rc_t or NULL
    plus a geak_rc_t out-parameter. */
#ifndef GEAK_ERROR_H_INCLUDED
#define GEAK_ERROR_H_INCLUDED

typedef enum {
    GEAK_OK = 0,
    GEAK_E_INVALID,          //  bad argument from the caller
    GEAK_E_NOMEM,            //  allocation failed
    GEAK_E_MALFORMED,        //  bytes from the wire failed validation
    GEAK_E_PROTOCOL,         //  well-formed but wrong protocol / version
    GEAK_E_TIMEOUT,          //  deadline passed before an answer
    GEAK_E_NO_SERVICE,       //  no worker has ever registered that service
    GEAK_E_WORKER_LOST,      //  worker died mid-request, retries exhausted
    GEAK_E_DEADLINE,         //  request deadline expired in the broker queue
    GEAK_E_TRANSPORT,        //  ZeroMQ call failed
    GEAK_E_STORE,            //  Redis replied with an error
    GEAK_E_STORE_CONN,       //  Redis connection lost and not restored
    GEAK_E_NOT_FOUND,        //  key / record does not exist
    GEAK_E_EXISTS,           //  record already exists (idempotent no-op)
    GEAK_E_IO,               //  file or pipe I/O failed
    GEAK_E_CONFIG,           //  configuration value missing or invalid
    GEAK_E_INTERRUPTED,      //  interrupted by a signal / shutdown
    GEAK_E_REMOTE,           //  the remote worker answered with an error
    GEAK_E_UNSUPPORTED,      //  feature not available here (no GPU, ...)
    GEAK_E_LLM,              //  LLM provider failed
    GEAK_E_BUDGET,           //  run budget exhausted
    GEAK_E_LLM_REFUSED,      //  LLM endpoint refused the request; retrying cannot help
    GEAK_E_FENCED,           //  another driver holds the run (a newer lease)
    GEAK_E_LOST,             //  the store lost data this driver wrote
    GEAK_E_BUSY,             //  the broker's queue is full: retry later
    GEAK_E_INTERNAL,         //  our bug
    GEAK_E__COUNT
} geak_rc_t;

//  Stable short name, e.g. "worker_lost" (used on the wire and in logs).
const char *geak_rc_name (geak_rc_t rc);
//  Human sentence, e.g. "worker died mid-request and retries are exhausted".
const char *geak_rc_str (geak_rc_t rc);
//  Parse a short name back; returns GEAK_E_INTERNAL when unknown.
geak_rc_t geak_rc_from_name (const char *name);

int geak_error_test (bool verbose);

#endif
