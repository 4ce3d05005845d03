/*  geak-generator - the generator role: GenerateRequest -> prompt (task +
    signature + knowledge + 1-shot) -> LLM -> extracted code -> RoleReply
    with a new Candidate (lineage role GENERATOR). A reply without usable
    code answers error_class NO_CODE (the reply is still stored). Transport,
    threads, LLM client and store come from lib/ (geak_service, geak_role). */
#include "geak_service.h"
#include "geak_role.h"
#include "geak_prompt.h"
#include "geak_extract.h"
#include "geak_log.h"

//  The role's policy text
static const char *s_system =
    "You are an expert GPU kernel engineer who writes Triton kernels. Given a task, you write "
    "one complete, self-contained Python module: the imports (torch, triton, triton.language as "
    "tl), one or more @triton.jit kernels, and the Python entry-point function with exactly the "
    "requested name and arguments, which allocates outputs and launches the kernels. The result "
    "must match the PyTorch reference numerically and should be fast. Answer with the module in "
    "a single ```python code block.";

static geak_rc_t
s_init (int argc, char **argv, void **state_p)
{
    geak_rc_t rc;
    *state_p = geak_role_new ("generator", "llm", argc, argv, &rc);
    return *state_p ? GEAK_OK : rc;
}

//  The user message: task, knowledge, 1-shot, closing instruction; *example
//  is the 1-shot example's name (corpus-owned) or NULL. Caller frees.
static char *
s_user_prompt (geak_role_t *role, const Geak__GenerateRequest *req, const char **example)
{
    bool knowledge = req->options && req->options->knowledge;
    bool one_shot = req->options && req->options->one_shot;
    geak_text_t *text = geak_text_new ();
    geak_prompt_add_task (text, req->task);
    if (knowledge) {
        geak_prompt_add_practice (text);
        geak_prompt_add_device (text, req->device);
    }
    const char *shot = one_shot ? geak_prompt_add_one_shot (text, geak_role_corpus (role), req->task)
                                : NULL;
    geak_debug ("prompt_built", "task=%s knowledge=%d one_shot=%d example=%s", req->task->name,
                (int) knowledge, (int) one_shot, shot ? shot : "-");
    *example = shot;
    geak_text_add (text, "## Answer\nWrite the complete module now, in one ```python block. "
                         "Keep the entry-point signature exactly as given.\n");
    return geak_text_take (&text);
}

static geak_rc_t
s_handle (void *state, geak_service_call_t *call, const Geak__Envelope *request,
          uint8_t **reply_data, size_t *reply_size, char **error_message)
{
    geak_role_t *role = (geak_role_t *) state;
    if (request->body_case != GEAK__ENVELOPE__BODY_GENERATE_REQUEST) {
        *error_message = geak_strdup ("the generator takes GenerateRequest only");
        return GEAK_E_UNSUPPORTED;
    }
    const Geak__GenerateRequest *req = request->generate_request;
    if (!req->task || !req->task->name || !*req->task->name) {
        *error_message = geak_strdup ("GenerateRequest needs task.name");
        return GEAK_E_INVALID;
    }
    Geak__Lineage lineage = GEAK__LINEAGE__INIT;
    if (req->lineage)
        lineage = *req->lineage;
    lineage.base.unknown_fields = NULL;
    lineage.base.n_unknown_fields = 0;
    if (!lineage.task || !*lineage.task)
        lineage.task = req->task->name;
    lineage.role = GEAK__ROLE__GENERATOR;
    lineage.implementation = (char *) geak_role_implementation (role);

    const char *example = NULL;
    char *user = s_user_prompt (role, req, &example);
    geak_role_ask_t ask = {
        .system = s_system, .user = user, .task = req->task->name,
        .instruction = req->task->instruction, .sample = lineage.sample,
        .iteration = lineage.iteration, .options = req->options,
        .share = lineage.iteration == 0, .run_id = lineage.run_id, .example = example,
    };
    geak_rc_t rc = geak_role_answer (role, geak_service_call_thread (call), request, &ask, &lineage,
                                     0, "generated", NULL, reply_data, reply_size, error_message);
    free (user);
    return rc;
}

int
main (int argc, char *argv [])
{
    const geak_service_def_t def = {
        .role = "generator", .service = GEAK_SERVICE_GENERATOR, .implementation = "llm",
        .init = s_init, .handle = s_handle, .fini = geak_role_fini_hook,
    };
    return geak_service_main (&def, argc, argv);
}
