/*  fuzz_mdp.c - libFuzzer target for every GMDP/1 decoder (lib/geak_mdp.h).

    Input layout: a sequence of frames, each a length then that many bytes.
    The length is one byte (0..127), or two bytes when the first has the
    top bit set ((b0 & 0x7f) << 8 | b1). A short tail becomes the last frame.
    Every decoder runs on the same message; whatever decodes must survive a
    re-encode / re-decode round trip with identical fields. */
#include "geak_prelude.h"
#include "geak_msg.h"
#include "geak_mdp.h"

#define MAX_FRAMES (GEAK_MSG_MAX_FRAMES + 8)

static bool
s_same (geak_mdp_bytes_t a, geak_mdp_bytes_t b)
{
    return a.size == b.size && (a.size == 0 || memcmp (a.data, b.data, a.size) == 0);
}

static void
s_check (bool ok)
{
    if (!ok)
        abort ();
}

static char *
s_str (geak_mdp_bytes_t bytes)
{
    return geak_mdp_strdup (bytes);
}

static void
s_roundtrip_client_to_broker (const geak_mdp_view_t *v)
{
    char *service = s_str (v->service), *rid = s_str (v->request_id);
    geak_msg_t *msg = geak_mdp_encode_client_request (service, rid, v->deadline_ms,
                                                      v->body.data, v->body.size);
    s_check (msg != NULL);
    geak_msg_pushmem (msg, v->sender.data, v->sender.size);
    geak_mdp_view_t w;
    s_check (geak_mdp_decode_router (msg, &w) == GEAK_OK);
    s_check (w.origin == GEAK_MDP_FROM_CLIENT && w.command == v->command);
    s_check (s_same (w.service, v->service) && s_same (w.request_id, v->request_id));
    s_check (w.deadline_ms == v->deadline_ms && s_same (w.body, v->body));
    geak_msg_destroy (&msg);
    free (service);
    free (rid);
}

static void
s_roundtrip_worker_to_broker (const geak_mdp_view_t *v)
{
    geak_msg_t *msg = NULL;
    if (v->command == GEAK_MDPW_READY) {
        char *service = s_str (v->service), *impl = s_str (v->implementation);
        msg = geak_mdp_encode_worker_ready (service, impl);
        free (service);
        free (impl);
    }
    else
    if (v->command == GEAK_MDPW_PARTIAL || v->command == GEAK_MDPW_FINAL) {
        char *rid = s_str (v->request_id);
        msg = geak_mdp_encode_worker_reply (v->command, v->client.data, v->client.size, rid,
                                            v->body.data, v->body.size);
        free (rid);
    }
    else
        msg = geak_mdp_encode_worker_command (v->command);
    s_check (msg != NULL);
    geak_msg_pushmem (msg, v->sender.data, v->sender.size);
    geak_mdp_view_t w;
    s_check (geak_mdp_decode_router (msg, &w) == GEAK_OK);
    s_check (w.origin == GEAK_MDP_FROM_WORKER && w.command == v->command);
    s_check (s_same (w.service, v->service) && s_same (w.implementation, v->implementation));
    s_check (s_same (w.client, v->client) && s_same (w.request_id, v->request_id));
    s_check (s_same (w.body, v->body));
    geak_msg_destroy (&msg);
}

static void
s_roundtrip_broker_to_client (const geak_mdp_view_t *v)
{
    geak_msg_t *msg = NULL;
    if (v->command == GEAK_MDPC_ERROR) {
        //  text may hold NULs: compare only what a C string carries
        char *text = s_str (v->error_text);
        msg = geak_mdp_encode_client_error (v->service.data, v->service.size, v->request_id.data,
                                            v->request_id.size, v->error, text);
        free (text);
    }
    else
    if (v->command == GEAK_MDPC_ACK) {
        char *state = s_str (v->ack_state);
        msg = geak_mdp_encode_client_ack (v->service.data, v->service.size, v->request_id.data,
                                          v->request_id.size, state);
        free (state);
    }
    else
        msg = geak_mdp_encode_client_reply (v->command, v->service.data, v->service.size,
                                            v->request_id.data, v->request_id.size,
                                            v->body.data, v->body.size);
    s_check (msg != NULL);
    geak_mdp_view_t w;
    s_check (geak_mdp_decode_broker_to_client (msg, &w) == GEAK_OK);
    s_check (w.command == v->command && w.error == v->error);
    s_check (s_same (w.service, v->service) && s_same (w.request_id, v->request_id));
    s_check (s_same (w.body, v->body) && s_same (w.ack_state, v->ack_state));
    geak_msg_destroy (&msg);
}

static void
s_roundtrip_broker_to_worker (const geak_mdp_view_t *v)
{
    geak_msg_t *msg = v->command == GEAK_MDPW_REQUEST
        ? geak_mdp_encode_worker_request (v->client.data, v->client.size, v->request_id.data,
                                          v->request_id.size, v->deadline_ms,
                                          v->body.data, v->body.size)
        : geak_mdp_encode_worker_command (v->command);
    s_check (msg != NULL);
    geak_mdp_view_t w;
    s_check (geak_mdp_decode_broker_to_worker (msg, &w) == GEAK_OK);
    s_check (w.command == v->command && w.deadline_ms == v->deadline_ms);
    s_check (s_same (w.client, v->client) && s_same (w.request_id, v->request_id));
    s_check (s_same (w.body, v->body));
    geak_msg_destroy (&msg);
}

//  A view's ranges must lie inside the message's frames
static void
s_inside (const geak_msg_t *msg, geak_mdp_bytes_t bytes)
{
    if (bytes.size == 0)
        return;
    for (size_t i = 0; i < geak_msg_size (msg); i++) {
        const uint8_t *start = geak_msg_data (msg, i);
        size_t size = geak_msg_frame_size (msg, i);
        if (bytes.data >= start && bytes.data + bytes.size <= start + size)
            return;
    }
    abort ();
}

static void
s_views_inside (const geak_msg_t *msg, const geak_mdp_view_t *v)
{
    s_inside (msg, v->sender);
    s_inside (msg, v->service);
    s_inside (msg, v->implementation);
    s_inside (msg, v->client);
    s_inside (msg, v->request_id);
    s_inside (msg, v->body);
    s_inside (msg, v->error_text);
    s_inside (msg, v->ack_state);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    geak_msg_t *msg = geak_msg_new ();
    size_t at = 0;
    int frames = 0;
    while (at < size && frames < MAX_FRAMES) {
        size_t len = data [at++];
        if (len & 0x80) {
            if (at >= size)
                break;
            len = ((len & 0x7f) << 8) | data [at++];
        }
        if (len > size - at)
            len = size - at;
        geak_msg_addmem (msg, data + at, len);
        at += len;
        frames++;
    }
    geak_mdp_view_t view;
    geak_rc_t rc;

    rc = geak_mdp_decode_router (msg, &view);
    s_check (rc == GEAK_OK || rc == GEAK_E_MALFORMED || rc == GEAK_E_PROTOCOL);
    if (rc == GEAK_OK) {
        s_views_inside (msg, &view);
        if (view.origin == GEAK_MDP_FROM_CLIENT)
            s_roundtrip_client_to_broker (&view);
        else
            s_roundtrip_worker_to_broker (&view);
    }
    rc = geak_mdp_decode_client_to_broker (msg, &view);
    s_check (rc == GEAK_OK || rc == GEAK_E_MALFORMED || rc == GEAK_E_PROTOCOL);
    if (rc == GEAK_OK)
        s_views_inside (msg, &view);
    rc = geak_mdp_decode_worker_to_broker (msg, &view);
    s_check (rc == GEAK_OK || rc == GEAK_E_MALFORMED || rc == GEAK_E_PROTOCOL);
    if (rc == GEAK_OK)
        s_views_inside (msg, &view);
    rc = geak_mdp_decode_broker_to_client (msg, &view);
    s_check (rc == GEAK_OK || rc == GEAK_E_MALFORMED || rc == GEAK_E_PROTOCOL);
    if (rc == GEAK_OK) {
        s_views_inside (msg, &view);
        s_roundtrip_broker_to_client (&view);
    }
    rc = geak_mdp_decode_broker_to_worker (msg, &view);
    s_check (rc == GEAK_OK || rc == GEAK_E_MALFORMED || rc == GEAK_E_PROTOCOL);
    if (rc == GEAK_OK) {
        s_views_inside (msg, &view);
        s_roundtrip_broker_to_worker (&view);
    }
    //  The message is unchanged by decoding (decoders are pure)
    geak_msg_t *copy = geak_msg_dup (msg);
    s_check (copy && geak_msg_size (copy) == geak_msg_size (msg));
    geak_msg_destroy (&copy);
    geak_msg_destroy (&msg);
    return 0;
}
