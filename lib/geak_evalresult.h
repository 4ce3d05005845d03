/*  geak_evalresult.h - EvalResult messages built from the harness protocol (the evaluator answers
    with them; geak tasks check reads self-checks with the same strict rules).

    Every EvalResult made here is owned by the caller and built only from
    malloc'd parts, so geak_evalresult_destroy (protobuf-c's free_unpacked with
    the default allocator) frees all of it. Strings are never borrowed. */
#ifndef GEAK_EVALRESULT_H_INCLUDED
#define GEAK_EVALRESULT_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_proto.h"
#include "geak_gpu.h"
#include <cjson/cJSON.h>

//  A result of one class with a message (NULL: none) and nothing else.
Geak__EvalResult *geak_evalresult_new (Geak__ErrorClass cls, const char *message);
void geak_evalresult_destroy (Geak__EvalResult **self_p);

//  Convert the harness's "result" object, strictly: a field of the wrong
//  type, an unknown error class, a negative count is an error. Absent
//  optional fields (and JSON null) keep their defaults. Returns the result,
//  or NULL with *why set to a malloc'd explanation (caller frees).
Geak__EvalResult *geak_evalresult_from_json (const cJSON *json, char **why);

//  Convert the "result" object of a selfcheck answer, strictly: "status"
//  "ok" | "broken" | "flaky" (required), "reason" (string), "error_class"
//  (required, known, never harness_error: our faults are not answers),
//  "call_ok" / "exec_ok" (booleans describing the reference); "ok" if and
//  only if the class is pass. The result has task_status, task_status_reason
//  and error_message (= the reason) set. NULL with *why on any violation.
Geak__EvalResult *geak_evalresult_from_selfcheck_json (const cJSON *json, char **why);

//  Replace string field *field with a malloc'd copy of value.
void geak_evalresult_set_string (char **field, const char *value);

//  Device facts: our probe first; fields it left empty are taken from the
//  harness's device object (may be NULL) when that has the right type.
void geak_evalresult_set_device (Geak__EvalResult *self, const geak_gpu_info_t *info,
                             const cJSON *harness_device);

int geak_evalresult_test (bool verbose);

#endif
