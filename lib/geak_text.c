/*  geak_text.c - a growing text buffer. */
#include "geak_prelude.h"
#include "geak_text.h"

#include <stdarg.h>

struct geak_text_t {
    char *data;
    size_t size;
    size_t alloc;
};

geak_text_t *
geak_text_new (void)
{
    geak_text_t *self = geak_malloc0 (sizeof *self);
    self->alloc = 1024;
    self->data = geak_malloc0 (self->alloc);
    return self;
}

void
geak_text_destroy (geak_text_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_reserve (geak_text_t *self, size_t more)
{
    if (self->size + more + 1 <= self->alloc)
        return;
    size_t alloc = self->alloc;
    while (alloc < self->size + more + 1)
        alloc *= 2;
    char *data = realloc (self->data, alloc);
    if (!data)
        abort ();
    self->data = data;
    self->alloc = alloc;
}

void
geak_text_addn (geak_text_t *self, const char *s, size_t n)
{
    if (!s)
        return;
    size_t len = strnlen (s, n);
    s_reserve (self, len);
    memcpy (self->data + self->size, s, len);
    self->size += len;
    self->data [self->size] = '\0';
}

void
geak_text_add (geak_text_t *self, const char *s)
{
    if (s)
        geak_text_addn (self, s, strlen (s));
}

void
geak_text_addf (geak_text_t *self, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    va_list copy;
    va_copy (copy, args);
    int n = vsnprintf (NULL, 0, fmt, copy);
    va_end (copy);
    if (n > 0) {
        s_reserve (self, (size_t) n);
        vsnprintf (self->data + self->size, (size_t) n + 1, fmt, args);
        self->size += (size_t) n;
    }
    va_end (args);
}

void
geak_text_add_code (geak_text_t *self, const char *code)
{
    geak_text_add (self, "```python\n");
    geak_text_add (self, code ? code : "");
    if (code && *code && code [strlen (code) - 1] != '\n')
        geak_text_add (self, "\n");
    geak_text_add (self, "```\n");
}

const char *
geak_text_str (const geak_text_t *self)
{
    return self->data;
}

size_t
geak_text_size (const geak_text_t *self)
{
    return self->size;
}

char *
geak_text_take (geak_text_t **self_p)
{
    assert (self_p && *self_p);
    char *data = (*self_p)->data;
    free (*self_p);
    *self_p = NULL;
    return data;
}

int
geak_text_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    geak_text_t *text = geak_text_new ();
    for (int i = 0; i < 1000; i++)
        geak_text_addf (text, "%d,", i);
    geak_text_add (text, NULL);
    geak_text_addn (text, "abcdef", 3);
    geak_text_add_code (text, "x = 1");
    int fails = strncmp (geak_text_str (text), "0,1,2,", 6) != 0
             || strstr (geak_text_str (text), "999,abc```python\nx = 1\n```\n") == NULL;
    char *s = geak_text_take (&text);
    fails += text != NULL || strlen (s) == 0;
    free (s);
    geak_text_destroy (&text);
    return fails;
}
