/*  geak_extract.h - the code in an LLM reply.

    Rules, in order (docs/llm.md):
    1. Fenced blocks (``` or ~~~, three or more, up to 3 spaces of indent)
       labelled python / py / python3 / triton or unlabelled. Of several,
       the largest one holding "@triton.jit", else the largest one. A fence
       that is never closed (a cut-off reply) runs to the end of the text.
    2. Else a JSON object with a string field "code" (the whole reply, a
       ```json block, or the text between the first '{' and the last '}').
    3. Else plain code without fences: from the first line starting with
       import / from / def / class / a decorator, to the last line that is
       still code (trailing prose dropped), accepted only when it has a def
       or import line and at least two lines of code.
    4. Else nothing: NULL (the NO_CODE error class).
    Whitespace-only results count as nothing. "\r\n" line ends become "\n".
    Never crashes on any bytes; text need not be NUL-terminated. */
#ifndef GEAK_EXTRACT_H_INCLUDED
#define GEAK_EXTRACT_H_INCLUDED

#include "geak_prelude.h"

typedef enum {
    GEAK_EXTRACT_NONE = 0,
    GEAK_EXTRACT_FENCED,        //  a closed fenced block
    GEAK_EXTRACT_TRUNCATED,     //  an unterminated fence, to the end of the text
    GEAK_EXTRACT_JSON,          //  the "code" field of a JSON object
    GEAK_EXTRACT_PLAIN          //  plain code without fences
} geak_extract_kind_t;

//  The code (malloc'd, caller frees) or NULL when there is none. kind may be NULL.
char *geak_extract_code (const char *text, size_t size, geak_extract_kind_t *kind);
const char *geak_extract_kind_name (geak_extract_kind_t kind);

//  The prose of a reply: the text with every fenced block removed,
//  trimmed, cut to at most max_bytes (on a UTF-8 boundary). NULL when empty.
//  Caller frees.
char *geak_extract_prose (const char *text, size_t size, size_t max_bytes);

int geak_extract_test (bool verbose);

#endif
