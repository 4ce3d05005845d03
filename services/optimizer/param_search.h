/*  param_search.h - the optimizer's non-LLM implementation: a deterministic
    neighbourhood search over launch parameters of the best correct kernel.

    Parameters are integer literals assigned to BLOCK-like constexpr names
    (upper-case names holding "BLOCK" or ending in "_SIZE"; powers of two in
    [16, 16384]), num_warps ([1, 32], powers of two) and num_stages ([1, 6]),
    written `NAME = 64`, `NAME=64` or `'NAME': 64`. Neighbours, in order: for
    each parameter in order of first appearance, double then halve (stages:
    +1 then -1); each rewrites every occurrence of that parameter holding the
    best kernel's value. The first neighbour whose code is not already in the
    history (whitespace-insensitive) is proposed. */
#ifndef GEAK_OPTIMIZER_PARAM_SEARCH_H_INCLUDED
#define GEAK_OPTIMIZER_PARAM_SEARCH_H_INCLUDED

#include "geak_prelude.h"

//  Next untried variant of best (malloc'd) with *what describing the move
//  (malloc'd, e.g. "BLOCK_SIZE 1024 -> 2048"), or NULL when the code has no
//  parameter or every neighbour was tried (*what then says which).
char *param_search_next (const char *best, const char *const *tried, size_t ntried, char **what);

int param_search_selftest (bool verbose);

#endif
