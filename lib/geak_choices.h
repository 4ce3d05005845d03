/*  geak_choices.h - the choices of one n-sample LLM call, shared by the
    requests of its samples (parallel scaling without n separate prompts).

    With GEAK_LLM_SAMPLES=n > 1 and a provider that returns n choices per
    call (OpenAI "n"), samples s of the same prompt are grouped in blocks
    of n (block = s / n). The first request of a block claims it and makes
    one call for n choices; requests for the block's other samples wait for
    that call and take choice s % n. A choice is handed out once; a request
    whose choice is gone (a redo) or whose block failed makes its own call.
    The table is per process (one role service); blocks are forgotten when
    every choice is taken or after GEAK_CHOICES_KEEP_MS. Thread-safe. */
#ifndef GEAK_CHOICES_H_INCLUDED
#define GEAK_CHOICES_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_CHOICES_KEEP_MS    (30 * 60 * 1000)

typedef struct geak_choices_t geak_choices_t;

typedef enum {
    GEAK_CHOICES_TAKEN,         //  *text is the choice (caller frees)
    GEAK_CHOICES_CALL,          //  the caller makes the n-choice call, then fill or fail
    GEAK_CHOICES_ALONE          //  make a call of your own (choice gone, block failed, timeout)
} geak_choices_claim_t;

geak_choices_t *geak_choices_new (void);
void geak_choices_destroy (geak_choices_t **self_p);

//  Claim choice `index` (< n) of the block `key`. A block being called
//  is waited for, at most wait_ms.
geak_choices_claim_t geak_choices_claim (geak_choices_t *self, const char *key, size_t n,
                                         size_t index, int64_t wait_ms, char **text);
//  The call of a block claimed with GEAK_CHOICES_CALL came back with count
//  texts (copied); the caller's own choice `index` is marked taken.
void geak_choices_fill (geak_choices_t *self, const char *key, size_t index,
                        char *const *texts, size_t count);
//  The call failed: waiters make their own calls.
void geak_choices_fail (geak_choices_t *self, const char *key);
//  Blocks held (tests).
size_t geak_choices_size (geak_choices_t *self);

int geak_choices_test (bool verbose);

#endif
