/*  geak_prelude.c - clocks, allocation and id helpers. */
#include "geak_prelude.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

int64_t
geak_clock_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
geak_clock_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
geak_clock_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *
geak_strdup (const char *s)
{
    assert (s);
    char *copy = strdup (s);
    if (!copy)
        abort ();
    return copy;
}

void *
geak_malloc0 (size_t size)
{
    void *p = calloc (1, size ? size : 1);
    if (!p)
        abort ();
    return p;
}

void
geak_random_hex (char *buf, size_t len)
{
    static const char hex [] = "0123456789abcdef";
    unsigned char raw [64];
    size_t need = (len + 1) / 2;
    assert (need <= sizeof raw);
    size_t got = 0;
    while (got < need) {
        ssize_t rc = getrandom (raw + got, need - got, 0);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            //  Fall back to a time-and-pid mix; ids must still be unique enough
            uint64_t seed = (uint64_t) geak_clock_mono_us () ^ ((uint64_t) getpid () << 32);
            for (; got < need; got++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                raw [got] = (unsigned char) (seed >> 56);
            }
            break;
        }
        got += (size_t) rc;
    }
    for (size_t i = 0; i < len; i++)
        buf [i] = hex [(raw [i / 2] >> ((i % 2) ? 0 : 4)) & 0xf];
    buf [len] = '\0';
}
