/*  geak_config.h - configuration from the environment, with defaults.

    Every setting has one environment variable (GEAK_*); command-line
    options override it. Secrets (API keys, Redis password) may be given
    directly or as a file path in <NAME>_FILE (Kubernetes Secret mounts);
    they are never logged. */
#ifndef GEAK_CONFIG_H_INCLUDED
#define GEAK_CONFIG_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_DEFAULT_BROKER   "tcp://127.0.0.1:5555"
#define GEAK_DEFAULT_BIND     "tcp://*:5555"

//  Value of env var name, or fallback when unset or empty (not copied).
const char *geak_config_str (const char *name, const char *fallback);
//  Integer value; GEAK_E_CONFIG when set but not an integer in [min, max].
geak_rc_t geak_config_int (const char *name, long fallback, long min, long max, long *value);
//  Parse a decimal integer strictly (whole string, in range).
geak_rc_t geak_config_parse_long (const char *text, long min, long max, long *value);
//  The same for a command-line value: false, with "<prog>: <name> needs an
//  integer in [min, max]" on stderr, when text is NULL or out of range.
bool geak_config_option_long (const char *prog, const char *name, const char *text,
                              long min, long max, long *value);
//  Secret from <name> or the file named by <name>_FILE (trailing newline
//  stripped). Returns a malloc'd copy, or NULL with *rc = GEAK_E_NOT_FOUND
//  when neither is set, GEAK_E_IO when the file cannot be read.
char *geak_config_secret (const char *name, geak_rc_t *rc);

int geak_config_test (bool verbose);

#endif
