/*  testcase.h - the frame of a C test program (tests/c/test_NAME.c): CHECK and
    REQUIRE count the failures of the running case in testcase_failures
    (REQUIRE also returns from the case), testcase_done prints the case's
    line and counts it as passed or failed; the program ends by printing
    "N passed, N failed" (tests/run.py reads it).

    Header-only (static): the Makefile builds every C file in tests/c into a
    program of its own. */
#ifndef GEAK_TESTCASE_H_INCLUDED
#define GEAK_TESTCASE_H_INCLUDED

#include "geak_prelude.h"

static int testcase_failures;       //  of the running case

#define CHECK(cond) do { if (!(cond)) { testcase_failures++; \
    fprintf (stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define REQUIRE(cond) do { if (!(cond)) { testcase_failures++; \
    fprintf (stderr, "  %s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); return; } } while (0)

//  The case's line ("name  ok (12 ms)" or FAILED), counted into *passed or
//  *failed by testcase_failures
static inline void
testcase_done (const char *name, int64_t start_ms, int *passed, int *failed)
{
    printf ("%-28s %s (%lld ms)\n", name, testcase_failures ? "FAILED" : "ok",
            (long long) (geak_clock_mono_ms () - start_ms));
    fflush (stdout);
    if (testcase_failures)
        (*failed)++;
    else
        (*passed)++;
}

#endif
