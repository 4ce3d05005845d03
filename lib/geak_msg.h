/*  geak_msg.h - a multipart ZeroMQ message: an ordered list of frames.

    Frames are held as zmq_msg_t, so recv and send move bytes without extra
    copies. Ownership: geak_msg_new/dup/recv return a message the caller
    destroys with geak_msg_destroy or hands to geak_msg_send (which always
    consumes it, also on failure). popmem/popstr return malloc'd buffers the
    caller frees. Data pointers from geak_msg_data stay valid until the
    message is modified or destroyed.

    A message received from the wire is never trusted: recv stores at most
    GEAK_MSG_MAX_FRAMES frames, drains and drops the rest, and marks the
    message truncated; the protocol decoders (geak_mdp) reject such input. */
#ifndef GEAK_MSG_H_INCLUDED
#define GEAK_MSG_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

//  No protocol message of ours has more frames than this
#define GEAK_MSG_MAX_FRAMES 32

typedef struct geak_msg_t geak_msg_t;

//  New empty message; never NULL (aborts on out-of-memory).
geak_msg_t *geak_msg_new (void);
void geak_msg_destroy (geak_msg_t **self_p);

//  Number of frames, and total bytes over all frames.
size_t geak_msg_size (const geak_msg_t *self);
size_t geak_msg_content_size (const geak_msg_t *self);
//  True when recv dropped frames beyond GEAK_MSG_MAX_FRAMES.
bool geak_msg_truncated (const geak_msg_t *self);

//  Frame accessors; index must be < geak_msg_size (programmer error
//  otherwise). Data of an empty frame is a valid non-NULL pointer.
const uint8_t *geak_msg_data (const geak_msg_t *self, size_t index);
size_t geak_msg_frame_size (const geak_msg_t *self, size_t index);
//  True when frame index exists and equals the NUL-terminated string s.
bool geak_msg_frame_streq (const geak_msg_t *self, size_t index, const char *s);
//  Copy of frame index as a NUL-terminated string (caller frees), or NULL
//  when index is out of range.
char *geak_msg_strdup (const geak_msg_t *self, size_t index);

//  Append / prepend a copy of data (size may be 0, data may then be NULL).
geak_rc_t geak_msg_addmem (geak_msg_t *self, const void *data, size_t size);
geak_rc_t geak_msg_addstr (geak_msg_t *self, const char *string);
geak_rc_t geak_msg_pushmem (geak_msg_t *self, const void *data, size_t size);
geak_rc_t geak_msg_pushstr (geak_msg_t *self, const char *string);
//  Append a printf-formatted string frame.
geak_rc_t geak_msg_addf (geak_msg_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Remove the first frame and return its bytes (malloc'd, caller frees,
//  always NUL-terminated one byte past *size_p), or NULL when empty.
uint8_t *geak_msg_popmem (geak_msg_t *self, size_t *size_p);
//  Remove the first frame and return it as a string (caller frees), or NULL.
char *geak_msg_popstr (geak_msg_t *self);
//  Remove the first frame, discarding it. Returns false when empty.
bool geak_msg_pop_discard (geak_msg_t *self);

//  Deep copy (zmq refcounts large frames); caller owns.
geak_msg_t *geak_msg_dup (const geak_msg_t *self);

//  Send all frames on a ZeroMQ socket and destroy the message (*self_p is
//  NULLed also on failure). flags: 0 or ZMQ_DONTWAIT. Returns GEAK_OK,
//  GEAK_E_TIMEOUT (EAGAIN), GEAK_E_INTERRUPTED (EINTR/ETERM), or
//  GEAK_E_TRANSPORT (e.g. EHOSTUNREACH on a mandatory ROUTER).
geak_rc_t geak_msg_send (geak_msg_t **self_p, void *socket, int flags);

//  Receive one whole multipart message (blocking). Returns NULL when
//  interrupted (EINTR), when the context was terminated (ETERM), or on any
//  other socket error; errno tells which.
geak_msg_t *geak_msg_recv (void *socket);
//  Same, with flags (ZMQ_DONTWAIT: NULL and errno EAGAIN when none waits).
geak_msg_t *geak_msg_recv_flags (void *socket, int flags);

//  Print frames to stderr (debugging aid).
void geak_msg_print (const geak_msg_t *self, const char *label);

int geak_msg_test (bool verbose);

#endif
