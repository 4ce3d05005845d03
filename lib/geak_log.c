/*  geak_log.c - one structured line per event. */
#include "geak_prelude.h"
#include "geak_log.h"

#include <pthread.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECRETS 16
#define LINE_MAX_BYTES 4096

int geak_log_level_current = GEAK_LOG_INFO;

static char s_service [64] = "geak";
static FILE *s_stream = NULL;
static char *s_secrets [MAX_SECRETS];
static int s_nsecrets = 0;
static pthread_mutex_t s_mutex = PTHREAD_MUTEX_INITIALIZER;

static const char *s_level_names [] = { "debug", "info", "warn", "error", "off" };

geak_log_level_t
geak_log_level_parse (const char *name)
{
    if (name)
        for (int i = 0; i <= GEAK_LOG_OFF; i++)
            if (strcasecmp (name, s_level_names [i]) == 0)
                return (geak_log_level_t) i;
    return GEAK_LOG_INFO;
}

void
geak_log_init (const char *service)
{
    if (service)
        snprintf (s_service, sizeof s_service, "%s", service);
    const char *level = getenv ("GEAK_LOG_LEVEL");
    if (level && *level) {
        geak_log_level_current = geak_log_level_parse (level);
        const char *known [] = { "debug", "info", "warn", "error", "off" };
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known [0]; i++)
            ok = ok || strcmp (level, known [i]) == 0;
        if (!ok)
            geak_log_emit (GEAK_LOG_WARN, "log_level_unknown", "value=\"%.40s\" using=info "
                           "known=\"debug info warn error off\"", level);
    }
}

void
geak_log_set_level (geak_log_level_t level)
{
    geak_log_level_current = level;
}

void
geak_log_set_stream (FILE *stream)
{
    pthread_mutex_lock (&s_mutex);
    s_stream = stream;
    pthread_mutex_unlock (&s_mutex);
}

void
geak_log_add_secret (const char *secret)
{
    //  Very short strings would redact ordinary words; keys are long
    if (!secret || strlen (secret) < 6)
        return;
    pthread_mutex_lock (&s_mutex);
    if (s_nsecrets < MAX_SECRETS)
        s_secrets [s_nsecrets++] = geak_strdup (secret);
    pthread_mutex_unlock (&s_mutex);
}

void
geak_log_clear_secrets (void)
{
    pthread_mutex_lock (&s_mutex);
    for (int i = 0; i < s_nsecrets; i++) {
        free (s_secrets [i]);
        s_secrets [i] = NULL;
    }
    s_nsecrets = 0;
    pthread_mutex_unlock (&s_mutex);
}

//  Replace every occurrence of each secret in line (in place, bounded).
static void
s_redact (char *line, size_t size)
{
    static const char mask [] = "[redacted]";
    for (int i = 0; i < s_nsecrets; i++) {
        const char *secret = s_secrets [i];
        size_t slen = strlen (secret);
        char *hit;
        while ((hit = strstr (line, secret))) {
            size_t tail = strlen (hit + slen);
            size_t mlen = sizeof mask - 1;
            if ((size_t) (hit - line) + mlen + tail + 1 > size)
                tail = size - 1 - (size_t) (hit - line) - mlen;
            memmove (hit + mlen, hit + slen, tail);
            hit [mlen + tail] = '\0';
            memcpy (hit, mask, mlen);
        }
    }
}

char *
geak_log_redact (char *text)
{
    if (!text)
        return NULL;
    //  a secret is at least 6 bytes, the mask 10: the text at most doubles
    size_t size = strlen (text) * 2 + 16;
    char *copy = geak_malloc0 (size);
    memcpy (copy, text, strlen (text));
    pthread_mutex_lock (&s_mutex);
    s_redact (copy, size);
    pthread_mutex_unlock (&s_mutex);
    free (text);
    return copy;
}

void
geak_log_emit (geak_log_level_t level, const char *event, const char *fmt, ...)
{
    char line [LINE_MAX_BYTES];
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    int n = snprintf (line, sizeof line,
                      "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s svc=%s pid=%d event=%s",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (tv.tv_usec / 1000),
                      s_level_names [level < GEAK_LOG_OFF ? level : GEAK_LOG_ERROR],
                      s_service, (int) getpid (), event ? event : "-");
    if (n < 0)
        return;
    if (fmt && *fmt && (size_t) n + 2 < sizeof line) {
        line [n++] = ' ';
        va_list args;
        va_start (args, fmt);
        int m = vsnprintf (line + n, sizeof line - (size_t) n, fmt, args);
        va_end (args);
        if (m < 0)
            line [n] = '\0';
    }
    //  One event is one line: fold embedded newlines
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    pthread_mutex_lock (&s_mutex);
    s_redact (line, sizeof line);
    FILE *out = s_stream ? s_stream : stderr;
    fprintf (out, "%s\n", line);
    fflush (out);
    pthread_mutex_unlock (&s_mutex);
}

int
geak_log_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream (&buf, &len);
    if (!mem)
        return -1;
    geak_log_set_stream (mem);
    int saved = geak_log_level_current;
    geak_log_set_level (GEAK_LOG_INFO);
    geak_log_add_secret ("sk-test-SECRET-123456");
    geak_debug ("hidden", "x=%d", 1);
    geak_info ("shown", "key=sk-test-SECRET-123456 note=\"two\nlines\"");
    geak_log_set_stream (NULL);
    fclose (mem);
    char *said = geak_log_redact (geak_strdup ("key sk-test-SECRET-123456 echoed sk-test-SECRET-123456"));
    bool redacted = strcmp (said, "key [redacted] echoed [redacted]") == 0
                 && geak_log_redact (NULL) == NULL;
    free (said);
    geak_log_clear_secrets ();
    geak_log_level_current = saved;
    int rc = redacted ? 0 : -1;
    if (rc != 0 || !buf || strstr (buf, "hidden"))
        rc = -1;
    else
    if (!strstr (buf, "event=shown") || strstr (buf, "SECRET") || !strstr (buf, "[redacted]"))
        rc = -1;
    else {
        //  Exactly one line
        char *nl = strchr (buf, '\n');
        if (!nl || nl [1] != '\0')
            rc = -1;
    }
    free (buf);
    return rc;
}
