/*  geak_proto.h - glue around the generated protobuf-c code (build/gen/geak.pb-c.h).

    Every body on the wire is one Geak__Envelope. Decoding validates what
    protobuf-c does not: protocol version, that a body is set, that the
    body is the kind the caller expects, and string/array bounds.
    Ownership: geak_proto_unpack returns an envelope the caller frees with
    geak_proto_free (&env); geak_proto_pack returns a malloc'd buffer the
    caller frees with free (). */
#ifndef GEAK_PROTO_H_INCLUDED
#define GEAK_PROTO_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak.pb-c.h"

#define GEAK_PROTOCOL_VERSION 1
//  Upper bound for one envelope on the wire (code + traces fit easily)
#define GEAK_PROTO_MAX_BYTES (16u * 1024u * 1024u)

//  Well-known service names
#define GEAK_SERVICE_GENERATOR "geak.generator"
#define GEAK_SERVICE_EVALUATOR "geak.evaluator"
#define GEAK_SERVICE_REFLECTOR "geak.reflector"
#define GEAK_SERVICE_OPTIMIZER "geak.optimizer"

//  Set version, request id (copied pointer: must outlive the envelope's use),
//  deadline and sender on a fresh envelope.
void geak_proto_envelope_init (Geak__Envelope *env, const char *request_id,
                               int64_t deadline_ms, const char *sender);

//  Pack an envelope into a new buffer. Returns GEAK_OK, GEAK_E_INVALID for a
//  NULL/empty envelope, GEAK_E_MALFORMED when larger than the wire bound.
geak_rc_t geak_proto_pack (const Geak__Envelope *env, uint8_t **data_p, size_t *size_p);

//  Unpack and validate bytes from the wire. expected is the body case the
//  caller wants, or GEAK__ENVELOPE__BODY__NOT_SET for "any". On failure
//  returns NULL and sets *rc (GEAK_E_MALFORMED, GEAK_E_PROTOCOL).
Geak__Envelope *geak_proto_unpack (const uint8_t *data, size_t size,
                                   Geak__Envelope__BodyCase expected, geak_rc_t *rc);
void geak_proto_free (Geak__Envelope **env_p);

//  Build and pack an ErrorReply envelope answering request_id.
geak_rc_t geak_proto_pack_error (const char *request_id, geak_rc_t code, const char *message,
                                 uint8_t **data_p, size_t *size_p);

//  Names for error classes: "pass", "mismatch", ... and back (-1 if unknown)
const char *geak_proto_class_name (Geak__ErrorClass cls);
int geak_proto_class_from_name (const char *name);
const char *geak_proto_role_name (Geak__Role role);

//  A deep copy of any message through its wire form (free it with
//  protobuf_c_message_free_unpacked), or NULL when out of memory.
ProtobufCMessage *geak_proto_dup (const ProtobufCMessage *message);

//  Validate an Attempt blob read back from the store (same rules)
Geak__Attempt *geak_proto_attempt_unpack (const uint8_t *data, size_t size, geak_rc_t *rc);

int geak_proto_test (bool verbose);

#endif
