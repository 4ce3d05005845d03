/*  geak_corpus.h - the project's own kernels as a 1-shot example corpus,
    searched with BM25 (k1 = 1.2, b = 0.75).

    A document is one task directory that holds reference.py, found under
    the root down to <root>/imported/<format>/<name>/; its text is
    reference.py plus task.json when present (so the task's instruction
    words count too). The document name is <name>, its group the benchmark it
    was imported from (task.json source.format; "" for the project's own).
    A search for task T never returns T itself, a near twin of T
    (geak_corpus_twins), or, when T is a document of benchmark B, any other
    gold kernel of B: a benchmark's answers are never its examples. */
#ifndef GEAK_CORPUS_H_INCLUDED
#define GEAK_CORPUS_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

typedef struct geak_corpus_t geak_corpus_t;

//  Load every task's reference.py under root (files over 256 KiB are skipped).
//  A missing root gives an empty corpus (GEAK_OK) and a log line.
//  NULL with *rc only on allocation failure.
geak_corpus_t *geak_corpus_load (const char *root, geak_rc_t *rc);
//  An empty corpus; add documents by hand (tests).
geak_corpus_t *geak_corpus_new (void);
//  Add a document (copied) of the project's own / of a group (a benchmark).
void geak_corpus_add (geak_corpus_t *self, const char *name, const char *code, const char *extra);
void geak_corpus_add_in (geak_corpus_t *self, const char *name, const char *code, const char *extra,
                         const char *group);
//  The corpus root for a task root when none is configured: the task root,
//  or, for an importer's output (<top>/imported/<format>), <top>: the
//  project's own suite and the other benchmarks (caller frees).
char *geak_corpus_default_root (const char *tasks_root);
void geak_corpus_destroy (geak_corpus_t **self_p);

size_t geak_corpus_size (const geak_corpus_t *self);
const char *geak_corpus_name (const geak_corpus_t *self, size_t index);
const char *geak_corpus_code (const geak_corpus_t *self, size_t index);

//  Best document for the query, skipping the document named exclude
//  (may be NULL) and its near twins (geak_corpus_twins). Returns its index,
//  or -1 when nothing scores above 0. score_out may be NULL.
long geak_corpus_search (const geak_corpus_t *self, const char *query, const char *exclude,
                         double *score_out);

//  Near twins: the same name, or the same stem once trailing digits and the
//  words naming an implementation rather than an operation (triton, kernel,
//  ops, impl, implementation, fwd, forward, ...) are dropped from the '_'
//  parts: l2_norm_triton1 ~ l2_norm_triton2, kldiv_ops ~ kldiv_triton,
//  layer_norm_fwd ~ layer_norm_ops. A benchmark's near twin is never the
//  1-shot example of a task: it is that task's answer under another name.
bool geak_corpus_twins (const char *a, const char *b);

int geak_corpus_test (bool verbose);

#endif
