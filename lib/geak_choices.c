/*  geak_choices.c - shared choices of n-sample calls. */
#include "geak_prelude.h"
#include "geak_choices.h"

#include <pthread.h>
#include <time.h>

#define KEY_MAX     96
#define CHOICES_MAX 64

typedef enum { S_PENDING, S_DONE, S_FAILED } s_state_t;

typedef struct s_block_t {
    char key [KEY_MAX];
    s_state_t state;
    size_t n;
    char *text [CHOICES_MAX];
    bool taken [CHOICES_MAX];
    int64_t created_ms;
    struct s_block_t *next;
} s_block_t;

struct geak_choices_t {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    s_block_t *blocks;
};

geak_choices_t *
geak_choices_new (void)
{
    geak_choices_t *self = geak_malloc0 (sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->changed, &attr);
    pthread_condattr_destroy (&attr);
    return self;
}

static void
s_block_free (s_block_t *block)
{
    for (size_t i = 0; i < CHOICES_MAX; i++)
        free (block->text [i]);
    free (block);
}

void
geak_choices_destroy (geak_choices_t **self_p)
{
    assert (self_p);
    geak_choices_t *self = *self_p;
    if (!self)
        return;
    while (self->blocks) {
        s_block_t *next = self->blocks->next;
        s_block_free (self->blocks);
        self->blocks = next;
    }
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->changed);
    free (self);
    *self_p = NULL;
}

//  Drop finished blocks that are used up or old (lock held)
static void
s_sweep (geak_choices_t *self)
{
    int64_t now = geak_clock_mono_ms ();
    for (s_block_t **at = &self->blocks; *at; ) {
        s_block_t *b = *at;
        bool used = b->state != S_PENDING;
        for (size_t i = 0; used && b->state == S_DONE && i < b->n; i++)
            used = b->taken [i] || !b->text [i];
        if (b->state != S_PENDING && (used || now - b->created_ms > GEAK_CHOICES_KEEP_MS)) {
            *at = b->next;
            s_block_free (b);
        }
        else
            at = &b->next;
    }
}

static s_block_t *
s_find (geak_choices_t *self, const char *key)
{
    for (s_block_t *b = self->blocks; b; b = b->next)
        if (strcmp (b->key, key) == 0)
            return b;
    return NULL;
}

geak_choices_claim_t
geak_choices_claim (geak_choices_t *self, const char *key, size_t n, size_t index,
                    int64_t wait_ms, char **text)
{
    assert (self && key && text);
    *text = NULL;
    if (n < 2 || n > CHOICES_MAX || index >= n || strlen (key) >= KEY_MAX)
        return GEAK_CHOICES_ALONE;
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    s_sweep (self);
    s_block_t *b = s_find (self, key);
    if (!b) {
        b = geak_malloc0 (sizeof *b);
        snprintf (b->key, sizeof b->key, "%s", key);
        b->state = S_PENDING;
        b->n = n;
        b->created_ms = geak_clock_mono_ms ();
        b->next = self->blocks;
        self->blocks = b;
        pthread_mutex_unlock (&self->lock);
        return GEAK_CHOICES_CALL;
    }
    int wrc = 0;
    while (b->state == S_PENDING && wrc == 0)
        wrc = pthread_cond_timedwait (&self->changed, &self->lock, &until);
    geak_choices_claim_t claim = GEAK_CHOICES_ALONE;
    if (b->state == S_DONE && index < b->n && b->text [index] && !b->taken [index]) {
        *text = geak_strdup (b->text [index]);
        b->taken [index] = true;
        claim = GEAK_CHOICES_TAKEN;
    }
    pthread_mutex_unlock (&self->lock);
    return claim;
}

void
geak_choices_fill (geak_choices_t *self, const char *key, size_t index, char *const *texts,
                   size_t count)
{
    assert (self && key);
    pthread_mutex_lock (&self->lock);
    s_block_t *b = s_find (self, key);
    if (b && b->state == S_PENDING) {
        for (size_t i = 0; i < count && i < b->n; i++)
            b->text [i] = texts [i] ? geak_strdup (texts [i]) : NULL;
        if (index < b->n)
            b->taken [index] = true;
        b->state = S_DONE;
        pthread_cond_broadcast (&self->changed);
    }
    pthread_mutex_unlock (&self->lock);
}

void
geak_choices_fail (geak_choices_t *self, const char *key)
{
    assert (self && key);
    pthread_mutex_lock (&self->lock);
    s_block_t *b = s_find (self, key);
    if (b && b->state == S_PENDING) {
        b->state = S_FAILED;
        pthread_cond_broadcast (&self->changed);
    }
    pthread_mutex_unlock (&self->lock);
}

size_t
geak_choices_size (geak_choices_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = 0;
    for (s_block_t *b = self->blocks; b; b = b->next)
        n++;
    pthread_mutex_unlock (&self->lock);
    return n;
}

// ---------------------------------------------------------------- selftest

typedef struct {
    geak_choices_t *choices;
    size_t index;
    geak_choices_claim_t claim;
    char *text;
} s_waiter_t;

static void *
s_waiter (void *arg)
{
    s_waiter_t *w = (s_waiter_t *) arg;
    w->claim = geak_choices_claim (w->choices, "blk", 3, w->index, 10000, &w->text);
    return NULL;
}

int
geak_choices_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    int fails = 0;
    geak_choices_t *c = geak_choices_new ();
    char *text = NULL;
    //  the first claim calls; the others wait for its answer
    fails += geak_choices_claim (c, "blk", 3, 0, 1000, &text) != GEAK_CHOICES_CALL;
    s_waiter_t w [2] = { { .choices = c, .index = 1 }, { .choices = c, .index = 2 } };
    pthread_t t [2];
    for (int i = 0; i < 2; i++)
        pthread_create (&t [i], NULL, s_waiter, &w [i]);
    char *texts [] = { "zero", "one", "two" };
    geak_choices_fill (c, "blk", 0, texts, 3);
    for (int i = 0; i < 2; i++)
        pthread_join (t [i], NULL);
    fails += w [0].claim != GEAK_CHOICES_TAKEN || !w [0].text || strcmp (w [0].text, "one");
    fails += w [1].claim != GEAK_CHOICES_TAKEN || !w [1].text || strcmp (w [1].text, "two");
    free (w [0].text);
    free (w [1].text);
    //  every choice taken: the next claim of the key starts a new block
    fails += geak_choices_claim (c, "blk", 3, 1, 1000, &text) != GEAK_CHOICES_CALL;
    //  a failed block: a request waiting for it calls alone; a later one tries a new block
    s_waiter_t late = { .choices = c, .index = 2 };
    pthread_t tl;
    pthread_create (&tl, NULL, s_waiter, &late);
    while (geak_choices_size (c) < 1)
        ;
    geak_choices_fail (c, "blk");
    pthread_join (tl, NULL);
    fails += (late.claim != GEAK_CHOICES_ALONE && late.claim != GEAK_CHOICES_CALL) || late.text;
    if (late.claim == GEAK_CHOICES_CALL)
        geak_choices_fail (c, "blk");
    //  a choice taken twice, a bad index, n = 1: alone
    fails += geak_choices_claim (c, "b2", 2, 0, 1000, &text) != GEAK_CHOICES_CALL;
    char *two [] = { "a", "b" };
    geak_choices_fill (c, "b2", 0, two, 2);
    fails += geak_choices_claim (c, "b2", 2, 0, 1000, &text) != GEAK_CHOICES_ALONE;
    fails += geak_choices_claim (c, "b2", 2, 5, 1000, &text) != GEAK_CHOICES_ALONE;
    fails += geak_choices_claim (c, "b3", 1, 0, 1000, &text) != GEAK_CHOICES_ALONE;
    //  a pending block whose caller never answers: waiters give up in time
    fails += geak_choices_claim (c, "b4", 2, 0, 1000, &text) != GEAK_CHOICES_CALL;
    int64_t t0 = geak_clock_mono_ms ();
    fails += geak_choices_claim (c, "b4", 2, 1, 50, &text) != GEAK_CHOICES_ALONE;
    fails += geak_clock_mono_ms () - t0 > 5000;
    fails += geak_choices_size (c) < 1;
    geak_choices_destroy (&c);
    geak_choices_destroy (&c);
    return fails;
}
