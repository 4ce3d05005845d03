/*  geak_curve.h - ZeroMQ CURVE for the GMDP/1 transport (docs/transport.md,
    "CURVE"): key pair files, z85 validation, the broker's authorized-keys
    file and its ZAP handler.

    Key pair file (made by `geak keygen FILE`, mode 0600):
        public=<40 z85 characters>
        secret=<40 z85 characters>
    ('#' comment lines and blank lines are ignored.)

    Environment:
      GEAK_CURVE_KEY_FILE            this process's key pair
      GEAK_CURVE_SERVER_PUBLIC       the broker's public key (z85), or
      GEAK_CURVE_SERVER_PUBLIC_FILE  a file holding it: a key pair file (only
                                     its public= line is read) or one z85 line
      GEAK_CURVE_AUTHORIZED_FILE     broker only: public keys admitted, one
                                     z85 per line ("public=<z85>" also
                                     accepted), '#' comments
    None set: plain TCP. Some but not all that a side needs: a configuration
    error (never a silent fall back to plain TCP).

    Secret keys are never logged; they are registered with the logger's
    redaction list as a last line of defence, and wiped from memory when
    the object holding them is destroyed. Peers are named in logs by a
    fingerprint: the first 8 hex digits of FNV-1a-64 over the 32 key bytes
    (`geak keygen` prints it). */
#ifndef GEAK_CURVE_H_INCLUDED
#define GEAK_CURVE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_CURVE_Z85_SIZE         40      //  characters of a z85 key
#define GEAK_CURVE_FINGERPRINT_SIZE 9       //  8 hex digits + NUL
#define GEAK_CURVE_MAX_AUTHORIZED   100000
#define GEAK_CURVE_ZAP_DOMAIN       "geak"

typedef struct {
    char public_key [GEAK_CURVE_Z85_SIZE + 1];
    char secret_key [GEAK_CURVE_Z85_SIZE + 1];
} geak_curve_keypair_t;

//  True when text [0..size) is a 40-character z85 encoding of 32 bytes.
bool geak_curve_z85_valid (const char *text, size_t size);
//  Fingerprint of a z85 public key (see above); "invalid" when not valid.
void geak_curve_fingerprint (const char *public_z85, char out [GEAK_CURVE_FINGERPRINT_SIZE]);

//  A fresh key pair (GEAK_E_UNSUPPORTED when libzmq lacks CURVE).
geak_rc_t geak_curve_keypair_generate (geak_curve_keypair_t *kp);
//  Read and validate a key pair file (both keys z85, and the public key
//  must belong to the secret key). GEAK_E_IO when unreadable,
//  GEAK_E_CONFIG when malformed (the log names the line, never its text).
geak_rc_t geak_curve_keypair_load (const char *path, geak_curve_keypair_t *kp);
//  Write a key pair file with mode 0600. GEAK_E_EXISTS when the file
//  exists and overwrite is false.
geak_rc_t geak_curve_keypair_save (const char *path, const geak_curve_keypair_t *kp, bool overwrite);
//  Zero the secret (and the rest).
void geak_curve_keypair_wipe (geak_curve_keypair_t *kp);
//  Public key from a key pair file (its public= line) or a one-line z85
//  file. out gets 40 characters + NUL.
geak_rc_t geak_curve_public_load (const char *path, char out [GEAK_CURVE_Z85_SIZE + 1]);

//  ------------------------------------------------------------------------
//  One side's CURVE settings.

typedef struct geak_curve_t geak_curve_t;

//  A CURVE client (worker or client): our key pair and the server's public
//  key (z85). NULL on invalid keys.
geak_curve_t *geak_curve_new_client (const geak_curve_keypair_t *mine, const char *server_public);
//  A CURVE server (the broker): our key pair and the authorized-keys file
//  (read by the ZAP handler; must exist). NULL on invalid arguments.
geak_curve_t *geak_curve_new_server (const geak_curve_keypair_t *mine, const char *authorized_path);
//  From the environment (see above). NULL with *rc GEAK_OK when no CURVE
//  variable is set; NULL with GEAK_E_CONFIG / GEAK_E_IO on a bad setting.
geak_curve_t *geak_curve_client_from_env (geak_rc_t *rc);
geak_curve_t *geak_curve_server_from_env (geak_rc_t *rc);
geak_curve_t *geak_curve_dup (const geak_curve_t *self);
//  Wipes the secret, frees, NULLs; safe twice.
void geak_curve_destroy (geak_curve_t **self_p);

bool geak_curve_is_server (const geak_curve_t *self);
//  Our public key (z85), and its fingerprint.
const char *geak_curve_public (const geak_curve_t *self);
const char *geak_curve_own_fingerprint (const geak_curve_t *self);
//  Server side: the authorized-keys file.
const char *geak_curve_authorized_path (const geak_curve_t *self);

//  Set the CURVE socket options: before connect (client) or bind (server;
//  also sets the ZAP domain). GEAK_E_TRANSPORT when libzmq refuses.
geak_rc_t geak_curve_apply (const geak_curve_t *self, void *socket);

//  ------------------------------------------------------------------------
//  The ZAP handler (ZeroMQ RFC 27): a thread answering on
//  inproc://zeromq.zap.01 of one context, admitting CURVE clients whose
//  public key is in the authorized-keys file. The file is read at start
//  (an error then fails geak_curve_zap_new) and read again when it changes
//  (checked at most once a second; a broken new version is ignored with a
//  warning and the previous list stays). Each refusal is counted and
//  logged with the key's fingerprint and the peer's address (the first 20,
//  then every 1000th).

typedef struct geak_curve_zap_t geak_curve_zap_t;

//  One ZAP handler per context (GEAK_E_EXISTS when the context has one).
geak_curve_zap_t *geak_curve_zap_new (void *ctx, const char *authorized_path, geak_rc_t *rc);
void geak_curve_zap_destroy (geak_curve_zap_t **self_p);
//  Counters (any thread).
uint64_t geak_curve_zap_admitted (const geak_curve_zap_t *self);
uint64_t geak_curve_zap_refused (const geak_curve_zap_t *self);
//  Keys currently authorized.
size_t geak_curve_zap_keys (const geak_curve_zap_t *self);

int geak_curve_test (bool verbose);

#endif
