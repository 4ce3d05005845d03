/*  geak_role.h - what the LLM role services (generator, reflector,
    optimizer) share besides the service runner: the LLM client, the 1-shot
    corpus, an optional store for prompts and replies (one connection per
    worker thread: geak_store_t is not thread-safe), and packing a RoleReply.

    Role options (after the common ones of geak_service):
      --redis HOST:PORT     keep prompts and replies in Redis (also when
                            GEAK_REDIS_HOST or GEAK_REDIS_PORT is set)
      --tasks DIR           [GEAK_TASKS, default ./tasks] 1-shot corpus root, unless
      --corpus SRC          [GEAK_CORPUS] a task directory or a JSON list of kernels
                            (e.g. TritonBench's train_crawl.json) is the corpus
      --no-llm              do not create an LLM client (non-LLM implementations)
    Without a store the role still works and logs once that prompts are not kept. */
#ifndef GEAK_ROLE_H_INCLUDED
#define GEAK_ROLE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_proto.h"
#include "geak_llm.h"
#include "geak_corpus.h"
#include "geak_store.h"

#define GEAK_ROLE_MAX_THREADS 256

typedef struct geak_role_t geak_role_t;

//  Parse role options (argv [0] is the program), set everything up.
//  NULL with *rc on failure (bad option -> GEAK_E_CONFIG, LLM config, ...).
geak_role_t *geak_role_new (const char *role, const char *implementation, int argc, char **argv,
                            geak_rc_t *rc);
void geak_role_destroy (geak_role_t **self_p);
//  geak_service_def_t.fini hook for a service whose state is a geak_role_t.
void geak_role_fini_hook (void *state);

const char *geak_role_name (const geak_role_t *self);
const char *geak_role_implementation (const geak_role_t *self);
geak_llm_t *geak_role_llm (geak_role_t *self);
const geak_corpus_t *geak_role_corpus (const geak_role_t *self);
//  This thread's store, connected on first use; NULL when no store is
//  configured or it cannot be reached (logged).
geak_store_t *geak_role_store (geak_role_t *self, int thread);

//  One LLM exchange with audit: stores the prompt (JSON, see
//  geak_prompt_record_json) and the raw reply as content blobs when a store
//  is configured, filling prompt_ref / reply_ref ("" when not kept).
//  On GEAK_OK *reply is the first reply text (caller frees). usage is
//  filled (provider/model borrowed from the LLM client) also on failure.
//  On failure *error is a malloc'd sentence.
typedef struct {
    const char *system;
    const char *user;
    const char *task;
    const char *instruction;
    uint32_t sample;
    uint32_t iteration;
    const Geak__GenerateOptions *options;   //  temperature / max_tokens; may be NULL
    //  The request's envelope id (geak_role_answer fills it in); with a store, a
    //  reply is kept under it, and a request re-sent with the same id (a killed
    //  `geak run` resuming after the broker's reply cache forgot it) is answered
    //  from the store without a second LLM call. NULL or "": no memo.
    const char *request_id;
    //  Samples of this prompt may share one n-choice call (GEAK_LLM_SAMPLES
    //  = n > 1, OpenAI): the generator's first step. run_id keys the sharing.
    bool share;
    const char *run_id;
    //  The 1-shot example the prompt carries (a corpus name; NULL: none),
    //  recorded on the Candidate so every attempt says what it was shown.
    const char *example;
} geak_role_ask_t;

geak_rc_t geak_role_ask (geak_role_t *self, int thread, const geak_role_ask_t *ask,
                         char **reply, Geak__LlmUsage *usage,
                         char prompt_ref [GEAK_STORE_REF_SIZE],
                         char reply_ref [GEAK_STORE_REF_SIZE], char **error);

//  The whole answer of an LLM role: ask (geak_role_ask), extract the code,
//  build the Candidate (new attempt id, lineage, usage, prompt/reply refs;
//  with prose_max > 0 the reply's prose, cut to prose_max bytes, becomes the
//  diagnosis), log one `event` line (with `detail` appended, may be NULL)
//  and pack the RoleReply; a reply without code gets error class NO_CODE.
//  Returns what geak_service's handler returns.
geak_rc_t geak_role_answer (geak_role_t *self, int thread, const Geak__Envelope *request,
                            const geak_role_ask_t *ask, Geak__Lineage *lineage,
                            size_t prose_max, const char *event, const char *detail,
                            uint8_t **reply_data, size_t *reply_size, char **error_message);

//  A fresh attempt id (32 hex chars + NUL).
void geak_role_new_attempt_id (char id [33]);

//  Pack a RoleReply envelope answering request (caller frees *data).
geak_rc_t geak_role_pack_reply (const Geak__Envelope *request, const char *sender,
                                Geak__Candidate *candidate, Geak__ErrorClass error_class,
                                const char *error_message, uint8_t **data, size_t *size);

int geak_role_test (bool verbose);

#endif
