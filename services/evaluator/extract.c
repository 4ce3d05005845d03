/*  extract.c - pick the candidate code out of a reply (see extract.h). */
#include "extract.h"

#include <ctype.h>

static bool
s_blank (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace ((unsigned char) s [i]))
            return false;
    return true;
}

static bool
s_starts (const char *line, size_t len, const char *word)
{
    size_t n = strlen (word);
    return len >= n && memcmp (line, word, n) == 0;
}

//  Some line at column 0 that only Python code would start with
static bool
s_looks_like_python (const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        size_t len = (size_t) ((eol ? eol : end) - p);
        if (s_starts (p, len, "import ") || s_starts (p, len, "from ")
            || s_starts (p, len, "def ") || s_starts (p, len, "class ")
            || s_starts (p, len, "@triton.") || s_starts (p, len, "@torch."))
            return true;
        p = eol ? eol + 1 : end;
    }
    return false;
}

static bool
s_python_label (const char *info, size_t len)
{
    while (len && isspace ((unsigned char) info [len - 1]))
        len--;
    while (len && isspace ((unsigned char) *info)) {
        info++;
        len--;
    }
    //  the first word of the info string
    size_t word = 0;
    while (word < len && !isspace ((unsigned char) info [word]) && info [word] != '{')
        word++;
    return (word == 6 && strncasecmp (info, "python", 6) == 0)
        || (word == 7 && strncasecmp (info, "python3", 7) == 0)
        || (word == 2 && strncasecmp (info, "py", 2) == 0)
        || (word == 6 && strncasecmp (info, "triton", 6) == 0);
}

static bool
s_contains (const char *s, size_t n, const char *needle)
{
    size_t k = strlen (needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp (s + i, needle, k) == 0)
            return true;
    return false;
}

char *
extract_code (const char *text)
{
    if (!text)
        return NULL;
    size_t total = strlen (text);
    if (s_blank (text, total))
        return NULL;
    if (!strstr (text, "```")) {
        //  plain code, or prose without code
        if (!s_looks_like_python (text, total))
            return NULL;
        return geak_strdup (text);
    }
    const char *best = NULL;
    size_t best_len = 0;
    int best_score = -1;
    const char *p = text, *end = text + total;
    while (p < end) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        size_t len = (size_t) ((eol ? eol : end) - p);
        size_t indent = 0;
        while (indent < len && indent < 3 && p [indent] == ' ')
            indent++;
        if (len - indent >= 3 && memcmp (p + indent, "```", 3) == 0) {
            //  an opening fence: the info string is the rest of the line
            const char *info = p + indent + 3;
            size_t info_len = len - indent - 3;
            bool python = s_python_label (info, info_len);
            bool unlabelled = s_blank (info, info_len);
            const char *body = eol ? eol + 1 : end;
            const char *q = body;
            const char *body_end = end;
            const char *next = end;
            while (q < end) {
                const char *qe = memchr (q, '\n', (size_t) (end - q));
                size_t ql = (size_t) ((qe ? qe : end) - q);
                size_t qi = 0;
                while (qi < ql && qi < 3 && q [qi] == ' ')
                    qi++;
                if (ql - qi >= 3 && memcmp (q + qi, "```", 3) == 0
                    && s_blank (q + qi + 3, ql - qi - 3)) {
                    body_end = q;
                    next = qe ? qe + 1 : end;
                    break;
                }
                q = qe ? qe + 1 : end;
            }
            size_t body_len = (size_t) (body_end - body);
            if ((python || (unlabelled && s_looks_like_python (body, body_len)))
                && !s_blank (body, body_len)) {
                int score = (python ? 2 : 1) + (s_contains (body, body_len, "@triton.jit") ? 4 : 0);
                if (score > best_score || (score == best_score && body_len > best_len)) {
                    best = body;
                    best_len = body_len;
                    best_score = score;
                }
            }
            p = next;
            continue;
        }
        p = eol ? eol + 1 : end;
    }
    if (!best)
        return NULL;
    char *code = malloc (best_len + 1);
    assert (code);
    memcpy (code, best, best_len);
    code [best_len] = 0;
    return code;
}

int
extract_selftest (bool verbose)
{
    struct {
        const char *text;
        const char *expect;     //  NULL: no code; else a substring that must be there
        const char *absent;     //  a substring that must not be there
    } cases [] = {
        { "", NULL, NULL },
        { "   \n\t ", NULL, NULL },
        { "I am sorry, I cannot write that kernel.", NULL, NULL },
        { "import torch\nx = 1\n", "import torch", NULL },
        { "Here:\n```python\nimport triton\n```\nDone.", "import triton", "Here" },
        { "```\nimport torch\n```", "import torch", NULL },
        { "```bash\npip install triton\n```\nno code", NULL, NULL },
        { "Use:\n```python\nprint(1)\n```\nKernel:\n```python\nimport triton\n@triton.jit\ndef k():\n"
          "    pass\n```\n", "@triton.jit", "print(1)" },
        { "```py\nimport torch\ny = 2", "y = 2", NULL },
        { "```python\n\n```", NULL, NULL },
        { "  ```Python3\nfrom torch import nn\n  ```\n", "from torch import nn", "```" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char *code = extract_code (cases [i].text);
        bool ok = cases [i].expect ? code && strstr (code, cases [i].expect)
                                   : code == NULL;
        if (ok && code && cases [i].absent && strstr (code, cases [i].absent))
            ok = false;
        if (verbose || !ok)
            printf ("  extract case %zu: %s\n", i, ok ? "ok" : "FAILED");
        free (code);
        if (!ok)
            return -1;
    }
    assert (extract_code (NULL) == NULL);
    return 0;
}
