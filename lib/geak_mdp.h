/*  geak_mdp.h - GMDP/1, the broker protocol of geak-c (after the Majordomo
    Protocol, RFC 7/18). Precise frame layouts are in docs/transport.md.

    Decoders are PURE: they read a geak_msg_t exactly as a socket returned
    it, never modify it, never allocate, never assert on its bytes, and fill
    a geak_mdp_view_t whose pointers point INTO the message's frames (valid
    while the message lives, unmodified). They return GEAK_OK,
    GEAK_E_MALFORMED (wrong frame count, sizes, characters, numbers) or
    GEAK_E_PROTOCOL (unknown protocol header or command for that direction).
    The broker uses them to reject and count bad input; fuzz/fuzz_mdp.c
    drives all of them.

    Encoders return a new message (caller owns; hand it to geak_msg_send)
    or NULL when an argument breaks the limits below. Messages are encoded
    as a DEALER sends them (starting with the empty delimiter frame); the
    broker pushes the peer's routing id in front before sending. */
#ifndef GEAK_MDP_H_INCLUDED
#define GEAK_MDP_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_msg.h"

//  Protocol headers (frame after the empty delimiter)
#define GEAK_MDP_CLIENT "GMDPC1"
#define GEAK_MDP_WORKER "GMDPW1"

//  Client <-> broker commands (one byte frame)
#define GEAK_MDPC_REQUEST    0x01   //  client -> broker
#define GEAK_MDPC_PARTIAL    0x02   //  broker -> client
#define GEAK_MDPC_FINAL      0x03   //  broker -> client
#define GEAK_MDPC_ERROR      0x04   //  broker -> client
#define GEAK_MDPC_ACK        0x05   //  broker -> client

//  Worker <-> broker commands (one byte frame)
#define GEAK_MDPW_READY      0x01   //  worker -> broker
#define GEAK_MDPW_REQUEST    0x02   //  broker -> worker
#define GEAK_MDPW_PARTIAL    0x03   //  worker -> broker
#define GEAK_MDPW_FINAL      0x04   //  worker -> broker
#define GEAK_MDPW_HEARTBEAT  0x05   //  both ways
#define GEAK_MDPW_DISCONNECT 0x06   //  both ways

//  Limits (bytes). Names and ids use [A-Za-z0-9._:/@+=-] only.
#define GEAK_MDP_MAX_NAME        128    //  service, implementation
#define GEAK_MDP_MAX_REQUEST_ID  128
#define GEAK_MDP_MAX_ADDRESS     255    //  ZeroMQ routing id
#define GEAK_MDP_MAX_DEADLINE    19     //  decimal digits
#define GEAK_MDP_MAX_ERROR_TEXT  1024
#define GEAK_MDP_MAX_BODY        (64u * 1024u * 1024u)

//  ACK states
#define GEAK_MDP_ACK_QUEUED  "queued"
#define GEAK_MDP_ACK_RUNNING "running"
#define GEAK_MDP_ACK_DONE    "done"

//  A byte range inside a message frame (not NUL-terminated!)
typedef struct {
    const uint8_t *data;
    size_t size;
} geak_mdp_bytes_t;

//  Which side sent a message the broker's ROUTER received
typedef enum {
    GEAK_MDP_FROM_UNKNOWN = 0,
    GEAK_MDP_FROM_CLIENT,
    GEAK_MDP_FROM_WORKER
} geak_mdp_origin_t;

//  Parsed view of one message. Fields not carried by a command are zeroed.
typedef struct {
    geak_mdp_origin_t origin;       //  set by geak_mdp_decode_router
    int command;                    //  GEAK_MDPC_* or GEAK_MDPW_*
    geak_mdp_bytes_t sender;        //  routing id (messages read by a ROUTER)
    geak_mdp_bytes_t service;       //  client REQUEST, READY, broker->client
    geak_mdp_bytes_t implementation;//  READY (may be empty)
    geak_mdp_bytes_t client;        //  worker PARTIAL/FINAL, broker->worker REQUEST
    geak_mdp_bytes_t request_id;
    int64_t deadline_ms;            //  wall clock ms; 0 = none
    geak_mdp_bytes_t body;          //  REQUEST, PARTIAL, FINAL
    geak_rc_t error;                //  broker->client ERROR: the code
    geak_mdp_bytes_t error_text;    //  broker->client ERROR: human message
    geak_mdp_bytes_t ack_state;     //  broker->client ACK: queued|running|done
} geak_mdp_view_t;

//  ------------------------------------------------------------ decoders
//  Messages as the broker's ROUTER reads them: [sender, "", header, cmd, ...]
geak_rc_t geak_mdp_decode_client_to_broker (const geak_msg_t *msg, geak_mdp_view_t *view);
geak_rc_t geak_mdp_decode_worker_to_broker (const geak_msg_t *msg, geak_mdp_view_t *view);
//  Either of the two above, chosen by the header frame; sets view->origin
//  (also on error, when the header was recognised).
geak_rc_t geak_mdp_decode_router (const geak_msg_t *msg, geak_mdp_view_t *view);
//  Messages as a client's / worker's DEALER reads them: ["", header, cmd, ...]
geak_rc_t geak_mdp_decode_broker_to_client (const geak_msg_t *msg, geak_mdp_view_t *view);
geak_rc_t geak_mdp_decode_broker_to_worker (const geak_msg_t *msg, geak_mdp_view_t *view);

//  ------------------------------------------------------------ encoders
//  Strings are NUL-terminated; binary arguments come with their size.
//  client -> broker
geak_msg_t *geak_mdp_encode_client_request (const char *service, const char *request_id,
                                            int64_t deadline_ms, const void *body, size_t size);
//  broker -> client (cmd GEAK_MDPC_PARTIAL or GEAK_MDPC_FINAL)
geak_msg_t *geak_mdp_encode_client_reply (int cmd, const void *service, size_t service_size,
                                          const void *request_id, size_t request_id_size,
                                          const void *body, size_t size);
geak_msg_t *geak_mdp_encode_client_error (const void *service, size_t service_size,
                                          const void *request_id, size_t request_id_size,
                                          geak_rc_t code, const char *text);
geak_msg_t *geak_mdp_encode_client_ack (const void *service, size_t service_size,
                                        const void *request_id, size_t request_id_size,
                                        const char *state);
//  worker -> broker
geak_msg_t *geak_mdp_encode_worker_ready (const char *service, const char *implementation);
//  cmd GEAK_MDPW_PARTIAL or GEAK_MDPW_FINAL
geak_msg_t *geak_mdp_encode_worker_reply (int cmd, const void *client, size_t client_size,
                                          const char *request_id, const void *body, size_t size);
//  broker -> worker, or worker -> broker (cmd HEARTBEAT or DISCONNECT)
geak_msg_t *geak_mdp_encode_worker_command (int cmd);
//  broker -> worker
geak_msg_t *geak_mdp_encode_worker_request (const void *client, size_t client_size,
                                            const void *request_id, size_t request_id_size,
                                            int64_t deadline_ms, const void *body, size_t size);

//  ------------------------------------------------------------ helpers
//  True when bytes are a valid name / request id (charset and length).
bool geak_mdp_valid_name (const void *data, size_t size, size_t max);
//  Copy a view range into a new NUL-terminated string (caller frees).
char *geak_mdp_strdup (geak_mdp_bytes_t bytes);
//  Compare a view range with a string.
bool geak_mdp_streq (geak_mdp_bytes_t bytes, const char *s);
//  Command names for logs ("REQUEST", ...); "?" when unknown.
const char *geak_mdp_client_command_name (int cmd);
const char *geak_mdp_worker_command_name (int cmd);

int geak_mdp_test (bool verbose);

#endif
