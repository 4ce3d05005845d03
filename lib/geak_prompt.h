/*  geak_prompt.h - prompt parts shared by the LLM roles. The roles' own
    instructions (policy text) live in services/<role>/; this class supplies
    the parts every role uses, each switchable for ablations:

      task section       name, instruction, entry-point signature
      knowledge          Triton practice + the target device's real facts
                         (GenerateOptions.knowledge)
      1-shot example     the most similar reference kernel of another task,
                         by BM25 over <GEAK_TASKS>/<name>/reference.py
                         (GenerateOptions.one_shot)
      history            earlier attempts (reflector: oldest first;
                         optimizer: slowest -> fastest) */
#ifndef GEAK_PROMPT_H_INCLUDED
#define GEAK_PROMPT_H_INCLUDED

#include "geak_prelude.h"
#include "geak_proto.h"
#include "geak_text.h"
#include "geak_corpus.h"

//  Cap for any one code block copied into a prompt (bytes).
#define GEAK_PROMPT_CODE_MAX (48 * 1024)
//  Cap for a trace / error message copied into a prompt (bytes).
#define GEAK_PROMPT_TRACE_MAX (6 * 1024)

//  "## Task" section: name, category, instruction and signature.
void geak_prompt_add_task (geak_text_t *text, const Geak__TaskRef *task);
//  "## Triton practice" (fixed text).
void geak_prompt_add_practice (geak_text_t *text);
//  "## Target device" from the facts (nothing when device is NULL).
void geak_prompt_add_device (geak_text_t *text, const Geak__DeviceFacts *device);
//  "## Example" with the best-matching reference kernel of another task;
//  returns the example's task name (borrowed from corpus) or NULL if none.
const char *geak_prompt_add_one_shot (geak_text_t *text, const geak_corpus_t *corpus,
                                      const Geak__TaskRef *task);
//  Append text cut to max bytes (on a line / UTF-8 boundary), with a note
//  saying how much was cut.
void geak_prompt_add_capped (geak_text_t *text, const char *s, size_t max);
//  Code in a ```python fence, capped at GEAK_PROMPT_CODE_MAX.
void geak_prompt_add_code (geak_text_t *text, const char *code);
//  Same with another cap.
void geak_prompt_add_code_capped (geak_text_t *text, const char *code, size_t max);

//  The prompt as stored in Redis for audit/replay: a JSON object
//  {"role","task","sample","iteration","provider","model","system","user"}
//  (malloc'd; NULL on allocation failure). Never holds the API key.
char *geak_prompt_record_json (const char *role, const char *task, uint32_t sample,
                               uint32_t iteration, const char *provider, const char *model,
                               const char *system, const char *user);

int geak_prompt_test (bool verbose);

#endif
