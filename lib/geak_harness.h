/*  geak_harness.h - drive one Python fork server (services/evaluator/harness)
    over two pipes carrying JSON lines (protocol: docs/evaluator.md).

    The fork server runs in its own process group with PR_SET_PDEATHSIG, so
    it dies with us; its request pipe is fd 3 and its reply pipe fd 4, its
    stdout is joined to our stderr, no other fd is inherited. It is started
    lazily, checked with ping (the pong's "device" object is kept), and
    restarted (killpg SIGKILL + reap) whenever it dies, hangs or sends
    something that is not the protocol. The candidate seccomp filter
    (geak_seccomp) travels to it on fd 5 (--seccomp-fd 5), so every
    fork server sandboxes its candidates with the policy compiled here.

    One geak_harness_t is used by one thread. Two ways to talk to it:
    - blocking: geak_harness_eval (an eval request with its events, under a
      sandbox deadline) and geak_harness_call (one request, one reply);
    - non-blocking, to drive several at once: geak_harness_send, then poll
      geak_harness_reply_fd and geak_harness_take_reply until the reply
      carrying that id arrives.
    Requests on one fork server are strictly sequential; replies are matched
    by id and stale ones (from a request we gave up on) are dropped. */
#ifndef GEAK_HARNESS_H_INCLUDED
#define GEAK_HARNESS_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_sandbox.h"
#include <sys/types.h>
#include <cjson/cJSON.h>

typedef struct {
    const char *python;          //  interpreter (searched in PATH when no '/'); NULL: python3
    const char *harness_dir;     //  directory holding the harness package (required)
    int device_index;            //  --device-index for the harness, -1: none
    const char *visible_var;     //  e.g. "CUDA_VISIBLE_DEVICES", NULL: leave env
    const char *visible_value;   //  its value
    bool interpret;              //  set TRITON_INTERPRET=1
    bool clear_interpret;        //  when !interpret: also drop an inherited TRITON_INTERPRET
    const char *cache_dir;       //  --cache-dir, NULL: none
    int sandbox_uid;             //  --sandbox-uid: the uid candidates run as (root only), <= 0: harness default
    bool require_isolation;      //  --require-isolation: refuse to evaluate without every layer
    int start_timeout_ms;        //  how long the first pong may take, 0: 120000
    int quit_timeout_ms;         //  how long destroy waits after quit, 0: 2000
} geak_harness_opts_t;

typedef struct geak_harness_t geak_harness_t;

//  Copies opts. Does not start anything yet. NULL without a harness_dir.
geak_harness_t *geak_harness_new (const geak_harness_opts_t *opts);
//  Sends quit, waits up to quit_timeout_ms, then kills the group and reaps. Safe twice.
void geak_harness_destroy (geak_harness_t **self_p);

//  Start (if not running) and wait for pong. GEAK_OK, or GEAK_E_IO (cannot
//  start), GEAK_E_TIMEOUT (no pong), GEAK_E_PROTOCOL (garbage),
//  GEAK_E_WORKER_LOST (it exited before answering).
geak_rc_t geak_harness_ensure (geak_harness_t *self);
//  The harness protocol's time budget, in one place. Every request carries
//  "timeout_s" and "grace_s" (geak_harness_request_timeout): the harness
//  bounds each evaluation at timeout + grace (its backstop) and a self-check
//  runs two of them; callers wait with the budgets below.
#define GEAK_HARNESS_GRACE_MS 20000
//  Put "timeout_s" (run_ms) and "grace_s" (GEAK_HARNESS_GRACE_MS) into a request.
void geak_harness_request_timeout (cJSON *request, int64_t run_ms);
//  How long to wait for the answer to a request whose evaluations are each
//  bounded by run_ms: `runs` of them (1 for an eval, 2 for a self-check),
//  each with the harness's grace, plus slack_ms (a restart, the transport).
int64_t geak_harness_budget_ms (int64_t run_ms, int runs, int64_t slack_ms);
//  The inverse: the longest run_ms whose budget fits in budget_ms (may be <= 0).
int64_t geak_harness_run_ms_within (int64_t budget_ms, int runs, int64_t slack_ms);

//  Start it (if not running) without waiting: the fork server imports torch
//  and probes its device while the caller starts others; the next ensure
//  (or send) waits for its pong. GEAK_OK or GEAK_E_IO.
geak_rc_t geak_harness_start (geak_harness_t *self);
//  Kill and forget the fork server (the next ensure starts a new one).
void geak_harness_stop (geak_harness_t *self);
bool geak_harness_running (const geak_harness_t *self);
pid_t geak_harness_pid (const geak_harness_t *self);
//  The "device" object of the last pong (borrowed; NULL if none).
const cJSON *geak_harness_device (const geak_harness_t *self);
//  The "isolation" object of the last pong (borrowed; NULL if none):
//  {layers, missing, notes, starts} or {error, missing} (docs/security.md).
const cJSON *geak_harness_isolation (const geak_harness_t *self);
//  The missing isolation layers of the last pong, comma-separated into buf;
//  returns how many (0: every layer active, or no pong yet).
size_t geak_harness_isolation_missing (const geak_harness_t *self, char *buf, size_t size);
//  How many fork servers this driver has started.
uint64_t geak_harness_starts (const geak_harness_t *self);

typedef enum {
    GEAK_HARNESS_EVAL_RESULT = 0,    //  *result_p holds the "result" object
    GEAK_HARNESS_EVAL_TIMEOUT,       //  we killed the candidate's group at the deadline
    GEAK_HARNESS_EVAL_BROKEN         //  fork server died, hung or spoke garbage: restarted
} geak_harness_outcome_t;

//  Run one eval request. request is the full {"op":"eval",...} object; its
//  "id" is set here. The sandbox is armed with deadline_ms; on "started" its
//  pgid is recorded; past the deadline the group is killed. *result_p
//  (caller owns) on RESULT; why (malloc'd, caller frees) explains TIMEOUT / BROKEN.
geak_harness_outcome_t geak_harness_eval (geak_harness_t *self, cJSON *request,
                                          geak_sandbox_t *sandbox, uint32_t deadline_ms,
                                          cJSON **result_p, char **why);

//  Send one request with no events (selfcheck) and wait for the one reply
//  object carrying the same id. GEAK_OK with *reply_p (caller owns), or an
//  error (the fork server is stopped on garbage, death or timeout).
geak_rc_t geak_harness_call (geak_harness_t *self, cJSON *request, int timeout_ms,
                             cJSON **reply_p);

//  Non-blocking use. send: start if needed (that part blocks, up to the
//  start timeout), set request's "id", write it; *id_p gets the id. On an
//  error the fork server is stopped.
geak_rc_t geak_harness_send (geak_harness_t *self, cJSON *request, uint64_t *id_p);
//  The fd to poll for POLLIN while a reply is awaited; -1 when not running.
int geak_harness_reply_fd (const geak_harness_t *self);
//  Read what is there without blocking. GEAK_OK with *reply_p (caller owns)
//  once the reply carrying id is complete, GEAK_OK with *reply_p NULL when
//  it is not there yet; GEAK_E_WORKER_LOST (EOF), GEAK_E_PROTOCOL (a line
//  that is not a JSON object), GEAK_E_MALFORMED (a line too long) or
//  GEAK_E_IO, after which the fork server is stopped.
geak_rc_t geak_harness_take_reply (geak_harness_t *self, uint64_t id, cJSON **reply_p);

//  The directory to put on PYTHONPATH (it holds the harness package), as a
//  malloc'd real path, or NULL. given (the package's parent or the package
//  itself) wins; without it, services/evaluator under the cwd, then under
//  the source tree of this executable (up to five levels above it).
char *geak_harness_find_dir (const char *given);

int geak_harness_test (bool verbose);

#endif
