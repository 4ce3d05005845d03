/*  geak_log.h - structured logging: one line per event, logfmt style:

        ts=2026-11-25T06:20:00.123Z level=info svc=broker pid=42 event=worker_ready service=geak.evaluator

    The macros test the level before formatting anything (after redis's
    serverLog). Secrets registered with geak_log_add_secret () are replaced
    by "[redacted]" in every line, as a last line of defence: code should
    never pass a key to the logger in the first place. */
#ifndef GEAK_LOG_H_INCLUDED
#define GEAK_LOG_H_INCLUDED

#include <stdarg.h>

typedef enum {
    GEAK_LOG_DEBUG = 0,
    GEAK_LOG_INFO  = 1,
    GEAK_LOG_WARN  = 2,
    GEAK_LOG_ERROR = 3,
    GEAK_LOG_OFF   = 4
} geak_log_level_t;

extern int geak_log_level_current;

//  Set the service name printed as svc=, and the level (also read from the
//  GEAK_LOG_LEVEL environment variable: debug, info, warn, error, off).
void geak_log_init (const char *service);
void geak_log_set_level (geak_log_level_t level);
geak_log_level_t geak_log_level_parse (const char *name);
//  Send lines to this stream instead of stderr (NULL restores stderr).
void geak_log_set_stream (FILE *stream);
//  Register a secret that must never appear in a log line (copied).
void geak_log_add_secret (const char *secret);
void geak_log_clear_secrets (void);
//  Text for a message that leaves the process (an error reply, a stored
//  reason): the secrets replaced by "[redacted]". Takes ownership of text,
//  returns a new malloc'd string (NULL for NULL).
char *geak_log_redact (char *text);

//  event: a short snake_case name; fmt: logfmt pairs "key=%s n=%d".
void geak_log_emit (geak_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define GEAK_LOG(level, event, ...) \
    do { if ((int) (level) >= geak_log_level_current) \
            geak_log_emit ((level), (event), __VA_ARGS__); } while (0)
#define geak_debug(event, ...) GEAK_LOG (GEAK_LOG_DEBUG, event, __VA_ARGS__)
#define geak_info(event, ...)  GEAK_LOG (GEAK_LOG_INFO,  event, __VA_ARGS__)
#define geak_warn(event, ...)  GEAK_LOG (GEAK_LOG_WARN,  event, __VA_ARGS__)
#define geak_error(event, ...) GEAK_LOG (GEAK_LOG_ERROR, event, __VA_ARGS__)

int geak_log_test (bool verbose);

#endif
