/*  harness_proc.h - supervise one Python fork server (services/evaluator/
    harness) over two pipes carrying JSON lines (see docs/evaluator.md).

    One harness_proc_t is used by one thread: the evaluator gives every
    worker thread its own fork server, so requests on one pipe pair are
    strictly sequential and need no locking; responses are still matched
    by id and stale ones (from a request we gave up on) are dropped.

    The fork server runs in its own process group with PR_SET_PDEATHSIG, so
    it dies with the evaluator; it is started lazily, checked with ping,
    and restarted (killpg SIGKILL + reap) whenever it dies, hangs or sends
    something that is not the protocol. */
#ifndef GEAK_EVALUATOR_HARNESS_PROC_H_INCLUDED
#define GEAK_EVALUATOR_HARNESS_PROC_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_sandbox.h"
#include <cjson/cJSON.h>

typedef struct {
    const char *python;          //  interpreter (searched in PATH when no '/')
    const char *harness_dir;     //  directory holding the harness package
    int device_index;            //  --device-index for the harness, -1: none
    const char *visible_var;     //  e.g. "CUDA_VISIBLE_DEVICES", NULL: leave env
    const char *visible_value;   //  its value
    bool interpret;              //  TRITON_INTERPRET=1
    const char *cache_dir;       //  --cache-dir, NULL: none
    int start_timeout_ms;        //  how long the first pong may take
} harness_opts_t;

typedef struct harness_proc_t harness_proc_t;

//  Copies opts. Does not start anything yet.
harness_proc_t *harness_proc_new (const harness_opts_t *opts);
//  Sends quit, waits briefly, then kills the group and reaps. Safe twice.
void harness_proc_destroy (harness_proc_t **self_p);

//  Start (if not running) and wait for pong. GEAK_OK, or GEAK_E_IO (cannot
//  start), GEAK_E_TIMEOUT (no pong), GEAK_E_PROTOCOL (garbage).
geak_rc_t harness_proc_ensure (harness_proc_t *self);
//  Kill and forget the fork server (the next ensure starts a new one).
void harness_proc_stop (harness_proc_t *self);
bool harness_proc_running (const harness_proc_t *self);
pid_t harness_proc_pid (const harness_proc_t *self);
//  The "device" object of the last pong (borrowed; NULL if none).
const cJSON *harness_proc_device (const harness_proc_t *self);
//  How many fork servers this proc has started.
uint64_t harness_proc_starts (const harness_proc_t *self);

typedef enum {
    HARNESS_EVAL_RESULT = 0,     //  *result_p holds the "result" object
    HARNESS_EVAL_TIMEOUT,        //  we killed the candidate's group at the deadline
    HARNESS_EVAL_BROKEN          //  fork server died, hung or spoke garbage: restarted
} harness_eval_outcome_t;

//  Run one eval request. request is the full {"op":"eval",...} object; its
//  "id" is set here. The sandbox is armed with deadline_ms; on "started" its
//  pgid is recorded; past the deadline the group is killed. why (malloc'd,
//  caller frees) explains TIMEOUT / BROKEN.
harness_eval_outcome_t harness_proc_eval (harness_proc_t *self, cJSON *request,
                                          geak_sandbox_t *sandbox, uint32_t deadline_ms,
                                          cJSON **result_p, char **why);

//  Send one request with no events (selfcheck) and wait for the one reply
//  object carrying the same id. GEAK_OK with *reply_p, or an error (the fork
//  server is restarted on garbage or timeout).
geak_rc_t harness_proc_call (harness_proc_t *self, cJSON *request, int timeout_ms,
                             cJSON **reply_p);

#endif
