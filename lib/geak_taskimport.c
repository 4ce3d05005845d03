/*  geak_taskimport.c - benchmark importers (see geak_taskimport.h, docs/tasks.md).

    The generated Python is the same for every task but for the data: spec.py is a fixed
    template with the task's name and perf-case count, bench_test.py holds the benchmark's
    test section and perf script as string literals followed by a fixed runner
    (lib/taskimport/bench_glue.py, embedded at build time)
    that executes them against the module under test at call time. */
#include "geak_prelude.h"
#include "geak_taskimport.h"
#include "geak_text.h"
#include "geak_log.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#define MAX_FILE_BYTES  (64u << 20)
#define MAX_WALK_DEPTH  8
#define MAX_WALK_FILES  200000
#define APPEND_FILE     "bench_test.py"
#define ENTRY_NAME      "geak_bench_entry"
#define streq(a, b)     (strcmp ((a), (b)) == 0)

typedef struct {
    char *name;
    char *file;
    char *reason;           //  NULL: imported
} result_t;

struct geak_taskimport_t {
    char *format;
    char *instruction;      //  "comp" | "simp"
    char *index_given;
    char *index_used;
    int perf_cases;
    double atol, rtol;
    result_t *results;
    size_t n, cap;
};

typedef struct {
    char **paths;
    size_t n, cap;
} paths_t;

// ------------------------------------------------------------------ generated Python

//  The generated files' Python, kept as Python in lib/taskimport/ and embedded
//  at build time (scripts/embed_py.py): spec.py's template, whose task-data
//  block between the "# geak-import:" marker lines the importer replaces, and
//  the runner appended to bench_test.py after the task's data
extern const char geak_taskimport_spec_py [];
extern const char geak_taskimport_bench_glue_py [];

#define SPEC_DATA_BEGIN "# geak-import: the task's data"
#define SPEC_DATA_END   "# geak-import: end\n"

// ------------------------------------------------------------------ small helpers

static bool
s_ends_with (const char *s, const char *suffix)
{
    size_t n = strlen (s), m = strlen (suffix);
    return n >= m && strcmp (s + n - m, suffix) == 0;
}

static const char *
s_basename (const char *path)
{
    const char *slash = strrchr (path, '/');
    return slash ? slash + 1 : path;
}

//  The base name of the directory holding path ("" at the top)
static char *
s_parent_name (const char *path)
{
    char *copy = geak_strdup (path);
    char *slash = strrchr (copy, '/');
    char *result;
    if (!slash)
        result = geak_strdup ("");
    else {
        *slash = 0;
        result = geak_strdup (s_basename (copy));
    }
    free (copy);
    return result;
}

static char *
s_dirname (const char *path)
{
    char *copy = geak_strdup (path);
    char *slash = strrchr (copy, '/');
    if (slash && slash != copy)
        *slash = 0;
    else
    if (slash)
        copy [1] = 0;
    else {
        free (copy);
        copy = geak_strdup (".");
    }
    return copy;
}

//  path relative to root when it lies below it, else path itself
static const char *
s_relative (const char *path, const char *root)
{
    size_t n = strlen (root);
    while (n > 1 && root [n - 1] == '/')
        n--;
    if (strncmp (path, root, n) == 0 && path [n] == '/')
        return path + n + 1;
    return path;
}

//  Whole file, NUL-terminated; NULL when unreadable, too big or holding a NUL byte
static char *
s_read_file (const char *path)
{
    size_t size = 0;
    char *data = geak_read_file (path, MAX_FILE_BYTES, &size);
    if (data && memchr (data, 0, size)) {
        free (data);
        return NULL;
    }
    return data;
}

static int
s_write_file (const char *dir, const char *name, const char *text)
{
    char *path = geak_strdupf ("%s/%s", dir, name);
    FILE *f = fopen (path, "wb");
    free (path);
    if (!f)
        return -1;
    size_t len = strlen (text);
    bool ok = fwrite (text, 1, len, f) == len;
    if (fclose (f) != 0)
        ok = false;
    return ok ? 0 : -1;
}

static int
s_mkdirs (const char *path)
{
    char *copy = geak_strdup (path);
    int rc = 0;
    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (mkdir (copy, 0755) != 0 && errno != EEXIST)
                rc = -1;
            *p = saved;
            if (!saved || rc)
                break;
        }
    }
    struct stat st;
    if (rc == 0 && (stat (path, &st) != 0 || !S_ISDIR (st.st_mode)))
        rc = -1;
    free (copy);
    return rc;
}

static int
s_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    GEAK_UNUSED (st);
    GEAK_UNUSED (ftw);
    return (flag == FTW_DP ? rmdir (path) : unlink (path)) == 0 ? 0 : -1;
}

static int
s_rmtree (const char *path)
{
    struct stat st;
    if (lstat (path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw (path, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
s_paths_push (paths_t *self, char *path)
{
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 256;
        self->paths = realloc (self->paths, self->cap * sizeof *self->paths);
        assert (self->paths);
    }
    self->paths [self->n++] = path;
}

static void
s_paths_free (paths_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        free (self->paths [i]);
    free (self->paths);
    memset (self, 0, sizeof *self);
}

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  Regular files below dir whose name ends with suffix (no symlinked dirs, no dot dirs)
static void
s_walk (const char *dir, int depth, const char *suffix, paths_t *out)
{
    if (depth > MAX_WALK_DEPTH || out->n >= MAX_WALK_FILES)
        return;
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir (d)) && out->n < MAX_WALK_FILES) {
        if (e->d_name [0] == '.' || strcmp (e->d_name, "__pycache__") == 0)
            continue;
        char *full = geak_strdupf ("%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat (full, &st) == 0) {
            if (S_ISDIR (st.st_mode))
                s_walk (full, depth + 1, suffix, out);
            else
            if (s_ends_with (e->d_name, suffix) && stat (full, &st) == 0 && S_ISREG (st.st_mode)) {
                s_paths_push (out, full);
                full = NULL;
            }
        }
        free (full);
    }
    closedir (d);
}

// ------------------------------------------------------------------ Python literals

//  Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid
static size_t
s_utf8_len (const unsigned char *s, size_t n)
{
    unsigned char c = s [0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else
    if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    }
    else
    if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    }
    else
        return 0;
    if (n < len || s [1] < lo || s [1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s [i] < 0x80 || s [i] > 0xBF)
            return 0;
    return len;
}

static void
s_pystr_add (geak_text_t *out, const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *) text;
    geak_text_add (out, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s [i];
        if (c == '\\')
            geak_text_add (out, "\\\\");
        else
        if (c == '"')
            geak_text_add (out, "\\\"");
        else
        if (c == '\n')
            geak_text_add (out, "\\n");
        else
        if (c == '\r')
            geak_text_add (out, "\\r");
        else
        if (c == '\t')
            geak_text_add (out, "\\t");
        else
        if (c < 0x20 || c == 0x7F)
            geak_text_addf (out, "\\x%02x", c);
        else
        if (c < 0x80)
            geak_text_addn (out, (const char *) s + i, 1);
        else {
            size_t len = s_utf8_len (s + i, n - i);
            if (len) {
                geak_text_addn (out, (const char *) s + i, len);
                i += len - 1;
            }
            else
                geak_text_add (out, "\\ufffd");
        }
    }
    geak_text_add (out, "\"");
}

char *
geak_taskimport_pystr (const char *text)
{
    geak_text_t *out = geak_text_new ();
    s_pystr_add (out, text ? text : "", text ? strlen (text) : 0);
    return geak_text_take (&out);
}

//  A long text as a parenthesised run of one literal per line
static void
s_pystr_lines (geak_text_t *out, const char *text, const char *indent)
{
    if (!text || !*text) {
        geak_text_add (out, "\"\"");
        return;
    }
    geak_text_add (out, "(\n");
    const char *p = text;
    while (*p) {
        const char *nl = strchr (p, '\n');
        size_t len = nl ? (size_t) (nl - p) + 1 : strlen (p);
        geak_text_addf (out, "%s    ", indent);
        s_pystr_add (out, p, len);
        geak_text_add (out, "\n");
        p += len;
    }
    geak_text_addf (out, "%s)", indent);
}

// ------------------------------------------------------------------ benchmark files

static bool
s_is_separator (const char *line, size_t len)
{
    size_t a = 0, b = len;
    while (a < b && strchr (" \t\r\n\f\v", line [a]))
        a++;
    while (b > a && strchr (" \t\r\n\f\v", line [b - 1]))
        b--;
    if (b - a != GEAK_TASKIMPORT_SEPARATOR_LEN)
        return false;
    for (size_t i = a; i < b; i++)
        if (line [i] != '#')
            return false;
    return true;
}

bool
geak_taskimport_split (const char *source, char **kernel_p, char **test_p, int *test_line_p)
{
    assert (source && kernel_p && test_p);
    const char *p = source;
    int line = 1;
    while (*p) {
        const char *nl = strchr (p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen (p);
        if (s_is_separator (p, len)) {
            *kernel_p = malloc ((size_t) (p - source) + 1);
            assert (*kernel_p);
            memcpy (*kernel_p, source, (size_t) (p - source));
            (*kernel_p) [p - source] = 0;
            *test_p = geak_strdup (nl ? nl + 1 : "");
            if (test_line_p)
                *test_line_p = line + 1;
            return true;
        }
        if (!nl)
            break;
        p = nl + 1;
        line++;
    }
    *kernel_p = NULL;
    *test_p = NULL;
    return false;
}

static bool
s_is_ident (char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
s_has_word (const char *text, const char *word, size_t len)
{
    for (const char *q = text; (q = strchr (q, word [0])); q++)
        if (strncmp (q, word, len) == 0 && (q == text || !s_is_ident (q [-1])) && !s_is_ident (q [len]))
            return true;
    return false;
}

//  The end of a def/class header starting at p: just past the ':' at bracket depth 0
static const char *
s_header_end (const char *p)
{
    int depth = 0;
    while (*p) {
        char c = *p;
        if (c == '\'' || c == '"') {
            char q = c;
            p++;
            while (*p && *p != q && *p != '\n') {
                if (*p == '\\' && p [1])
                    p++;
                p++;
            }
            if (*p == q)
                p++;
            continue;
        }
        if (c == '#') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (c == '(' || c == '[' || c == '{')
            depth++;
        else
        if ((c == ')' || c == ']' || c == '}') && depth > 0)
            depth--;
        else
        if (c == ':' && depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

//  What the candidate must define: the headers of the gold code's top-level functions and
//  classes that the test section names (with their one-line decorators)
static char *
s_signature (const char *kernel, const char *test)
{
    geak_text_t *out = geak_text_new ();
    geak_text_t *decorators = geak_text_new ();
    const char *p = kernel;
    while (*p && geak_text_size (out) < 4000) {
        const char *nl = strchr (p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen (p);
        const char *next = nl ? nl + 1 : p + len;
        if (*p == '@') {
            int balance = 0;
            for (size_t i = 0; i < len; i++)
                balance += p [i] == '(' ? 1 : p [i] == ')' ? -1 : 0;
            const char *paren = memchr (p, '(', len);
            if (balance != 0 && paren) {
                //  a decorator over several lines: shown shortened
                geak_text_addn (decorators, p, (size_t) (paren - p));
                geak_text_add (decorators, "(...)\n");
            }
            else {
                geak_text_addn (decorators, p, len);
                geak_text_add (decorators, "\n");
            }
        }
        else {
            const char *name = NULL;
            if (strncmp (p, "def ", 4) == 0)
                name = p + 4;
            else
            if (strncmp (p, "async def ", 10) == 0)
                name = p + 10;
            else
            if (strncmp (p, "class ", 6) == 0)
                name = p + 6;
            if (name) {
                while (*name == ' ')
                    name++;
                size_t nlen = 0;
                while (s_is_ident (name [nlen]))
                    nlen++;
                const char *end = s_header_end (p);
                if (nlen && end && s_has_word (test, name, nlen)) {
                    geak_text_add (out, geak_text_str (decorators));
                    geak_text_addn (out, p, (size_t) (end - p));
                    geak_text_add (out, "\n    ...\n");
                    next = strchr (end, '\n') ? strchr (end, '\n') + 1 : end + strlen (end);
                }
            }
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '#' && *p != ')'
                && *p != ']' && *p != '}') {
                geak_text_destroy (&decorators);
                decorators = geak_text_new ();
            }
        }
        p = next;
    }
    geak_text_destroy (&decorators);
    return geak_text_take (&out);
}

// ------------------------------------------------------------------ class

geak_taskimport_t *
geak_taskimport_new (const char *format)
{
    if (!format || (strcmp (format, GEAK_TASKIMPORT_TRITONBENCH) != 0
                    && strcmp (format, GEAK_TASKIMPORT_ROCM) != 0))
        return NULL;
    geak_taskimport_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->format = geak_strdup (format);
    self->instruction = geak_strdup ("comp");
    self->perf_cases = 3;
    self->atol = 1e-3;
    self->rtol = 1e-3;
    return self;
}

static void
s_results_clear (geak_taskimport_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        free (self->results [i].name);
        free (self->results [i].file);
        free (self->results [i].reason);
    }
    self->n = 0;
}

void
geak_taskimport_destroy (geak_taskimport_t **self_p)
{
    assert (self_p);
    geak_taskimport_t *self = *self_p;
    if (!self)
        return;
    s_results_clear (self);
    free (self->results);
    free (self->format);
    free (self->instruction);
    free (self->index_given);
    free (self->index_used);
    free (self);
    *self_p = NULL;
}

geak_rc_t
geak_taskimport_set_instruction (geak_taskimport_t *self, const char *which)
{
    assert (self);
    if (!which || (strcmp (which, "comp") != 0 && strcmp (which, "simp") != 0))
        return GEAK_E_INVALID;
    free (self->instruction);
    self->instruction = geak_strdup (which);
    return GEAK_OK;
}

void
geak_taskimport_set_index (geak_taskimport_t *self, const char *path)
{
    assert (self);
    free (self->index_given);
    self->index_given = path ? geak_strdup (path) : NULL;
}

void
geak_taskimport_set_perf_cases (geak_taskimport_t *self, int n)
{
    assert (self);
    self->perf_cases = n < 0 ? 0 : n > 64 ? 64 : n;
}

void
geak_taskimport_set_tolerance (geak_taskimport_t *self, double atol, double rtol)
{
    assert (self);
    self->atol = atol >= 0 ? atol : 0;
    self->rtol = rtol >= 0 ? rtol : 0;
}

size_t
geak_taskimport_count (const geak_taskimport_t *self)
{
    assert (self);
    return self->n;
}

size_t
geak_taskimport_skipped (const geak_taskimport_t *self)
{
    assert (self);
    size_t k = 0;
    for (size_t i = 0; i < self->n; i++)
        if (self->results [i].reason)
            k++;
    return k;
}

const char *
geak_taskimport_name (const geak_taskimport_t *self, size_t i)
{
    assert (self);
    return i < self->n ? self->results [i].name : NULL;
}

const char *
geak_taskimport_file (const geak_taskimport_t *self, size_t i)
{
    assert (self);
    return i < self->n ? self->results [i].file : NULL;
}

const char *
geak_taskimport_reason (const geak_taskimport_t *self, size_t i)
{
    assert (self);
    return i < self->n ? self->results [i].reason : NULL;
}

const char *
geak_taskimport_index (const geak_taskimport_t *self)
{
    assert (self);
    return self->index_used;
}

static void
s_result (geak_taskimport_t *self, const char *name, const char *file, char *reason)
{
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 32;
        self->results = realloc (self->results, self->cap * sizeof *self->results);
        assert (self->results);
    }
    result_t *r = &self->results [self->n++];
    r->name = geak_strdup (name ? name : "");
    r->file = geak_strdup (file ? file : "");
    r->reason = reason;
}

// ------------------------------------------------------------------ index

static const char *
s_str_field (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) && item->valuestring && *item->valuestring ? item->valuestring : NULL;
}

//  A benchmark index: a non-empty list of objects naming a file and an instruction
static bool
s_is_index (const cJSON *root)
{
    if (!cJSON_IsArray (root) || cJSON_GetArraySize (root) == 0)
        return false;
    const cJSON *first = cJSON_GetArrayItem (root, 0);
    return cJSON_IsObject (first) && s_str_field (first, "file")
           && (s_str_field (first, "comp_instru") || s_str_field (first, "simp_instru")
               || s_str_field (first, "instruction"));
}

static cJSON *
s_load_index (geak_taskimport_t *self, const char *bench_path, char **why_p)
{
    free (self->index_used);
    self->index_used = NULL;
    if (self->index_given) {
        char *text = s_read_file (self->index_given);
        cJSON *root = text ? cJSON_Parse (text) : NULL;
        free (text);
        if (!s_is_index (root)) {
            cJSON_Delete (root);
            *why_p = geak_strdupf ("%s is not a benchmark index (a JSON list of {file, instruction...})",
                             self->index_given);
            return NULL;
        }
        self->index_used = geak_strdup (self->index_given);
        return root;
    }
    paths_t found = { 0 };
    s_walk (bench_path, 0, ".json", &found);
    if (found.n)
        qsort (found.paths, found.n, sizeof *found.paths, s_cmp_str);
    cJSON *chosen = NULL;
    geak_text_t *names = geak_text_new ();
    int hits = 0;
    for (size_t i = 0; i < found.n; i++) {
        char *text = s_read_file (found.paths [i]);
        cJSON *root = text ? cJSON_Parse (text) : NULL;
        free (text);
        if (s_is_index (root)) {
            hits++;
            geak_text_addf (names, " %s", found.paths [i]);
            if (!chosen) {
                chosen = root;
                self->index_used = geak_strdup (found.paths [i]);
                root = NULL;
            }
        }
        cJSON_Delete (root);
    }
    s_paths_free (&found);
    if (hits != 1) {
        *why_p = hits ? geak_strdupf ("several index files under %s, choose one with --index:%s",
                                bench_path, geak_text_str (names))
                      : geak_strdupf ("no index JSON (a list of {file, instruction...}) under %s", bench_path);
        cJSON_Delete (chosen);
        chosen = NULL;
        free (self->index_used);
        self->index_used = NULL;
    }
    geak_text_destroy (&names);
    return chosen;
}

//  Rank a candidate path for a wanted file (lower is better)
static int
s_rank (const char *path, const char *index_dir, const char *index_stem, bool perf)
{
    char *parent = s_parent_name (path);
    char *dir = s_dirname (path);
    char *grand = s_parent_name (dir);
    int rank;
    if (perf)
        rank = strcmp (parent, "golden_metrics") == 0 ? (strcmp (grand, "perf_G") == 0 ? 0 : 1)
             : s_ends_with (parent, "golden_metrics") ? 2 : 4;
    else {
        rank = strcmp (parent, index_stem) == 0 ? 0 : strcmp (dir, index_dir) == 0 ? 1 : 2;
        if (strstr (path, "/performance_metrics/") || strstr (path, "golden_metrics/"))
            rank += 4;
    }
    if (strstr (path, "/tmp/"))
        rank += 8;
    free (parent);
    free (dir);
    free (grand);
    return rank;
}

static const char *
s_find (const paths_t *py, const char *want, const char *index_dir, const char *index_stem, bool perf)
{
    const char *best = NULL;
    int best_rank = 1 << 20;
    for (size_t i = 0; i < py->n; i++) {
        if (strcmp (s_basename (py->paths [i]), want) != 0)
            continue;
        int rank = s_rank (py->paths [i], index_dir, index_stem, perf);
        if (rank < best_rank || (rank == best_rank && strlen (py->paths [i]) < strlen (best))) {
            best = py->paths [i];
            best_rank = rank;
        }
    }
    return best;
}

// ------------------------------------------------------------------ one task

typedef struct {
    const char *name;
    const char *rel_file;       //  benchmark file, relative to the benchmark path
    const char *file_base;
    const char *module;         //  the benchmark's module name for the kernel file
    const char *kernel;
    const char *test;
    int test_line;
    const char *instruction;
    const char *instruction_used;
    int difficulty;
    const char *perf_text;      //  NULL: none
    const char *perf_rel;
    const char *perf_base;
    bool has_perf;
    const char *index_rel;
} task_t;

static char *
s_task_json (geak_taskimport_t *self, const task_t *t)
{
    cJSON *root = cJSON_CreateObject ();
    cJSON_AddStringToObject (root, "name", t->name);
    cJSON_AddStringToObject (root, "category", "imported");
    cJSON_AddNumberToObject (root, "difficulty", t->difficulty);
    cJSON_AddStringToObject (root, "instruction", t->instruction);
    cJSON *entry = cJSON_AddObjectToObject (root, "entry");
    cJSON_AddStringToObject (entry, "name", ENTRY_NAME);
    char *sig = s_signature (t->kernel, t->test);
    cJSON_AddStringToObject (entry, "signature", sig);
    free (sig);
    cJSON_AddStringToObject (root, "append", APPEND_FILE);
    cJSON *tol = cJSON_AddObjectToObject (root, "tolerances");
    static const char *dtypes [] = { "float64", "float32", "float16", "bfloat16",
                                     "float8_e4m3fn", "float8_e5m2" };
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes [0]; i++) {
        cJSON *d = cJSON_AddObjectToObject (tol, dtypes [i]);
        cJSON_AddNumberToObject (d, "atol", self->atol);
        cJSON_AddNumberToObject (d, "rtol", self->rtol);
    }
    cJSON *metrics = cJSON_AddObjectToObject (root, "metrics");
    bool rocm = strcmp (self->format, GEAK_TASKIMPORT_ROCM) == 0;
    cJSON_AddStringToObject (metrics, "bytes", rocm ? "1e9 * the perf test's gbps_calculator(params, 1000 ms)"
                                                    : "1e9 * the perf class's get_gbps(input, 1000 ms)");
    cJSON_AddStringToObject (metrics, "flops", rocm ? "1e12 * the perf test's tflops_calculator(params, 1000 ms)"
                                                    : "1e12 * the perf class's get_tflops(input, 1000 ms)");
    cJSON *source = cJSON_AddObjectToObject (root, "source");
    cJSON_AddStringToObject (source, "format", self->format);
    cJSON_AddStringToObject (source, "file", t->rel_file);
    cJSON_AddStringToObject (source, "instruction", t->instruction_used);
    cJSON_AddStringToObject (source, "index", t->index_rel);
    if (t->perf_rel)
        cJSON_AddStringToObject (source, "perf", t->perf_rel);
    else
        cJSON_AddNullToObject (source, "perf");
    cJSON_AddNumberToObject (source, "perf_cases", t->has_perf ? self->perf_cases : 0);
    char *text = cJSON_Print (root);
    cJSON_Delete (root);
    assert (text);
    size_t len = strlen (text);
    text = realloc (text, len + 2);
    assert (text);
    text [len] = '\n';
    text [len + 1] = 0;
    return text;
}

static char *
s_append_file (geak_taskimport_t *self, const task_t *t)
{
    geak_text_t *out = geak_text_new ();
    geak_text_addf (out,
        "# Appended by `geak tasks import` to the code under test (task.json \"append\", docs/tasks.md):\n"
        "# the %s benchmark's test section and perf script, run at call time by the code below.\n"
        "# Generated from %s; a re-import overwrites it.\n\n", self->format, t->rel_file);
    geak_text_add (out, "_GEAK_BENCH = {\n");
    geak_text_add (out, "    \"format\": ");
    s_pystr_add (out, self->format, strlen (self->format));
    geak_text_addf (out, ",\n    \"layout\": \"%s\",\n",
                    strcmp (self->format, GEAK_TASKIMPORT_ROCM) == 0 ? "pytest" : "script");
    geak_text_add (out, "    \"module\": ");
    s_pystr_add (out, t->module, strlen (t->module));
    geak_text_add (out, ",\n    \"test_file\": ");
    s_pystr_add (out, t->file_base, strlen (t->file_base));
    geak_text_addf (out, ",\n    \"test_line\": %d,\n    \"test\": ", t->test_line);
    s_pystr_lines (out, t->test, "    ");
    geak_text_add (out, ",\n    \"perf_file\": ");
    if (t->perf_text)
        s_pystr_add (out, t->perf_base, strlen (t->perf_base));
    else
        geak_text_add (out, "None");
    geak_text_add (out, ",\n    \"perf_line\": 1,\n    \"perf\": ");
    if (t->perf_text)
        s_pystr_lines (out, t->perf_text, "    ");
    else
        geak_text_add (out, "None");
    geak_text_add (out, ",\n}\n\n");
    geak_text_add (out, geak_taskimport_bench_glue_py);
    return geak_text_take (&out);
}

static char *
s_spec_file (geak_taskimport_t *self, const task_t *t)
{
    //  the template with its task-data block (marker lines included) replaced
    const char *tpl = geak_taskimport_spec_py;
    const char *begin = strstr (tpl, SPEC_DATA_BEGIN);
    const char *end = begin ? strstr (begin, SPEC_DATA_END) : NULL;
    assert (begin && end);      //  the build embeds lib/taskimport/spec.py: a programmer error
    geak_text_t *out = geak_text_new ();
    geak_text_addn (out, tpl, (size_t) (begin - tpl));
    geak_text_add (out, "NAME = ");
    s_pystr_add (out, t->name, strlen (t->name));
    geak_text_addf (out, "\nPERF_CASES = %d\n", t->has_perf ? self->perf_cases : 0);
    geak_text_add (out, end + strlen (SPEC_DATA_END));
    return geak_text_take (&out);
}

//  A directory we may replace: absent, or made by an earlier import
static bool
s_replaceable (const char *dir)
{
    struct stat st;
    if (lstat (dir, &st) != 0)
        return errno == ENOENT;
    if (!S_ISDIR (st.st_mode))
        return false;
    char *path = geak_strdupf ("%s/%s", dir, "task.json");
    char *text = s_read_file (path);
    free (path);
    cJSON *root = text ? cJSON_Parse (text) : NULL;
    free (text);
    const cJSON *source = cJSON_GetObjectItemCaseSensitive (root, "source");
    bool ours = cJSON_IsObject (source) && s_str_field (source, "format") != NULL;
    cJSON_Delete (root);
    return ours;
}

//  Write the task into out_dir/<name> (via a temporary directory); NULL or why not
static char *
s_write_task (geak_taskimport_t *self, const char *out_dir, const task_t *t)
{
    char *final = geak_strdupf ("%s/%s", out_dir, t->name);
    if (!s_replaceable (final)) {
        char *why = geak_strdupf ("%s exists and was not made by an import: left alone", final);
        free (final);
        return why;
    }
    char tmp_name [PATH_MAX];
    snprintf (tmp_name, sizeof tmp_name, ".%s.tmp-%d", t->name, (int) getpid ());
    char *tmp = geak_strdupf ("%s/%s", out_dir, tmp_name);
    char *why = NULL;
    s_rmtree (tmp);
    if (mkdir (tmp, 0755) != 0)
        why = geak_strdupf ("cannot create %s: %s", tmp, strerror (errno));
    char *json = why ? NULL : s_task_json (self, t);
    char *append = why ? NULL : s_append_file (self, t);
    char *spec = why ? NULL : s_spec_file (self, t);
    if (!why && (s_write_file (tmp, "task.json", json) != 0
                 || s_write_file (tmp, "reference.py", t->kernel) != 0
                 || s_write_file (tmp, APPEND_FILE, append) != 0
                 || s_write_file (tmp, "spec.py", spec) != 0))
        why = geak_strdupf ("cannot write into %s: %s", tmp, strerror (errno));
    if (!why && s_rmtree (final) != 0)
        why = geak_strdupf ("cannot remove the earlier %s: %s", final, strerror (errno));
    if (!why && rename (tmp, final) != 0)
        why = geak_strdupf ("cannot rename %s to %s: %s", tmp, final, strerror (errno));
    if (why)
        s_rmtree (tmp);
    free (json);
    free (append);
    free (spec);
    free (tmp);
    free (final);
    return why;
}

//  Task names: the file's stem, with characters outside [A-Za-z0-9_.-] replaced
static char *
s_task_name (const char *file)
{
    char *name = geak_strdup (s_basename (file));
    if (s_ends_with (name, ".py"))
        name [strlen (name) - 3] = 0;
    for (char *p = name; *p; p++)
        if (!s_is_ident (*p) && *p != '-' && *p != '.')
            *p = '_';
    if (name [0] == '.' || name [0] == 0) {
        char *fixed = geak_strdupf ("task_%s", name);
        free (name);
        name = fixed;
    }
    return name;
}

static int
s_difficulty (const cJSON *entry)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive (entry, "difficulty");
    long v = 3;
    if (cJSON_IsNumber (d))
        v = (long) d->valuedouble;
    else
    if (cJSON_IsString (d) && d->valuestring)
        v = strtol (d->valuestring, NULL, 10);
    return v < 1 ? 1 : v > 5 ? 5 : (int) v;
}

static void
s_import_entry (geak_taskimport_t *self, const cJSON *entry, size_t index, const paths_t *py,
                const char *bench_path, const char *out_dir, const char *index_dir,
                const char *index_stem, const char *index_rel)
{
    const char *file = cJSON_IsObject (entry) ? s_str_field (entry, "file") : NULL;
    if (!file) {
        char label [32];
        snprintf (label, sizeof label, "entry %zu", index);
        s_result (self, label, "", geak_strdup ("the index entry names no file"));
        return;
    }
    char *name = s_task_name (file);
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->results [i].name, name) == 0) {
            s_result (self, name, file, geak_strdupf ("a second entry for %s (the first one counts)", name));
            free (name);
            return;
        }
    //  the file as named (relative to the index), else the best match by base name
    char *direct = geak_strdupf ("%s/%s", index_dir, file);
    const char *path = access (direct, R_OK) == 0 && strstr (file, "..") == NULL ? direct : NULL;
    if (!path) {
        char *want = geak_strdup (s_basename (file));
        if (!s_ends_with (want, ".py")) {
            char *with = geak_strdupf ("%s.py", want);
            free (want);
            want = with;
        }
        path = s_find (py, want, index_dir, index_stem, false);
        free (want);
    }
    if (!path) {
        s_result (self, name, file, geak_strdupf ("%s not found under %s", file, bench_path));
        free (direct);
        free (name);
        return;
    }
    char *source = s_read_file (path);
    char *kernel = NULL, *test = NULL;
    int test_line = 0;
    char *why = NULL;
    if (!source)
        why = geak_strdupf ("cannot read %s", path);
    else
    if (!geak_taskimport_split (source, &kernel, &test, &test_line))
        why = geak_strdupf ("%s has no separator line (%d '#' characters)", path, GEAK_TASKIMPORT_SEPARATOR_LEN);
    //  the instruction text
    const char *want_key = strcmp (self->instruction, "simp") == 0 ? "simp_instru" : "comp_instru";
    const char *other_key = strcmp (self->instruction, "simp") == 0 ? "comp_instru" : "simp_instru";
    const char *instruction = s_str_field (entry, want_key);
    const char *used = self->instruction;
    if (!instruction && (instruction = s_str_field (entry, other_key)))
        used = strcmp (self->instruction, "simp") == 0 ? "comp" : "simp";
    if (!instruction && (instruction = s_str_field (entry, "instruction")))
        used = "comp";     //  one instruction per task (ROCm's are the complex ones)
    if (!why && !instruction)
        why = geak_strdupf ("the index entry for %s has no instruction text", file);
    //  the perf script (TritonBench) or perf tests (ROCm)
    char *perf_text = NULL;
    const char *perf_path = NULL;
    bool has_perf = false;
    char *module = geak_strdup (s_basename (path));
    module [strlen (module) - (s_ends_with (module, ".py") ? 3 : 0)] = 0;
    if (!why && strcmp (self->format, GEAK_TASKIMPORT_TRITONBENCH) == 0) {
        char *perf_name = geak_strdupf ("%s_perf.py", module);
        perf_path = s_find (py, perf_name, index_dir, index_stem, true);
        free (perf_name);
        if (perf_path && !(perf_text = s_read_file (perf_path)))
            why = geak_strdupf ("cannot read %s", perf_path);
        has_perf = perf_text != NULL;
    }
    else
    if (!why)
        has_perf = strstr (test, "PytestBenchmarker") != NULL;
    if (!why) {
        task_t t = {
            .name = name, .rel_file = s_relative (path, bench_path), .file_base = s_basename (path),
            .module = module, .kernel = kernel, .test = test, .test_line = test_line,
            .instruction = instruction, .instruction_used = used, .difficulty = s_difficulty (entry),
            .perf_text = perf_text, .perf_rel = perf_path ? s_relative (perf_path, bench_path) : NULL,
            .perf_base = perf_path ? s_basename (perf_path) : NULL,
            .has_perf = has_perf && self->perf_cases > 0, .index_rel = index_rel
        };
        why = s_write_task (self, out_dir, &t);
    }
    s_result (self, name, s_relative (path, bench_path), why);
    if (why)
        geak_warn ("task_import_skipped", "task=%s why=\"%s\"", name, why);
    else
        geak_info ("task_imported", "task=%s format=%s perf=%d", name, self->format, has_perf);
    free (module);
    free (perf_text);
    free (kernel);
    free (test);
    free (source);
    free (direct);
    free (name);
}

geak_rc_t
geak_taskimport_run (geak_taskimport_t *self, const char *bench_path, const char *out_dir, char **why_p)
{
    assert (self);
    assert (bench_path && out_dir);
    char *why = NULL;
    s_results_clear (self);
    char *bench = realpath (bench_path, NULL);
    if (!bench) {
        if (why_p)
            *why_p = geak_strdupf ("%s: %s", bench_path, strerror (errno));
        return GEAK_E_NOT_FOUND;
    }
    cJSON *index = s_load_index (self, bench, &why);
    if (!index) {
        free (bench);
        if (why_p)
            *why_p = why;
        else
            free (why);
        return GEAK_E_NOT_FOUND;
    }
    if (s_mkdirs (out_dir) != 0) {
        cJSON_Delete (index);
        free (bench);
        if (why_p)
            *why_p = geak_strdupf ("cannot create %s: %s", out_dir, strerror (errno));
        return GEAK_E_IO;
    }
    char *index_real = realpath (self->index_used, NULL);
    const char *index_path = index_real ? index_real : self->index_used;
    char *index_dir = s_dirname (index_path);
    char *index_stem = geak_strdup (s_basename (index_path));
    if (s_ends_with (index_stem, ".json"))
        index_stem [strlen (index_stem) - 5] = 0;
    paths_t py = { 0 };
    s_walk (bench, 0, ".py", &py);
    if (py.n)
        qsort (py.paths, py.n, sizeof *py.paths, s_cmp_str);
    const cJSON *entry;
    size_t i = 0;
    cJSON_ArrayForEach (entry, index)
        s_import_entry (self, entry, i++, &py, bench, out_dir, index_dir, index_stem,
                        s_relative (index_path, bench));
    s_paths_free (&py);
    free (index_stem);
    free (index_dir);
    free (index_real);
    cJSON_Delete (index);
    free (bench);
    return GEAK_OK;
}

// ------------------------------------------------------------------ selftest

static void
s_test_put (const char *root, const char *rel, const char *text)
{
    char *path = geak_strdupf ("%s/%s", root, rel);
    char *dir = s_dirname (path);
    int rc = s_mkdirs (dir);
    GEAK_CHECK (rc == 0);
    char *name = geak_strdup (s_basename (path));
    rc = s_write_file (dir, name, text);
    GEAK_CHECK (rc == 0);
    free (name);
    free (dir);
    free (path);
}

static char *
s_test_get (const char *root, const char *rel)
{
    char *path = geak_strdupf ("%s/%s", root, rel);
    char *text = s_read_file (path);
    free (path);
    return text;
}

int
geak_taskimport_test (bool verbose)
{
    if (verbose)
        printf (" * geak_taskimport: ");
    char sep [GEAK_TASKIMPORT_SEPARATOR_LEN + 1];
    memset (sep, '#', GEAK_TASKIMPORT_SEPARATOR_LEN);
    sep [GEAK_TASKIMPORT_SEPARATOR_LEN] = 0;

    //  Python literals
    char *lit = geak_taskimport_pystr ("a\"b\\c\n\t\x01 \xc3\xa9 \xff!");
    GEAK_CHECK (streq (lit, "\"a\\\"b\\\\c\\n\\t\\x01 \xc3\xa9 \\ufffd!\""));
    free (lit);
    lit = geak_taskimport_pystr ("\xed\xa0\x80\xf4\x90\x80\x80");     //  a surrogate, > U+10FFFF
    GEAK_CHECK (streq (lit, "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""));
    free (lit);
    geak_text_t *lines = geak_text_new ();
    s_pystr_lines (lines, "x = 1\n\ny = 2", "");
    GEAK_CHECK (streq (geak_text_str (lines), "(\n    \"x = 1\\n\"\n    \"\\n\"\n    \"y = 2\"\n)"));
    geak_text_destroy (&lines);

    //  the split at the separator (surrounding blanks allowed, 145 or 147 '#' are not one)
    char *src = geak_strdupf ("import torch\ndef k():\n    pass\n  %s  \r\nresult_gold = k()\n", sep);
    char *kernel = NULL, *test = NULL;
    int line = 0;
    GEAK_CHECK (geak_taskimport_split (src, &kernel, &test, &line));
    GEAK_CHECK (streq (kernel, "import torch\ndef k():\n    pass\n"));
    GEAK_CHECK (streq (test, "result_gold = k()\n"));
    GEAK_CHECK (line == 5);
    free (kernel);
    free (test);
    free (src);
    src = geak_strdupf ("a\n%s#\nb\n%s\n", sep, sep + 1);
    GEAK_CHECK (!geak_taskimport_split (src, &kernel, &test, &line));
    GEAK_CHECK (!kernel && !test);
    free (src);

    //  what the candidate must define: the gold functions the test names
    char *sig = s_signature ("import triton\n@triton.jit\ndef add_kernel(x_ptr, n,\n"
                             "               BLOCK: tl.constexpr):\n    pass\n"
                             "@triton.autotune(configs=[\n    1], key=['n'])\n@triton.jit\n"
                             "def helper(a='):', b=(1, 2)):\n    pass\n"
                             "def unused(x):\n    pass\nclass Op:\n    pass\n",
                             "add_kernel[grid](x)\nhelper(1)\nOp()\nunused_too = 1\n");
    GEAK_CHECK (streq (sig, "@triton.jit\ndef add_kernel(x_ptr, n,\n               BLOCK: tl.constexpr):\n    ...\n"
                        "@triton.autotune(...)\n@triton.jit\ndef helper(a='):', b=(1, 2)):\n    ...\n"
                        "class Op:\n    ...\n"));
    free (sig);

    //  a small benchmark tree in the TritonBench-revised layout
    char root [] = "/tmp/geak-taskimport-XXXXXX";
    GEAK_CHECK (mkdtemp (root));
    char *bench = geak_strdupf ("%s/%s", root, "bench");
    char *out = geak_strdupf ("%s/%s", root, "out");
    src = geak_strdupf ("import torch\n\ndef add(x, y):\n    return x + y\n%s\n"
                  "def test_add():\n    return {'a': add(torch.ones(2), torch.ones(2))}\n"
                  "result_gold = test_add()\n", sep);
    s_test_put (bench, "data/TB_v1/add_x.py", src);
    s_test_put (bench, "EVAL/tmp/add_x.py", "an older copy: not chosen\n");
    free (src);
    s_test_put (bench, "data/TB_v1/nosep.py", "def f():\n    pass\n");
    src = geak_strdupf ("def keep():\n    pass\n%s\nresult_gold = keep()\n", sep);
    s_test_put (bench, "data/TB_v1/keep.py", src);
    free (src);
    s_test_put (bench, "performance_metrics/perf_G/golden_metrics/add_x_perf.py",
                "from add_x import add\nclass performance_metrics: pass\n");
    s_test_put (bench, "data/TB_v1.json",
                "[{\"file\": \"add_x.py\", \"comp_instru\": \"Complex \\\"text\\\"\", \"simp_instru\": \"Simple\","
                " \"difficulty\": \"2\", \"output\": \"...\"},"
                " {\"file\": \"nosep.py\", \"comp_instru\": \"C\", \"difficulty\": 9},"
                " {\"file\": \"missing.py\", \"comp_instru\": \"C\"},"
                " {\"file\": \"add_x.py\", \"comp_instru\": \"again\"},"
                " {\"file\": \"keep.py\", \"simp_instru\": \"only simple\"},"
                " {\"nofile\": 1}]");
    s_test_put (bench, "data/other.json", "{\"not\": \"an index\"}");
    s_test_put (out, "keep/mine.txt", "somebody's own directory\n");

    geak_taskimport_t *imp = geak_taskimport_new ("no-such-format");
    GEAK_CHECK (!imp);
    imp = geak_taskimport_new (GEAK_TASKIMPORT_TRITONBENCH);
    GEAK_CHECK (imp);
    GEAK_CHECK (geak_taskimport_set_instruction (imp, "other") == GEAK_E_INVALID);
    char *why = NULL;
    geak_rc_t rc = geak_taskimport_run (imp, bench, out, &why);
    GEAK_CHECK (rc == GEAK_OK);
    GEAK_CHECK (!why);
    GEAK_CHECK (s_ends_with (geak_taskimport_index (imp), "/data/TB_v1.json"));
    GEAK_CHECK (geak_taskimport_count (imp) == 6);
    GEAK_CHECK (geak_taskimport_skipped (imp) == 5);
    GEAK_CHECK (streq (geak_taskimport_name (imp, 0), "add_x"));
    GEAK_CHECK (!geak_taskimport_reason (imp, 0));
    GEAK_CHECK (streq (geak_taskimport_file (imp, 0), "data/TB_v1/add_x.py"));
    GEAK_CHECK (strstr (geak_taskimport_reason (imp, 1), "no separator"));
    GEAK_CHECK (strstr (geak_taskimport_reason (imp, 2), "not found"));
    GEAK_CHECK (strstr (geak_taskimport_reason (imp, 3), "second entry"));
    GEAK_CHECK (strstr (geak_taskimport_reason (imp, 4), "left alone"));
    GEAK_CHECK (strstr (geak_taskimport_reason (imp, 5), "names no file"));
    GEAK_CHECK (!geak_taskimport_name (imp, 6));

    char *json = s_test_get (out, "add_x/task.json");
    cJSON *task = cJSON_Parse (json);
    free (json);
    GEAK_CHECK (task);
    GEAK_CHECK (streq (s_str_field (task, "name"), "add_x"));
    GEAK_CHECK (streq (s_str_field (task, "instruction"), "Complex \"text\""));
    GEAK_CHECK (streq (s_str_field (task, "append"), APPEND_FILE));
    GEAK_CHECK (cJSON_GetObjectItem (task, "difficulty")->valuedouble == 2);
    const cJSON *entry = cJSON_GetObjectItem (task, "entry");
    GEAK_CHECK (streq (s_str_field (entry, "name"), ENTRY_NAME));
    GEAK_CHECK (streq (s_str_field (entry, "signature"), "def add(x, y):\n    ...\n"));
    const cJSON *source = cJSON_GetObjectItem (task, "source");
    GEAK_CHECK (streq (s_str_field (source, "format"), GEAK_TASKIMPORT_TRITONBENCH));
    GEAK_CHECK (streq (s_str_field (source, "instruction"), "comp"));
    GEAK_CHECK (streq (s_str_field (source, "file"), "data/TB_v1/add_x.py"));
    GEAK_CHECK (streq (s_str_field (source, "perf"), "performance_metrics/perf_G/golden_metrics/add_x_perf.py"));
    const cJSON *f16 = cJSON_GetObjectItem (cJSON_GetObjectItem (task, "tolerances"), "float16");
    GEAK_CHECK (cJSON_GetObjectItem (f16, "atol")->valuedouble == 1e-3);
    cJSON_Delete (task);
    char *text = s_test_get (out, "add_x/reference.py");
    GEAK_CHECK (streq (text, "import torch\n\ndef add(x, y):\n    return x + y\n"));
    free (text);
    text = s_test_get (out, "add_x/bench_test.py");
    GEAK_CHECK (strstr (text, "\"test_line\": 6,"));
    GEAK_CHECK (strstr (text, "        \"result_gold = test_add()\\n\"\n"));
    GEAK_CHECK (strstr (text, "\"perf_file\": \"add_x_perf.py\""));
    GEAK_CHECK (strstr (text, "\"layout\": \"script\""));
    GEAK_CHECK (strstr (text, "def geak_bench_entry("));
    free (text);
    text = s_test_get (out, "add_x/spec.py");
    GEAK_CHECK (strstr (text, "\nNAME = \"add_x\"\nPERF_CASES = 3\n"));
    GEAK_CHECK (strstr (text, "def make_inputs("));
    free (text);
    text = s_test_get (out, "keep/mine.txt");
    GEAK_CHECK (text);
    free (text);

    //  again, with the simple instruction and no perf cases: the same directory, overwritten
    GEAK_CHECK (geak_taskimport_set_instruction (imp, "simp") == GEAK_OK);
    geak_taskimport_set_perf_cases (imp, 0);
    rc = geak_taskimport_run (imp, bench, out, NULL);
    GEAK_CHECK (rc == GEAK_OK);
    GEAK_CHECK (geak_taskimport_count (imp) == 6);
    json = s_test_get (out, "add_x/task.json");
    task = cJSON_Parse (json);
    free (json);
    GEAK_CHECK (streq (s_str_field (task, "instruction"), "Simple"));
    GEAK_CHECK (streq (s_str_field (cJSON_GetObjectItem (task, "source"), "instruction"), "simp"));
    cJSON_Delete (task);
    text = s_test_get (out, "add_x/spec.py");
    GEAK_CHECK (strstr (text, "\nPERF_CASES = 0\n"));
    free (text);
    //  no stray temporary directories
    DIR *d = opendir (out);
    GEAK_CHECK (d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir (d)))
        if (e->d_name [0] != '.')
            entries++;
        else
            GEAK_CHECK (streq (e->d_name, ".") || streq (e->d_name, ".."));
    closedir (d);
    GEAK_CHECK (entries == 2);

    //  indexes: a given one that is not an index, none at all, two of them
    geak_taskimport_set_index (imp, "/nonexistent/index.json");
    rc = geak_taskimport_run (imp, bench, out, &why);
    GEAK_CHECK (rc == GEAK_E_NOT_FOUND);
    GEAK_CHECK (why && strstr (why, "not a benchmark index"));
    free (why);
    why = NULL;
    geak_taskimport_set_index (imp, NULL);
    char *empty = geak_strdupf ("%s/%s", root, "empty");
    GEAK_CHECK (s_mkdirs (empty) == 0);
    rc = geak_taskimport_run (imp, empty, out, &why);
    GEAK_CHECK (rc == GEAK_E_NOT_FOUND);
    GEAK_CHECK (why && strstr (why, "no index JSON"));
    free (why);
    why = NULL;
    s_test_put (bench, "data/TB_v1_copy.json", "[{\"file\": \"keep.py\", \"instruction\": \"x\"}]");
    rc = geak_taskimport_run (imp, bench, out, &why);
    GEAK_CHECK (rc == GEAK_E_NOT_FOUND);
    GEAK_CHECK (why && strstr (why, "several index files"));
    free (why);
    geak_taskimport_destroy (&imp);
    geak_taskimport_destroy (&imp);

    //  the ROCm layout: pytest perf tests found in the test section
    imp = geak_taskimport_new (GEAK_TASKIMPORT_ROCM);
    GEAK_CHECK (imp);
    src = geak_strdupf ("@triton.jit\ndef k(x):\n    pass\n%s\nresult_gold = {}\n"
                  "def test_performance(request):\n    PytestBenchmarker(op_callable=lambda: k[1](1))\n", sep);
    char *rocm = geak_strdupf ("%s/%s", root, "rocm");
    s_test_put (rocm, "data/ROCm_v1/test_k.py", src);
    free (src);
    s_test_put (rocm, "data/ROCm_eval.json", "[{\"file\": \"test_k.py\", \"instruction\": \"Write k.\"}]");
    rc = geak_taskimport_run (imp, rocm, out, NULL);
    GEAK_CHECK (rc == GEAK_OK);
    GEAK_CHECK (geak_taskimport_skipped (imp) == 0);
    text = s_test_get (out, "test_k/bench_test.py");
    GEAK_CHECK (strstr (text, "\"layout\": \"pytest\""));
    GEAK_CHECK (strstr (text, "\"perf\": None"));
    free (text);
    text = s_test_get (out, "test_k/spec.py");
    GEAK_CHECK (strstr (text, "\nPERF_CASES = 3\n"));
    free (text);
    json = s_test_get (out, "test_k/task.json");
    task = cJSON_Parse (json);
    free (json);
    GEAK_CHECK (streq (s_str_field (cJSON_GetObjectItem (task, "source"), "format"), GEAK_TASKIMPORT_ROCM));
    GEAK_CHECK (cJSON_GetObjectItem (task, "difficulty")->valuedouble == 3);
    GEAK_CHECK (streq (s_str_field (cJSON_GetObjectItem (task, "entry"), "signature"),
                   "@triton.jit\ndef k(x):\n    ...\n"));
    cJSON_Delete (task);
    geak_taskimport_destroy (&imp);

    GEAK_CHECK (s_rmtree (root) == 0);
    free (rocm);
    free (empty);
    free (bench);
    free (out);
    if (verbose)
        printf ("OK\n");
    return 0;
}
