/*  geak_scan.c - the GEAK lineage state machine (see geak_scan.h). */
#include "geak_prelude.h"
#include "geak_scan.h"

//  What the fold has accumulated over a prefix of the lineage
typedef struct {
    size_t n;                       //  attempts folded
    uint32_t streak;
    int best;
    uint32_t passes;
} s_acc_t;

const char *
geak_scan_action_name (geak_scan_action_t action)
{
    switch (action) {
        case GEAK_SCAN_GENERATE: return "generate";
        case GEAK_SCAN_REFLECT:  return "reflect";
        case GEAK_SCAN_OPTIMIZE: return "optimize";
        case GEAK_SCAN_EVALUATE: return "evaluate";
        case GEAK_SCAN_DONE:     return "done";
    }
    return "unknown";
}

const char *
geak_scan_why_name (geak_scan_why_t why)
{
    switch (why) {
        case GEAK_SCAN_WHY_FIRST:         return "first";
        case GEAK_SCAN_WHY_FIX:           return "fix";
        case GEAK_SCAN_WHY_FIX_AGAIN:     return "fix_again";
        case GEAK_SCAN_WHY_RESTART:       return "restart";
        case GEAK_SCAN_WHY_NO_REFLECTOR:  return "no_reflector";
        case GEAK_SCAN_WHY_NO_CODE:       return "no_code";
        case GEAK_SCAN_WHY_IMPROVE:       return "improve";
        case GEAK_SCAN_WHY_IMPROVE_AGAIN: return "improve_again";
        case GEAK_SCAN_WHY_PENDING:       return "pending";
        case GEAK_SCAN_WHY_ITERATIONS:    return "iterations";
        case GEAK_SCAN_WHY_SOLVED:        return "solved";
    }
    return "unknown";
}

bool
geak_scan_better (const geak_scan_attempt_t *a, const geak_scan_attempt_t *b)
{
    assert (a && b);
    bool at = a->timed && a->speedup > 0;
    bool bt = b->timed && b->speedup > 0;
    if (at != bt)
        return at;
    if (!at)
        return false;                   //  both untimed: the earlier stays
    if (a->speedup != b->speedup)
        return a->speedup > b->speedup;
    if (a->latency_ms > 0 && b->latency_ms > 0 && a->latency_ms != b->latency_ms)
        return a->latency_ms < b->latency_ms;
    return false;
}

static void
s_set (geak_scan_state_t *state, geak_scan_action_t action, geak_scan_why_t why, int target)
{
    state->action = action;
    state->why = why;
    state->target = target;
}

static int
s_find (const geak_scan_attempt_t *attempts, size_t n, const char *id)
{
    if (!id || !*id)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (attempts [i].id && strcmp (attempts [i].id, id) == 0)
            return (int) i;
    return -1;
}

//  The decision after the evaluated prefix attempts [0 .. acc->n)
static void
s_decide (const geak_scan_options_t *options, const geak_scan_attempt_t *attempts,
          const s_acc_t *acc, geak_scan_state_t *state)
{
    size_t n = acc->n;
    if (!options->optimizer && acc->passes > 0) {
        s_set (state, GEAK_SCAN_DONE, GEAK_SCAN_WHY_SOLVED, -1);
        return;
    }
    if (n >= options->iterations) {
        s_set (state, GEAK_SCAN_DONE, GEAK_SCAN_WHY_ITERATIONS, -1);
        return;
    }
    if (n == 0) {
        s_set (state, GEAK_SCAN_GENERATE, GEAK_SCAN_WHY_FIRST, -1);
        return;
    }
    const geak_scan_attempt_t *last = &attempts [n - 1];
    if (last->exec_ok) {
        s_set (state, GEAK_SCAN_OPTIMIZE, GEAK_SCAN_WHY_IMPROVE, acc->best);
        return;
    }
    if (!last->has_code) {
        if (last->role == GEAK__ROLE__OPTIMIZER && acc->best >= 0) {
            s_set (state, GEAK_SCAN_OPTIMIZE, GEAK_SCAN_WHY_IMPROVE_AGAIN, acc->best);
            return;
        }
        if (last->role == GEAK__ROLE__REFLECTOR && options->reflector) {
            int target = s_find (attempts, n - 1, last->parent);
            if (target >= 0 && attempts [target].has_code && !attempts [target].exec_ok) {
                if (acc->streak >= options->max_debug)
                    s_set (state, GEAK_SCAN_GENERATE, GEAK_SCAN_WHY_RESTART, -1);
                else
                    s_set (state, GEAK_SCAN_REFLECT, GEAK_SCAN_WHY_FIX_AGAIN, target);
                return;
            }
        }
        s_set (state, GEAK_SCAN_GENERATE, GEAK_SCAN_WHY_NO_CODE, -1);
        return;
    }
    if (!options->reflector)
        s_set (state, GEAK_SCAN_GENERATE, GEAK_SCAN_WHY_NO_REFLECTOR, -1);
    else
    if (acc->streak >= options->max_debug)
        s_set (state, GEAK_SCAN_GENERATE, GEAK_SCAN_WHY_RESTART, -1);
    else
        s_set (state, GEAK_SCAN_REFLECT, GEAK_SCAN_WHY_FIX, (int) (n - 1));
}

//  Does attempt a follow from decision d (role and parent)?
static bool
s_follows (const geak_scan_state_t *d, const geak_scan_attempt_t *attempts, size_t i)
{
    const geak_scan_attempt_t *a = &attempts [i];
    Geak__Role want = d->action == GEAK_SCAN_GENERATE ? GEAK__ROLE__GENERATOR
                    : d->action == GEAK_SCAN_REFLECT  ? GEAK__ROLE__REFLECTOR
                    : d->action == GEAK_SCAN_OPTIMIZE ? GEAK__ROLE__OPTIMIZER
                    : GEAK__ROLE__ROLE_UNSPECIFIED;
    if (want == GEAK__ROLE__ROLE_UNSPECIFIED || a->role != want)
        return false;
    //  parents are checked when ids are known
    if (d->target >= 0 && a->parent && attempts [d->target].id)
        return strcmp (a->parent, attempts [d->target].id) == 0;
    if (d->action == GEAK_SCAN_GENERATE && a->parent && *a->parent)
        return false;
    return true;
}

geak_rc_t
geak_scan_fold (const geak_scan_options_t *options, const geak_scan_attempt_t *attempts,
                size_t n, geak_scan_state_t *state)
{
    assert (state);
    memset (state, 0, sizeof *state);
    s_set (state, GEAK_SCAN_DONE, GEAK_SCAN_WHY_ITERATIONS, -1);
    state->best = -1;
    if (!options || options->iterations == 0 || (n > 0 && !attempts))
        return GEAK_E_INVALID;
    if (n > options->iterations)
        return GEAK_E_MALFORMED;
    s_acc_t acc = { .n = 0, .streak = 0, .best = -1, .passes = 0 };
    geak_scan_state_t decision = *state;
    for (size_t i = 0; i < n; i++) {
        const geak_scan_attempt_t *a = &attempts [i];
        if (a->iteration != i)
            return GEAK_E_MALFORMED;
        s_decide (options, attempts, &acc, &decision);
        if (!s_follows (&decision, attempts, i))
            return GEAK_E_MALFORMED;
        if (decision.why == GEAK_SCAN_WHY_RESTART)
            state->restarts++;
        if (!a->evaluated) {
            if (i + 1 != n)
                return GEAK_E_MALFORMED;
            break;
        }
        state->evaluated++;
        state->call_ok |= a->call_ok;
        state->exec_ok |= a->exec_ok;
        if (a->exec_ok) {
            acc.passes++;
            if (acc.best < 0 || geak_scan_better (a, &attempts [acc.best]))
                acc.best = (int) i;
            acc.streak = 0;
        }
        else
            acc.streak = a->role == GEAK__ROLE__REFLECTOR ? acc.streak + 1 : 0;
        acc.n = i + 1;
    }
    state->debug_streak = acc.streak;
    state->best = acc.best;
    state->passes = acc.passes;
    if (n > 0 && !attempts [n - 1].evaluated) {
        s_set (state, GEAK_SCAN_EVALUATE, GEAK_SCAN_WHY_PENDING, (int) (n - 1));
        state->next_iteration = (uint32_t) (n - 1);
        return GEAK_OK;
    }
    s_decide (options, attempts, &acc, state);
    state->next_iteration = (uint32_t) n;
    return GEAK_OK;
}

geak_rc_t
geak_scan_attempt_from_pb (const Geak__Attempt *attempt, geak_scan_attempt_t *out)
{
    assert (out);
    memset (out, 0, sizeof *out);
    if (!attempt || !attempt->candidate || !attempt->candidate->lineage)
        return GEAK_E_INVALID;
    const Geak__Candidate *c = attempt->candidate;
    out->role = c->lineage->role;
    out->iteration = c->lineage->iteration;
    out->id = attempt->attempt_id;
    out->parent = c->lineage->parent_attempt;
    out->has_code = c->code && *c->code;
    const Geak__EvalResult *r = attempt->result;
    out->evaluated = r != NULL;
    if (r) {
        out->call_ok = r->call_ok;
        out->exec_ok = r->exec_ok;
        out->error_class = r->error_class;
        out->timed = r->timed;
        out->speedup = r->speedup;
        out->latency_ms = r->candidate ? r->candidate->median_ms : 0;
        if (r->error_class == GEAK__ERROR_CLASS__NO_CODE)
            out->has_code = false;
    }
    return GEAK_OK;
}

// ------------------------------------------------------------------ selftest

#define G GEAK__ROLE__GENERATOR
#define R GEAK__ROLE__REFLECTOR
#define O GEAK__ROLE__OPTIMIZER

//  Build attempt i of a test lineage: outcome 'p' pass, 'f' fail, 'n' no
//  code, '?' pending; ids "a0", "a1", ... (static storage per index)
static char s_ids [64][8];

static geak_scan_attempt_t
s_att (Geak__Role role, uint32_t iteration, int parent, char outcome, double speedup)
{
    geak_scan_attempt_t a;
    memset (&a, 0, sizeof a);
    a.role = role;
    a.iteration = iteration;
    snprintf (s_ids [iteration], sizeof s_ids [iteration], "a%u", iteration);
    a.id = s_ids [iteration];
    a.parent = parent >= 0 ? s_ids [parent] : "";
    a.evaluated = outcome != '?';
    a.has_code = outcome != 'n';
    a.exec_ok = outcome == 'p';
    a.call_ok = outcome == 'p';
    a.error_class = outcome == 'p' ? GEAK__ERROR_CLASS__PASS
                  : outcome == 'n' ? GEAK__ERROR_CLASS__NO_CODE : GEAK__ERROR_CLASS__MISMATCH;
    a.timed = speedup > 0;
    a.speedup = speedup;
    a.latency_ms = speedup > 0 ? 1.0 / speedup : 0;
    return a;
}

static int
s_expect (const char *what, const geak_scan_options_t *o, const geak_scan_attempt_t *list, size_t n,
          geak_scan_action_t action, int target, uint32_t next, bool verbose)
{
    geak_scan_state_t s;
    geak_rc_t rc = geak_scan_fold (o, list, n, &s);
    bool ok = rc == GEAK_OK && s.action == action && s.target == target && s.next_iteration == next;
    if (!ok || verbose)
        printf ("  scan %-28s rc=%d action=%s why=%s target=%d next=%u streak=%u restarts=%u %s\n",
                what, rc, geak_scan_action_name (s.action), geak_scan_why_name (s.why), s.target,
                s.next_iteration, s.debug_streak, s.restarts, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

//  Drive the machine from scratch with outcomes drawn from a small PRNG,
//  appending what each decision asks for, and check the invariants.
static int
s_simulate (uint32_t seed, const geak_scan_options_t *o)
{
    geak_scan_attempt_t list [64];
    size_t n = 0;
    uint32_t x = seed * 2654435761u + 1;
    int fails = 0;
    for (int step = 0; step < 200; step++) {
        geak_scan_state_t s;
        if (geak_scan_fold (o, list, n, &s) != GEAK_OK)
            return 1;
        if (s.action == GEAK_SCAN_DONE) {
            fails += !(n == o->iterations || (!o->optimizer && s.passes == 1));
            break;
        }
        fails += s.debug_streak > o->max_debug;
        if (s.action == GEAK_SCAN_EVALUATE) {
            x = x * 1103515245u + 12345u;
            int r = (int) ((x >> 16) % 10);
            geak_scan_attempt_t *a = &list [s.target];
            char outcome = a->has_code ? (r < 3 ? 'p' : 'f') : 'n';
            *a = s_att (a->role, a->iteration, s_find (list, n, a->parent), outcome,
                        outcome == 'p' ? 1.0 + r : 0);
            continue;
        }
        fails += s.next_iteration != n;
        fails += (s.action == GEAK_SCAN_REFLECT) != (s.why == GEAK_SCAN_WHY_FIX
                                                    || s.why == GEAK_SCAN_WHY_FIX_AGAIN);
        if (s.action == GEAK_SCAN_OPTIMIZE)
            fails += !(o->optimizer && s.target == s.best && s.best >= 0);
        if (s.action == GEAK_SCAN_REFLECT)
            fails += !(o->reflector && !list [s.target].exec_ok && list [s.target].has_code);
        Geak__Role role = s.action == GEAK_SCAN_GENERATE ? G : s.action == GEAK_SCAN_REFLECT ? R : O;
        x = x * 1103515245u + 12345u;
        bool code = (x >> 16) % 8 != 0;
        list [n] = s_att (role, (uint32_t) n, s.target, '?', 0);
        list [n].has_code = code;
        n++;
        //  resume equivalence: folding the same list again gives the same state
        geak_scan_state_t again;
        fails += geak_scan_fold (o, list, n, &again) != GEAK_OK;
        fails += again.action != GEAK_SCAN_EVALUATE || again.target != (int) n - 1;
    }
    return fails;
}

int
geak_scan_test (bool verbose)
{
    int fails = 0;
    geak_scan_options_t o = { .iterations = 6, .max_debug = 2, .reflector = true, .optimizer = true };
    geak_scan_attempt_t l [16];

    //  iteration 0 generates
    fails += s_expect ("empty", &o, NULL, 0, GEAK_SCAN_GENERATE, -1, 0, verbose);
    //  a failure is reflected, parent = the failing attempt
    l [0] = s_att (G, 0, -1, 'f', 0);
    fails += s_expect ("gen fail", &o, l, 1, GEAK_SCAN_REFLECT, 0, 1, verbose);
    //  a pending attempt is evaluated, not regenerated
    l [1] = s_att (R, 1, 0, '?', 0);
    fails += s_expect ("pending fix", &o, l, 2, GEAK_SCAN_EVALUATE, 1, 1, verbose);
    //  a failed fix is reflected again (parent = the failed fix)
    l [1] = s_att (R, 1, 0, 'f', 0);
    fails += s_expect ("fix fails", &o, l, 2, GEAK_SCAN_REFLECT, 1, 2, verbose);
    //  max_debug (2) failed fixes: the guardrail restarts from the generator
    l [2] = s_att (R, 2, 1, 'f', 0);
    fails += s_expect ("guardrail", &o, l, 3, GEAK_SCAN_GENERATE, -1, 3, verbose);
    {
        geak_scan_state_t s;
        geak_scan_fold (&o, l, 3, &s);
        fails += s.why != GEAK_SCAN_WHY_RESTART || s.debug_streak != 2 || s.restarts != 0;
        l [3] = s_att (G, 3, -1, 'f', 0);
        geak_scan_fold (&o, l, 4, &s);
        fails += s.restarts != 1 || s.debug_streak != 0 || s.action != GEAK_SCAN_REFLECT
              || s.target != 3 || s.best != -1 || s.passes != 0 || s.evaluated != 4;
    }
    //  a fix passes: the optimizer improves the best
    l [4] = s_att (R, 4, 3, 'p', 0);
    fails += s_expect ("fix passes", &o, l, 5, GEAK_SCAN_OPTIMIZE, 4, 5, verbose);
    //  N = 6 attempts: done
    l [5] = s_att (O, 5, 4, 'p', 0);
    fails += s_expect ("iterations", &o, l, 6, GEAK_SCAN_DONE, -1, 6, verbose);
    //  ... but a pending last attempt is still evaluated
    l [5] = s_att (O, 5, 4, '?', 0);
    fails += s_expect ("pending last", &o, l, 6, GEAK_SCAN_EVALUATE, 5, 5, verbose);

    //  optimizer off: done at the first pass
    geak_scan_options_t off = o;
    off.optimizer = false;
    l [0] = s_att (G, 0, -1, 'f', 0);
    l [1] = s_att (R, 1, 0, 'p', 0);
    fails += s_expect ("no optimizer: solved", &off, l, 2, GEAK_SCAN_DONE, -1, 2, verbose);
    {
        geak_scan_state_t s;
        geak_scan_fold (&off, l, 2, &s);
        fails += s.why != GEAK_SCAN_WHY_SOLVED || s.best != 1 || !s.exec_ok;
    }
    //  reflector off: a failure regenerates
    geak_scan_options_t noref = o;
    noref.reflector = false;
    fails += s_expect ("no reflector", &noref, l, 1, GEAK_SCAN_GENERATE, -1, 1, verbose);
    //  the best: faster timed attempt wins, slower does not replace it
    l [0] = s_att (G, 0, -1, 'p', 1.5);
    fails += s_expect ("gen pass", &o, l, 1, GEAK_SCAN_OPTIMIZE, 0, 1, verbose);
    l [1] = s_att (O, 1, 0, 'p', 3.0);
    fails += s_expect ("faster", &o, l, 2, GEAK_SCAN_OPTIMIZE, 1, 2, verbose);
    l [2] = s_att (O, 2, 1, 'p', 2.0);
    fails += s_expect ("slower keeps best", &o, l, 3, GEAK_SCAN_OPTIMIZE, 1, 3, verbose);
    //  a failed optimized attempt is reflected like any failure
    l [3] = s_att (O, 3, 1, 'f', 0);
    fails += s_expect ("optimized fails", &o, l, 4, GEAK_SCAN_REFLECT, 3, 4, verbose);
    //  untimed passes: the earlier stays best
    l [0] = s_att (G, 0, -1, 'p', 0);
    l [1] = s_att (O, 1, 0, 'p', 0);
    fails += s_expect ("untimed best", &o, l, 2, GEAK_SCAN_OPTIMIZE, 0, 2, verbose);
    //  timed beats untimed
    l [2] = s_att (O, 2, 0, 'p', 0.5);
    fails += s_expect ("timed beats untimed", &o, l, 3, GEAK_SCAN_OPTIMIZE, 2, 3, verbose);

    //  replies without code
    l [0] = s_att (G, 0, -1, 'n', 0);
    fails += s_expect ("gen no code", &o, l, 1, GEAK_SCAN_GENERATE, -1, 1, verbose);
    l [0] = s_att (G, 0, -1, 'f', 0);
    l [1] = s_att (R, 1, 0, 'n', 0);
    fails += s_expect ("fix no code", &o, l, 2, GEAK_SCAN_REFLECT, 0, 2, verbose);
    l [2] = s_att (R, 2, 0, 'n', 0);
    fails += s_expect ("fix no code x2 -> restart", &o, l, 3, GEAK_SCAN_GENERATE, -1, 3, verbose);
    l [0] = s_att (G, 0, -1, 'p', 0);
    l [1] = s_att (O, 1, 0, 'n', 0);
    fails += s_expect ("opt no code", &o, l, 2, GEAK_SCAN_OPTIMIZE, 0, 2, verbose);
    //  max_debug 0: never reflects
    geak_scan_options_t md0 = o;
    md0.max_debug = 0;
    l [0] = s_att (G, 0, -1, 'f', 0);
    fails += s_expect ("max_debug 0", &md0, l, 1, GEAK_SCAN_GENERATE, -1, 1, verbose);

    //  lists this machine cannot have produced
    geak_scan_state_t s;
    l [0] = s_att (G, 0, -1, 'f', 0);
    l [1] = s_att (R, 2, 0, 'f', 0);
    fails += geak_scan_fold (&o, l, 2, &s) != GEAK_E_MALFORMED || s.action != GEAK_SCAN_DONE;
    l [0] = s_att (G, 0, -1, '?', 0);
    l [1] = s_att (R, 1, 0, 'f', 0);
    fails += geak_scan_fold (&o, l, 2, &s) != GEAK_E_MALFORMED;
    l [0] = s_att (G, 0, -1, 'f', 0);
    l [1] = s_att (O, 1, 0, 'f', 0);        //  an optimizer after a failure
    fails += geak_scan_fold (&o, l, 2, &s) != GEAK_E_MALFORMED;
    l [1] = s_att (R, 1, -1, 'f', 0);       //  a fix without its parent
    fails += geak_scan_fold (&o, l, 2, &s) != GEAK_E_MALFORMED;
    l [0] = s_att (G, 0, -1, 'p', 0);
    l [1] = s_att (G, 1, -1, 'p', 0);       //  anything after solved (optimizer off)
    fails += geak_scan_fold (&off, l, 2, &s) != GEAK_E_MALFORMED;
    geak_scan_options_t one = o;
    one.iterations = 1;
    fails += geak_scan_fold (&one, l, 2, &s) != GEAK_E_MALFORMED;
    one.iterations = 0;
    fails += geak_scan_fold (&one, l, 0, &s) != GEAK_E_INVALID;
    fails += geak_scan_fold (&o, NULL, 1, &s) != GEAK_E_INVALID;

    //  from the stored form
    Geak__Lineage lin = GEAK__LINEAGE__INIT;
    lin.role = R;
    lin.iteration = 3;
    lin.parent_attempt = "p";
    Geak__Candidate cand = GEAK__CANDIDATE__INIT;
    cand.code = "x = 1";
    cand.lineage = &lin;
    Geak__LatencyStats lat = GEAK__LATENCY_STATS__INIT;
    lat.median_ms = 0.25;
    Geak__EvalResult res = GEAK__EVAL_RESULT__INIT;
    res.exec_ok = res.call_ok = res.timed = true;
    res.speedup = 2;
    res.candidate = &lat;
    Geak__Attempt att = GEAK__ATTEMPT__INIT;
    att.attempt_id = "r.t.0.3";
    att.candidate = &cand;
    geak_scan_attempt_t a;
    fails += geak_scan_attempt_from_pb (&att, &a) != GEAK_OK || a.evaluated || !a.has_code
          || a.iteration != 3 || a.role != R || strcmp (a.parent, "p") || strcmp (a.id, "r.t.0.3");
    att.result = &res;
    fails += geak_scan_attempt_from_pb (&att, &a) != GEAK_OK || !a.evaluated || !a.exec_ok
          || a.latency_ms != 0.25 || a.speedup != 2 || !a.timed;
    res.error_class = GEAK__ERROR_CLASS__NO_CODE;
    fails += geak_scan_attempt_from_pb (&att, &a) != GEAK_OK || a.has_code;
    att.candidate = NULL;
    fails += geak_scan_attempt_from_pb (&att, &a) != GEAK_E_INVALID;

    //  property check over many random lineages and option sets
    for (uint32_t seed = 1; seed <= 400; seed++) {
        geak_scan_options_t r = {
            .iterations = 1 + seed % 9, .max_debug = seed % 4,
            .reflector = (seed / 4) % 2 == 0, .optimizer = (seed / 8) % 2 == 0,
        };
        int f = s_simulate (seed, &r);
        if (f && verbose)
            printf ("  scan simulate seed=%u FAILED (%d)\n", seed, f);
        fails += f;
    }
    for (geak_scan_why_t w = GEAK_SCAN_WHY_FIRST; w <= GEAK_SCAN_WHY_SOLVED; w++)
        fails += strcmp (geak_scan_why_name (w), "unknown") == 0;
    return fails;
}
