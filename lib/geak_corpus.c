/*  geak_corpus.c - BM25 over the project's reference kernels. */
#include "geak_prelude.h"
#include "geak_corpus.h"
#include "geak_log.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>

#define CORPUS_FILE_MAX (256 * 1024)
#define BM25_K1 1.2
#define BM25_B  0.75

typedef struct {
    char *name;
    char *code;
    char **terms;       //  sorted, with repeats (tf = run length)
    size_t nterms;
} s_doc_t;

struct geak_corpus_t {
    s_doc_t *docs;
    size_t size;
    size_t alloc;
};

static const char *s_stop [] = {
    "the", "and", "of", "to", "in", "is", "for", "a", "an", "as", "be", "it", "on", "by",
    "def", "return", "import", "from", "self", "if", "else", "with", "this", "that", "none",
};

static bool
s_stopword (const char *t)
{
    for (size_t i = 0; i < sizeof s_stop / sizeof s_stop [0]; i++)
        if (strcmp (t, s_stop [i]) == 0)
            return true;
    return false;
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
s_push (char ***terms_p, size_t *n, size_t *alloc, const char *s, size_t len)
{
    if (len < 2 || len > 64)
        return;
    char *term = geak_malloc0 (len + 1);
    for (size_t i = 0; i < len; i++)
        term [i] = (char) tolower ((unsigned char) s [i]);
    if (s_stopword (term)) {
        free (term);
        return;
    }
    if (*n == *alloc) {
        *alloc *= 2;
        char **more = realloc (*terms_p, *alloc * sizeof *more);
        if (!more)
            abort ();
        *terms_p = more;
    }
    (*terms_p) [(*n)++] = term;
}

//  Terms of a text: lowercase identifiers, also split at '_' (block_size ->
//  block_size, block, size). Sorted. Caller frees each and the array.
static char **
s_terms (const char *text, size_t *count)
{
    size_t n = 0, alloc = 64;
    char **terms = geak_malloc0 (alloc * sizeof *terms);
    const char *p = text ? text : "";
    while (*p) {
        while (*p && !isalnum ((unsigned char) *p) && *p != '_')
            p++;
        const char *start = p;
        while (*p && (isalnum ((unsigned char) *p) || *p == '_'))
            p++;
        size_t len = (size_t) (p - start);
        if (len < 2 || len > 64)
            continue;
        //  the whole identifier, then its '_' parts
        s_push (&terms, &n, &alloc, start, len);
        if (memchr (start, '_', len)) {
            const char *piece = start;
            while (piece < p) {
                const char *end = piece;
                while (end < p && *end != '_')
                    end++;
                s_push (&terms, &n, &alloc, piece, (size_t) (end - piece));
                piece = end + 1;
            }
        }
    }
    qsort (terms, n, sizeof *terms, s_cmp);
    *count = n;
    return terms;
}

static void
s_free_terms (char **terms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free (terms [i]);
    free (terms);
}

geak_corpus_t *
geak_corpus_new (void)
{
    return geak_malloc0 (sizeof (geak_corpus_t));
}

void
geak_corpus_add (geak_corpus_t *self, const char *name, const char *code, const char *extra)
{
    assert (self && name && code);
    if (self->size == self->alloc) {
        self->alloc = self->alloc ? self->alloc * 2 : 16;
        s_doc_t *docs = realloc (self->docs, self->alloc * sizeof *docs);
        if (!docs)
            abort ();
        self->docs = docs;
    }
    s_doc_t *doc = &self->docs [self->size++];
    doc->name = geak_strdup (name);
    doc->code = geak_strdup (code);
    size_t len = strlen (code) + (extra ? strlen (extra) : 0) + 2;
    char *all = geak_malloc0 (len);
    snprintf (all, len, "%s\n%s", code, extra ? extra : "");
    doc->terms = s_terms (all, &doc->nterms);
    free (all);
}

//  A non-empty file of at most CORPUS_FILE_MAX bytes, or NULL
static char *
s_read_file (const char *path)
{
    size_t size = 0;
    char *data = geak_read_file (path, CORPUS_FILE_MAX, &size);
    if (data && size == 0) {
        free (data);
        return NULL;
    }
    return data;
}

static int
s_cmp_names (const void *a, const void *b)
{
    return strcmp (((const s_doc_t *) a)->name, ((const s_doc_t *) b)->name);
}

geak_corpus_t *
geak_corpus_load (const char *root, geak_rc_t *rc)
{
    assert (rc);
    geak_corpus_t *self = geak_corpus_new ();
    *rc = GEAK_OK;
    DIR *dir = root ? opendir (root) : NULL;
    if (!dir) {
        geak_warn ("corpus_missing", "root=%s errno=%d", root ? root : "-", errno);
        return self;
    }
    struct dirent *entry;
    while ((entry = readdir (dir)) != NULL) {
        if (entry->d_name [0] == '.')
            continue;
        size_t len = strlen (root) + strlen (entry->d_name) + 32;
        char *path = geak_malloc0 (len);
        snprintf (path, len, "%s/%s/reference.py", root, entry->d_name);
        char *code = s_read_file (path);
        snprintf (path, len, "%s/%s/task.json", root, entry->d_name);
        char *extra = code ? s_read_file (path) : NULL;
        if (code)
            geak_corpus_add (self, entry->d_name, code, extra);
        free (code);
        free (extra);
        free (path);
    }
    closedir (dir);
    //  deterministic order whatever readdir does
    if (self->size > 1)
        qsort (self->docs, self->size, sizeof (s_doc_t), s_cmp_names);
    geak_info ("corpus_loaded", "root=%s documents=%zu", root, self->size);
    return self;
}

void
geak_corpus_destroy (geak_corpus_t **self_p)
{
    assert (self_p);
    geak_corpus_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++) {
        free (self->docs [i].name);
        free (self->docs [i].code);
        s_free_terms (self->docs [i].terms, self->docs [i].nterms);
    }
    free (self->docs);
    free (self);
    *self_p = NULL;
}

size_t
geak_corpus_size (const geak_corpus_t *self)
{
    return self ? self->size : 0;
}

const char *
geak_corpus_name (const geak_corpus_t *self, size_t index)
{
    return self && index < self->size ? self->docs [index].name : NULL;
}

const char *
geak_corpus_code (const geak_corpus_t *self, size_t index)
{
    return self && index < self->size ? self->docs [index].code : NULL;
}

//  Occurrences of term in a doc's sorted terms
static size_t
s_tf (const s_doc_t *doc, const char *term)
{
    size_t lo = 0, hi = doc->nterms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp (doc->terms [mid], term) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < doc->nterms && strcmp (doc->terms [lo + n], term) == 0)
        n++;
    return n;
}

long
geak_corpus_search (const geak_corpus_t *self, const char *query, const char *exclude,
                    double *score_out)
{
    if (score_out)
        *score_out = 0;
    if (!self || self->size == 0 || !query)
        return -1;
    size_t nq = 0;
    char **q = s_terms (query, &nq);
    //  statistics over the documents that may be returned
    size_t ndocs = 0;
    double total_len = 0;
    for (size_t d = 0; d < self->size; d++)
        if (!exclude || strcmp (self->docs [d].name, exclude) != 0) {
            ndocs++;
            total_len += (double) self->docs [d].nterms;
        }
    double avgdl = ndocs ? total_len / (double) ndocs : 1;
    if (avgdl <= 0)
        avgdl = 1;
    double *scores = calloc (self->size, sizeof (double));
    if (!scores) {
        s_free_terms (q, nq);
        return -1;
    }
    for (size_t i = 0; i < nq; i++) {
        if (i > 0 && strcmp (q [i], q [i - 1]) == 0)
            continue;                           //  each query term once
        size_t df = 0;
        for (size_t d = 0; d < self->size; d++)
            if ((!exclude || strcmp (self->docs [d].name, exclude) != 0)
            &&  s_tf (&self->docs [d], q [i]) > 0)
                df++;
        if (df == 0)
            continue;
        double idf = log (((double) ndocs - (double) df + 0.5) / ((double) df + 0.5) + 1.0);
        for (size_t d = 0; d < self->size; d++) {
            if (exclude && strcmp (self->docs [d].name, exclude) == 0)
                continue;
            double tf = (double) s_tf (&self->docs [d], q [i]);
            if (tf == 0)
                continue;
            double dl = (double) self->docs [d].nterms;
            scores [d] += idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * dl / avgdl));
        }
    }
    long best = -1;
    for (size_t d = 0; d < self->size; d++)
        if (scores [d] > 0 && (best < 0 || scores [d] > scores [best]))
            best = (long) d;
    if (best >= 0 && score_out)
        *score_out = scores [best];
    free (scores);
    s_free_terms (q, nq);
    return best;
}

int
geak_corpus_test (bool verbose)
{
    geak_corpus_t *corpus = geak_corpus_new ();
    geak_corpus_add (corpus, "softmax", "@triton.jit\ndef softmax_kernel(x_ptr, BLOCK_SIZE: tl.constexpr):\n"
                     "    row = tl.load(x_ptr)\n    m = tl.max(row, axis=0)\n    e = tl.exp(row - m)\n", NULL);
    geak_corpus_add (corpus, "matmul", "@triton.jit\ndef matmul_kernel(a_ptr, b_ptr, BLOCK_M: tl.constexpr):\n"
                     "    acc = tl.dot(a, b)\n", "{\"instruction\": \"matrix multiplication\"}");
    geak_corpus_add (corpus, "add", "@triton.jit\ndef add_kernel(x_ptr, y_ptr):\n    tl.store(o, x + y)\n", NULL);
    int fails = 0;
    double score;
    long i = geak_corpus_search (corpus, "row-wise softmax with exp and max", NULL, &score);
    fails += i < 0 || strcmp (geak_corpus_name (corpus, (size_t) i), "softmax") != 0 || score <= 0;
    i = geak_corpus_search (corpus, "a matrix multiplication using tl.dot", NULL, NULL);
    fails += i < 0 || strcmp (geak_corpus_name (corpus, (size_t) i), "matmul") != 0;
    //  never the task's own reference
    i = geak_corpus_search (corpus, "softmax exp max", "softmax", NULL);
    fails += i >= 0 && strcmp (geak_corpus_name (corpus, (size_t) i), "softmax") == 0;
    fails += geak_corpus_search (corpus, "zzz qqq", NULL, NULL) != -1;
    fails += geak_corpus_search (corpus, "", NULL, NULL) != -1;
    if (verbose)
        printf ("  corpus size=%zu\n", geak_corpus_size (corpus));
    geak_corpus_destroy (&corpus);
    geak_corpus_destroy (&corpus);
    geak_rc_t rc;
    corpus = geak_corpus_load ("/nonexistent-geak-tasks", &rc);
    fails += !corpus || rc != GEAK_OK || geak_corpus_size (corpus) != 0;
    geak_corpus_destroy (&corpus);
    return fails;
}
