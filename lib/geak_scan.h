/*  geak_scan.h - the GEAK lineage state machine (pure: no I/O).

    A lineage is one (run, task, sample): attempts at iterations 0..N-1,
    each produced by a role and then evaluated. Given the run's policy and
    the lineage's attempts in order, geak_scan_fold says what comes next:

      GENERATE            a fresh generation (iteration 0; a failure when the
                          reflector is ablated; the guardrail restart after
                          max_debug consecutive failed fixes; a generator
                          reply without code)
      REFLECT (target)    fix the failing attempt `target` (parent = target)
      OPTIMIZE (target)   a faster version of the lineage's best (= target),
                          after a pass, when the optimizer is on
      EVALUATE (target)   the last attempt is stored without a result
                          (pending): evaluate it, never regenerate it
      DONE                N attempts exist, or (optimizer off) one passed

    GEAK policy, step by step (docs/run.md):
    - a failure is reflected unless the reflector is ablated;
    - a failed fix (a reflector attempt that fails) extends the debug
      streak; a pass, a generator attempt or an optimizer attempt resets
      it; at streak >= max_debug the next step restarts from the generator;
    - a failed optimized attempt is reflected like any failure;
    - a reply without code counts as a failed attempt: the generator's is
      followed by a fresh generation, the reflector's by fixing the same
      target again (and it extends the streak), the optimizer's by
      optimizing the best again;
    - the best is the fastest correct attempt: timed ones beat untimed
      ones, higher speedup (then lower latency) wins, the earlier wins a tie.

    Resume needs no other state: folding the stored attempts gives the same
    decision as the run that stored them. */
#ifndef GEAK_SCAN_H_INCLUDED
#define GEAK_SCAN_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak.pb-c.h"

typedef enum {
    GEAK_SCAN_GENERATE = 0,
    GEAK_SCAN_REFLECT,
    GEAK_SCAN_OPTIMIZE,
    GEAK_SCAN_EVALUATE,
    GEAK_SCAN_DONE
} geak_scan_action_t;

//  Why the action was chosen (logs, tests, progress)
typedef enum {
    GEAK_SCAN_WHY_FIRST = 0,        //  GENERATE at iteration 0
    GEAK_SCAN_WHY_FIX,              //  REFLECT a failure
    GEAK_SCAN_WHY_FIX_AGAIN,        //  REFLECT: the last fix had no code
    GEAK_SCAN_WHY_RESTART,          //  GENERATE: guardrail (max_debug failed fixes)
    GEAK_SCAN_WHY_NO_REFLECTOR,     //  GENERATE: failure with the reflector ablated
    GEAK_SCAN_WHY_NO_CODE,          //  GENERATE: the generator's reply had no code
    GEAK_SCAN_WHY_IMPROVE,          //  OPTIMIZE after a pass
    GEAK_SCAN_WHY_IMPROVE_AGAIN,    //  OPTIMIZE: the last optimizer reply had no code
    GEAK_SCAN_WHY_PENDING,          //  EVALUATE a stored candidate
    GEAK_SCAN_WHY_ITERATIONS,       //  DONE: N attempts exist
    GEAK_SCAN_WHY_SOLVED            //  DONE: passed with the optimizer off
} geak_scan_why_t;

typedef struct {
    uint32_t iterations;            //  N >= 1 attempts per lineage
    uint32_t max_debug;             //  failed fixes before the guardrail restarts
    bool reflector;                 //  false: ablated (regenerate on failure)
    bool optimizer;                 //  false: ablated (DONE at the first pass)
} geak_scan_options_t;

//  What the machine needs of one attempt (borrowed strings).
typedef struct {
    Geak__Role role;                //  GENERATOR, REFLECTOR, OPTIMIZER
    uint32_t iteration;
    const char *id;                 //  may be NULL (parents are then not resolved)
    const char *parent;             //  NULL or "" for a fresh generation
    bool evaluated;                 //  a result is stored (else: pending)
    bool has_code;                  //  false: the role's reply had no code
    bool call_ok;
    bool exec_ok;                   //  a pass
    Geak__ErrorClass error_class;
    bool timed;
    double speedup;                 //  > 0 when timed
    double latency_ms;              //  candidate median, 0 when unknown
} geak_scan_attempt_t;

typedef struct {
    geak_scan_action_t action;
    geak_scan_why_t why;
    int target;                     //  attempt index for REFLECT / OPTIMIZE / EVALUATE, else -1
    uint32_t next_iteration;        //  iteration of the next new attempt (EVALUATE: the pending one's)
    uint32_t debug_streak;          //  consecutive failed fixes at the end of the lineage
    uint32_t restarts;              //  guardrail restarts stored so far
    int best;                       //  index of the best correct attempt, -1 when none
    uint32_t evaluated;             //  attempts with a result
    uint32_t passes;                //  evaluated attempts with exec_ok
    bool call_ok;                   //  some attempt call_ok
    bool exec_ok;                   //  some attempt exec_ok
} geak_scan_state_t;

//  Fold a lineage's attempts (in order, attempts [i].iteration == i) into its
//  state. Returns GEAK_OK; GEAK_E_INVALID for bad options (iterations 0) or
//  NULL attempts with n > 0; GEAK_E_MALFORMED when the list cannot come from
//  this machine (iterations out of order, a pending attempt that is not the
//  last, more than N attempts). state is always written (DONE on error).
geak_rc_t geak_scan_fold (const geak_scan_options_t *options, const geak_scan_attempt_t *attempts,
                          size_t n, geak_scan_state_t *state);

//  true when a is a better correct attempt than b (both must be passes).
bool geak_scan_better (const geak_scan_attempt_t *a, const geak_scan_attempt_t *b);

//  Fill *out from a stored attempt (strings borrowed from attempt).
//  GEAK_E_INVALID when the attempt has no candidate or lineage.
geak_rc_t geak_scan_attempt_from_pb (const Geak__Attempt *attempt, geak_scan_attempt_t *out);

const char *geak_scan_action_name (geak_scan_action_t action);
const char *geak_scan_why_name (geak_scan_why_t why);

int geak_scan_test (bool verbose);

#endif
