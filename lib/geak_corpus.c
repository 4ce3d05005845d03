/*  geak_corpus.c - BM25 over the project's reference kernels. */
#include "geak_prelude.h"
#include "geak_corpus.h"
#include "geak_log.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <unistd.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <math.h>

#define CORPUS_FILE_MAX (256 * 1024)
#define CORPUS_DEPTH    3           //  root/imported/<format>/<task>
#define BM25_K1 1.2
#define BM25_B  0.75

typedef struct {
    char *name;
    char *code;
    char *group;        //  the benchmark it was imported from ("" for the project's own)
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
    geak_corpus_add_in (self, name, code, extra, NULL);
}

void
geak_corpus_add_in (geak_corpus_t *self, const char *name, const char *code, const char *extra,
                    const char *group)
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
    doc->group = geak_strdup (group ? group : "");
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

//  A JSON list of kernels: [{"name" | "file" | "id", "code" | "output" |
//  "predict" | "label" | "content", "instruction" | "description"}, ...]
//  (TritonBench's train_crawl.json and the like)
static geak_rc_t
s_load_json (geak_corpus_t *self, const char *path)
{
    size_t size = 0;
    char *text = geak_read_file (path, 512u * 1024u * 1024u, &size);
    cJSON *root = text ? cJSON_ParseWithLength (text, size) : NULL;
    free (text);
    if (!cJSON_IsArray (root)) {
        cJSON_Delete (root);
        geak_error ("corpus_invalid", "path=%s why=\"not a JSON list of kernels\"", path);
        return GEAK_E_MALFORMED;
    }
    static const char *code_fields [] = { "code", "output", "predict", "label", "content" };
    static const char *name_fields [] = { "name", "file", "id" };
    static const char *extra_fields [] = { "instruction", "description" };
    size_t index = 0, skipped = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach (item, root) {
        const char *code = NULL, *name = NULL, *extra = NULL;
        for (size_t i = 0; !code && i < sizeof code_fields / sizeof code_fields [0]; i++) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive (item, code_fields [i]);
            code = cJSON_IsString (f) && *f->valuestring ? f->valuestring : NULL;
        }
        for (size_t i = 0; !name && i < sizeof name_fields / sizeof name_fields [0]; i++) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive (item, name_fields [i]);
            name = cJSON_IsString (f) && *f->valuestring ? f->valuestring : NULL;
        }
        for (size_t i = 0; !extra && i < sizeof extra_fields / sizeof extra_fields [0]; i++) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive (item, extra_fields [i]);
            extra = cJSON_IsString (f) ? f->valuestring : NULL;
        }
        char fallback [32];
        snprintf (fallback, sizeof fallback, "kernel-%zu", index++);
        if (!code || strlen (code) > CORPUS_FILE_MAX) {
            skipped++;
            continue;
        }
        //  a file name names a task by its stem
        char *named = geak_strdup (name ? name : fallback);
        size_t len = strlen (named);
        if (len > 3 && strcmp (named + len - 3, ".py") == 0)
            named [len - 3] = '\0';
        geak_corpus_add (self, named, code, extra);
        free (named);
    }
    cJSON_Delete (root);
    geak_info ("corpus_loaded", "path=%s documents=%zu skipped=%zu", path, self->size, skipped);
    return GEAK_OK;
}

//  The benchmark a task directory was imported from: task.json's
//  source.format, "" for the project's own tasks (caller frees)
static char *
s_group_of (const char *task_json)
{
    cJSON *root = task_json ? cJSON_Parse (task_json) : NULL;
    const cJSON *source = cJSON_GetObjectItemCaseSensitive (root, "source");
    const cJSON *format = cJSON_GetObjectItemCaseSensitive (source, "format");
    char *group = geak_strdup (cJSON_IsString (format) ? format->valuestring : "");
    cJSON_Delete (root);
    return group;
}

//  Every task directory under dir (depth <= CORPUS_DEPTH): one with
//  reference.py is a document; one without task.json is walked into
//  (tasks/imported/<format>/<name>/). False when dir cannot be opened.
static bool
s_load_dir (geak_corpus_t *self, const char *root, const char *dir_path, int depth)
{
    DIR *dir = opendir (dir_path);
    if (!dir)
        return false;
    struct dirent *entry;
    while ((entry = readdir (dir)) != NULL) {
        if (entry->d_name [0] == '.' || strcmp (entry->d_name, "__pycache__") == 0)
            continue;
        char *sub = geak_strdupf ("%s/%s", dir_path, entry->d_name);
        char *path = geak_strdupf ("%s/reference.py", sub);
        char *code = s_read_file (path);
        free (path);
        path = geak_strdupf ("%s/task.json", sub);
        char *extra = s_read_file (path);
        free (path);
        if (code) {
            char *group = s_group_of (extra);
            geak_corpus_add_in (self, entry->d_name, code, extra, group);
            free (group);
        }
        else
        if (!extra && depth + 1 < CORPUS_DEPTH) {
            struct stat st;
            if (stat (sub, &st) == 0 && S_ISDIR (st.st_mode))
                s_load_dir (self, root, sub, depth + 1);
        }
        free (code);
        free (extra);
        free (sub);
    }
    closedir (dir);
    return true;
}

char *
geak_corpus_default_root (const char *tasks_root)
{
    assert (tasks_root);
    char *real = realpath (tasks_root, NULL);
    if (!real)
        return geak_strdup (tasks_root);
    //  <top>/imported/<format>: an importer's output, the tree above it holds the rest
    char *slash = strrchr (real, '/');
    if (slash && slash != real) {
        *slash = '\0';
        char *parent = strrchr (real, '/');
        if (parent && strcmp (parent + 1, "imported") == 0 && parent != real) {
            *parent = '\0';
            char *top = geak_strdup (real);
            free (real);
            return top;
        }
    }
    free (real);
    return geak_strdup (tasks_root);
}

geak_corpus_t *
geak_corpus_load (const char *root, geak_rc_t *rc)
{
    assert (rc);
    geak_corpus_t *self = geak_corpus_new ();
    *rc = GEAK_OK;
    size_t root_len = root ? strlen (root) : 0;
    if (root_len > 5 && strcmp (root + root_len - 5, ".json") == 0) {
        *rc = s_load_json (self, root);
        if (*rc != GEAK_OK)
            geak_corpus_destroy (&self);
        else
        if (self->size > 1)
            qsort (self->docs, self->size, sizeof (s_doc_t), s_cmp_names);
        return self;
    }
    if (!root || !s_load_dir (self, root, root, 0)) {
        geak_warn ("corpus_missing", "root=%s errno=%d", root ? root : "-", errno);
        return self;
    }
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
        free (self->docs [i].group);
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

//  A task name's stem: its '_' parts without trailing digits, less the
//  words that name an implementation rather than an operation
static void
s_stem (const char *name, char *stem, size_t size)
{
    static const char *noise [] = { "triton", "kernel", "kernels", "ops", "op", "impl",
                                    "implementation", "func", "function", "module", "fwd",
                                    "forward", "v", "test", "gluon", "lib" };
    size_t at = 0;
    stem [0] = '\0';
    const char *p = name;
    while (p && *p) {
        size_t len = strcspn (p, "_-.");
        size_t keep = len;
        while (keep > 0 && isdigit ((unsigned char) p [keep - 1]))
            keep--;
        bool drop = keep == 0;
        for (size_t i = 0; !drop && i < sizeof noise / sizeof noise [0]; i++)
            drop = strlen (noise [i]) == keep && strncasecmp (p, noise [i], keep) == 0;
        for (size_t i = 0; !drop && i < keep && at + 1 < size; i++)
            stem [at++] = (char) tolower ((unsigned char) p [i]);
        stem [at] = '\0';
        p += len;
        if (*p)
            p++;
    }
}

bool
geak_corpus_twins (const char *a, const char *b)
{
    if (!a || !b)
        return false;
    if (strcmp (a, b) == 0)
        return true;
    char sa [128], sb [128];
    s_stem (a, sa, sizeof sa);
    s_stem (b, sb, sizeof sb);
    return *sa && strcmp (sa, sb) == 0;
}

//  Whether a document may not be the example of task `exclude`: the task
//  itself, a near twin of it (the same operation under another name), or a
//  gold kernel of the benchmark the task belongs to (group: see search)
static bool
s_excluded (const s_doc_t *doc, const char *exclude, const char *group)
{
    return (exclude && geak_corpus_twins (doc->name, exclude))
        || (group && *group && strcmp (doc->group, group) == 0);
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
    //  the evaluated task's benchmark, when the corpus holds the task itself
    const char *group = NULL;
    for (size_t d = 0; exclude && d < self->size && !group; d++)
        if (strcmp (self->docs [d].name, exclude) == 0 && *self->docs [d].group)
            group = self->docs [d].group;
    //  statistics over the documents that may be returned
    size_t ndocs = 0;
    double total_len = 0;
    for (size_t d = 0; d < self->size; d++)
        if (!s_excluded (&self->docs [d], exclude, group)) {
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
            if (!s_excluded (&self->docs [d], exclude, group) && s_tf (&self->docs [d], q [i]) > 0)
                df++;
        if (df == 0)
            continue;
        double idf = log (((double) ndocs - (double) df + 0.5) / ((double) df + 0.5) + 1.0);
        for (size_t d = 0; d < self->size; d++) {
            if (s_excluded (&self->docs [d], exclude, group))
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

static int
s_test_put (const char *dir, const char *name, const char *code, const char *task_json)
{
    char *d = geak_strdupf ("%s/%s", dir, name);
    int fails = mkdir (d, 0700) != 0;
    char *p = geak_strdupf ("%s/reference.py", d);
    FILE *f = fopen (p, "w");
    fails += !f || fputs (code, f) < 0 || fclose (f) != 0;
    free (p);
    if (task_json) {
        p = geak_strdupf ("%s/task.json", d);
        f = fopen (p, "w");
        fails += !f || fputs (task_json, f) < 0 || fclose (f) != 0;
        free (p);
    }
    free (d);
    return fails;
}

//  A task tree as geak tasks import leaves it: our suite at the top, two
//  benchmarks under imported/; a benchmark's task never gets its own
//  benchmark's gold, even one that is no near twin and scores best
static int
s_test_tree (bool verbose)
{
    char top [] = "/tmp/geak-corpus-tree-XXXXXX";
    if (!mkdtemp (top))
        return 1;
    char *imp = geak_strdupf ("%s/imported", top);
    char *tb = geak_strdupf ("%s/tritonbench-revised", imp);
    char *rocm = geak_strdupf ("%s/rocm-triton", imp);
    int fails = mkdir (imp, 0700) != 0 || mkdir (tb, 0700) != 0 || mkdir (rocm, 0700) != 0;
    const char *tb_json = "{\"source\": {\"format\": \"tritonbench-revised\"}}";
    const char *rocm_json = "{\"source\": {\"format\": \"rocm-triton\"}}";
    fails += s_test_put (top, "softmax", "def softmax(x): # row softmax exp max sum", "{\"name\": \"softmax\"}");
    fails += s_test_put (tb, "row_softmax_online", "def f(x): # online softmax exp max sum row", tb_json);
    fails += s_test_put (tb, "softmax_kernel_fused", "def g(x): # fused softmax exp max sum row online", tb_json);
    fails += s_test_put (rocm, "test_softmax_rocm", "def h(x): # softmax exp max", rocm_json);
    geak_rc_t rc;
    geak_corpus_t *corpus = geak_corpus_load (top, &rc);
    fails += !corpus || geak_corpus_size (corpus) != 4;
    //  the benchmark task: its benchmark's other gold scores best, and is never picked
    long i = corpus ? geak_corpus_search (corpus, "fused online softmax exp max sum row", "row_softmax_online",
                                          NULL) : -1;
    const char *got = i >= 0 ? geak_corpus_name (corpus, (size_t) i) : "-";
    if (verbose)
        printf ("  tree: row_softmax_online gets %s\n", got);
    fails += strcmp (got, "softmax_kernel_fused") == 0 || strcmp (got, "row_softmax_online") == 0 || i < 0;
    //  our own task may get a benchmark's kernel
    i = corpus ? geak_corpus_search (corpus, "fused online softmax", "softmax", NULL) : -1;
    fails += i < 0 || strcmp (geak_corpus_name (corpus, (size_t) i), "softmax_kernel_fused") != 0;
    geak_corpus_destroy (&corpus);
    //  the default root above an importer's output is the top of the tree
    char *def = geak_corpus_default_root (tb);
    char *real = realpath (top, NULL);
    fails += !real || strcmp (def, real) != 0;
    free (def);
    def = geak_corpus_default_root (top);
    fails += strcmp (def, top) != 0;
    free (def);
    free (real);
    char *rm = geak_strdupf ("rm -rf '%s'", top);
    fails += system (rm) != 0;
    free (rm);
    free (imp);
    free (tb);
    free (rocm);
    return fails;
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
    //  near twins of a benchmark (TritonBench-revised pairs) are never each other's example
    const char *twins [][2] = { { "l2_norm_triton1", "l2_norm_triton2" }, { "kldiv_ops", "kldiv_triton" },
                                { "rmsnorm_triton", "rmsnorm_implementation" },
                                { "layer_norm_fwd", "layer_norm_ops" },
                                { "attention_fwd_triton2", "attention_forward_triton" } };
    for (size_t t = 0; t < sizeof twins / sizeof twins [0]; t++) {
        bool twin = geak_corpus_twins (twins [t][0], twins [t][1]);
        if (!twin || verbose)
            printf ("  twins %s ~ %s: %d\n", twins [t][0], twins [t][1], (int) twin);
        fails += !twin;
    }
    fails += geak_corpus_twins ("softmax", "matmul") || geak_corpus_twins ("layer_norm", "rms_norm")
          || geak_corpus_twins ("add", "add_mul") || geak_corpus_twins ("triton", "kernel");
    geak_corpus_add (corpus, "softmax_triton2", "@triton.jit\ndef softmax_kernel(x_ptr):\n    pass\n", NULL);
    i = geak_corpus_search (corpus, "softmax exp max", "softmax_kernel", NULL);
    fails += i >= 0 && strstr (geak_corpus_name (corpus, (size_t) i), "softmax") != NULL;
    fails += geak_corpus_search (corpus, "", NULL, NULL) != -1;
    if (verbose)
        printf ("  corpus size=%zu\n", geak_corpus_size (corpus));
    geak_corpus_destroy (&corpus);
    geak_corpus_destroy (&corpus);
    geak_rc_t rc;
    char path [] = "/tmp/geak-corpus-XXXXXX.json";
    int fd = mkstemps (path, 5);
    if (fd >= 0) {
        const char *json = "[{\"file\": \"vec_add.py\", \"code\": \"@triton.jit\\ndef add_kernel(x): pass\\n\","
                           " \"instruction\": \"add two vectors\"}, {\"label\": \"def f(): pass\\n\"},"
                           " {\"name\": \"empty\"}]";
        fails += write (fd, json, strlen (json)) != (ssize_t) strlen (json);
        close (fd);
        corpus = geak_corpus_load (path, &rc);
        fails += !corpus || rc != GEAK_OK || geak_corpus_size (corpus) != 2;
        i = corpus ? geak_corpus_search (corpus, "add vectors", NULL, NULL) : -1;
        fails += i < 0 || strcmp (geak_corpus_name (corpus, (size_t) i), "vec_add") != 0;
        geak_corpus_destroy (&corpus);
        unlink (path);
    }
    corpus = geak_corpus_load ("/nonexistent-geak-tasks", &rc);
    fails += !corpus || rc != GEAK_OK || geak_corpus_size (corpus) != 0;
    geak_corpus_destroy (&corpus);
    fails += s_test_tree (verbose);
    return fails;
}
