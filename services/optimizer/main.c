/*  geak-optimizer - the optimizer role, with two implementations behind the
    one service name geak.optimizer (selected with --impl / GEAK_IMPL):

      llm           (default) task + correct attempts sorted slowest ->
                    fastest with latency and speedup + device facts -> LLM
                    -> faster code
      param-search  no LLM: the next untried launch-parameter variant of the
                    best correct kernel (param_search.h)

    Either way the reply is a RoleReply with a new Candidate whose
    Lineage.implementation names the implementation that produced it. */
#include "geak_service.h"
#include "geak_role.h"
#include "geak_prompt.h"
#include "geak_extract.h"
#include "geak_log.h"
#include "param_search.h"

#define HISTORY_MAX   8             //  attempts shown: the fastest ones
#define HISTORY_CODE  (12 * 1024)

static const char *s_impl = "llm";

static const char *s_system =
    "You are an expert GPU kernel engineer who makes correct Triton kernels faster. You are "
    "shown a task, the target device, and correct versions measured so far, ordered from "
    "slowest to fastest with their latency and speedup over the PyTorch reference. Study what "
    "made the faster versions faster, then write a version faster than the fastest one (better "
    "tiling, memory access, fusion, autotuning, num_warps / num_stages) that keeps exactly the "
    "same results and entry-point signature. Briefly say what you changed, then give the "
    "complete module in a single ```python block.";

static geak_rc_t
s_init (int argc, char **argv, void **state_p)
{
    geak_rc_t rc;
    bool llm = strcmp (s_impl, "llm") == 0;
    if (!llm && strcmp (s_impl, "param-search") != 0) {
        fprintf (stderr, "geak-optimizer: --impl must be llm or param-search, not %s\n", s_impl);
        return GEAK_E_CONFIG;
    }
    //  param-search needs no LLM client: pass --no-llm to the role runtime
    char **args = geak_malloc0 (sizeof (char *) * (size_t) (argc + 2));
    for (int i = 0; i < argc; i++)
        args [i] = argv [i];
    if (!llm)
        args [argc++] = "--no-llm";
    *state_p = geak_role_new ("optimizer", s_impl, argc, args, &rc);
    free (args);
    return *state_p ? GEAK_OK : rc;
}

//  Slowest first: higher latency first; unknown latency (0) by lower speedup
static int
s_slowest_first (const void *a, const void *b)
{
    const Geak__HistoryEntry *x = *(Geak__HistoryEntry *const *) a;
    const Geak__HistoryEntry *y = *(Geak__HistoryEntry *const *) b;
    if (x->latency_ms > 0 && y->latency_ms > 0 && x->latency_ms != y->latency_ms)
        return x->latency_ms > y->latency_ms ? -1 : 1;
    if (x->speedup != y->speedup)
        return x->speedup < y->speedup ? -1 : 1;
    return x->iteration < y->iteration ? -1 : x->iteration > y->iteration;
}

//  History sorted slowest -> fastest (a borrowed-pointer array; caller frees the array)
static Geak__HistoryEntry **
s_sorted_history (const Geak__OptimizeRequest *req)
{
    Geak__HistoryEntry **list = geak_malloc0 (sizeof (*list) * (req->n_history + 1));
    size_t n = 0;
    for (size_t i = 0; i < req->n_history; i++)
        if (req->history [i])
            list [n++] = req->history [i];
    //  a stable order for equal keys: qsort after tagging by position is enough here
    qsort (list, n, sizeof *list, s_slowest_first);
    return list;
}

static char *
s_user_prompt (const Geak__OptimizeRequest *req)
{
    geak_text_t *text = geak_text_new ();
    geak_prompt_add_task (text, req->task);
    geak_prompt_add_device (text, req->device);
    if (req->options && req->options->knowledge)
        geak_prompt_add_practice (text);
    Geak__HistoryEntry **list = s_sorted_history (req);
    size_t n = 0;
    while (list [n])
        n++;
    size_t first = n > HISTORY_MAX ? n - HISTORY_MAX : 0;
    geak_text_add (text, "## Correct versions so far, slowest to fastest\n");
    if (first)
        geak_text_addf (text, "(%zu slower versions omitted)\n", first);
    for (size_t i = first; i < n; i++) {
        const Geak__HistoryEntry *h = list [i];
        geak_text_addf (text, "### Version %zu of %zu: latency %.4f ms, speedup %.3fx "
                        "(iteration %u, attempt %s)\n", i - first + 1, n - first, h->latency_ms,
                        h->speedup, h->iteration, h->attempt_id ? h->attempt_id : "");
        geak_prompt_add_code_capped (text, h->code, HISTORY_CODE);
    }
    if (n == 0)
        geak_text_add (text, "(no timed versions yet)\n");
    bool best_shown = false;
    for (size_t i = 0; i < n && req->best && req->best->attempt_id; i++)
        if (list [i]->attempt_id && strcmp (list [i]->attempt_id, req->best->attempt_id) == 0
        &&  i >= first)
            best_shown = true;
    free (list);
    if (req->best && req->best->code && !best_shown) {
        geak_text_addf (text, "\n## Current best (attempt %s)\n",
                        req->best->attempt_id ? req->best->attempt_id : "");
        geak_prompt_add_code (text, req->best->code);
    }
    geak_text_add (text, "\n## Answer\nSay briefly what you change and why it is faster on this "
                         "device, then give the complete module in one ```python block.\n");
    return geak_text_take (&text);
}

//  The new attempt's lineage: the request's if given, else the best's with
//  iteration + 1; parent = the best attempt.
static void
s_lineage (const Geak__OptimizeRequest *req, Geak__Lineage *lineage)
{
    Geak__Lineage init = GEAK__LINEAGE__INIT;
    *lineage = init;
    if (req->lineage)
        *lineage = *req->lineage;
    else
    if (req->best->lineage) {
        *lineage = *req->best->lineage;
        lineage->iteration++;
    }
    lineage->base.unknown_fields = NULL;
    lineage->base.n_unknown_fields = 0;
    if (!lineage->task || !*lineage->task)
        lineage->task = req->task->name;
    if ((!lineage->parent_attempt || !*lineage->parent_attempt) && req->best->attempt_id)
        lineage->parent_attempt = req->best->attempt_id;
    lineage->role = GEAK__ROLE__OPTIMIZER;
    lineage->implementation = (char *) s_impl;
}

static geak_rc_t
s_check (const Geak__Envelope *request, char **error_message)
{
    if (request->body_case != GEAK__ENVELOPE__BODY_OPTIMIZE_REQUEST) {
        *error_message = geak_strdup ("the optimizer takes OptimizeRequest only");
        return GEAK_E_UNSUPPORTED;
    }
    const Geak__OptimizeRequest *req = request->optimize_request;
    if (!req->task || !req->task->name || !*req->task->name || !req->best || !req->best->code
    ||  !*req->best->code) {
        *error_message = geak_strdup ("OptimizeRequest needs task.name and best.code");
        return GEAK_E_INVALID;
    }
    return GEAK_OK;
}

static geak_rc_t
s_handle_llm (void *state, geak_service_call_t *call, const Geak__Envelope *request,
              uint8_t **reply_data, size_t *reply_size, char **error_message)
{
    geak_role_t *role = (geak_role_t *) state;
    geak_rc_t rc = s_check (request, error_message);
    if (rc != GEAK_OK)
        return rc;
    const Geak__OptimizeRequest *req = request->optimize_request;
    Geak__Lineage lineage;
    s_lineage (req, &lineage);
    char *user = s_user_prompt (req);
    geak_role_ask_t ask = {
        .system = s_system, .user = user, .task = req->task->name,
        .instruction = req->task->instruction, .sample = lineage.sample,
        .iteration = lineage.iteration, .options = req->options,
    };
    char detail [64];
    snprintf (detail, sizeof detail, "history=%zu", req->n_history);
    rc = geak_role_answer (role, geak_service_call_thread (call), request, &ask, &lineage,
                           4000, "optimized", detail, reply_data, reply_size, error_message);
    free (user);
    return rc;
}

static geak_rc_t
s_handle_param (void *state, geak_service_call_t *call, const Geak__Envelope *request,
                uint8_t **reply_data, size_t *reply_size, char **error_message)
{
    GEAK_UNUSED (state);
    GEAK_UNUSED (call);
    geak_rc_t rc = s_check (request, error_message);
    if (rc != GEAK_OK)
        return rc;
    const Geak__OptimizeRequest *req = request->optimize_request;
    const char **tried = geak_malloc0 (sizeof (char *) * (req->n_history + 1));
    size_t ntried = 0;
    tried [ntried++] = req->best->code;
    for (size_t i = 0; i < req->n_history; i++)
        if (req->history [i] && req->history [i]->code)
            tried [ntried++] = req->history [i]->code;
    char *what = NULL;
    char *code = param_search_next (req->best->code, tried, ntried, &what);
    free (tried);
    Geak__Lineage lineage;
    s_lineage (req, &lineage);
    char attempt_id [33];
    geak_role_new_attempt_id (attempt_id);
    Geak__Candidate candidate = GEAK__CANDIDATE__INIT;
    candidate.attempt_id = attempt_id;
    candidate.code = code ? code : "";
    candidate.lineage = &lineage;
    char *diagnosis = NULL;
    if (asprintf (&diagnosis, "param-search: %s", what ? what : "?") < 0)
        diagnosis = NULL;
    candidate.diagnosis = diagnosis ? diagnosis : "";
    geak_info ("optimized", "task=%s impl=param-search iteration=%u parent=%s attempt=%s "
               "history=%zu move=\"%s\"", req->task->name, lineage.iteration,
               lineage.parent_attempt, attempt_id, req->n_history, what ? what : "?");
    rc = geak_role_pack_reply (request, "optimizer", &candidate,
                               code ? GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED
                                    : GEAK__ERROR_CLASS__NO_CODE,
                               code ? NULL : (what ? what : "param-search has nothing to propose"),
                               reply_data, reply_size);
    free (diagnosis);
    free (what);
    free (code);
    return rc;
}

int
main (int argc, char *argv [])
{
    //  The implementation must be known before the runner starts: the same
    //  --impl / GEAK_IMPL the runner uses for its label picks the handler.
    s_impl = getenv ("GEAK_IMPL") && *getenv ("GEAK_IMPL") ? getenv ("GEAK_IMPL") : "llm";
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp (argv [i], "--impl") == 0)
            s_impl = argv [i + 1];
    if (argc >= 2 && strcmp (argv [1], "--selftest") == 0) {
        //  the role's own unit checks (tests/run.py runs them; -v prints what was tried)
        geak_selftest_failures = 0;
        int failed = param_search_selftest (argc > 2 && strcmp (argv [2], "-v") == 0)
                   + geak_selftest_failures != 0;
        printf ("optimizer selftest (param_search): %s\n%d passed, %d failed\n", failed ? "FAILED" : "ok",
                1 - failed, failed);
        return failed;
    }
    bool param = strcmp (s_impl, "param-search") == 0;
    const geak_service_def_t def = {
        .role = "optimizer", .service = GEAK_SERVICE_OPTIMIZER, .implementation = "llm",
        .init = s_init, .handle = param ? s_handle_param : s_handle_llm, .fini = geak_role_fini_hook,
    };
    return geak_service_main (&def, argc, argv);
}
