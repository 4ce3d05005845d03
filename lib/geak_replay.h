/*  geak_replay.h - recorded LLM replies served from a JSONL file, so a scan
    can be re-run without spending tokens.

    Two line formats are accepted (other lines are skipped, counted, logged):
      ours:        {"role":"generator","task":"softmax","sample":0,
                    "iteration":0,"reply":"...raw reply text..."}
      TritonBench: {"instruction":"...","predict":"..."} (optionally with
                   "task" or "file"); keyed by task name when one is given,
                   else by the exact instruction text.

    Choice (deterministic): among the lines for the task (and the role, when
    the line names one), the line with the same sample and iteration if
    there is one, else line number (sample + iteration) modulo their count:
    asking again cycles through the recorded replies. */
#ifndef GEAK_REPLAY_H_INCLUDED
#define GEAK_REPLAY_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

typedef struct geak_replay_t geak_replay_t;

//  Load a JSONL file. NULL with *rc = GEAK_E_IO (unreadable) or
//  GEAK_E_MALFORMED (no usable line).
geak_replay_t *geak_replay_load (const char *path, geak_rc_t *rc);
//  Same from text in memory (tests, fuzzing); text need not be NUL-terminated.
geak_replay_t *geak_replay_parse (const char *text, size_t size, geak_rc_t *rc);
void geak_replay_destroy (geak_replay_t **self_p);

size_t geak_replay_size (const geak_replay_t *self);

//  The recorded reply (borrowed, valid while self lives) or NULL when no
//  line matches the task. role / instruction may be NULL.
const char *geak_replay_find (const geak_replay_t *self, const char *role, const char *task,
                              const char *instruction, uint32_t sample, uint32_t iteration);

int geak_replay_test (bool verbose);

#endif
