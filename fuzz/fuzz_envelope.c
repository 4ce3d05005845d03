/*  fuzz_envelope.c - libFuzzer target for every protobuf decoder of
    untrusted bytes: envelopes from the wire (any body, and each expected
    body) and attempt blobs read back from Redis. */
#include "geak_prelude.h"
#include "geak_proto.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    geak_rc_t rc;
    Geak__Envelope *env = geak_proto_unpack (data, size, GEAK__ENVELOPE__BODY__NOT_SET, &rc);
    if (env) {
        //  A decoded envelope must re-pack without error
        uint8_t *out = NULL;
        size_t out_size = 0;
        if (geak_proto_pack (env, &out, &out_size) != GEAK_OK)
            abort ();
        free (out);
        geak_proto_free (&env);
    }
    else
    if (rc == GEAK_OK)
        abort ();
    env = geak_proto_unpack (data, size, GEAK__ENVELOPE__BODY_EVAL_REQUEST, &rc);
    geak_proto_free (&env);
    Geak__Attempt *attempt = geak_proto_attempt_unpack (data, size, &rc);
    if (attempt)
        geak__attempt__free_unpacked (attempt, NULL);
    return 0;
}
