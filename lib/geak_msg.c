/*  geak_msg.c - multipart message over zmq_msg_t frames. */
#include "geak_prelude.h"
#include "geak_msg.h"

#include <stdarg.h>
#include <pthread.h>
#include <zmq.h>

struct geak_msg_t {
    zmq_msg_t *frames;          //  frames [head .. head + count)
    size_t head;
    size_t count;
    size_t capacity;
    bool truncated;
};

geak_msg_t *
geak_msg_new (void)
{
    geak_msg_t *self = geak_malloc0 (sizeof *self);
    self->capacity = 8;
    self->head = 2;             //  room for two pushes without moving
    self->frames = geak_malloc0 (self->capacity * sizeof (zmq_msg_t));
    return self;
}

void
geak_msg_destroy (geak_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_msg_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        zmq_msg_close (&self->frames [self->head + i]);
    free (self->frames);
    free (self);
    *self_p = NULL;
}

size_t
geak_msg_size (const geak_msg_t *self)
{
    assert (self);
    return self->count;
}

size_t
geak_msg_content_size (const geak_msg_t *self)
{
    assert (self);
    size_t total = 0;
    for (size_t i = 0; i < self->count; i++)
        total += zmq_msg_size ((zmq_msg_t *) &self->frames [self->head + i]);
    return total;
}

bool
geak_msg_truncated (const geak_msg_t *self)
{
    assert (self);
    return self->truncated;
}

static zmq_msg_t *
s_frame (const geak_msg_t *self, size_t index)
{
    assert (self);
    assert (index < self->count);
    return (zmq_msg_t *) &self->frames [self->head + index];
}

const uint8_t *
geak_msg_data (const geak_msg_t *self, size_t index)
{
    static const uint8_t empty [1] = { 0 };
    zmq_msg_t *frame = s_frame (self, index);
    if (zmq_msg_size (frame) == 0)
        return empty;
    return (const uint8_t *) zmq_msg_data (frame);
}

size_t
geak_msg_frame_size (const geak_msg_t *self, size_t index)
{
    return zmq_msg_size (s_frame (self, index));
}

bool
geak_msg_frame_streq (const geak_msg_t *self, size_t index, const char *s)
{
    assert (self);
    assert (s);
    if (index >= self->count)
        return false;
    size_t len = strlen (s);
    return geak_msg_frame_size (self, index) == len
        && memcmp (geak_msg_data (self, index), s, len) == 0;
}

char *
geak_msg_strdup (const geak_msg_t *self, size_t index)
{
    assert (self);
    if (index >= self->count)
        return NULL;
    size_t size = geak_msg_frame_size (self, index);
    char *s = geak_malloc0 (size + 1);
    memcpy (s, geak_msg_data (self, index), size);
    return s;
}

//  Make room for one more frame at the tail (at_front false) or head.
static void
s_reserve (geak_msg_t *self, bool at_front)
{
    if (at_front && self->head > 0)
        return;
    if (!at_front && self->head + self->count < self->capacity)
        return;
    size_t capacity = self->capacity * 2;
    zmq_msg_t *frames = geak_malloc0 (capacity * sizeof (zmq_msg_t));
    size_t head = at_front ? (capacity - self->count) / 2 : self->head;
    if (head == 0)
        head = 1;
    for (size_t i = 0; i < self->count; i++) {
        zmq_msg_init (&frames [head + i]);
        zmq_msg_move (&frames [head + i], &self->frames [self->head + i]);
        zmq_msg_close (&self->frames [self->head + i]);
    }
    free (self->frames);
    self->frames = frames;
    self->head = head;
    self->capacity = capacity;
}

static geak_rc_t
s_init_frame (zmq_msg_t *frame, const void *data, size_t size)
{
    if (zmq_msg_init_size (frame, size) != 0)
        return GEAK_E_NOMEM;
    if (size)
        memcpy (zmq_msg_data (frame), data, size);
    return GEAK_OK;
}

geak_rc_t
geak_msg_addmem (geak_msg_t *self, const void *data, size_t size)
{
    if (!self || (size && !data))
        return GEAK_E_INVALID;
    s_reserve (self, false);
    geak_rc_t rc = s_init_frame (&self->frames [self->head + self->count], data, size);
    if (rc == GEAK_OK)
        self->count++;
    return rc;
}

geak_rc_t
geak_msg_addstr (geak_msg_t *self, const char *string)
{
    if (!string)
        return GEAK_E_INVALID;
    return geak_msg_addmem (self, string, strlen (string));
}

geak_rc_t
geak_msg_addf (geak_msg_t *self, const char *fmt, ...)
{
    char small [256];
    va_list args;
    va_start (args, fmt);
    int len = vsnprintf (small, sizeof small, fmt, args);
    va_end (args);
    if (len < 0)
        return GEAK_E_INVALID;
    if ((size_t) len < sizeof small)
        return geak_msg_addmem (self, small, (size_t) len);
    char *big = geak_malloc0 ((size_t) len + 1);
    va_start (args, fmt);
    vsnprintf (big, (size_t) len + 1, fmt, args);
    va_end (args);
    geak_rc_t rc = geak_msg_addmem (self, big, (size_t) len);
    free (big);
    return rc;
}

geak_rc_t
geak_msg_pushmem (geak_msg_t *self, const void *data, size_t size)
{
    if (!self || (size && !data))
        return GEAK_E_INVALID;
    s_reserve (self, true);
    geak_rc_t rc = s_init_frame (&self->frames [self->head - 1], data, size);
    if (rc == GEAK_OK) {
        self->head--;
        self->count++;
    }
    return rc;
}

geak_rc_t
geak_msg_pushstr (geak_msg_t *self, const char *string)
{
    if (!string)
        return GEAK_E_INVALID;
    return geak_msg_pushmem (self, string, strlen (string));
}

uint8_t *
geak_msg_popmem (geak_msg_t *self, size_t *size_p)
{
    assert (self);
    if (self->count == 0)
        return NULL;
    zmq_msg_t *frame = &self->frames [self->head];
    size_t size = zmq_msg_size (frame);
    uint8_t *data = geak_malloc0 (size + 1);
    if (size)
        memcpy (data, zmq_msg_data (frame), size);
    zmq_msg_close (frame);
    self->head++;
    self->count--;
    if (size_p)
        *size_p = size;
    return data;
}

char *
geak_msg_popstr (geak_msg_t *self)
{
    return (char *) geak_msg_popmem (self, NULL);
}

bool
geak_msg_pop_discard (geak_msg_t *self)
{
    assert (self);
    if (self->count == 0)
        return false;
    zmq_msg_close (&self->frames [self->head]);
    self->head++;
    self->count--;
    return true;
}

geak_msg_t *
geak_msg_dup (const geak_msg_t *self)
{
    if (!self)
        return NULL;
    geak_msg_t *copy = geak_msg_new ();
    for (size_t i = 0; i < self->count; i++) {
        s_reserve (copy, false);
        zmq_msg_t *dst = &copy->frames [copy->head + copy->count];
        zmq_msg_init (dst);
        if (zmq_msg_copy (dst, s_frame (self, i)) != 0) {
            zmq_msg_close (dst);
            geak_msg_destroy (&copy);
            return NULL;
        }
        copy->count++;
    }
    copy->truncated = self->truncated;
    return copy;
}

static geak_rc_t
s_errno_rc (int err)
{
    if (err == EAGAIN)
        return GEAK_E_TIMEOUT;
    if (err == EINTR || err == ETERM)
        return GEAK_E_INTERRUPTED;
    return GEAK_E_TRANSPORT;
}

geak_rc_t
geak_msg_send (geak_msg_t **self_p, void *socket, int flags)
{
    if (!self_p || !*self_p || !socket) {
        geak_msg_destroy (self_p);
        return GEAK_E_INVALID;
    }
    geak_msg_t *self = *self_p;
    geak_rc_t rc = GEAK_OK;
    if (self->count == 0) {
        geak_msg_destroy (self_p);
        return GEAK_E_INVALID;
    }
    for (size_t i = 0; i < self->count; i++) {
        bool more = i + 1 < self->count;
        zmq_msg_t *frame = &self->frames [self->head + i];
        int rcz;
        while ((rcz = zmq_msg_send (frame, socket, flags | (more ? ZMQ_SNDMORE : 0))) == -1
               && errno == EINTR && i > 0)
            ;   //  never leave a half-sent multipart message behind
        if (rcz == -1) {
            rc = s_errno_rc (errno);
            break;
        }
        //  zmq_msg_send emptied the frame; it is safe to close it again
    }
    geak_msg_destroy (self_p);
    return rc;
}

geak_msg_t *
geak_msg_recv_flags (void *socket, int flags)
{
    if (!socket) {
        errno = EINVAL;
        return NULL;
    }
    geak_msg_t *self = geak_msg_new ();
    while (true) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        int rc = zmq_msg_recv (&frame, socket, flags);
        if (rc == -1) {
            int err = errno;
            zmq_msg_close (&frame);
            if (self->count == 0 || err != EINTR) {
                geak_msg_destroy (&self);
                errno = err;
                return NULL;
            }
            continue;       //  mid-message EINTR: the rest is already there
        }
        flags = 0;          //  more parts are queued atomically
        bool more = zmq_msg_more (&frame);
        if (self->count < GEAK_MSG_MAX_FRAMES) {
            s_reserve (self, false);
            zmq_msg_t *slot = &self->frames [self->head + self->count];
            zmq_msg_init (slot);
            zmq_msg_move (slot, &frame);
            zmq_msg_close (&frame);
            self->count++;
        }
        else {
            zmq_msg_close (&frame);
            self->truncated = true;
        }
        if (!more)
            break;
    }
    return self;
}

geak_msg_t *
geak_msg_recv (void *socket)
{
    return geak_msg_recv_flags (socket, 0);
}

void
geak_msg_print (const geak_msg_t *self, const char *label)
{
    if (!self)
        return;
    fprintf (stderr, "-- %s (%zu frames%s)\n", label ? label : "msg", self->count,
             self->truncated ? ", truncated" : "");
    for (size_t i = 0; i < self->count; i++) {
        const uint8_t *data = geak_msg_data (self, i);
        size_t size = geak_msg_frame_size (self, i);
        bool text = true;
        for (size_t b = 0; b < size; b++)
            if (data [b] < 32 || data [b] > 126)
                text = false;
        fprintf (stderr, "[%03zu] ", size);
        size_t shown = size > 64 ? 64 : size;
        for (size_t b = 0; b < shown; b++) {
            if (text)
                fputc (data [b], stderr);
            else
                fprintf (stderr, "%02x", data [b]);
        }
        fprintf (stderr, "%s\n", shown < size ? "..." : "");
    }
}

static void *
s_blocked_recv (void *socket)
{
    geak_msg_t *msg = geak_msg_recv (socket);
    assert (msg == NULL && errno == ETERM);
    zmq_close (socket);
    return NULL;
}

int
geak_msg_test (bool verbose)
{
    //  frame operations
    geak_msg_t *msg = geak_msg_new ();
    GEAK_CHECK (geak_msg_size (msg) == 0);
    GEAK_CHECK (geak_msg_addstr (msg, "world") == GEAK_OK);
    GEAK_CHECK (geak_msg_pushstr (msg, "hello") == GEAK_OK);
    GEAK_CHECK (geak_msg_addmem (msg, NULL, 0) == GEAK_OK);
    GEAK_CHECK (geak_msg_addmem (msg, NULL, 3) == GEAK_E_INVALID);
    GEAK_CHECK (geak_msg_addf (msg, "n=%d", 42) == GEAK_OK);
    for (int i = 0; i < 20; i++)
        GEAK_CHECK (geak_msg_pushmem (msg, &i, sizeof i) == GEAK_OK);
    for (int i = 19; i >= 0; i--) {
        size_t size;
        uint8_t *data = geak_msg_popmem (msg, &size);
        GEAK_CHECK (data && size == sizeof i);
        int value;
        memcpy (&value, data, sizeof value);
        GEAK_CHECK (value == i);
        free (data);
    }
    GEAK_CHECK (geak_msg_size (msg) == 4);
    GEAK_CHECK (geak_msg_content_size (msg) == 14);
    GEAK_CHECK (geak_msg_frame_streq (msg, 0, "hello"));
    GEAK_CHECK (geak_msg_frame_streq (msg, 1, "world"));
    GEAK_CHECK (!geak_msg_frame_streq (msg, 1, "worl"));
    GEAK_CHECK (!geak_msg_frame_streq (msg, 9, "x"));
    GEAK_CHECK (geak_msg_frame_size (msg, 2) == 0);
    GEAK_CHECK (geak_msg_data (msg, 2) != NULL);
    char *s = geak_msg_strdup (msg, 3);
    GEAK_CHECK (strcmp (s, "n=42") == 0);
    free (s);
    //  a long formatted frame
    char big [600];
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = 0;
    GEAK_CHECK (geak_msg_addf (msg, "%s", big) == GEAK_OK);
    GEAK_CHECK (geak_msg_frame_size (msg, 4) == sizeof big - 1);

    geak_msg_t *copy = geak_msg_dup (msg);
    GEAK_CHECK (copy && geak_msg_size (copy) == 5);
    s = geak_msg_popstr (copy);
    GEAK_CHECK (strcmp (s, "hello") == 0);
    free (s);
    GEAK_CHECK (geak_msg_pop_discard (copy));
    geak_msg_destroy (&copy);
    geak_msg_destroy (&copy);
    GEAK_CHECK (copy == NULL);

    //  send / recv over inproc PAIR
    void *ctx = zmq_ctx_new ();
    GEAK_CHECK (ctx);
    void *a = zmq_socket (ctx, ZMQ_PAIR);
    void *b = zmq_socket (ctx, ZMQ_PAIR);
    GEAK_CHECK (zmq_bind (a, "inproc://geak-msg-test") == 0);
    GEAK_CHECK (zmq_connect (b, "inproc://geak-msg-test") == 0);
    GEAK_CHECK (geak_msg_send (&msg, a, 0) == GEAK_OK);
    GEAK_CHECK (msg == NULL);
    msg = geak_msg_recv (b);
    GEAK_CHECK (msg && geak_msg_size (msg) == 5);
    GEAK_CHECK (geak_msg_frame_streq (msg, 1, "world"));
    GEAK_CHECK (geak_msg_frame_size (msg, 4) == sizeof big - 1);
    if (verbose)
        geak_msg_print (msg, "received");
    geak_msg_destroy (&msg);

    //  nothing waiting
    msg = geak_msg_recv_flags (b, ZMQ_DONTWAIT);
    GEAK_CHECK (msg == NULL && errno == EAGAIN);

    //  too many frames: stored up to the limit, flagged truncated
    msg = geak_msg_new ();
    for (int i = 0; i < GEAK_MSG_MAX_FRAMES + 10; i++)
        geak_msg_addf (msg, "%d", i);
    GEAK_CHECK (geak_msg_send (&msg, a, 0) == GEAK_OK);
    msg = geak_msg_recv (b);
    GEAK_CHECK (msg && geak_msg_size (msg) == GEAK_MSG_MAX_FRAMES);
    GEAK_CHECK (geak_msg_truncated (msg));
    geak_msg_destroy (&msg);

    //  empty message cannot be sent; send consumes also on failure
    msg = geak_msg_new ();
    GEAK_CHECK (geak_msg_send (&msg, a, 0) == GEAK_E_INVALID);
    GEAK_CHECK (msg == NULL);

    zmq_close (a);
    zmq_close (b);

    //  a blocked recv returns NULL with ETERM when the context shuts down
    void *blocked = zmq_socket (ctx, ZMQ_PULL);
    GEAK_CHECK (blocked);
    pthread_t thread;
    pthread_create (&thread, NULL, s_blocked_recv, blocked);
    zmq_ctx_shutdown (ctx);
    pthread_join (thread, NULL);
    zmq_ctx_term (ctx);
    return 0;
}
