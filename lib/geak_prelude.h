/*  geak_prelude.h - common includes and helpers for every libgeak class.

    Conventions (after czmq RFC 21 "CLASS"):
    - one class per .h/.c pair, names prefix_class_method;
    - geak_thing_new () returns NULL on failure; geak_thing_destroy (&thing)
      frees and NULLs the pointer, and is safe to call twice;
    - assert() only guards programmer errors; bytes from the wire are
      validated and rejected with an error code, never asserted on.
*/
#ifndef GEAK_PRELUDE_H_INCLUDED
#define GEAK_PRELUDE_H_INCLUDED

#include <assert.h>
#include <stdarg.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEAK_VERSION_MAJOR 0
#define GEAK_VERSION_MINOR 1
#define GEAK_VERSION_PATCH 0
#define GEAK_VERSION_STRING "0.1.0"

#define GEAK_UNUSED(x) ((void) (x))

//  Milliseconds since the Unix epoch (wall clock), and a monotonic clock.
int64_t geak_clock_wall_ms (void);
int64_t geak_clock_mono_ms (void);
int64_t geak_clock_mono_us (void);

//  strdup that aborts on out-of-memory (allocation failure of a few bytes is
//  not an error we can recover from sensibly).
char *geak_strdup (const char *s);
void *geak_malloc0 (size_t size);
//  printf into a fresh string (caller frees); aborts on out-of-memory like geak_strdup.
char *geak_strdupf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
char *geak_vstrdupf (const char *fmt, va_list args) __attribute__ ((format (printf, 1, 0)));

//  A whole file, NUL-terminated (caller frees), its length in *size_p if given;
//  NULL (errno set) when it cannot be read or holds more than max_bytes (EFBIG).
char *geak_read_file (const char *path, size_t max_bytes, size_t *size_p);

//  Selftest of the helpers above.
//  A selftest's check: on failure it prints file, line and the condition and
//  counts into geak_selftest_failures (the selftest runner adds that to the
//  class's result); it never aborts, so the later checks and classes still
//  run, and it always evaluates cond (a call inside it is never compiled out).
//  assert stays for programmer errors in library code.
extern int geak_selftest_failures;
#define GEAK_CHECK(cond) do { if (!(cond)) { geak_selftest_failures++; \
    fprintf (stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); fflush (stderr); } } while (0)

int geak_prelude_test (bool verbose);

//  Fill buf with a random lowercase hex id of len characters (plus NUL).
void geak_random_hex (char *buf, size_t len);

#endif
