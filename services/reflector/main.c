/*  geak-reflector - the reflector role: ReflectRequest (task, failing code,
    error class, trimmed trace or mismatch details, the lineage's earlier
    attempts) -> LLM -> diagnosis + fixed code -> RoleReply with a new
    Candidate (lineage role REFLECTOR, parent = the failing attempt,
    iteration + 1, Candidate.diagnosis set). */
#include "geak_service.h"
#include "geak_role.h"
#include "geak_prompt.h"
#include "geak_extract.h"
#include "geak_log.h"

#define DIAGNOSIS_MAX   4000
#define HISTORY_MAX     6           //  earlier attempts shown (the most recent ones)
#define HISTORY_CODE    (8 * 1024)  //  cap per earlier attempt's code

static const char *s_system =
    "You are an expert GPU kernel engineer who debugs Triton kernels. You are shown a Triton "
    "module that failed its evaluation, the error class and the evidence (traceback or numeric "
    "mismatch), and earlier attempts of the same lineage. First explain the root cause in a few "
    "sentences, starting with 'Diagnosis:'. Then give the complete corrected module (imports, "
    "kernels and the entry-point function with the same signature) in a single ```python block.";

static geak_rc_t
s_init (int argc, char **argv, void **state_p)
{
    geak_rc_t rc;
    *state_p = geak_role_new ("reflector", "llm", argc, argv, &rc);
    return *state_p ? GEAK_OK : rc;
}

static void
s_add_evidence (geak_text_t *text, const Geak__EvalResult *result)
{
    geak_text_add (text, "## What went wrong\n");
    if (!result) {
        geak_text_add (text, "(no evaluation result was given)\n\n");
        return;
    }
    geak_text_addf (text, "Error class: %s\n", geak_proto_class_name (result->error_class));
    geak_text_addf (text, "It %s and %s.\n", result->call_ok ? "ran" : "did not run",
                    result->exec_ok ? "matched the reference" : "did not match the reference");
    if (result->error_message && *result->error_message) {
        geak_text_add (text, "Message: ");
        geak_prompt_add_capped (text, result->error_message, GEAK_PROMPT_TRACE_MAX);
        geak_text_add (text, "\n");
    }
    if (result->trace && *result->trace) {
        geak_text_add (text, "Traceback (trimmed):\n```\n");
        geak_prompt_add_capped (text, result->trace, GEAK_PROMPT_TRACE_MAX);
        geak_text_add (text, "\n```\n");
    }
    size_t shown = 0;
    for (size_t i = 0; i < result->n_verdicts && shown < 8; i++) {
        const Geak__InputVerdict *v = result->verdicts [i];
        if (!v || v->ok)
            continue;
        if (shown++ == 0)
            geak_text_add (text, "Inputs that failed:\n");
        geak_text_addf (text, "- input %u (%s): %s, max_abs_err=%g max_rel_err=%g%s%.300s\n",
                        v->index, v->label ? v->label : "", geak_proto_class_name (v->error_class),
                        v->max_abs_err, v->max_rel_err, v->message && *v->message ? ": " : "",
                        v->message ? v->message : "");
    }
    geak_text_add (text, "\n");
}

static char *
s_user_prompt (const Geak__ReflectRequest *req)
{
    geak_text_t *text = geak_text_new ();
    geak_prompt_add_task (text, req->task);
    if (req->options && req->options->knowledge) {
        geak_prompt_add_practice (text);
        geak_prompt_add_device (text, req->result ? req->result->device : NULL);
    }
    size_t first = req->n_lineage_history > HISTORY_MAX ? req->n_lineage_history - HISTORY_MAX : 0;
    if (req->n_lineage_history > 0) {
        geak_text_add (text, "## Earlier attempts of this lineage (oldest first)\n");
        if (first)
            geak_text_addf (text, "(%zu older attempts omitted)\n", first);
        for (size_t i = first; i < req->n_lineage_history; i++) {
            const Geak__HistoryEntry *h = req->lineage_history [i];
            geak_text_addf (text, "### Iteration %u (attempt %s): %s\n", h->iteration,
                            h->attempt_id ? h->attempt_id : "", geak_proto_class_name (h->error_class));
            if (h->error_message && *h->error_message) {
                geak_prompt_add_capped (text, h->error_message, 600);
                geak_text_add (text, "\n");
            }
            if (h->code && *h->code) {
                geak_prompt_add_code_capped (text, h->code, HISTORY_CODE);
            }
        }
        geak_text_add (text, "\n");
    }
    geak_text_addf (text, "## The failing attempt (attempt %s, iteration %u)\n",
                    req->failing->attempt_id ? req->failing->attempt_id : "",
                    req->failing->lineage ? req->failing->lineage->iteration : 0);
    geak_prompt_add_code (text, req->failing->code);
    geak_text_add (text, "\n");
    s_add_evidence (text, req->result);
    geak_text_add (text, "## Answer\nStart with 'Diagnosis:' and the root cause, then the complete "
                         "corrected module in one ```python block.\n");
    return geak_text_take (&text);
}

static geak_rc_t
s_handle (void *state, geak_service_call_t *call, const Geak__Envelope *request,
          uint8_t **reply_data, size_t *reply_size, char **error_message)
{
    geak_role_t *role = (geak_role_t *) state;
    if (request->body_case != GEAK__ENVELOPE__BODY_REFLECT_REQUEST) {
        *error_message = geak_strdup ("the reflector takes ReflectRequest only");
        return GEAK_E_UNSUPPORTED;
    }
    const Geak__ReflectRequest *req = request->reflect_request;
    if (!req->task || !req->task->name || !*req->task->name || !req->failing
    ||  !req->failing->code || !*req->failing->code) {
        *error_message = geak_strdup ("ReflectRequest needs task.name and failing.code");
        return GEAK_E_INVALID;
    }
    Geak__Lineage lineage = GEAK__LINEAGE__INIT;
    if (req->failing->lineage)
        lineage = *req->failing->lineage;
    lineage.base.unknown_fields = NULL;
    lineage.base.n_unknown_fields = 0;
    if (!lineage.task || !*lineage.task)
        lineage.task = req->task->name;
    lineage.iteration++;
    lineage.parent_attempt = req->failing->attempt_id ? req->failing->attempt_id : "";
    lineage.role = GEAK__ROLE__REFLECTOR;
    lineage.implementation = (char *) geak_role_implementation (role);

    char *user = s_user_prompt (req);
    geak_role_ask_t ask = {
        .system = s_system, .user = user, .task = req->task->name,
        .instruction = req->task->instruction, .sample = lineage.sample,
        .iteration = lineage.iteration, .options = req->options,
    };
    char detail [96];
    snprintf (detail, sizeof detail, "error_class=%s",
              geak_proto_class_name (req->result ? req->result->error_class : 0));
    geak_rc_t rc = geak_role_answer (role, geak_service_call_thread (call), request, &ask, &lineage,
                                     DIAGNOSIS_MAX, "reflected", detail, reply_data, reply_size,
                                     error_message);
    free (user);
    return rc;
}

int
main (int argc, char *argv [])
{
    const geak_service_def_t def = {
        .role = "reflector", .service = GEAK_SERVICE_REFLECTOR, .implementation = "llm",
        .init = s_init, .handle = s_handle, .fini = geak_role_fini_hook,
    };
    return geak_service_main (&def, argc, argv);
}
