/*  geak_text.h - a growing text buffer for prompts (append, printf, take).
    Allocation failure aborts (like geak_strdup): prompts are small. */
#ifndef GEAK_TEXT_H_INCLUDED
#define GEAK_TEXT_H_INCLUDED

#include "geak_prelude.h"

typedef struct geak_text_t geak_text_t;

geak_text_t *geak_text_new (void);
void geak_text_destroy (geak_text_t **self_p);
//  Append a string (NULL appends nothing) / at most n bytes of it.
void geak_text_add (geak_text_t *self, const char *s);
void geak_text_addn (geak_text_t *self, const char *s, size_t n);
void geak_text_addf (geak_text_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
//  Append code inside a ```python fence (adds the final newline if missing).
void geak_text_add_code (geak_text_t *self, const char *code);
const char *geak_text_str (const geak_text_t *self);
size_t geak_text_size (const geak_text_t *self);
//  Give up the buffer (caller frees) and destroy self.
char *geak_text_take (geak_text_t **self_p);

int geak_text_test (bool verbose);

#endif
