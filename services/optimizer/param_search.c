/*  param_search.c - launch-parameter neighbourhood search (param_search.h). */
#include "param_search.h"

#include <ctype.h>

#define MAX_SITES 128
#define MAX_PARAMS 16

typedef struct {
    size_t name_start, name_len;
    size_t value_start, value_len;
    long value;
} s_site_t;

typedef enum { KIND_BLOCK, KIND_WARPS, KIND_STAGES } s_kind_t;

static bool
s_ident_char (char c)
{
    return isalnum ((unsigned char) c) || c == '_';
}

static bool
s_kind_of (const char *name, size_t len, s_kind_t *kind)
{
    if (len == 9 && strncmp (name, "num_warps", 9) == 0) {
        *kind = KIND_WARPS;
        return true;
    }
    if (len == 10 && strncmp (name, "num_stages", 10) == 0) {
        *kind = KIND_STAGES;
        return true;
    }
    bool upper = true;
    for (size_t i = 0; i < len; i++)
        if (islower ((unsigned char) name [i]))
            upper = false;
    if (!upper || len < 4)
        return false;
    bool block = memmem (name, len, "BLOCK", 5) != NULL
              || (len > 5 && strncmp (name + len - 5, "_SIZE", 5) == 0);
    *kind = KIND_BLOCK;
    return block;
}

//  Find parameter sites: NAME = int, NAME=int, 'NAME': int, "NAME": int.
static size_t
s_sites (const char *code, s_site_t *sites)
{
    size_t n = 0, len = strlen (code);
    for (size_t i = 0; i < len && n < MAX_SITES; i++) {
        if (!s_ident_char (code [i]) || (i > 0 && s_ident_char (code [i - 1])))
            continue;
        size_t start = i, end = i;
        while (end < len && s_ident_char (code [end]))
            end++;
        i = end - 1;
        s_kind_t kind;
        if (isdigit ((unsigned char) code [start]) || !s_kind_of (code + start, end - start, &kind))
            continue;
        size_t p = end;
        bool quoted = start > 0 && (code [start - 1] == '\'' || code [start - 1] == '"');
        if (quoted) {
            if (p >= len || code [p] != code [start - 1])
                continue;
            p++;
        }
        while (p < len && (code [p] == ' ' || code [p] == '\t'))
            p++;
        if (p >= len || code [p] != (quoted ? ':' : '='))
            continue;
        if (!quoted && p + 1 < len && code [p + 1] == '=')
            continue;                               //  comparison
        p++;
        while (p < len && (code [p] == ' ' || code [p] == '\t'))
            p++;
        size_t vs = p;
        while (p < len && isdigit ((unsigned char) code [p]))
            p++;
        if (p == vs || p - vs > 6 || (p < len && (s_ident_char (code [p]) || code [p] == '.')))
            continue;
        sites [n].name_start = start;
        sites [n].name_len = end - start;
        sites [n].value_start = vs;
        sites [n].value_len = p - vs;
        sites [n].value = strtol (code + vs, NULL, 10);
        n++;
    }
    return n;
}

static bool
s_pow2 (long v)
{
    return v > 0 && (v & (v - 1)) == 0;
}

//  Neighbour values of a parameter (0 = none)
static void
s_neighbours (s_kind_t kind, long v, long out [2])
{
    out [0] = out [1] = 0;
    if (kind == KIND_BLOCK && s_pow2 (v)) {
        if (v * 2 <= 16384)
            out [0] = v * 2;
        if (v / 2 >= 16)
            out [1] = v / 2;
    }
    else
    if (kind == KIND_WARPS && s_pow2 (v)) {
        if (v * 2 <= 32)
            out [0] = v * 2;
        if (v / 2 >= 1)
            out [1] = v / 2;
    }
    else
    if (kind == KIND_STAGES) {
        if (v + 1 <= 6)
            out [0] = v + 1;
        if (v - 1 >= 1)
            out [1] = v - 1;
    }
}

//  Whitespace-insensitive equality
static bool
s_same_code (const char *a, const char *b)
{
    while (true) {
        while (*a && isspace ((unsigned char) *a))
            a++;
        while (*b && isspace ((unsigned char) *b))
            b++;
        if (*a != *b)
            return false;
        if (!*a)
            return true;
        a++;
        b++;
    }
}

static char *
s_rewrite (const char *code, const s_site_t *sites, size_t nsites, const s_site_t *param,
           long old_value, long new_value)
{
    size_t len = strlen (code);
    char *out = malloc (len + (size_t) nsites * 8 + 1);
    if (!out)
        return NULL;
    size_t o = 0, p = 0;
    for (size_t i = 0; i < nsites; i++) {
        const s_site_t *s = &sites [i];
        if (s->name_len != param->name_len
        ||  strncmp (code + s->name_start, code + param->name_start, s->name_len) != 0
        ||  s->value != old_value)
            continue;
        memcpy (out + o, code + p, s->value_start - p);
        o += s->value_start - p;
        o += (size_t) sprintf (out + o, "%ld", new_value);
        p = s->value_start + s->value_len;
    }
    memcpy (out + o, code + p, len - p);
    out [o + len - p] = '\0';
    return out;
}

char *
param_search_next (const char *best, const char *const *tried, size_t ntried, char **what)
{
    *what = NULL;
    if (!best)
        return NULL;
    s_site_t *sites = calloc (MAX_SITES, sizeof *sites);
    if (!sites)
        return NULL;
    size_t nsites = s_sites (best, sites);
    //  distinct parameters in order of first appearance
    size_t params [MAX_PARAMS], nparams = 0;
    for (size_t i = 0; i < nsites && nparams < MAX_PARAMS; i++) {
        bool seen = false;
        for (size_t j = 0; j < nparams; j++)
            if (sites [params [j]].name_len == sites [i].name_len
            &&  strncmp (best + sites [params [j]].name_start, best + sites [i].name_start,
                         sites [i].name_len) == 0)
                seen = true;
        if (!seen)
            params [nparams++] = i;
    }
    char *found = NULL;
    size_t proposals = 0;
    for (size_t k = 0; k < nparams && !found; k++) {
        const s_site_t *param = &sites [params [k]];
        s_kind_t kind;
        s_kind_of (best + param->name_start, param->name_len, &kind);
        long next [2];
        s_neighbours (kind, param->value, next);
        for (int d = 0; d < 2 && !found; d++) {
            if (!next [d])
                continue;
            char *variant = s_rewrite (best, sites, nsites, param, param->value, next [d]);
            if (!variant)
                break;
            proposals++;
            bool old = false;
            for (size_t t = 0; t < ntried && !old; t++)
                old = tried [t] && s_same_code (tried [t], variant);
            if (old) {
                free (variant);
                continue;
            }
            found = variant;
            if (asprintf (what, "%.*s %ld -> %ld", (int) param->name_len, best + param->name_start,
                          param->value, next [d]) < 0)
                *what = NULL;
        }
    }
    if (!found && asprintf (what, nparams == 0 ? "no launch parameter found in the best kernel"
                                               : "all %zu neighbours of the best kernel were tried",
                            proposals) < 0)
        *what = NULL;
    free (sites);
    return found;
}

int
param_search_selftest (bool verbose)
{
    const char *code =
        "@triton.jit\ndef k(x, BLOCK_SIZE: tl.constexpr):\n    if n == 3:\n        pass\n"
        "def f(x):\n    BLOCK_SIZE = 1024\n    k[grid](x, BLOCK_SIZE=BLOCK_SIZE, num_warps=4)\n";
    int fails = 0;
    char *what = NULL;
    char *v1 = param_search_next (code, NULL, 0, &what);
    fails += !v1 || !strstr (v1, "BLOCK_SIZE = 2048") || !strstr (v1, "num_warps=4");
    if (verbose)
        printf ("%s\n%s\n", what, v1);
    free (what);
    const char *tried [] = { code, v1 };
    char *v2 = param_search_next (code, tried, 2, &what);
    fails += !v2 || !strstr (v2, "BLOCK_SIZE = 512");
    free (what);
    free (v1);
    free (v2);
    fails += param_search_next ("x = 1\n", NULL, 0, &what) != NULL || !what;
    free (what);
    return fails;
}
