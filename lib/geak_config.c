/*  geak_config.c - environment configuration and secrets. */
#include "geak_prelude.h"
#include "geak_config.h"

#include <limits.h>
#include <unistd.h>

const char *
geak_config_str (const char *name, const char *fallback)
{
    const char *value = getenv (name);
    return value && *value ? value : fallback;
}

geak_rc_t
geak_config_parse_long (const char *text, long min, long max, long *value)
{
    if (!text || !*text || !value)
        return GEAK_E_CONFIG;
    char *end = NULL;
    errno = 0;
    long parsed = strtol (text, &end, 10);
    if (errno || !end || *end != '\0' || parsed < min || parsed > max)
        return GEAK_E_CONFIG;
    *value = parsed;
    return GEAK_OK;
}

bool
geak_config_option_long (const char *prog, const char *name, const char *text,
                         long min, long max, long *value)
{
    if (!text || geak_config_parse_long (text, min, max, value) != GEAK_OK) {
        fprintf (stderr, "%s: %s needs an integer in [%ld, %ld]\n", prog, name, min, max);
        return false;
    }
    return true;
}

geak_rc_t
geak_config_int (const char *name, long fallback, long min, long max, long *value)
{
    const char *text = getenv (name);
    if (!text || !*text) {
        *value = fallback;
        return GEAK_OK;
    }
    return geak_config_parse_long (text, min, max, value);
}

char *
geak_config_secret (const char *name, geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    const char *direct = getenv (name);
    if (direct && *direct) {
        *rc = GEAK_OK;
        return geak_strdup (direct);
    }
    char file_var [256];
    snprintf (file_var, sizeof file_var, "%s_FILE", name);
    const char *path = getenv (file_var);
    if (!path || !*path) {
        *rc = GEAK_E_NOT_FOUND;
        return NULL;
    }
    FILE *file = fopen (path, "r");
    if (!file) {
        *rc = GEAK_E_IO;
        return NULL;
    }
    char buffer [4096];
    size_t n = fread (buffer, 1, sizeof buffer - 1, file);
    bool failed = ferror (file);
    fclose (file);
    if (failed) {
        *rc = GEAK_E_IO;
        return NULL;
    }
    buffer [n] = '\0';
    while (n > 0 && (buffer [n - 1] == '\n' || buffer [n - 1] == '\r' || buffer [n - 1] == ' '))
        buffer [--n] = '\0';
    *rc = n ? GEAK_OK : GEAK_E_NOT_FOUND;
    return n ? geak_strdup (buffer) : NULL;
}

int
geak_config_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    long value = 0;
    if (geak_config_parse_long ("42", 0, 100, &value) || value != 42)
        return -1;
    if (geak_config_parse_long ("42x", 0, 100, &value) != GEAK_E_CONFIG)
        return -1;
    if (geak_config_parse_long ("101", 0, 100, &value) != GEAK_E_CONFIG)
        return -1;
    setenv ("GEAK_SELFTEST_INT", "7", 1);
    if (geak_config_int ("GEAK_SELFTEST_INT", 1, 0, 10, &value) || value != 7)
        return -1;
    unsetenv ("GEAK_SELFTEST_INT");
    if (geak_config_int ("GEAK_SELFTEST_INT", 3, 0, 10, &value) || value != 3)
        return -1;
    if (strcmp (geak_config_str ("GEAK_SELFTEST_UNSET", "dflt"), "dflt"))
        return -1;

    //  Secret from a file, newline stripped
    char path [] = "/tmp/geak-secret-XXXXXX";
    int fd = mkstemp (path);
    if (fd < 0)
        return -1;
    FILE *file = fdopen (fd, "w");
    fputs ("s3cret-value\n", file);
    fclose (file);
    unsetenv ("GEAK_SELFTEST_KEY");
    setenv ("GEAK_SELFTEST_KEY_FILE", path, 1);
    geak_rc_t rc;
    char *secret = geak_config_secret ("GEAK_SELFTEST_KEY", &rc);
    int result = (secret && rc == GEAK_OK && strcmp (secret, "s3cret-value") == 0) ? 0 : -1;
    free (secret);
    unlink (path);
    unsetenv ("GEAK_SELFTEST_KEY_FILE");
    secret = geak_config_secret ("GEAK_SELFTEST_KEY", &rc);
    if (secret || rc != GEAK_E_NOT_FOUND)
        result = -1;
    free (secret);
    return result;
}
