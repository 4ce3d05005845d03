/*  extract.h - the code to run, from what a client sent as Candidate.code:
    either plain Python, or an LLM reply with fenced code blocks. A small
    helper until the LLM client owns the full extractor. */
#ifndef GEAK_EVALUATOR_EXTRACT_H_INCLUDED
#define GEAK_EVALUATOR_EXTRACT_H_INCLUDED

#include "geak_prelude.h"

//  Returns the code to write into the sandbox (malloc'd, caller frees), or
//  NULL when there is none (empty text, prose without code, fences that hold
//  no Python). Of several fenced blocks it takes the Python one holding
//  "@triton.jit", else the largest Python (or unlabelled) block. An
//  unterminated last fence (a cut-off reply) runs to the end of the text.
char *extract_code (const char *text);

int extract_selftest (bool verbose);

#endif
