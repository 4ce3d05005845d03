/*  selftest.c - the registry runner: every class's selftest, one line each,
    then "N passed, N failed". Usage: selftest [-v] [class ...] */
#include "geak_prelude.h"

typedef int (geak_test_fn) (bool verbose);

//  Weak so that a class still under construction does not break the build;
//  a missing test is reported as failed, never as passed.
#define GEAK_TEST(name) extern int name (bool verbose) __attribute__ ((weak));
#include "selftest_list.h"
#undef GEAK_TEST

static const struct {
    const char *name;
    geak_test_fn *fn;
} s_tests [] = {
#define GEAK_TEST(name) { #name, name },
#include "selftest_list.h"
#undef GEAK_TEST
};

int
main (int argc, char *argv [])
{
    bool verbose = false;
    int first = 1;
    if (argc > 1 && strcmp (argv [1], "-v") == 0) {
        verbose = true;
        first = 2;
    }
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof s_tests / sizeof s_tests [0]; i++) {
        if (argc > first) {
            bool wanted = false;
            for (int a = first; a < argc; a++)
                if (strstr (s_tests [i].name, argv [a]))
                    wanted = true;
            if (!wanted)
                continue;
        }
        geak_selftest_failures = 0;
        int rc = s_tests [i].fn ? s_tests [i].fn (verbose) : -1;
        rc += geak_selftest_failures;       //  GEAK_CHECKs that failed (each printed with its line)
        printf ("%-32s %s%s\n", s_tests [i].name, rc == 0 ? "ok" : "FAILED",
                s_tests [i].fn ? "" : " (not implemented)");
        fflush (stdout);
        if (rc == 0)
            passed++;
        else
            failed++;
    }
    printf ("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
