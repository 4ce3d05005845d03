/*  geak_mdp.c - GMDP/1 pure decoders and encoders (docs/transport.md). */
#include "geak_prelude.h"
#include "geak_mdp.h"

static bool
s_name_char (uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '+'
        || c == '=' || c == '-';
}

bool
geak_mdp_valid_name (const void *data, size_t size, size_t max)
{
    if (size == 0 || size > max || !data)
        return false;
    const uint8_t *bytes = data;
    for (size_t i = 0; i < size; i++)
        if (!s_name_char (bytes [i]))
            return false;
    return true;
}

char *
geak_mdp_strdup (geak_mdp_bytes_t bytes)
{
    char *s = geak_malloc0 (bytes.size + 1);
    if (bytes.size)
        memcpy (s, bytes.data, bytes.size);
    return s;
}

bool
geak_mdp_streq (geak_mdp_bytes_t bytes, const char *s)
{
    size_t len = strlen (s);
    return bytes.size == len && (len == 0 || memcmp (bytes.data, s, len) == 0);
}

const char *
geak_mdp_client_command_name (int cmd)
{
    switch (cmd) {
        case GEAK_MDPC_REQUEST: return "REQUEST";
        case GEAK_MDPC_PARTIAL: return "PARTIAL";
        case GEAK_MDPC_FINAL:   return "FINAL";
        case GEAK_MDPC_ERROR:   return "ERROR";
        case GEAK_MDPC_ACK:     return "ACK";
        default:                return "?";
    }
}

const char *
geak_mdp_worker_command_name (int cmd)
{
    switch (cmd) {
        case GEAK_MDPW_READY:      return "READY";
        case GEAK_MDPW_REQUEST:    return "REQUEST";
        case GEAK_MDPW_PARTIAL:    return "PARTIAL";
        case GEAK_MDPW_FINAL:      return "FINAL";
        case GEAK_MDPW_HEARTBEAT:  return "HEARTBEAT";
        case GEAK_MDPW_DISCONNECT: return "DISCONNECT";
        default:                   return "?";
    }
}

//  ------------------------------------------------------------ decoding

static geak_mdp_bytes_t
s_bytes (const geak_msg_t *msg, size_t index)
{
    geak_mdp_bytes_t bytes = { geak_msg_data (msg, index), geak_msg_frame_size (msg, index) };
    return bytes;
}

//  Parse decimal ASCII into a non-negative int64; false on anything else.
static bool
s_parse_deadline (geak_mdp_bytes_t bytes, int64_t *value)
{
    if (bytes.size == 0 || bytes.size > GEAK_MDP_MAX_DEADLINE)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < bytes.size; i++) {
        uint8_t c = bytes.data [i];
        if (c < '0' || c > '9')
            return false;
        if (v > (INT64_MAX - (c - '0')) / 10)
            return false;
        v = v * 10 + (c - '0');
    }
    *value = v;
    return true;
}

//  Check the common prefix at offset `at`: "" delimiter, header, 1-byte
//  command. Returns the command, or -1 (malformed) / -2 (wrong header).
static int
s_prefix (const geak_msg_t *msg, size_t at, const char *header)
{
    if (geak_msg_size (msg) < at + 3)
        return -1;
    if (geak_msg_frame_size (msg, at) != 0)
        return -1;
    if (!geak_msg_frame_streq (msg, at + 1, header))
        return -2;
    if (geak_msg_frame_size (msg, at + 2) != 1)
        return -1;
    return geak_msg_data (msg, at + 2) [0];
}

static geak_rc_t
s_prefix_rc (int cmd)
{
    return cmd == -2 ? GEAK_E_PROTOCOL : GEAK_E_MALFORMED;
}

static bool
s_valid_sender (geak_mdp_bytes_t bytes)
{
    return bytes.size >= 1 && bytes.size <= GEAK_MDP_MAX_ADDRESS;
}

static bool
s_valid_body (geak_mdp_bytes_t bytes)
{
    return bytes.size <= GEAK_MDP_MAX_BODY;
}

static bool
s_valid_rid (geak_mdp_bytes_t bytes)
{
    return geak_mdp_valid_name (bytes.data, bytes.size, GEAK_MDP_MAX_REQUEST_ID);
}

static bool
s_valid_service (geak_mdp_bytes_t bytes)
{
    return geak_mdp_valid_name (bytes.data, bytes.size, GEAK_MDP_MAX_NAME);
}

//  Start a decode: reset the view, reject NULL and truncated messages.
static geak_rc_t
s_begin (const geak_msg_t *msg, geak_mdp_view_t *view)
{
    assert (view);
    memset (view, 0, sizeof *view);
    if (!msg || geak_msg_truncated (msg) || geak_msg_size (msg) == 0)
        return GEAK_E_MALFORMED;
    return GEAK_OK;
}

geak_rc_t
geak_mdp_decode_client_to_broker (const geak_msg_t *msg, geak_mdp_view_t *view)
{
    geak_rc_t rc = s_begin (msg, view);
    if (rc != GEAK_OK)
        return rc;
    view->origin = GEAK_MDP_FROM_CLIENT;
    int cmd = s_prefix (msg, 1, GEAK_MDP_CLIENT);
    if (cmd < 0)
        return s_prefix_rc (cmd);
    view->command = cmd;
    view->sender = s_bytes (msg, 0);
    if (!s_valid_sender (view->sender))
        return GEAK_E_MALFORMED;
    if (cmd != GEAK_MDPC_REQUEST)
        return GEAK_E_PROTOCOL;
    if (geak_msg_size (msg) != 8)
        return GEAK_E_MALFORMED;
    view->service = s_bytes (msg, 4);
    view->request_id = s_bytes (msg, 5);
    view->body = s_bytes (msg, 7);
    if (!s_valid_service (view->service)
    ||  !s_valid_rid (view->request_id)
    ||  !s_parse_deadline (s_bytes (msg, 6), &view->deadline_ms)
    ||  !s_valid_body (view->body))
        return GEAK_E_MALFORMED;
    return GEAK_OK;
}

geak_rc_t
geak_mdp_decode_worker_to_broker (const geak_msg_t *msg, geak_mdp_view_t *view)
{
    geak_rc_t rc = s_begin (msg, view);
    if (rc != GEAK_OK)
        return rc;
    view->origin = GEAK_MDP_FROM_WORKER;
    int cmd = s_prefix (msg, 1, GEAK_MDP_WORKER);
    if (cmd < 0)
        return s_prefix_rc (cmd);
    view->command = cmd;
    view->sender = s_bytes (msg, 0);
    if (!s_valid_sender (view->sender))
        return GEAK_E_MALFORMED;
    size_t frames = geak_msg_size (msg);
    switch (cmd) {
        case GEAK_MDPW_READY:
            if (frames != 6)
                return GEAK_E_MALFORMED;
            view->service = s_bytes (msg, 4);
            view->implementation = s_bytes (msg, 5);
            if (!s_valid_service (view->service))
                return GEAK_E_MALFORMED;
            if (view->implementation.size
            &&  !geak_mdp_valid_name (view->implementation.data, view->implementation.size,
                                      GEAK_MDP_MAX_NAME))
                return GEAK_E_MALFORMED;
            return GEAK_OK;
        case GEAK_MDPW_PARTIAL:
        case GEAK_MDPW_FINAL:
            if (frames != 7)
                return GEAK_E_MALFORMED;
            view->client = s_bytes (msg, 4);
            view->request_id = s_bytes (msg, 5);
            view->body = s_bytes (msg, 6);
            if (!s_valid_sender (view->client)
            ||  !s_valid_rid (view->request_id)
            ||  !s_valid_body (view->body))
                return GEAK_E_MALFORMED;
            return GEAK_OK;
        case GEAK_MDPW_HEARTBEAT:
        case GEAK_MDPW_DISCONNECT:
            return frames == 4 ? GEAK_OK : GEAK_E_MALFORMED;
        default:
            return GEAK_E_PROTOCOL;
    }
}

geak_rc_t
geak_mdp_decode_router (const geak_msg_t *msg, geak_mdp_view_t *view)
{
    assert (view);
    if (msg && geak_msg_size (msg) >= 3) {
        if (geak_msg_frame_streq (msg, 2, GEAK_MDP_CLIENT))
            return geak_mdp_decode_client_to_broker (msg, view);
        if (geak_msg_frame_streq (msg, 2, GEAK_MDP_WORKER))
            return geak_mdp_decode_worker_to_broker (msg, view);
    }
    geak_rc_t rc = s_begin (msg, view);
    if (rc != GEAK_OK)
        return rc;
    //  A complete prefix with an unknown header is a protocol mismatch;
    //  anything shorter is garbage
    if (geak_msg_size (msg) >= 4 && geak_msg_frame_size (msg, 1) == 0)
        return GEAK_E_PROTOCOL;
    return GEAK_E_MALFORMED;
}

geak_rc_t
geak_mdp_decode_broker_to_client (const geak_msg_t *msg, geak_mdp_view_t *view)
{
    geak_rc_t rc = s_begin (msg, view);
    if (rc != GEAK_OK)
        return rc;
    int cmd = s_prefix (msg, 0, GEAK_MDP_CLIENT);
    if (cmd < 0)
        return s_prefix_rc (cmd);
    view->command = cmd;
    size_t frames = geak_msg_size (msg);
    if (cmd < GEAK_MDPC_PARTIAL || cmd > GEAK_MDPC_ACK)
        return GEAK_E_PROTOCOL;
    if (frames < 5)
        return GEAK_E_MALFORMED;
    view->service = s_bytes (msg, 3);
    view->request_id = s_bytes (msg, 4);
    if (!s_valid_service (view->service) || !s_valid_rid (view->request_id))
        return GEAK_E_MALFORMED;
    switch (cmd) {
        case GEAK_MDPC_PARTIAL:
        case GEAK_MDPC_FINAL:
            if (frames != 6)
                return GEAK_E_MALFORMED;
            view->body = s_bytes (msg, 5);
            return s_valid_body (view->body) ? GEAK_OK : GEAK_E_MALFORMED;
        case GEAK_MDPC_ERROR: {
            if (frames != 7)
                return GEAK_E_MALFORMED;
            geak_mdp_bytes_t code = s_bytes (msg, 5);
            view->error_text = s_bytes (msg, 6);
            if (!geak_mdp_valid_name (code.data, code.size, 32)
            ||  view->error_text.size > GEAK_MDP_MAX_ERROR_TEXT)
                return GEAK_E_MALFORMED;
            char name [33];
            memcpy (name, code.data, code.size);
            name [code.size] = 0;
            view->error = geak_rc_from_name (name);
            if (view->error == GEAK_OK)
                return GEAK_E_MALFORMED;        //  an error must not say "ok"
            return GEAK_OK;                     //  unknown names read as internal
        }
        default: {  //  ACK
            if (frames != 6)
                return GEAK_E_MALFORMED;
            view->ack_state = s_bytes (msg, 5);
            if (!geak_mdp_streq (view->ack_state, GEAK_MDP_ACK_QUEUED)
            &&  !geak_mdp_streq (view->ack_state, GEAK_MDP_ACK_RUNNING)
            &&  !geak_mdp_streq (view->ack_state, GEAK_MDP_ACK_DONE))
                return GEAK_E_MALFORMED;
            return GEAK_OK;
        }
    }
}

geak_rc_t
geak_mdp_decode_broker_to_worker (const geak_msg_t *msg, geak_mdp_view_t *view)
{
    geak_rc_t rc = s_begin (msg, view);
    if (rc != GEAK_OK)
        return rc;
    int cmd = s_prefix (msg, 0, GEAK_MDP_WORKER);
    if (cmd < 0)
        return s_prefix_rc (cmd);
    view->command = cmd;
    size_t frames = geak_msg_size (msg);
    switch (cmd) {
        case GEAK_MDPW_REQUEST:
            if (frames != 7)
                return GEAK_E_MALFORMED;
            view->client = s_bytes (msg, 3);
            view->request_id = s_bytes (msg, 4);
            view->body = s_bytes (msg, 6);
            if (!s_valid_sender (view->client)
            ||  !s_valid_rid (view->request_id)
            ||  !s_parse_deadline (s_bytes (msg, 5), &view->deadline_ms)
            ||  !s_valid_body (view->body))
                return GEAK_E_MALFORMED;
            return GEAK_OK;
        case GEAK_MDPW_HEARTBEAT:
        case GEAK_MDPW_DISCONNECT:
            return frames == 3 ? GEAK_OK : GEAK_E_MALFORMED;
        default:
            return GEAK_E_PROTOCOL;
    }
}

//  ------------------------------------------------------------ encoding

static geak_msg_t *
s_start (const char *header, int cmd)
{
    geak_msg_t *msg = geak_msg_new ();
    uint8_t byte = (uint8_t) cmd;
    if (geak_msg_addmem (msg, NULL, 0)
    ||  geak_msg_addstr (msg, header)
    ||  geak_msg_addmem (msg, &byte, 1))
        geak_msg_destroy (&msg);
    return msg;
}

static geak_msg_t *
s_add (geak_msg_t *msg, const void *data, size_t size)
{
    if (msg && geak_msg_addmem (msg, data, size) != GEAK_OK)
        geak_msg_destroy (&msg);
    return msg;
}

static geak_msg_t *
s_add_deadline (geak_msg_t *msg, int64_t deadline_ms)
{
    if (msg && geak_msg_addf (msg, "%lld", (long long) (deadline_ms > 0 ? deadline_ms : 0)))
        geak_msg_destroy (&msg);
    return msg;
}

geak_msg_t *
geak_mdp_encode_client_request (const char *service, const char *request_id,
                                int64_t deadline_ms, const void *body, size_t size)
{
    if (!service || !geak_mdp_valid_name (service, strlen (service), GEAK_MDP_MAX_NAME)
    ||  !request_id || !geak_mdp_valid_name (request_id, strlen (request_id), GEAK_MDP_MAX_REQUEST_ID)
    ||  (size && !body) || size > GEAK_MDP_MAX_BODY)
        return NULL;
    geak_msg_t *msg = s_start (GEAK_MDP_CLIENT, GEAK_MDPC_REQUEST);
    msg = s_add (msg, service, strlen (service));
    msg = s_add (msg, request_id, strlen (request_id));
    msg = s_add_deadline (msg, deadline_ms);
    return s_add (msg, body, size);
}

static geak_msg_t *
s_client_head (int cmd, const void *service, size_t service_size,
               const void *request_id, size_t request_id_size)
{
    if (!geak_mdp_valid_name (service, service_size, GEAK_MDP_MAX_NAME)
    ||  !geak_mdp_valid_name (request_id, request_id_size, GEAK_MDP_MAX_REQUEST_ID))
        return NULL;
    geak_msg_t *msg = s_start (GEAK_MDP_CLIENT, cmd);
    msg = s_add (msg, service, service_size);
    return s_add (msg, request_id, request_id_size);
}

geak_msg_t *
geak_mdp_encode_client_reply (int cmd, const void *service, size_t service_size,
                              const void *request_id, size_t request_id_size,
                              const void *body, size_t size)
{
    if ((cmd != GEAK_MDPC_PARTIAL && cmd != GEAK_MDPC_FINAL)
    ||  (size && !body) || size > GEAK_MDP_MAX_BODY)
        return NULL;
    geak_msg_t *msg = s_client_head (cmd, service, service_size, request_id, request_id_size);
    return s_add (msg, body, size);
}

geak_msg_t *
geak_mdp_encode_client_error (const void *service, size_t service_size,
                              const void *request_id, size_t request_id_size,
                              geak_rc_t code, const char *text)
{
    if (code == GEAK_OK || (int) code < 0 || code >= GEAK_E__COUNT)
        return NULL;
    if (!text)
        text = geak_rc_str (code);
    size_t text_size = strlen (text);
    if (text_size > GEAK_MDP_MAX_ERROR_TEXT)
        text_size = GEAK_MDP_MAX_ERROR_TEXT;
    geak_msg_t *msg = s_client_head (GEAK_MDPC_ERROR, service, service_size,
                                     request_id, request_id_size);
    const char *name = geak_rc_name (code);
    msg = s_add (msg, name, strlen (name));
    return s_add (msg, text, text_size);
}

geak_msg_t *
geak_mdp_encode_client_ack (const void *service, size_t service_size,
                            const void *request_id, size_t request_id_size,
                            const char *state)
{
    if (!state || (strcmp (state, GEAK_MDP_ACK_QUEUED) && strcmp (state, GEAK_MDP_ACK_RUNNING)
                   && strcmp (state, GEAK_MDP_ACK_DONE)))
        return NULL;
    geak_msg_t *msg = s_client_head (GEAK_MDPC_ACK, service, service_size,
                                     request_id, request_id_size);
    return s_add (msg, state, strlen (state));
}

geak_msg_t *
geak_mdp_encode_worker_ready (const char *service, const char *implementation)
{
    if (!implementation)
        implementation = "";
    size_t impl_size = strlen (implementation);
    if (!service || !geak_mdp_valid_name (service, strlen (service), GEAK_MDP_MAX_NAME)
    ||  (impl_size && !geak_mdp_valid_name (implementation, impl_size, GEAK_MDP_MAX_NAME)))
        return NULL;
    geak_msg_t *msg = s_start (GEAK_MDP_WORKER, GEAK_MDPW_READY);
    msg = s_add (msg, service, strlen (service));
    return s_add (msg, implementation, impl_size);
}

geak_msg_t *
geak_mdp_encode_worker_reply (int cmd, const void *client, size_t client_size,
                              const char *request_id, const void *body, size_t size)
{
    if ((cmd != GEAK_MDPW_PARTIAL && cmd != GEAK_MDPW_FINAL)
    ||  !client || client_size == 0 || client_size > GEAK_MDP_MAX_ADDRESS
    ||  !request_id || !geak_mdp_valid_name (request_id, strlen (request_id), GEAK_MDP_MAX_REQUEST_ID)
    ||  (size && !body) || size > GEAK_MDP_MAX_BODY)
        return NULL;
    geak_msg_t *msg = s_start (GEAK_MDP_WORKER, cmd);
    msg = s_add (msg, client, client_size);
    msg = s_add (msg, request_id, strlen (request_id));
    return s_add (msg, body, size);
}

geak_msg_t *
geak_mdp_encode_worker_command (int cmd)
{
    if (cmd != GEAK_MDPW_HEARTBEAT && cmd != GEAK_MDPW_DISCONNECT)
        return NULL;
    return s_start (GEAK_MDP_WORKER, cmd);
}

geak_msg_t *
geak_mdp_encode_worker_request (const void *client, size_t client_size,
                                const void *request_id, size_t request_id_size,
                                int64_t deadline_ms, const void *body, size_t size)
{
    if (!client || client_size == 0 || client_size > GEAK_MDP_MAX_ADDRESS
    ||  !geak_mdp_valid_name (request_id, request_id_size, GEAK_MDP_MAX_REQUEST_ID)
    ||  (size && !body) || size > GEAK_MDP_MAX_BODY)
        return NULL;
    geak_msg_t *msg = s_start (GEAK_MDP_WORKER, GEAK_MDPW_REQUEST);
    msg = s_add (msg, client, client_size);
    msg = s_add (msg, request_id, request_id_size);
    msg = s_add_deadline (msg, deadline_ms);
    return s_add (msg, body, size);
}

//  ------------------------------------------------------------ selftest

static geak_msg_t *
s_routed (geak_msg_t *msg, const char *sender)
{
    assert (msg);
    geak_msg_pushstr (msg, sender);
    return msg;
}

//  Every single-frame removal or corruption of a valid message must be
//  handled (a clean verdict, no crash; ASan checks the reads).
static void
s_mutate_all (const geak_msg_t *valid, geak_rc_t (*decode) (const geak_msg_t *, geak_mdp_view_t *))
{
    geak_mdp_view_t view;
    size_t frames = geak_msg_size (valid);
    //  drop one frame
    for (size_t drop = 0; drop < frames; drop++) {
        geak_msg_t *msg = geak_msg_new ();
        for (size_t i = 0; i < frames; i++)
            if (i != drop)
                geak_msg_addmem (msg, geak_msg_data (valid, i), geak_msg_frame_size (valid, i));
        geak_rc_t rc = decode (msg, &view);
        assert (rc == GEAK_OK || rc == GEAK_E_MALFORMED || rc == GEAK_E_PROTOCOL);
        geak_msg_destroy (&msg);
    }
    //  replace one frame with junk of several sizes
    static const char *junk [] = { "", "\x01", "\xff\xfe", "GMDPC1", "GMDPW1", "12a", " " };
    for (size_t at = 0; at < frames; at++)
        for (size_t j = 0; j < sizeof junk / sizeof junk [0]; j++) {
            geak_msg_t *msg = geak_msg_new ();
            for (size_t i = 0; i < frames; i++) {
                if (i == at)
                    geak_msg_addmem (msg, junk [j], strlen (junk [j]));
                else
                    geak_msg_addmem (msg, geak_msg_data (valid, i), geak_msg_frame_size (valid, i));
            }
            geak_rc_t rc = decode (msg, &view);
            assert (rc == GEAK_OK || rc == GEAK_E_MALFORMED || rc == GEAK_E_PROTOCOL);
            geak_msg_destroy (&msg);
        }
    //  one extra frame
    geak_msg_t *msg = geak_msg_dup (valid);
    geak_msg_addstr (msg, "extra");
    assert (decode (msg, &view) != GEAK_OK);
    geak_msg_destroy (&msg);
}

int
geak_mdp_test (bool verbose)
{
    geak_mdp_view_t view;

    //  client request round trip
    geak_msg_t *msg = geak_mdp_encode_client_request ("geak.evaluator", "r-1", 1700000000123LL, "body", 4);
    GEAK_CHECK (msg && geak_msg_size (msg) == 7);
    s_routed (msg, "C1");
    GEAK_CHECK (geak_mdp_decode_router (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.origin == GEAK_MDP_FROM_CLIENT);
    GEAK_CHECK (view.command == GEAK_MDPC_REQUEST);
    GEAK_CHECK (geak_mdp_streq (view.sender, "C1"));
    GEAK_CHECK (geak_mdp_streq (view.service, "geak.evaluator"));
    GEAK_CHECK (geak_mdp_streq (view.request_id, "r-1"));
    GEAK_CHECK (view.deadline_ms == 1700000000123LL);
    GEAK_CHECK (geak_mdp_streq (view.body, "body"));
    GEAK_CHECK (geak_mdp_decode_worker_to_broker (msg, &view) == GEAK_E_PROTOCOL);
    s_mutate_all (msg, geak_mdp_decode_router);
    s_mutate_all (msg, geak_mdp_decode_client_to_broker);
    geak_msg_destroy (&msg);

    //  bad arguments are refused by the encoders
    GEAK_CHECK (!geak_mdp_encode_client_request ("bad service", "r", 0, NULL, 0));
    GEAK_CHECK (!geak_mdp_encode_client_request ("s", "", 0, NULL, 0));
    GEAK_CHECK (!geak_mdp_encode_client_request ("s", "r", 0, NULL, 5));
    GEAK_CHECK (!geak_mdp_encode_worker_ready ("s", "bad impl"));
    GEAK_CHECK (!geak_mdp_encode_worker_command (GEAK_MDPW_READY));

    //  deadline parsing edge cases
    const char *deadlines [] = { "0", "9223372036854775807", "9223372036854775808", "-1", "",
                                 "12345678901234567890", "1e3" };
    geak_rc_t expect [] = { GEAK_OK, GEAK_OK, GEAK_E_MALFORMED, GEAK_E_MALFORMED,
                            GEAK_E_MALFORMED, GEAK_E_MALFORMED, GEAK_E_MALFORMED };
    for (size_t i = 0; i < sizeof deadlines / sizeof deadlines [0]; i++) {
        msg = geak_msg_new ();
        geak_msg_addstr (msg, "C1");
        geak_msg_addmem (msg, NULL, 0);
        geak_msg_addstr (msg, GEAK_MDP_CLIENT);
        geak_msg_addmem (msg, "\x01", 1);
        geak_msg_addstr (msg, "svc");
        geak_msg_addstr (msg, "rid");
        geak_msg_addstr (msg, deadlines [i]);
        geak_msg_addstr (msg, "");
        GEAK_CHECK (geak_mdp_decode_router (msg, &view) == expect [i]);
        geak_msg_destroy (&msg);
    }

    //  worker -> broker
    msg = s_routed (geak_mdp_encode_worker_ready ("geak.evaluator", "triton"), "W1");
    GEAK_CHECK (geak_mdp_decode_router (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.origin == GEAK_MDP_FROM_WORKER && view.command == GEAK_MDPW_READY);
    GEAK_CHECK (geak_mdp_streq (view.implementation, "triton"));
    s_mutate_all (msg, geak_mdp_decode_router);
    geak_msg_destroy (&msg);
    msg = s_routed (geak_mdp_encode_worker_ready ("svc", NULL), "W1");
    GEAK_CHECK (geak_mdp_decode_worker_to_broker (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.implementation.size == 0);
    geak_msg_destroy (&msg);
    for (int cmd = GEAK_MDPW_PARTIAL; cmd <= GEAK_MDPW_FINAL; cmd++) {
        msg = s_routed (geak_mdp_encode_worker_reply (cmd, "\0\x80\x01", 3, "r-2", "out", 3), "W1");
        GEAK_CHECK (geak_mdp_decode_router (msg, &view) == GEAK_OK);
        GEAK_CHECK (view.command == cmd && view.client.size == 3 && view.client.data [1] == 0x80);
        GEAK_CHECK (geak_mdp_streq (view.body, "out"));
        s_mutate_all (msg, geak_mdp_decode_worker_to_broker);
        geak_msg_destroy (&msg);
    }
    for (int cmd = GEAK_MDPW_HEARTBEAT; cmd <= GEAK_MDPW_DISCONNECT; cmd++) {
        msg = s_routed (geak_mdp_encode_worker_command (cmd), "W1");
        GEAK_CHECK (geak_mdp_decode_router (msg, &view) == GEAK_OK && view.command == cmd);
        geak_msg_destroy (&msg);
        msg = geak_mdp_encode_worker_command (cmd);
        GEAK_CHECK (geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_OK && view.command == cmd);
        geak_msg_destroy (&msg);
    }

    //  broker -> worker
    msg = geak_mdp_encode_worker_request ("C1", 2, "r-3", 3, 0, "in", 2);
    GEAK_CHECK (geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPW_REQUEST && view.deadline_ms == 0);
    GEAK_CHECK (geak_mdp_streq (view.client, "C1") && geak_mdp_streq (view.body, "in"));
    GEAK_CHECK (geak_mdp_decode_broker_to_client (msg, &view) == GEAK_E_PROTOCOL);
    s_mutate_all (msg, geak_mdp_decode_broker_to_worker);
    geak_msg_destroy (&msg);

    //  broker -> client
    msg = geak_mdp_encode_client_reply (GEAK_MDPC_FINAL, "svc", 3, "r-4", 3, "done", 4);
    GEAK_CHECK (geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_FINAL && geak_mdp_streq (view.body, "done"));
    s_mutate_all (msg, geak_mdp_decode_broker_to_client);
    geak_msg_destroy (&msg);
    msg = geak_mdp_encode_client_error ("svc", 3, "r-4", 3, GEAK_E_WORKER_LOST, NULL);
    GEAK_CHECK (geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_ERROR && view.error == GEAK_E_WORKER_LOST);
    char *text = geak_mdp_strdup (view.error_text);
    GEAK_CHECK (strcmp (text, geak_rc_str (GEAK_E_WORKER_LOST)) == 0);
    free (text);
    s_mutate_all (msg, geak_mdp_decode_broker_to_client);
    geak_msg_destroy (&msg);
    GEAK_CHECK (!geak_mdp_encode_client_error ("svc", 3, "r", 1, GEAK_OK, "x"));
    msg = geak_mdp_encode_client_ack ("svc", 3, "r-4", 3, GEAK_MDP_ACK_RUNNING);
    GEAK_CHECK (geak_mdp_decode_broker_to_client (msg, &view) == GEAK_OK);
    GEAK_CHECK (view.command == GEAK_MDPC_ACK && geak_mdp_streq (view.ack_state, "running"));
    s_mutate_all (msg, geak_mdp_decode_broker_to_client);
    geak_msg_destroy (&msg);
    GEAK_CHECK (!geak_mdp_encode_client_ack ("svc", 3, "r", 1, "maybe"));

    //  garbage of every small shape
    msg = geak_msg_new ();
    GEAK_CHECK (geak_mdp_decode_router (msg, &view) == GEAK_E_MALFORMED);
    GEAK_CHECK (geak_mdp_decode_broker_to_client (msg, &view) == GEAK_E_MALFORMED);
    GEAK_CHECK (geak_mdp_decode_broker_to_worker (msg, &view) == GEAK_E_MALFORMED);
    geak_msg_addstr (msg, "x");
    GEAK_CHECK (geak_mdp_decode_router (msg, &view) == GEAK_E_MALFORMED);
    geak_msg_addmem (msg, NULL, 0);
    geak_msg_addstr (msg, "MDPC01");
    geak_msg_addstr (msg, "\x01");
    GEAK_CHECK (geak_mdp_decode_router (msg, &view) == GEAK_E_PROTOCOL);
    GEAK_CHECK (view.origin == GEAK_MDP_FROM_UNKNOWN);
    geak_msg_destroy (&msg);

    //  a client command the broker never accepts from a client
    msg = s_routed (geak_mdp_encode_client_reply (GEAK_MDPC_FINAL, "s", 1, "r", 1, NULL, 0), "C9");
    GEAK_CHECK (geak_mdp_decode_router (msg, &view) == GEAK_E_PROTOCOL);
    GEAK_CHECK (view.origin == GEAK_MDP_FROM_CLIENT);
    geak_msg_destroy (&msg);

    if (verbose)
        printf ("geak_mdp_test: all decoders checked\n");
    return 0;
}
