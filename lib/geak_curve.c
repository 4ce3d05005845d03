/*  geak_curve.c - CURVE keys, settings and the ZAP handler (see geak_curve.h). */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_msg.h"
#include "geak_curve.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_ENDPOINT        "inproc://zeromq.zap.01"
#define KEY_BYTES           32
#define MAX_FILE_BYTES      (16u * 1024u * 1024u)
#define RELOAD_CHECK_MS     1000
#define REFUSED_LOG_FIRST   20
#define REFUSED_LOG_EVERY   1000

static const char s_z85 [] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

//  ------------------------------------------------------------ keys

static void
s_wipe (void *data, size_t size)
{
    explicit_bzero (data, size);
}

bool
geak_curve_z85_valid (const char *text, size_t size)
{
    if (!text || size != GEAK_CURVE_Z85_SIZE)
        return false;
    for (size_t group = 0; group < size; group += 5) {
        uint64_t value = 0;
        for (size_t i = group; i < group + 5; i++) {
            const char *at = text [i] ? strchr (s_z85, text [i]) : NULL;
            if (!at)
                return false;
            value = value * 85 + (uint64_t) (at - s_z85);
        }
        if (value > UINT32_MAX)
            return false;
    }
    return true;
}

//  Register a secret with the logger's redaction list once per process
//  (the list is small; a process loads its key file once per socket).
static void
s_redact (const char *secret)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t seen [8];
    static size_t nseen = 0;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = secret; *p; p++) {
        h ^= (uint8_t) *p;
        h *= 1099511628211ULL;
    }
    pthread_mutex_lock (&lock);
    bool known = false;
    for (size_t i = 0; i < nseen; i++)
        known = known || seen [i] == h;
    if (!known && nseen < sizeof seen / sizeof seen [0]) {
        seen [nseen++] = h;
        geak_log_add_secret (secret);
    }
    pthread_mutex_unlock (&lock);
}

static bool
s_decode (const char *z85, uint8_t out [KEY_BYTES])
{
    if (!z85 || !geak_curve_z85_valid (z85, strlen (z85)))
        return false;
    return zmq_z85_decode (out, z85) != NULL;
}

static void
s_fingerprint_bytes (const uint8_t key [KEY_BYTES], char out [GEAK_CURVE_FINGERPRINT_SIZE])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < KEY_BYTES; i++) {
        h ^= key [i];
        h *= 1099511628211ULL;
    }
    snprintf (out, GEAK_CURVE_FINGERPRINT_SIZE, "%08x", (unsigned) (h >> 32));
}

void
geak_curve_fingerprint (const char *public_z85, char out [GEAK_CURVE_FINGERPRINT_SIZE])
{
    uint8_t key [KEY_BYTES];
    if (!s_decode (public_z85, key))
        snprintf (out, GEAK_CURVE_FINGERPRINT_SIZE, "invalid");
    else
        s_fingerprint_bytes (key, out);
}

geak_rc_t
geak_curve_keypair_generate (geak_curve_keypair_t *kp)
{
    assert (kp);
    memset (kp, 0, sizeof *kp);
    if (!zmq_has ("curve") || zmq_curve_keypair (kp->public_key, kp->secret_key) != 0)
        return GEAK_E_UNSUPPORTED;
    return GEAK_OK;
}

void
geak_curve_keypair_wipe (geak_curve_keypair_t *kp)
{
    if (kp)
        s_wipe (kp, sizeof *kp);
}

//  Whole file as a string (at most MAX_FILE_BYTES). Caller wipes and frees.
static char *
s_read_file (const char *path, geak_rc_t *rc)
{
    FILE *file = path ? fopen (path, "re") : NULL;
    if (!file) {
        *rc = GEAK_E_IO;
        return NULL;
    }
    size_t cap = 4096, size = 0;
    char *data = geak_malloc0 (cap + 1);
    while (true) {
        if (size == cap) {
            if (cap >= MAX_FILE_BYTES)
                break;
            char *bigger = geak_malloc0 (cap * 2 + 1);
            memcpy (bigger, data, size);
            s_wipe (data, size);
            free (data);
            data = bigger;
            cap *= 2;
        }
        size_t n = fread (data + size, 1, cap - size, file);
        size += n;
        if (n == 0)
            break;
    }
    bool failed = ferror (file) || (size == cap && cap >= MAX_FILE_BYTES);
    fclose (file);
    if (failed) {
        s_wipe (data, size);
        free (data);
        *rc = GEAK_E_IO;
        return NULL;
    }
    data [size] = '\0';
    *rc = GEAK_OK;
    return data;
}

//  Iterate over lines: trims blanks, skips empty and '#' lines. Returns
//  false at the end. *line points into text (modified in place).
static bool
s_next_line (char **cursor, char **line, int *lineno)
{
    while (**cursor) {
        char *start = *cursor;
        char *end = strchr (start, '\n');
        if (end) {
            *end = '\0';
            *cursor = end + 1;
        }
        else
            *cursor = start + strlen (start);
        (*lineno)++;
        while (*start == ' ' || *start == '\t')
            start++;
        size_t len = strlen (start);
        while (len && (start [len - 1] == ' ' || start [len - 1] == '\t' || start [len - 1] == '\r'))
            start [--len] = '\0';
        if (len == 0 || start [0] == '#')
            continue;
        *line = start;
        return true;
    }
    return false;
}

geak_rc_t
geak_curve_keypair_load (const char *path, geak_curve_keypair_t *kp)
{
    assert (kp);
    memset (kp, 0, sizeof *kp);
    geak_rc_t rc;
    char *text = s_read_file (path, &rc);
    if (!text) {
        geak_error ("curve_key_unreadable", "path=%s error=\"%s\"", path ? path : "(null)",
                    strerror (errno));
        return rc;
    }
    size_t text_size = strlen (text);
    char *cursor = text, *line;
    int lineno = 0;
    bool have_public = false, have_secret = false;
    rc = GEAK_OK;
    while (rc == GEAK_OK && s_next_line (&cursor, &line, &lineno)) {
        char *value = NULL;
        char *target = NULL;
        bool *have = NULL;
        if (strncmp (line, "public=", 7) == 0) {
            value = line + 7;
            target = kp->public_key;
            have = &have_public;
        }
        else
        if (strncmp (line, "secret=", 7) == 0) {
            value = line + 7;
            target = kp->secret_key;
            have = &have_secret;
        }
        if (!value || *have || !geak_curve_z85_valid (value, strlen (value))) {
            //  never echo the line: it may hold the secret
            geak_error ("curve_key_invalid", "path=%s line=%d", path, lineno);
            rc = GEAK_E_CONFIG;
            break;
        }
        memcpy (target, value, GEAK_CURVE_Z85_SIZE + 1);
        *have = true;
    }
    s_wipe (text, text_size);
    free (text);
    if (rc == GEAK_OK && (!have_public || !have_secret)) {
        geak_error ("curve_key_invalid", "path=%s reason=%s", path,
                    have_public ? "no_secret_line" : "no_public_line");
        rc = GEAK_E_CONFIG;
    }
    if (rc == GEAK_OK) {
        char derived [GEAK_CURVE_Z85_SIZE + 1];
        if (zmq_curve_public (derived, kp->secret_key) != 0 || strcmp (derived, kp->public_key) != 0) {
            geak_error ("curve_key_invalid", "path=%s reason=public_key_does_not_match_secret", path);
            rc = GEAK_E_CONFIG;
        }
    }
    if (rc != GEAK_OK)
        geak_curve_keypair_wipe (kp);
    else
        s_redact (kp->secret_key);
    return rc;
}

geak_rc_t
geak_curve_keypair_save (const char *path, const geak_curve_keypair_t *kp, bool overwrite)
{
    if (!path || !kp || !geak_curve_z85_valid (kp->public_key, strlen (kp->public_key))
    ||  !geak_curve_z85_valid (kp->secret_key, strlen (kp->secret_key)))
        return GEAK_E_INVALID;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
    int fd = open (path, flags, 0600);
    if (fd < 0)
        return errno == EEXIST ? GEAK_E_EXISTS : GEAK_E_IO;
    if (fchmod (fd, 0600) != 0) {
        close (fd);
        return GEAK_E_IO;
    }
    char fingerprint [GEAK_CURVE_FINGERPRINT_SIZE];
    geak_curve_fingerprint (kp->public_key, fingerprint);
    char text [256];
    int n = snprintf (text, sizeof text,
                      "# geak-c CURVE key pair (fingerprint %s); keep this file secret\n"
                      "public=%s\nsecret=%s\n", fingerprint, kp->public_key, kp->secret_key);
    bool ok = n > 0 && (size_t) n < sizeof text && write (fd, text, (size_t) n) == n;
    s_wipe (text, sizeof text);
    if (close (fd) != 0)
        ok = false;
    return ok ? GEAK_OK : GEAK_E_IO;
}

geak_rc_t
geak_curve_public_load (const char *path, char out [GEAK_CURVE_Z85_SIZE + 1])
{
    assert (out);
    out [0] = '\0';
    geak_rc_t rc;
    char *text = s_read_file (path, &rc);
    if (!text) {
        geak_error ("curve_key_unreadable", "path=%s", path ? path : "(null)");
        return rc;
    }
    size_t text_size = strlen (text);
    char *cursor = text, *line;
    int lineno = 0;
    char *bare = NULL;
    int bare_line = 0, lines = 0;
    rc = GEAK_E_CONFIG;
    while (s_next_line (&cursor, &line, &lineno)) {
        lines++;
        if (strncmp (line, "public=", 7) == 0) {
            if (geak_curve_z85_valid (line + 7, strlen (line + 7))) {
                memcpy (out, line + 7, GEAK_CURVE_Z85_SIZE + 1);
                rc = GEAK_OK;
            }
            break;
        }
        if (!bare && strncmp (line, "secret=", 7) != 0) {
            bare = line;
            bare_line = lineno;
        }
    }
    if (rc != GEAK_OK && bare && lines == 1 && geak_curve_z85_valid (bare, strlen (bare))) {
        memcpy (out, bare, GEAK_CURVE_Z85_SIZE + 1);
        rc = GEAK_OK;
    }
    s_wipe (text, text_size);
    free (text);
    if (rc != GEAK_OK)
        geak_error ("curve_key_invalid", "path=%s reason=no_public_key line=%d", path, bare_line);
    return rc;
}

//  ------------------------------------------------------------ settings

struct geak_curve_t {
    bool server;
    uint8_t public_key [KEY_BYTES];
    uint8_t secret_key [KEY_BYTES];
    uint8_t server_key [KEY_BYTES];     //  client side
    char public_z85 [GEAK_CURVE_Z85_SIZE + 1];
    char fingerprint [GEAK_CURVE_FINGERPRINT_SIZE];
    char *authorized_path;              //  server side
};

static geak_curve_t *
s_new (const geak_curve_keypair_t *mine)
{
    if (!mine)
        return NULL;
    geak_curve_t *self = geak_malloc0 (sizeof *self);
    if (!s_decode (mine->public_key, self->public_key)
    ||  !s_decode (mine->secret_key, self->secret_key)) {
        geak_curve_destroy (&self);
        return NULL;
    }
    memcpy (self->public_z85, mine->public_key, sizeof self->public_z85);
    s_fingerprint_bytes (self->public_key, self->fingerprint);
    return self;
}

geak_curve_t *
geak_curve_new_client (const geak_curve_keypair_t *mine, const char *server_public)
{
    geak_curve_t *self = s_new (mine);
    if (self && !s_decode (server_public, self->server_key))
        geak_curve_destroy (&self);
    return self;
}

geak_curve_t *
geak_curve_new_server (const geak_curve_keypair_t *mine, const char *authorized_path)
{
    if (!authorized_path || !*authorized_path)
        return NULL;
    geak_curve_t *self = s_new (mine);
    if (self) {
        self->server = true;
        self->authorized_path = geak_strdup (authorized_path);
    }
    return self;
}

geak_curve_t *
geak_curve_dup (const geak_curve_t *self)
{
    if (!self)
        return NULL;
    geak_curve_t *copy = geak_malloc0 (sizeof *copy);
    memcpy (copy, self, sizeof *copy);
    copy->authorized_path = self->authorized_path ? geak_strdup (self->authorized_path) : NULL;
    return copy;
}

void
geak_curve_destroy (geak_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_curve_t *self = *self_p;
    free (self->authorized_path);
    s_wipe (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    return value && *value ? value : NULL;
}

geak_curve_t *
geak_curve_client_from_env (geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    *rc = GEAK_OK;
    const char *key_file = s_env ("GEAK_CURVE_KEY_FILE");
    const char *server = s_env ("GEAK_CURVE_SERVER_PUBLIC");
    const char *server_file = s_env ("GEAK_CURVE_SERVER_PUBLIC_FILE");
    if (!key_file && !server && !server_file)
        return NULL;
    if (!key_file || (!server && !server_file)) {
        geak_error ("curve_config_incomplete", "side=client need=%s",
                    key_file ? "GEAK_CURVE_SERVER_PUBLIC_or_FILE" : "GEAK_CURVE_KEY_FILE");
        *rc = GEAK_E_CONFIG;
        return NULL;
    }
    char server_key [GEAK_CURVE_Z85_SIZE + 1];
    if (server) {
        if (!geak_curve_z85_valid (server, strlen (server))) {
            geak_error ("curve_config_invalid", "what=GEAK_CURVE_SERVER_PUBLIC");
            *rc = GEAK_E_CONFIG;
            return NULL;
        }
        memcpy (server_key, server, sizeof server_key);
    }
    else
    if ((*rc = geak_curve_public_load (server_file, server_key)) != GEAK_OK)
        return NULL;
    geak_curve_keypair_t kp;
    if ((*rc = geak_curve_keypair_load (key_file, &kp)) != GEAK_OK)
        return NULL;
    geak_curve_t *self = geak_curve_new_client (&kp, server_key);
    geak_curve_keypair_wipe (&kp);
    if (!self)
        *rc = GEAK_E_CONFIG;
    return self;
}

geak_curve_t *
geak_curve_server_from_env (geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    *rc = GEAK_OK;
    const char *key_file = s_env ("GEAK_CURVE_KEY_FILE");
    const char *authorized = s_env ("GEAK_CURVE_AUTHORIZED_FILE");
    if (!key_file && !authorized)
        return NULL;
    if (!key_file || !authorized) {
        geak_error ("curve_config_incomplete", "side=server need=%s",
                    key_file ? "GEAK_CURVE_AUTHORIZED_FILE" : "GEAK_CURVE_KEY_FILE");
        *rc = GEAK_E_CONFIG;
        return NULL;
    }
    geak_curve_keypair_t kp;
    if ((*rc = geak_curve_keypair_load (key_file, &kp)) != GEAK_OK)
        return NULL;
    geak_curve_t *self = geak_curve_new_server (&kp, authorized);
    geak_curve_keypair_wipe (&kp);
    if (!self)
        *rc = GEAK_E_CONFIG;
    return self;
}

bool
geak_curve_is_server (const geak_curve_t *self)
{
    return self && self->server;
}

const char *
geak_curve_public (const geak_curve_t *self)
{
    assert (self);
    return self->public_z85;
}

const char *
geak_curve_own_fingerprint (const geak_curve_t *self)
{
    assert (self);
    return self->fingerprint;
}

const char *
geak_curve_authorized_path (const geak_curve_t *self)
{
    assert (self);
    return self->authorized_path;
}

geak_rc_t
geak_curve_apply (const geak_curve_t *self, void *socket)
{
    if (!self || !socket)
        return GEAK_E_INVALID;
    int rc;
    if (self->server) {
        int one = 1;
        rc = zmq_setsockopt (socket, ZMQ_CURVE_SERVER, &one, sizeof one);
        if (rc == 0)
            rc = zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, self->secret_key, KEY_BYTES);
        if (rc == 0)
            rc = zmq_setsockopt (socket, ZMQ_ZAP_DOMAIN, GEAK_CURVE_ZAP_DOMAIN,
                                 strlen (GEAK_CURVE_ZAP_DOMAIN));
    }
    else {
        rc = zmq_setsockopt (socket, ZMQ_CURVE_SERVERKEY, self->server_key, KEY_BYTES);
        if (rc == 0)
            rc = zmq_setsockopt (socket, ZMQ_CURVE_PUBLICKEY, self->public_key, KEY_BYTES);
        if (rc == 0)
            rc = zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, self->secret_key, KEY_BYTES);
    }
    if (rc != 0) {
        geak_error ("curve_apply_failed", "server=%d error=\"%s\"", self->server, zmq_strerror (errno));
        return GEAK_E_TRANSPORT;
    }
    return GEAK_OK;
}

//  ------------------------------------------------------------ ZAP

typedef struct {
    uint8_t (*keys) [KEY_BYTES];        //  sorted
    size_t count;
    struct stat st;
} s_keyset_t;

struct geak_curve_zap_t {
    void *ctx;
    void *handler;              //  REP on ZAP_ENDPOINT (the thread's)
    void *pipe;                 //  our end of the control pipe
    void *actor_pipe;
    pthread_t thread;
    bool started;
    char *path;
    s_keyset_t keys;            //  the thread's
    int64_t checked_at;
    uint64_t admitted;          //  atomic
    uint64_t refused;           //  atomic
    size_t nkeys;               //  atomic copy of keys.count
};

static int
s_key_cmp (const void *a, const void *b)
{
    return memcmp (a, b, KEY_BYTES);
}

static void
s_keyset_free (s_keyset_t *set)
{
    free (set->keys);
    set->keys = NULL;
    set->count = 0;
}

static geak_rc_t
s_keyset_load (const char *path, s_keyset_t *set)
{
    memset (set, 0, sizeof *set);
    geak_rc_t rc;
    char *text = s_read_file (path, &rc);
    if (!text) {
        geak_error ("curve_authorized_unreadable", "path=%s", path);
        return rc;
    }
    if (stat (path, &set->st) != 0)
        memset (&set->st, 0, sizeof set->st);
    size_t cap = 16;
    set->keys = geak_malloc0 (cap * KEY_BYTES);
    char *cursor = text, *line;
    int lineno = 0;
    rc = GEAK_OK;
    while (s_next_line (&cursor, &line, &lineno)) {
        if (strncmp (line, "public=", 7) == 0)
            line += 7;
        uint8_t key [KEY_BYTES];
        if (!s_decode (line, key)) {
            geak_error ("curve_authorized_invalid", "path=%s line=%d", path, lineno);
            rc = GEAK_E_CONFIG;
            break;
        }
        if (set->count == GEAK_CURVE_MAX_AUTHORIZED) {
            geak_error ("curve_authorized_invalid", "path=%s reason=too_many_keys", path);
            rc = GEAK_E_CONFIG;
            break;
        }
        if (set->count == cap) {
            cap *= 2;
            set->keys = realloc (set->keys, cap * KEY_BYTES);
            assert (set->keys);
        }
        memcpy (set->keys [set->count++], key, KEY_BYTES);
    }
    free (text);
    if (rc != GEAK_OK) {
        s_keyset_free (set);
        return rc;
    }
    qsort (set->keys, set->count, KEY_BYTES, s_key_cmp);
    return GEAK_OK;
}

static void
s_zap_maybe_reload (geak_curve_zap_t *self)
{
    int64_t now = geak_clock_mono_ms ();
    if (now - self->checked_at < RELOAD_CHECK_MS)
        return;
    self->checked_at = now;
    struct stat st;
    if (stat (self->path, &st) != 0) {
        geak_warn ("curve_authorized_missing", "path=%s keeping=%zu", self->path, self->keys.count);
        return;
    }
    const struct stat *old = &self->keys.st;
    if (st.st_ino == old->st_ino && st.st_size == old->st_size
    &&  st.st_mtim.tv_sec == old->st_mtim.tv_sec && st.st_mtim.tv_nsec == old->st_mtim.tv_nsec)
        return;
    s_keyset_t fresh;
    if (s_keyset_load (self->path, &fresh) != GEAK_OK) {
        geak_warn ("curve_authorized_reload_failed", "path=%s keeping=%zu", self->path,
                   self->keys.count);
        self->keys.st = st;     //  do not retry until it changes again
        return;
    }
    s_keyset_free (&self->keys);
    self->keys = fresh;
    __atomic_store_n (&self->nkeys, fresh.count, __ATOMIC_RELAXED);
    geak_info ("curve_authorized_reloaded", "path=%s keys=%zu", self->path, fresh.count);
}

static void
s_zap_reply (void *socket, const geak_msg_t *request, const char *status, const char *text,
             const char *user)
{
    geak_msg_t *reply = geak_msg_new ();
    geak_msg_addstr (reply, "1.0");
    if (geak_msg_size (request) > 1)
        geak_msg_addmem (reply, geak_msg_data (request, 1), geak_msg_frame_size (request, 1));
    else
        geak_msg_addmem (reply, NULL, 0);
    geak_msg_addstr (reply, status);
    geak_msg_addstr (reply, text);
    geak_msg_addstr (reply, user);
    geak_msg_addmem (reply, NULL, 0);
    if (geak_msg_send (&reply, socket, 0) != GEAK_OK)
        geak_warn ("curve_zap_reply_failed", "errno=%d", errno);
}

static void
s_zap_handle (geak_curve_zap_t *self, geak_msg_t *request)
{
    //  version, request id, domain, address, identity, mechanism, credentials
    if (geak_msg_size (request) < 6 || !geak_msg_frame_streq (request, 0, "1.0")) {
        s_zap_reply (self->handler, request, "500", "bad ZAP request", "");
        return;
    }
    char address [64] = "";
    size_t address_size = geak_msg_frame_size (request, 3);
    if (address_size < sizeof address) {
        memcpy (address, geak_msg_data (request, 3), address_size);
        for (size_t i = 0; i < address_size; i++)
            if (!((address [i] >= '0' && address [i] <= '9') || (address [i] >= 'a' && address [i] <= 'f')
               || (address [i] >= 'A' && address [i] <= 'F') || address [i] == '.' || address [i] == ':'))
                address [i] = '_';
    }
    s_zap_maybe_reload (self);
    const char *reason = NULL;
    char fingerprint [GEAK_CURVE_FINGERPRINT_SIZE] = "none";
    if (!geak_msg_frame_streq (request, 5, "CURVE") || geak_msg_size (request) != 7
    ||  geak_msg_frame_size (request, 6) != KEY_BYTES)
        reason = "not_curve";
    else {
        const uint8_t *key = geak_msg_data (request, 6);
        s_fingerprint_bytes (key, fingerprint);
        if (!self->keys.count
        ||  !bsearch (key, self->keys.keys, self->keys.count, KEY_BYTES, s_key_cmp))
            reason = "unknown_key";
    }
    if (reason) {
        uint64_t n = __atomic_add_fetch (&self->refused, 1, __ATOMIC_RELAXED);
        if (n <= REFUSED_LOG_FIRST || n % REFUSED_LOG_EVERY == 0)
            geak_warn ("curve_refused", "fingerprint=%s address=%s reason=%s refused=%llu",
                       fingerprint, address, reason, (unsigned long long) n);
        s_zap_reply (self->handler, request, "400", "not authorized", "");
        return;
    }
    __atomic_add_fetch (&self->admitted, 1, __ATOMIC_RELAXED);
    geak_debug ("curve_admitted", "fingerprint=%s address=%s", fingerprint, address);
    s_zap_reply (self->handler, request, "200", "OK", fingerprint);
}

static void *
s_zap_thread (void *arg)
{
    geak_curve_zap_t *self = arg;
    while (true) {
        zmq_pollitem_t items [2] = {
            { self->actor_pipe, 0, ZMQ_POLLIN, 0 },
            { self->handler, 0, ZMQ_POLLIN, 0 }
        };
        int rc = zmq_poll (items, 2, -1);
        if (rc == -1) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (items [0].revents & ZMQ_POLLIN)
            break;      //  "$TERM"
        if (items [1].revents & ZMQ_POLLIN) {
            geak_msg_t *request = geak_msg_recv_flags (self->handler, ZMQ_DONTWAIT);
            if (request) {
                s_zap_handle (self, request);
                geak_msg_destroy (&request);
            }
        }
    }
    zmq_close (self->handler);
    zmq_close (self->actor_pipe);
    return NULL;
}

geak_curve_zap_t *
geak_curve_zap_new (void *ctx, const char *authorized_path, geak_rc_t *rc)
{
    static int s_sequence = 0;
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    if (!ctx || !authorized_path) {
        *rc = GEAK_E_INVALID;
        return NULL;
    }
    geak_curve_zap_t *self = geak_malloc0 (sizeof *self);
    self->ctx = ctx;
    self->path = geak_strdup (authorized_path);
    *rc = s_keyset_load (authorized_path, &self->keys);
    if (*rc != GEAK_OK) {
        free (self->path);
        free (self);
        return NULL;
    }
    self->nkeys = self->keys.count;
    self->checked_at = geak_clock_mono_ms ();
    if (self->keys.count == 0)
        geak_warn ("curve_authorized_empty", "path=%s effect=every_peer_refused", authorized_path);
    self->handler = zmq_socket (ctx, ZMQ_REP);
    self->pipe = zmq_socket (ctx, ZMQ_PAIR);
    self->actor_pipe = zmq_socket (ctx, ZMQ_PAIR);
    int zero = 0;
    char name [96];
    snprintf (name, sizeof name, "inproc://geak-zap-%d-%p",
              __atomic_add_fetch (&s_sequence, 1, __ATOMIC_RELAXED), (void *) self);
    *rc = GEAK_E_TRANSPORT;
    if (self->handler && self->pipe && self->actor_pipe) {
        zmq_setsockopt (self->handler, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt (self->pipe, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt (self->actor_pipe, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_bind (self->handler, ZAP_ENDPOINT) != 0)
            *rc = errno == EADDRINUSE ? GEAK_E_EXISTS : GEAK_E_TRANSPORT;
        else
        if (zmq_bind (self->actor_pipe, name) == 0 && zmq_connect (self->pipe, name) == 0
        &&  pthread_create (&self->thread, NULL, s_zap_thread, self) == 0) {
            self->started = true;
            *rc = GEAK_OK;
        }
    }
    if (*rc != GEAK_OK) {
        geak_error ("curve_zap_failed", "code=%s", geak_rc_name (*rc));
        if (self->handler)
            zmq_close (self->handler);
        if (self->actor_pipe)
            zmq_close (self->actor_pipe);
        if (self->pipe)
            zmq_close (self->pipe);
        s_keyset_free (&self->keys);
        free (self->path);
        free (self);
        return NULL;
    }
    geak_info ("curve_zap_ready", "path=%s keys=%zu", authorized_path, self->keys.count);
    return self;
}

void
geak_curve_zap_destroy (geak_curve_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_curve_zap_t *self = *self_p;
    if (self->started) {
        geak_msg_t *term = geak_msg_new ();
        geak_msg_addstr (term, "$TERM");
        if (geak_msg_send (&term, self->pipe, 0) != GEAK_OK)
            geak_debug ("curve_zap_term_not_sent", "errno=%d", errno);
        pthread_join (self->thread, NULL);
    }
    zmq_close (self->pipe);
    s_keyset_free (&self->keys);
    free (self->path);
    free (self);
    *self_p = NULL;
}

uint64_t
geak_curve_zap_admitted (const geak_curve_zap_t *self)
{
    return self ? __atomic_load_n (&self->admitted, __ATOMIC_RELAXED) : 0;
}

uint64_t
geak_curve_zap_refused (const geak_curve_zap_t *self)
{
    return self ? __atomic_load_n (&self->refused, __ATOMIC_RELAXED) : 0;
}

size_t
geak_curve_zap_keys (const geak_curve_zap_t *self)
{
    return self ? __atomic_load_n (&self->nkeys, __ATOMIC_RELAXED) : 0;
}

//  ------------------------------------------------------------ selftest

static void
s_write (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
}

//  Round trip one message from a DEALER to a ROUTER; true when it arrived.
static bool
s_try (void *ctx, const char *endpoint, const geak_curve_t *server, const geak_curve_t *client,
       int wait_ms)
{
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket (ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt (router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (dealer, ZMQ_LINGER, &zero, sizeof zero);
    if (server)
        GEAK_CHECK (geak_curve_apply (server, router) == GEAK_OK);
    if (client)
        GEAK_CHECK (geak_curve_apply (client, dealer) == GEAK_OK);
    int rc = zmq_bind (router, endpoint);
    assert (rc == 0);
    char bound [128];
    size_t size = sizeof bound;
    zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, bound, &size);
    rc = zmq_connect (dealer, bound);
    assert (rc == 0);
    zmq_send (dealer, "hi", 2, ZMQ_DONTWAIT);
    zmq_pollitem_t item = { router, 0, ZMQ_POLLIN, 0 };
    bool arrived = zmq_poll (&item, 1, wait_ms) == 1;
    zmq_close (dealer);
    zmq_close (router);
    return arrived;
}

int
geak_curve_test (bool verbose)
{
    int saved = geak_log_level_current;
    if (!verbose)
        geak_log_set_level (GEAK_LOG_OFF);
    if (!zmq_has ("curve")) {
        geak_log_set_level ((geak_log_level_t) saved);
        return 0;       //  nothing to test without CURVE in libzmq
    }
    //  z85
    geak_curve_keypair_t server_kp, client_kp, stranger_kp;
    GEAK_CHECK (geak_curve_keypair_generate (&server_kp) == GEAK_OK);
    GEAK_CHECK (geak_curve_keypair_generate (&client_kp) == GEAK_OK);
    GEAK_CHECK (geak_curve_keypair_generate (&stranger_kp) == GEAK_OK);
    GEAK_CHECK (geak_curve_z85_valid (server_kp.public_key, 40));
    GEAK_CHECK (!geak_curve_z85_valid (server_kp.public_key, 39));
    GEAK_CHECK (!geak_curve_z85_valid ("~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", 40));
    GEAK_CHECK (!geak_curve_z85_valid ("################################$$$$$$$$", 40));     //  overflows
    char fp1 [GEAK_CURVE_FINGERPRINT_SIZE], fp2 [GEAK_CURVE_FINGERPRINT_SIZE];
    geak_curve_fingerprint (server_kp.public_key, fp1);
    geak_curve_fingerprint (client_kp.public_key, fp2);
    GEAK_CHECK (strlen (fp1) == 8 && strcmp (fp1, fp2) != 0);
    geak_curve_fingerprint ("nope", fp1);
    GEAK_CHECK (strcmp (fp1, "invalid") == 0);

    //  key files
    char dir [] = "/tmp/geak-curve-XXXXXX";
    GEAK_CHECK (mkdtemp (dir));
    char path [256], pub_path [256], auth_path [256], bad_path [256];
    snprintf (path, sizeof path, "%s/server.key", dir);
    snprintf (pub_path, sizeof pub_path, "%s/server.pub", dir);
    snprintf (auth_path, sizeof auth_path, "%s/authorized", dir);
    snprintf (bad_path, sizeof bad_path, "%s/bad.key", dir);
    GEAK_CHECK (geak_curve_keypair_save (path, &server_kp, false) == GEAK_OK);
    GEAK_CHECK (geak_curve_keypair_save (path, &server_kp, false) == GEAK_E_EXISTS);
    struct stat st;
    GEAK_CHECK (stat (path, &st) == 0 && (st.st_mode & 0777) == 0600);
    geak_curve_keypair_t loaded;
    GEAK_CHECK (geak_curve_keypair_load (path, &loaded) == GEAK_OK);
    GEAK_CHECK (strcmp (loaded.public_key, server_kp.public_key) == 0);
    GEAK_CHECK (strcmp (loaded.secret_key, server_kp.secret_key) == 0);
    char public_key [GEAK_CURVE_Z85_SIZE + 1];
    GEAK_CHECK (geak_curve_public_load (path, public_key) == GEAK_OK);
    GEAK_CHECK (strcmp (public_key, server_kp.public_key) == 0);
    char text [256];
    snprintf (text, sizeof text, "# the broker\n%s\n", server_kp.public_key);
    s_write (pub_path, text);
    GEAK_CHECK (geak_curve_public_load (pub_path, public_key) == GEAK_OK);
    GEAK_CHECK (strcmp (public_key, server_kp.public_key) == 0);
    //  mismatched pair, missing line, junk
    snprintf (text, sizeof text, "public=%s\nsecret=%s\n", client_kp.public_key, server_kp.secret_key);
    s_write (bad_path, text);
    GEAK_CHECK (geak_curve_keypair_load (bad_path, &loaded) == GEAK_E_CONFIG);
    snprintf (text, sizeof text, "public=%s\n", client_kp.public_key);
    s_write (bad_path, text);
    GEAK_CHECK (geak_curve_keypair_load (bad_path, &loaded) == GEAK_E_CONFIG);
    s_write (bad_path, "public=short\nsecret=short\n");
    GEAK_CHECK (geak_curve_keypair_load (bad_path, &loaded) == GEAK_E_CONFIG);
    GEAK_CHECK (geak_curve_public_load (bad_path, public_key) == GEAK_E_CONFIG);
    GEAK_CHECK (geak_curve_keypair_load ("/nonexistent/geak.key", &loaded) == GEAK_E_IO);

    //  environment
    unsetenv ("GEAK_CURVE_KEY_FILE");
    unsetenv ("GEAK_CURVE_SERVER_PUBLIC");
    unsetenv ("GEAK_CURVE_SERVER_PUBLIC_FILE");
    unsetenv ("GEAK_CURVE_AUTHORIZED_FILE");
    geak_rc_t rc;
    GEAK_CHECK (!geak_curve_client_from_env (&rc) && rc == GEAK_OK);
    GEAK_CHECK (!geak_curve_server_from_env (&rc) && rc == GEAK_OK);
    setenv ("GEAK_CURVE_KEY_FILE", path, 1);
    GEAK_CHECK (!geak_curve_client_from_env (&rc) && rc == GEAK_E_CONFIG);
    GEAK_CHECK (!geak_curve_server_from_env (&rc) && rc == GEAK_E_CONFIG);
    setenv ("GEAK_CURVE_SERVER_PUBLIC_FILE", pub_path, 1);
    geak_curve_t *from_env = geak_curve_client_from_env (&rc);
    GEAK_CHECK (from_env && rc == GEAK_OK && !geak_curve_is_server (from_env));
    geak_curve_destroy (&from_env);
    setenv ("GEAK_CURVE_SERVER_PUBLIC", "not-z85", 1);
    GEAK_CHECK (!geak_curve_client_from_env (&rc) && rc == GEAK_E_CONFIG);
    unsetenv ("GEAK_CURVE_SERVER_PUBLIC");
    unsetenv ("GEAK_CURVE_SERVER_PUBLIC_FILE");
    unsetenv ("GEAK_CURVE_KEY_FILE");

    //  ZAP: only the authorized client gets through; plain peers never do
    snprintf (text, sizeof text, "# workers\n\npublic=%s\n", client_kp.public_key);
    s_write (auth_path, text);
    void *ctx = zmq_ctx_new ();
    geak_curve_zap_t *zap = geak_curve_zap_new (ctx, auth_path, &rc);
    GEAK_CHECK (zap && rc == GEAK_OK && geak_curve_zap_keys (zap) == 1);
    GEAK_CHECK (!geak_curve_zap_new (ctx, auth_path, &rc) && rc == GEAK_E_EXISTS);
    geak_curve_t *server = geak_curve_new_server (&server_kp, auth_path);
    geak_curve_t *client = geak_curve_new_client (&client_kp, server_kp.public_key);
    geak_curve_t *stranger = geak_curve_new_client (&stranger_kp, server_kp.public_key);
    geak_curve_t *wrong_server = geak_curve_new_client (&client_kp, stranger_kp.public_key);
    GEAK_CHECK (server && client && stranger && wrong_server);
    GEAK_CHECK (!geak_curve_new_client (&client_kp, "bad"));
    GEAK_CHECK (!geak_curve_new_server (&server_kp, NULL));
    geak_curve_t *copy = geak_curve_dup (server);
    GEAK_CHECK (copy && strcmp (geak_curve_authorized_path (copy), auth_path) == 0);
    geak_curve_destroy (&copy);
    geak_curve_destroy (&copy);
    GEAK_CHECK (s_try (ctx, "tcp://127.0.0.1:*", server, client, 5000));
    GEAK_CHECK (geak_curve_zap_admitted (zap) == 1);
    GEAK_CHECK (!s_try (ctx, "tcp://127.0.0.1:*", server, stranger, 300));
    GEAK_CHECK (geak_curve_zap_refused (zap) >= 1);
    GEAK_CHECK (!s_try (ctx, "tcp://127.0.0.1:*", server, NULL, 300));
    GEAK_CHECK (!s_try (ctx, "tcp://127.0.0.1:*", server, wrong_server, 300));
    GEAK_CHECK (geak_curve_zap_admitted (zap) == 1);
    //  the file changes: the stranger is admitted after the reload
    snprintf (text, sizeof text, "%s\n%s\n", client_kp.public_key, stranger_kp.public_key);
    s_write (auth_path, text);
    int64_t until = geak_clock_mono_ms () + 10000;
    bool admitted = false;
    while (!admitted && geak_clock_mono_ms () < until)
        admitted = s_try (ctx, "tcp://127.0.0.1:*", server, stranger, 300);
    GEAK_CHECK (admitted && geak_curve_zap_keys (zap) == 2);
    geak_curve_zap_destroy (&zap);
    geak_curve_zap_destroy (&zap);
    //  a broken authorized file fails at start
    s_write (auth_path, "not a key\n");
    GEAK_CHECK (!geak_curve_zap_new (ctx, auth_path, &rc) && rc == GEAK_E_CONFIG);

    geak_curve_destroy (&server);
    geak_curve_destroy (&client);
    geak_curve_destroy (&stranger);
    geak_curve_destroy (&wrong_server);
    zmq_ctx_term (ctx);
    unlink (path);
    unlink (pub_path);
    unlink (auth_path);
    unlink (bad_path);
    rmdir (dir);
    geak_curve_keypair_wipe (&server_kp);
    geak_curve_keypair_wipe (&client_kp);
    geak_curve_keypair_wipe (&stranger_kp);
    geak_curve_keypair_wipe (&loaded);
    geak_log_set_level ((geak_log_level_t) saved);
    return 0;
}
