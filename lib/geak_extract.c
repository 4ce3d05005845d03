/*  geak_extract.c - the code in an LLM reply (rules in geak_extract.h). */
#include "geak_prelude.h"
#include "geak_extract.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <strings.h>

typedef struct {
    size_t start;       //  first byte of the line
    size_t end;         //  one past the last byte, before '\n' (and '\r')
    size_t next;        //  first byte of the next line
} s_line_t;

//  The line starting at pos; false at the end of the text.
static bool
s_line_at (const char *text, size_t size, size_t pos, s_line_t *line)
{
    if (pos >= size)
        return false;
    const char *nl = memchr (text + pos, '\n', size - pos);
    line->start = pos;
    line->end = nl ? (size_t) (nl - text) : size;
    line->next = nl ? line->end + 1 : size;
    if (line->end > line->start && text [line->end - 1] == '\r')
        line->end--;
    return true;
}

//  A fence line: up to 3 spaces, then 3+ ` or ~. Sets the fence char,
//  its length and where the info string starts.
static bool
s_is_fence (const char *text, const s_line_t *line, char *fch, size_t *flen, size_t *info)
{
    size_t p = line->start, indent = 0;
    while (p < line->end && text [p] == ' ' && indent < 4) {
        p++;
        indent++;
    }
    if (indent > 3 || p >= line->end || (text [p] != '`' && text [p] != '~'))
        return false;
    char c = text [p];
    size_t n = 0;
    while (p + n < line->end && text [p + n] == c)
        n++;
    if (n < 3)
        return false;
    *fch = c;
    *flen = n;
    *info = p + n;
    return true;
}

//  A closing fence for (fch, flen): the fence and only whitespace after it.
static bool
s_is_closer (const char *text, const s_line_t *line, char fch, size_t flen)
{
    char c;
    size_t n, info;
    if (!s_is_fence (text, line, &c, &n, &info) || c != fch || n < flen)
        return false;
    for (size_t p = info; p < line->end; p++)
        if (!isspace ((unsigned char) text [p]))
            return false;
    return true;
}

typedef enum { LABEL_PYTHON, LABEL_JSON, LABEL_OTHER } s_label_t;

static s_label_t
s_label (const char *text, size_t info, size_t end)
{
    while (info < end && isspace ((unsigned char) text [info]))
        info++;
    if (info < end && text [info] == '{')       //  ```{python} (notebook style)
        info++;
    size_t n = 0;
    while (info + n < end && (isalnum ((unsigned char) text [info + n]) || text [info + n] == '_'
                              || text [info + n] == '-' || text [info + n] == '+'))
        n++;
    if (n == 0)
        return LABEL_PYTHON;
    static const char *python [] = { "python", "py", "python3", "py3", "triton", "ipython", "pycon" };
    for (size_t i = 0; i < sizeof python / sizeof python [0]; i++)
        if (strlen (python [i]) == n && strncasecmp (text + info, python [i], n) == 0)
            return LABEL_PYTHON;
    if (n == 4 && strncasecmp (text + info, "json", 4) == 0)
        return LABEL_JSON;
    return LABEL_OTHER;
}

typedef struct {
    size_t start, end;      //  the body bytes
    s_label_t label;
    bool closed;
} s_block_t;

#define MAX_BLOCKS 256

//  Find fenced blocks; returns how many (at most MAX_BLOCKS).
static size_t
s_blocks (const char *text, size_t size, s_block_t *blocks)
{
    size_t count = 0, pos = 0;
    s_line_t line;
    while (count < MAX_BLOCKS && s_line_at (text, size, pos, &line)) {
        char fch;
        size_t flen, info;
        pos = line.next;
        if (!s_is_fence (text, &line, &fch, &flen, &info))
            continue;
        //  a backtick fence's info string may not hold a backtick
        if (fch == '`' && memchr (text + info, '`', line.end - info))
            continue;
        s_block_t *block = &blocks [count++];
        block->label = s_label (text, info, line.end);
        block->start = line.next;
        block->end = size;
        block->closed = false;
        while (s_line_at (text, size, pos, &line)) {
            pos = line.next;
            if (s_is_closer (text, &line, fch, flen)) {
                block->end = line.start;
                block->closed = true;
                break;
            }
        }
    }
    return count;
}

static bool
s_blank (const char *text, size_t start, size_t end)
{
    for (size_t p = start; p < end; p++)
        if (!isspace ((unsigned char) text [p]))
            return false;
    return true;
}

//  Copy bytes, "\r\n" -> "\n", trailing blank lines trimmed, one final '\n'.
static char *
s_copy_code (const char *text, size_t start, size_t end)
{
    //  drop leading blank lines
    size_t p = start;
    while (p < end) {
        const char *nl = memchr (text + p, '\n', end - p);
        if (!nl || !s_blank (text, p, (size_t) (nl - text)))
            break;
        p = (size_t) (nl - text) + 1;
    }
    while (end > p && isspace ((unsigned char) text [end - 1]))
        end--;
    if (end <= p)
        return NULL;
    char *code = malloc (end - p + 2);
    if (!code)
        return NULL;
    size_t n = 0;
    for (size_t i = p; i < end; i++) {
        if (text [i] == '\r' && i + 1 < end && text [i + 1] == '\n')
            continue;
        if (text [i] == '\0')       //  embedded NUL: the code ends there
            break;
        code [n++] = text [i];
    }
    code [n++] = '\n';
    code [n] = '\0';
    if (s_blank (code, 0, n)) {
        free (code);
        return NULL;
    }
    return code;
}

//  The "code" string of a JSON object in text [start, end), or NULL.
static char *
s_json_code (const char *text, size_t start, size_t end)
{
    const char *open = memchr (text + start, '{', end - start);
    if (!open)
        return NULL;
    size_t last = end;
    while (last > (size_t) (open - text) && text [last - 1] != '}')
        last--;
    if (last <= (size_t) (open - text))
        return NULL;
    cJSON *root = cJSON_ParseWithLength (open, last - (size_t) (open - text));
    char *code = NULL;
    const cJSON *field = cJSON_GetObjectItemCaseSensitive (root, "code");
    if (cJSON_IsObject (root) && cJSON_IsString (field) && field->valuestring) {
        const char *value = field->valuestring;
        //  the field itself may hold a fenced block
        geak_extract_kind_t inner;
        code = geak_extract_code (value, strlen (value), &inner);
        if (!code || inner == GEAK_EXTRACT_PLAIN || inner == GEAK_EXTRACT_JSON) {
            free (code);
            code = s_copy_code (value, 0, strlen (value));
        }
    }
    cJSON_Delete (root);
    return code;
}

static bool
s_starts_word (const char *text, size_t p, size_t end, const char *word)
{
    size_t n = strlen (word);
    return end - p >= n && strncmp (text + p, word, n) == 0
        && (end - p == n || !(isalnum ((unsigned char) text [p + n]) || text [p + n] == '_'));
}

static const char *s_keywords [] = {
    "import", "from", "def", "class", "return", "if", "elif", "else", "for", "while", "with",
    "try", "except", "finally", "assert", "raise", "pass", "print", "async", "await", "yield",
    "global", "nonlocal", "del", "lambda", "break", "continue",
};

static bool
s_starts_keyword (const char *text, size_t p, size_t end)
{
    for (size_t i = 0; i < sizeof s_keywords / sizeof s_keywords [0]; i++)
        if (s_starts_word (text, p, end, s_keywords [i]))
            return true;
    return false;
}

//  A module-level assignment at column 0: NAME [: type] = value (not ==)
static bool
s_is_assignment (const char *text, size_t p, size_t e)
{
    if (p >= e || !(isalpha ((unsigned char) text [p]) || text [p] == '_'))
        return false;
    size_t i = p;
    while (i < e && (isalnum ((unsigned char) text [i]) || text [i] == '_' || text [i] == '.'
                     || text [i] == ',' || text [i] == ' ' || text [i] == ':' || text [i] == '['
                     || text [i] == ']'))
        i++;
    return i + 1 < e && text [i] == '=' && text [i + 1] != '=';
}

//  Where plain code starts: import / from / def / class / a decorator / a
//  module-level assignment, at column 0.
static bool
s_is_code_start (const char *text, const s_line_t *line)
{
    size_t p = line->start, e = line->end;
    return s_starts_word (text, p, e, "import") || s_starts_word (text, p, e, "from")
        || s_starts_word (text, p, e, "def") || s_starts_word (text, p, e, "class")
        || (e > p + 1 && text [p] == '@' && isalpha ((unsigned char) text [p + 1]))
        || s_is_assignment (text, p, e);
}

//  An unindented line that reads like an English sentence. A trailing
//  comment is not part of the judgement ("torch.manual_seed(0)  # fix the
//  seed for the run" is code); a call or an assignment is code.
static bool
s_is_prose (const char *text, const s_line_t *line)
{
    size_t p = line->start, e = line->end;
    if (p >= e || !isalpha ((unsigned char) text [p]) || s_starts_keyword (text, p, e))
        return false;
    const char *hash = memchr (text + p, '#', e - p);
    if (hash)
        e = (size_t) (hash - text);
    size_t words = 1;
    bool assign = false, call = false;
    for (size_t i = p; i < e; i++) {
        if (text [i] == ' ' && i + 1 < e && text [i + 1] != ' ')
            words++;
        if (text [i] == '=')
            assign = true;
        if (text [i] == '(' && i > p && (isalnum ((unsigned char) text [i - 1]) || text [i - 1] == '_'))
            call = true;
    }
    size_t last = e;
    while (last > p && isspace ((unsigned char) text [last - 1]))
        last--;
    char tail = last > p ? text [last - 1] : 0;
    if (assign || (call && (tail == ')' || tail == ':' || tail == ',' || words <= 2)))
        return false;
    return words >= 4 || tail == '.' || tail == '!' || tail == '?';
}

static char *
s_plain_code (const char *text, size_t size)
{
    size_t pos = 0, start = SIZE_MAX, end = 0, code_lines = 0, comment_at = SIZE_MAX;
    bool def_or_import = false;
    s_line_t line;
    while (s_line_at (text, size, pos, &line)) {
        pos = line.next;
        bool blank = s_blank (text, line.start, line.end);
        if (start == SIZE_MAX) {
            bool comment = line.end > line.start && text [line.start] == '#';
            if (comment && comment_at == SIZE_MAX)
                comment_at = line.start;        //  a header comment may belong to the code
            else
            if (!comment && !s_is_code_start (text, &line))
                comment_at = SIZE_MAX;
            if (!s_is_code_start (text, &line))
                continue;
            start = comment_at != SIZE_MAX ? comment_at : line.start;
        }
        else
        if (!blank && s_is_prose (text, &line))
            break;
        if (blank)
            continue;
        end = line.end;
        code_lines++;
        if (s_starts_word (text, line.start, line.end, "def")
        ||  s_starts_word (text, line.start, line.end, "import")
        ||  s_starts_word (text, line.start, line.end, "from")
        ||  (line.end - line.start > 4 && memmem (text + line.start, line.end - line.start, "def ", 4)))
            def_or_import = true;
    }
    if (start == SIZE_MAX || !def_or_import || code_lines < 2)
        return NULL;
    return s_copy_code (text, start, end);
}

char *
geak_extract_code (const char *text, size_t size, geak_extract_kind_t *kind)
{
    geak_extract_kind_t dummy;
    if (!kind)
        kind = &dummy;
    *kind = GEAK_EXTRACT_NONE;
    if (!text || size == 0)
        return NULL;
    s_block_t *blocks = malloc (sizeof (s_block_t) * MAX_BLOCKS);
    if (!blocks)
        return NULL;
    size_t count = s_blocks (text, size, blocks);
    //  1. fenced Python: with @triton.jit first, then the largest
    const s_block_t *best = NULL;
    bool best_jit = false;
    for (size_t i = 0; i < count; i++) {
        const s_block_t *b = &blocks [i];
        if (b->label != LABEL_PYTHON || s_blank (text, b->start, b->end))
            continue;
        bool jit = b->end - b->start >= 11 && memmem (text + b->start, b->end - b->start,
                                                      "@triton.jit", 11) != NULL;
        if (!best || (jit && !best_jit)
        ||  (jit == best_jit && b->end - b->start > best->end - best->start)) {
            best = b;
            best_jit = jit;
        }
    }
    char *code = NULL;
    if (best) {
        code = s_copy_code (text, best->start, best->end);
        if (code)
            *kind = best->closed ? GEAK_EXTRACT_FENCED : GEAK_EXTRACT_TRUNCATED;
    }
    //  2. JSON: ```json blocks, then the whole text
    for (size_t i = 0; !code && i < count; i++)
        if (blocks [i].label == LABEL_JSON && (code = s_json_code (text, blocks [i].start, blocks [i].end)))
            *kind = GEAK_EXTRACT_JSON;
    if (!code && (code = s_json_code (text, 0, size)))
        *kind = GEAK_EXTRACT_JSON;
    //  3. plain code, only when there were no fences at all
    if (!code && count == 0 && (code = s_plain_code (text, size)))
        *kind = GEAK_EXTRACT_PLAIN;
    free (blocks);
    return code;
}

const char *
geak_extract_kind_name (geak_extract_kind_t kind)
{
    switch (kind) {
        case GEAK_EXTRACT_NONE:      return "none";
        case GEAK_EXTRACT_FENCED:    return "fenced";
        case GEAK_EXTRACT_TRUNCATED: return "truncated";
        case GEAK_EXTRACT_JSON:      return "json";
        case GEAK_EXTRACT_PLAIN:     return "plain";
    }
    return "unknown";
}

char *
geak_extract_prose (const char *text, size_t size, size_t max_bytes)
{
    if (!text || size == 0 || max_bytes == 0)
        return NULL;
    s_block_t *blocks = malloc (sizeof (s_block_t) * MAX_BLOCKS);
    char *prose = malloc (size + 1);
    if (!blocks || !prose) {
        free (blocks);
        free (prose);
        return NULL;
    }
    size_t count = s_blocks (text, size, blocks);
    size_t n = 0, pos = 0;
    for (size_t i = 0; i <= count; i++) {
        //  text before block i: up to the start of its opening fence line
        size_t stop = size;
        if (i < count) {
            stop = blocks [i].start;
            if (stop > 0)
                stop--;                         //  the '\n' ending the fence line
            while (stop > pos && text [stop - 1] != '\n')
                stop--;
        }
        for (size_t p = pos; p < stop; p++)
            if (text [p] != '\0' && text [p] != '\r')
                prose [n++] = text [p];
        if (i < count) {
            s_line_t closer;
            pos = blocks [i].closed && s_line_at (text, size, blocks [i].end, &closer)
                ? closer.next : size;
            if (pos < stop)
                pos = stop;
        }
    }
    free (blocks);
    size_t a = 0;
    while (a < n && isspace ((unsigned char) prose [a]))
        a++;
    while (n > a && isspace ((unsigned char) prose [n - 1]))
        n--;
    if (n - a > max_bytes) {
        n = a + max_bytes;
        while (n > a && ((unsigned char) prose [n] & 0xC0) == 0x80)
            n--;                                //  do not cut a UTF-8 sequence
    }
    if (n == a) {
        free (prose);
        return NULL;
    }
    memmove (prose, prose + a, n - a);
    prose [n - a] = '\0';
    return prose;
}

// ---------------------------------------------------------------- selftest

static int
s_check (const char *text, const char *want, geak_extract_kind_t want_kind, bool verbose)
{
    geak_extract_kind_t kind;
    char *code = geak_extract_code (text, text ? strlen (text) : 0, &kind);
    int fail = want ? !(code && strcmp (code, want) == 0 && kind == want_kind) : code != NULL;
    if (fail || verbose)
        printf ("  extract [%.50s...] -> %s [%s]\n", text ? text : "(null)",
                geak_extract_kind_name (kind), code ? code : "(null)");
    free (code);
    return fail;
}

int
geak_extract_test (bool verbose)
{
    int fails = 0;
    fails += s_check (NULL, NULL, GEAK_EXTRACT_NONE, verbose);
    fails += s_check ("", NULL, GEAK_EXTRACT_NONE, verbose);
    fails += s_check ("I cannot help with that.", NULL, GEAK_EXTRACT_NONE, verbose);
    fails += s_check ("Here:\n```python\nimport torch\nx = 1\n```\nDone.",
                      "import torch\nx = 1\n", GEAK_EXTRACT_FENCED, verbose);
    fails += s_check ("```py\r\ndef f():\r\n    return 1\r\n```", "def f():\n    return 1\n",
                      GEAK_EXTRACT_FENCED, verbose);
    //  prefer the @triton.jit block over a larger one
    fails += s_check ("```python\nimport torch\n# a long helper block with many words in it\n"
                      "def helper():\n    pass\n```\n```\n@triton.jit\ndef k(x):\n    pass\n```\n",
                      "@triton.jit\ndef k(x):\n    pass\n", GEAK_EXTRACT_FENCED, verbose);
    //  else the largest; non-Python blocks ignored
    fails += s_check ("```bash\npip install triton torch numpy and much more text\n```\n"
                      "```python\na = 1\n```\n```\nb = 22222\n```\n",
                      "b = 22222\n", GEAK_EXTRACT_FENCED, verbose);
    //  truncated reply
    fails += s_check ("Sure!\n```python\n@triton.jit\ndef k(x):\n    y = x +",
                      "@triton.jit\ndef k(x):\n    y = x +\n", GEAK_EXTRACT_TRUNCATED, verbose);
    //  a longer closing fence, ~~~ fences, indented fences
    fails += s_check ("````python\nx = 1\n`````\n", "x = 1\n", GEAK_EXTRACT_FENCED, verbose);
    fails += s_check ("~~~python\nx = 2\n~~~\n", "x = 2\n", GEAK_EXTRACT_FENCED, verbose);
    fails += s_check ("  ```python\nx = 3\n  ```\n", "x = 3\n", GEAK_EXTRACT_FENCED, verbose);
    //  empty fenced block: nothing
    fails += s_check ("```python\n\n   \n```\n", NULL, GEAK_EXTRACT_NONE, verbose);
    //  JSON
    fails += s_check ("{\"code\": \"import triton\\nx = 1\", \"notes\": \"n\"}",
                      "import triton\nx = 1\n", GEAK_EXTRACT_JSON, verbose);
    fails += s_check ("Result:\n```json\n{\"code\": \"```python\\ny = 2\\n```\"}\n```",
                      "y = 2\n", GEAK_EXTRACT_JSON, verbose);
    fails += s_check ("{\"code\": 5}", NULL, GEAK_EXTRACT_NONE, verbose);
    fails += s_check ("{\"code\": \"x", NULL, GEAK_EXTRACT_NONE, verbose);
    //  plain code with leading and trailing prose
    fails += s_check ("Here is the kernel:\nimport triton\n\n@triton.jit\ndef k(x):\n"
                      "    return x\nThis kernel adds things together quickly.\n",
                      "import triton\n\n@triton.jit\ndef k(x):\n    return x\n",
                      GEAK_EXTRACT_PLAIN, verbose);
    fails += s_check ("import this is not code at all", NULL, GEAK_EXTRACT_NONE, verbose);
    //  plain code is never cut: a call with a long trailing comment, a constant above the
    //  imports, a header comment
    fails += s_check ("import torch\ntorch.manual_seed(0)  # fix the seed for every run here\n"
                      "def f(x):\n    return x\n",
                      "import torch\ntorch.manual_seed(0)  # fix the seed for every run here\n"
                      "def f(x):\n    return x\n", GEAK_EXTRACT_PLAIN, verbose);
    fails += s_check ("BLOCK_SIZE = 1024\nimport torch\n\ndef f(x):\n    return x * BLOCK_SIZE\n",
                      "BLOCK_SIZE = 1024\nimport torch\n\ndef f(x):\n    return x * BLOCK_SIZE\n",
                      GEAK_EXTRACT_PLAIN, verbose);
    fails += s_check ("Sure.\n# The kernel, with its wrapper\nimport torch\ndef f(x):\n    return x\n",
                      "# The kernel, with its wrapper\nimport torch\ndef f(x):\n    return x\n",
                      GEAK_EXTRACT_PLAIN, verbose);
    fails += s_check ("print_results(x)\nimport torch\ndef f(x):\n    return x\n"
                      "launch_grid(n, BLOCK)  # one program per block of the output tensor\n",
                      "import torch\ndef f(x):\n    return x\n"
                      "launch_grid(n, BLOCK)  # one program per block of the output tensor\n",
                      GEAK_EXTRACT_PLAIN, verbose);
    fails += s_check ("We define the function as follows, then import it.", NULL,
                      GEAK_EXTRACT_NONE, verbose);
    //  odd bytes
    const char odd [] = "```python\nx = 1\0hidden\n```";
    geak_extract_kind_t kind;
    char *code = geak_extract_code (odd, sizeof odd - 1, &kind);
    fails += !code || strcmp (code, "x = 1\n") != 0;
    free (code);
    fails += s_check ("```", NULL, GEAK_EXTRACT_NONE, verbose);
    fails += s_check ("```\n", NULL, GEAK_EXTRACT_NONE, verbose);
    fails += s_check ("``` ```\nx\n", NULL, GEAK_EXTRACT_NONE, verbose);
    //  prose
    const char *reply = "The mask was missing.\n```python\nx = 1\n```\nNow it is fixed.";
    char *prose = geak_extract_prose (reply, strlen (reply), 1000);
    fails += !prose || strcmp (prose, "The mask was missing.\nNow it is fixed.") != 0;
    if (verbose || !prose)
        printf ("  prose [%s]\n", prose ? prose : "(null)");
    free (prose);
    prose = geak_extract_prose (reply, strlen (reply), 8);
    fails += !prose || strcmp (prose, "The mask") != 0;
    free (prose);
    prose = geak_extract_prose ("```python\nx\n```", 16, 100);
    fails += prose != NULL;
    free (prose);
    return fails;
}
