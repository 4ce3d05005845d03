/*  geak_store.c - the Redis store (see geak_store.h and docs/store.md).

    Every command goes through s_call, which owns the reconnect policy:
    a stale or broken connection is dropped, re-established with bounded
    exponential backoff, and the command is re-issued at most once. */
#include "geak_store.h"
#include "geak_log.h"

#include <ctype.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#define LAST_ERROR_MAX 512
#define KEY_MAX (GEAK_STORE_PREFIX_MAX + 4 * GEAK_STORE_NAME_MAX + 64)

struct _geak_store_t {
    redisContext *ctx;          //  NULL while disconnected
    char *host;
    int port;
    char *password;             //  NULL when none; never logged
    int timeout_ms;
    int backoff_initial_ms;
    int backoff_max_ms;
    int max_wait_ms;
    char prefix [GEAK_STORE_PREFIX_MAX + 1];
    char put_sha [41];          //  SHA1s of the scripts once loaded
    char create_sha [41];
    char status_sha [41];
    char acquire_sha [41];
    char renew_sha [41];
    //  fencing: writes of attempts of fence_run carry fence_token
    char *fence_run;
    uint64_t fence_token;
    uint64_t fence_seq;         //  acknowledged attempt writes of fence_run
    uint64_t lease_seq;         //  the run's write_seq when the lease was taken
    volatile sig_atomic_t *interrupt;
    uint64_t reconnects;
    char last_error [LAST_ERROR_MAX];
};

//  Record an attempt, atomically. See geak_store_attempt_put for semantics.
//  KEYS: 1 attempt hash, 2 lineage list, 3 counters hash, 4 history zset,
//        5 task set, 6 run hash
//  ARGV: 1 id, 2 rank (0 pending, 1 terminal), 3 kind (pending, evaluated,
//        failed), 4 tokens_in, 5 tokens_out, 6 call_ok (0/1), 7 exec_ok
//        (0/1), 8 history score or "", 9 task, 10 fence token or "",
//        11 the attempt's position in its lineage or "", 12 the writes this
//        driver has had acknowledged in the run (the run's write_seq as it
//        last saw it), 13.. hash field/value pairs
//  Returns 1 inserted, 2 transitioned, 3 this same write was applied by an
//  unacknowledged earlier try, 0 no change; -1 the run (or its lease) is
//  gone or older than the writer's token (lost), -2 another writer holds
//  the run (fenced), -3 the lineage is shorter than the writer's position,
//  -4 the run holds fewer of this driver's writes than were acknowledged
//  (lost: Redis came back from an older state).
static const char s_put_script [] =
    "local seq = nil\n"
    "if ARGV[10] ~= '' then\n"
    "  local tok = redis.call('HGET', KEYS[6], 'lease_token')\n"
    "  if not tok then return -1 end\n"
    "  if tonumber(tok) > tonumber(ARGV[10]) then return -2 end\n"
    "  if tonumber(tok) < tonumber(ARGV[10]) then return -1 end\n"
    "  seq = tonumber(redis.call('HGET', KEYS[6], 'write_seq') or '0')\n"
    "end\n"
    "local cur = redis.call('HGET', KEYS[1], 'rank')\n"
    "local rank = tonumber(ARGV[2])\n"
    "if seq then\n"
    "  local want = tonumber(ARGV[12])\n"
    "  if seq < want then return -4 end\n"
    "  if seq > want then\n"
    "    if seq == want + 1 and cur and tonumber(cur) >= rank then return 3 end\n"
    "    return -2\n"
    "  end\n"
    "end\n"
    "if cur and tonumber(cur) >= rank then return 0 end\n"
    "if not cur and ARGV[11] ~= '' and redis.call('LLEN', KEYS[2]) < tonumber(ARGV[11]) then\n"
    "  return -3\n"
    "end\n"
    "if seq then redis.call('HSET', KEYS[6], 'write_seq', seq + 1) end\n"
    "local f = {}\n"
    "for i = 13, #ARGV do f[#f + 1] = ARGV[i] end\n"
    "redis.call('HSET', KEYS[1], unpack(f))\n"
    "if not cur then\n"
    "  redis.call('RPUSH', KEYS[2], ARGV[1])\n"
    "  redis.call('HINCRBY', KEYS[3], 'attempts', 1)\n"
    "  redis.call('HINCRBY', KEYS[3], 'tokens_in', ARGV[4])\n"
    "  redis.call('HINCRBY', KEYS[3], 'tokens_out', ARGV[5])\n"
    "  redis.call('SADD', KEYS[5], ARGV[9])\n"
    "end\n"
    "if ARGV[3] == 'evaluated' then\n"
    "  redis.call('HINCRBY', KEYS[3], 'evaluated', 1)\n"
    "  redis.call('HINCRBY', KEYS[3], 'call_ok', ARGV[6])\n"
    "  redis.call('HINCRBY', KEYS[3], 'exec_ok', ARGV[7])\n"
    "  if ARGV[8] ~= '' then redis.call('ZADD', KEYS[4], ARGV[8], ARGV[1]) end\n"
    "elseif ARGV[3] == 'failed' then\n"
    "  redis.call('HINCRBY', KEYS[3], 'failed', 1)\n"
    "end\n"
    "if cur then return 2 end\n"
    "return 1\n";

//  The run's lease: one driver at a time, a fencing token that only grows.
//  KEYS: 1 run hash. Server time (TIME), so hosts need not agree on clocks.
//  acquire ARGV: 1 owner, 2 ttl ms, 3 the live holder this caller knows
//  is dead ("" none) -> {1, token} taken, {0, owner, ms left} held by a
//  live driver, {-1} no such run.
static const char s_lease_acquire_script [] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local owner = redis.call('HGET', KEYS[1], 'lease_owner')\n"
    "local expires = tonumber(redis.call('HGET', KEYS[1], 'lease_expires_ms') or '0')\n"
    "if owner and owner ~= '' and expires > now and owner ~= ARGV[3] then\n"
    "  return {0, owner, expires - now}\n"
    "end\n"
    "local tok = redis.call('HINCRBY', KEYS[1], 'lease_token', 1)\n"
    "redis.call('HSET', KEYS[1], 'lease_owner', ARGV[1], 'lease_expires_ms', now + tonumber(ARGV[2]))\n"
    "return {1, tok, tonumber(redis.call('HGET', KEYS[1], 'write_seq') or '0')}\n";
//  renew / release ARGV: 1 token, 2 ttl ms (0: release) -> 1 ok, -1 lost
//  (no run, no token, or an older one), -2 fenced (a newer token).
static const char s_lease_renew_script [] =
    "local tok = redis.call('HGET', KEYS[1], 'lease_token')\n"
    "if not tok then return -1 end\n"
    "if tonumber(tok) > tonumber(ARGV[1]) then return -2 end\n"
    "if tonumber(tok) < tonumber(ARGV[1]) then return -1 end\n"
    "if tonumber(ARGV[2]) == 0 then\n"
    "  redis.call('HDEL', KEYS[1], 'lease_owner', 'lease_expires_ms')\n"
    "  return 1\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], 'lease_expires_ms', now + tonumber(ARGV[2]))\n"
    "return 1\n";

//  Create a run if absent. KEYS: 1 run hash, 2 runs zset.
//  ARGV: 1 run id, 2 config, 3 now ms. Returns 1 created, 0 existed.
static const char s_create_script [] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'config', ARGV[2], 'status', 'running',"
    " 'created_ms', ARGV[3], 'updated_ms', ARGV[3])\n"
    "redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])\n"
    "return 1\n";

//  Set a run's status if the run exists. KEYS: 1 run hash.
//  ARGV: 1 status, 2 now ms, 3 reason ("" clears it). Returns 1 done, 0 no such run.
static const char s_status_script [] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_ms', ARGV[2], 'reason', ARGV[3])\n"
    "return 1\n";

// ---------------------------------------------------------------- helpers

static void
s_set_error (geak_store_t *self, const char *text, size_t len)
{
    if (len >= LAST_ERROR_MAX)
        len = LAST_ERROR_MAX - 1;
    memcpy (self->last_error, text, len);
    self->last_error [len] = '\0';
}

//  A name is 1..GEAK_STORE_NAME_MAX bytes, no ':', whitespace or control.
static bool
s_valid_name (const char *name)
{
    if (!name || !*name)
        return false;
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *) name; *p; p++, len++) {
        if (len >= GEAK_STORE_NAME_MAX)
            return false;
        if (*p <= 0x20 || *p == 0x7f || *p == ':')
            return false;
    }
    return true;
}

static bool
s_valid_prefix (const char *prefix)
{
    if (!prefix || !*prefix || strlen (prefix) > GEAK_STORE_PREFIX_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *) prefix; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

//  Build prefix + nparts parts joined by ':' into buf. Each part must be a
//  valid name (NULL or invalid -> GEAK_E_INVALID, buf set to "").
static geak_rc_t
s_key (char *buf, size_t size, const char *prefix, int nparts, ...)
{
    assert (buf && size);
    va_list args;
    va_start (args, nparts);
    size_t used = prefix? strlen (prefix): size;
    geak_rc_t rc = GEAK_OK;
    if (used >= size)
        rc = GEAK_E_INVALID;
    else
        memcpy (buf, prefix, used + 1);
    for (int i = 0; i < nparts && rc == GEAK_OK; i++) {
        const char *part = va_arg (args, const char *);
        if (!s_valid_name (part)) {
            rc = GEAK_E_INVALID;
            break;
        }
        size_t len = strlen (part);
        if (used + len + 2 > size) {
            rc = GEAK_E_INVALID;
            break;
        }
        if (i > 0)
            buf [used++] = ':';
        memcpy (buf + used, part, len + 1);
        used += len;
    }
    va_end (args);
    if (rc != GEAK_OK)
        buf [0] = '\0';
    return rc;
}

static void
s_sleep_ms (int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { (time_t) (ms / 1000), (long) (ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
        ;
}

static struct timeval
s_tv (int64_t ms)
{
    if (ms < 1)
        ms = 1;
    struct timeval tv = { (time_t) (ms / 1000), (suseconds_t) ((ms % 1000) * 1000) };
    return tv;
}

//  Lowercase protobuf enum value name, e.g. "pass", "generator".
static void
s_enum_name (const ProtobufCEnumDescriptor *desc, int value, char *buf, size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value (desc, value);
    if (!v) {
        snprintf (buf, size, "%d", value);
        return;
    }
    size_t i = 0;
    for (; v->name [i] && i + 1 < size; i++)
        buf [i] = (char) tolower ((unsigned char) v->name [i]);
    buf [i] = '\0';
}

// ---------------------------------------------------------------- connection

static void
s_drop (geak_store_t *self)
{
    if (self->ctx) {
        redisFree (self->ctx);
        self->ctx = NULL;
    }
}

//  True when an idle connection shows readable data, hang-up or error:
//  with no request in flight that can only mean the peer went away.
static bool
s_stale (redisContext *ctx)
{
    struct pollfd pfd = { .fd = ctx->fd, .events = POLLIN | POLLRDHUP };
    int n;
    do
        n = poll (&pfd, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return true;
    return n > 0 && (pfd.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

//  Run one command on a fresh context during connection set-up.
//  Returns GEAK_OK, GEAK_E_STORE_CONN (I/O: retry later), GEAK_E_STORE
//  (refused), or GEAK_E_STORE_CONN for LOADING (server not ready yet).
static geak_rc_t
s_setup_cmd (geak_store_t *self, redisContext *c, int argc, const char **argv,
             const size_t *lens)
{
    redisReply *r = redisCommandArgv (c, argc, argv, lens);
    if (!r) {
        s_set_error (self, c->errstr, strlen (c->errstr));
        return GEAK_E_STORE_CONN;
    }
    geak_rc_t rc = GEAK_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        s_set_error (self, r->str, r->len);
        rc = strncmp (r->str, "LOADING", 7) == 0? GEAK_E_STORE_CONN: GEAK_E_STORE;
    }
    freeReplyObject (r);
    return rc;
}

//  One connection attempt: connect, set timeouts, AUTH, PING.
static geak_rc_t
s_connect_once (geak_store_t *self, int64_t connect_ms)
{
    assert (!self->ctx);
    redisContext *c = redisConnectWithTimeout (self->host, self->port, s_tv (connect_ms));
    if (!c) {
        s_set_error (self, "out of memory", 13);
        return GEAK_E_STORE_CONN;
    }
    if (c->err) {
        s_set_error (self, c->errstr, strlen (c->errstr));
        redisFree (c);
        return GEAK_E_STORE_CONN;
    }
    if (redisSetTimeout (c, s_tv (self->timeout_ms)) != REDIS_OK) {
        s_set_error (self, "cannot set socket timeout", 25);
        redisFree (c);
        return GEAK_E_STORE_CONN;
    }
    geak_rc_t rc = GEAK_OK;
    if (self->password) {
        const char *argv [] = { "AUTH", self->password };
        size_t lens [] = { 4, strlen (self->password) };
        rc = s_setup_cmd (self, c, 2, argv, lens);
    }
    if (rc == GEAK_OK) {
        const char *argv [] = { "PING" };
        size_t lens [] = { 4 };
        rc = s_setup_cmd (self, c, 1, argv, lens);
    }
    if (rc != GEAK_OK) {
        redisFree (c);
        return rc;
    }
    self->ctx = c;
    self->last_error [0] = '\0';
    return GEAK_OK;
}

//  Reconnect with exponential backoff, bounded by max_wait_ms in total.
//  GEAK_E_STORE (refused, e.g. bad password) stops at once.
static geak_rc_t
s_reconnect (geak_store_t *self)
{
    s_drop (self);
    int64_t start = geak_clock_mono_ms ();
    int64_t deadline = start + self->max_wait_ms;
    int64_t delay = self->backoff_initial_ms;
    int tries = 0;
    while (true) {
        int64_t now = geak_clock_mono_ms ();
        int64_t left = deadline - now;
        int64_t connect_ms = self->timeout_ms < left? self->timeout_ms: left;
        geak_rc_t rc = s_connect_once (self, connect_ms);
        tries++;
        if (rc == GEAK_OK) {
            self->reconnects++;
            geak_info ("store_reconnected", "host=%s port=%d tries=%d waited_ms=%lld",
                       self->host, self->port, tries,
                       (long long) (geak_clock_mono_ms () - start));
            return GEAK_OK;
        }
        if (rc != GEAK_E_STORE_CONN) {
            geak_error ("store_refused", "host=%s port=%d error=\"%s\"",
                        self->host, self->port, self->last_error);
            return rc;
        }
        now = geak_clock_mono_ms ();
        if (self->interrupt && *self->interrupt) {
            s_set_error (self, "interrupted while reconnecting", 30);
            return GEAK_E_INTERRUPTED;
        }
        if (now >= deadline) {
            geak_error ("store_unreachable", "host=%s port=%d tries=%d waited_ms=%lld error=\"%s\"",
                        self->host, self->port, tries, (long long) (now - start),
                        self->last_error);
            return GEAK_E_STORE_CONN;
        }
        s_sleep_ms (delay < deadline - now? delay: deadline - now);
        delay = delay * 2 > self->backoff_max_ms? self->backoff_max_ms: delay * 2;
    }
}

//  Send one command and read its reply. *sent tells whether the whole
//  command left our buffer (if not, the server cannot have executed it).
static redisReply *
s_exec (redisContext *c, int argc, const char **argv, const size_t *lens, bool *sent)
{
    *sent = false;
    if (redisAppendCommandArgv (c, argc, argv, lens) != REDIS_OK)
        return NULL;
    int done = 0;
    do
        if (redisBufferWrite (c, &done) != REDIS_OK)
            return NULL;
    while (!done);
    *sent = true;
    void *reply = NULL;
    if (redisGetReply (c, &reply) != REDIS_OK)
        return NULL;
    return (redisReply *) reply;
}

//  Run a command with the reconnect policy. On GEAK_OK *reply_p is the
//  reply (caller frees). Error replies free the reply, keep the text in
//  last_error and return GEAK_E_STORE.
static geak_rc_t
s_call (geak_store_t *self, int argc, const char **argv, const size_t *lens,
        bool idempotent, redisReply **reply_p)
{
    *reply_p = NULL;
    if (self->ctx && s_stale (self->ctx)) {
        geak_warn ("store_conn_stale", "host=%s port=%d", self->host, self->port);
        s_drop (self);
    }
    geak_rc_t rc;
    if (!self->ctx && (rc = s_reconnect (self)) != GEAK_OK)
        return rc;

    bool sent;
    redisReply *r = s_exec (self->ctx, argc, argv, lens, &sent);
    if (!r) {
        s_set_error (self, self->ctx->errstr, strlen (self->ctx->errstr));
        geak_warn ("store_conn_lost", "host=%s port=%d cmd=%.*s sent=%d error=\"%s\"",
                   self->host, self->port, (int) lens [0], argv [0], sent,
                   self->last_error);
        if ((rc = s_reconnect (self)) != GEAK_OK)
            return rc == GEAK_E_STORE || rc == GEAK_E_INTERRUPTED? rc: GEAK_E_STORE_CONN;
        if (sent && !idempotent) {
            //  The server may have executed it; re-issuing could apply it twice
            s_set_error (self, "connection lost, outcome unknown", 32);
            return GEAK_E_STORE_CONN;
        }
        r = s_exec (self->ctx, argc, argv, lens, &sent);
        if (!r) {
            s_set_error (self, self->ctx->errstr, strlen (self->ctx->errstr));
            geak_error ("store_conn_lost", "host=%s port=%d cmd=%.*s retry=1 error=\"%s\"",
                        self->host, self->port, (int) lens [0], argv [0],
                        self->last_error);
            s_drop (self);
            return GEAK_E_STORE_CONN;
        }
    }
    if (r->type == REDIS_REPLY_ERROR) {
        s_set_error (self, r->str, r->len);
        geak_debug ("store_error_reply", "cmd=%.*s error=\"%s\"",
                    (int) lens [0], argv [0], self->last_error);
        freeReplyObject (r);
        return GEAK_E_STORE;
    }
    *reply_p = r;
    return GEAK_OK;
}

//  Convenience: argv of C strings (not binary-safe).
static geak_rc_t
s_callv (geak_store_t *self, bool idempotent, redisReply **reply_p, int argc, const char **argv)
{
    size_t lens [16];
    assert (argc <= 16);
    for (int i = 0; i < argc; i++)
        lens [i] = strlen (argv [i]);
    return s_call (self, argc, argv, lens, idempotent, reply_p);
}

//  Run a script by SHA (cached on the server), loading it with EVAL when
//  the server does not know it (first use, or after a server restart).
//  argv [0], argv [1] are filled here with EVALSHA/EVAL and sha/script.
static geak_rc_t
s_script (geak_store_t *self, const char *script, char *sha_cache,
          int argc, const char **argv, size_t *lens, redisReply **reply_p)
{
    if (sha_cache && *sha_cache) {
        argv [0] = "EVALSHA";
        lens [0] = 7;
        argv [1] = sha_cache;
        lens [1] = strlen (sha_cache);
        geak_rc_t rc = s_call (self, argc, argv, lens, true, reply_p);
        if (rc != GEAK_E_STORE || strncmp (self->last_error, "NOSCRIPT", 8) != 0)
            return rc;
    }
    if (sha_cache && !*sha_cache) {
        const char *load [] = { "SCRIPT", "LOAD", script };
        redisReply *r;
        geak_rc_t rc = s_callv (self, true, &r, 3, load);
        if (rc == GEAK_OK) {
            if (r->type == REDIS_REPLY_STRING && r->len == 40) {
                memcpy (sha_cache, r->str, 40);
                sha_cache [40] = '\0';
            }
            freeReplyObject (r);
        }
        else
        if (rc == GEAK_E_STORE_CONN)
            return rc;
        if (*sha_cache) {
            argv [0] = "EVALSHA";
            lens [0] = 7;
            argv [1] = sha_cache;
            lens [1] = 40;
            rc = s_call (self, argc, argv, lens, true, reply_p);
            if (rc != GEAK_E_STORE || strncmp (self->last_error, "NOSCRIPT", 8) != 0)
                return rc;
        }
    }
    argv [0] = "EVAL";
    lens [0] = 4;
    argv [1] = script;
    lens [1] = strlen (script);
    return s_call (self, argc, argv, lens, true, reply_p);
}

static geak_rc_t
s_expect_int (geak_store_t *self, redisReply *r, long long *value)
{
    if (r->type != REDIS_REPLY_INTEGER) {
        s_set_error (self, "unexpected reply type", 21);
        return GEAK_E_PROTOCOL;
    }
    *value = r->integer;
    return GEAK_OK;
}

// ---------------------------------------------------------------- lists

void
geak_store_list_destroy (geak_store_list_t **self_p)
{
    assert (self_p);
    geak_store_list_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->size; i++)
            free (self->items [i]);
        free (self->items);
        free (self);
        *self_p = NULL;
    }
}

void
geak_store_counters_destroy (geak_store_counters_t **self_p)
{
    assert (self_p);
    geak_store_counters_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->size; i++)
            free (self->names [i]);
        free (self->names);
        free (self->values);
        free (self);
        *self_p = NULL;
    }
}

int64_t
geak_store_counters_get (const geak_store_counters_t *self, const char *name, int64_t dflt)
{
    assert (self);
    assert (name);
    for (size_t i = 0; i < self->size; i++)
        if (strcmp (self->names [i], name) == 0)
            return self->values [i];
    return dflt;
}

static char *
s_strndup (const char *s, size_t len)
{
    char *copy = geak_malloc0 (len + 1);
    memcpy (copy, s, len);
    return copy;
}

//  Turn an array reply of strings into a list (optionally sorted).
static geak_rc_t
s_reply_to_list (geak_store_t *self, redisReply *r, bool sorted, geak_store_list_t **out);

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(char * const *) a, *(char * const *) b);
}

static geak_rc_t
s_reply_to_list (geak_store_t *self, redisReply *r, bool sorted, geak_store_list_t **out)
{
    if (r->type != REDIS_REPLY_ARRAY) {
        s_set_error (self, "unexpected reply type", 21);
        return GEAK_E_PROTOCOL;
    }
    for (size_t i = 0; i < r->elements; i++)
        if (r->element [i]->type != REDIS_REPLY_STRING) {
            s_set_error (self, "unexpected element type", 23);
            return GEAK_E_PROTOCOL;
        }
    geak_store_list_t *list = geak_malloc0 (sizeof *list);
    list->items = geak_malloc0 ((r->elements? r->elements: 1) * sizeof (char *));
    for (size_t i = 0; i < r->elements; i++)
        list->items [i] = s_strndup (r->element [i]->str, r->element [i]->len);
    list->size = r->elements;
    if (sorted && list->size > 1)
        qsort (list->items, list->size, sizeof (char *), s_cmp_str);
    *out = list;
    return GEAK_OK;
}

// ---------------------------------------------------------------- new/destroy

//  Register a password with the logger once per process, however many
//  stores use it (the logger's secret table is small). Keeps only hashes.
static void
s_register_secret (const char *password)
{
    static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    static char seen [8][GEAK_STORE_REF_SIZE];
    static int nseen = 0;
    char hex [GEAK_STORE_REF_SIZE];
    geak_store_sha256_hex (password, strlen (password), hex);
    pthread_mutex_lock (&mutex);
    bool known = false;
    for (int i = 0; i < nseen && !known; i++)
        known = strcmp (seen [i], hex) == 0;
    if (!known) {
        if (nseen < 8)
            memcpy (seen [nseen++], hex, sizeof hex);
        geak_log_add_secret (password);
    }
    pthread_mutex_unlock (&mutex);
}

static geak_store_t *
s_new (const char *host, int port, const char *password, int timeout_ms, geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    if (port <= 0 || port > 65535 || (host && !*host)) {
        *rc = GEAK_E_INVALID;
        return NULL;
    }
    geak_store_t *self = geak_malloc0 (sizeof *self);
    self->host = geak_strdup (host? host: "127.0.0.1");
    self->port = port;
    if (password && *password) {
        self->password = geak_strdup (password);
        s_register_secret (password);
    }
    self->timeout_ms = timeout_ms > 0? timeout_ms: GEAK_STORE_DEFAULT_TIMEOUT_MS;
    self->backoff_initial_ms = GEAK_STORE_DEFAULT_BACKOFF_MS;
    self->backoff_max_ms = GEAK_STORE_DEFAULT_BACKOFF_MAX_MS;
    self->max_wait_ms = GEAK_STORE_DEFAULT_MAX_WAIT_MS;
    strcpy (self->prefix, GEAK_STORE_DEFAULT_PREFIX);
    return self;
}

geak_store_t *
geak_store_new (const char *host, int port, const char *password, int timeout_ms, geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    geak_store_t *self = s_new (host, port, password, timeout_ms, rc);
    if (!self)
        return NULL;
    *rc = s_connect_once (self, self->timeout_ms);
    if (*rc != GEAK_OK) {
        geak_error ("store_connect_failed", "host=%s port=%d rc=%s error=\"%s\"",
                    self->host, self->port, geak_rc_name (*rc), self->last_error);
        geak_store_destroy (&self);
        return NULL;
    }
    geak_debug ("store_connected", "host=%s port=%d auth=%d",
                self->host, self->port, self->password != NULL);
    return self;
}

static bool
s_parse_int (const char *text, long lo, long hi, long *value)
{
    if (!text || !*text)
        return false;
    char *end;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *value = v;
    return true;
}

geak_store_t *
geak_store_new_from_env (geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    const char *host = getenv ("GEAK_REDIS_HOST");
    if (!host || !*host)
        host = "127.0.0.1";
    long port = 6379, timeout_ms = GEAK_STORE_DEFAULT_TIMEOUT_MS;
    const char *text = getenv ("GEAK_REDIS_PORT");
    if (text && *text && !s_parse_int (text, 1, 65535, &port)) {
        geak_error ("store_config", "reason=bad_port value=\"%s\"", text);
        *rc = GEAK_E_CONFIG;
        return NULL;
    }
    text = getenv ("GEAK_REDIS_TIMEOUT_MS");
    if (text && *text && !s_parse_int (text, 1, 3600000, &timeout_ms)) {
        geak_error ("store_config", "reason=bad_timeout value=\"%s\"", text);
        *rc = GEAK_E_CONFIG;
        return NULL;
    }
    const char *prefix = getenv ("GEAK_REDIS_PREFIX");
    if (prefix && *prefix && !s_valid_prefix (prefix)) {
        geak_error ("store_config", "reason=bad_prefix");
        *rc = GEAK_E_CONFIG;
        return NULL;
    }
    char *password = NULL;
    const char *env_pass = getenv ("GEAK_REDIS_PASSWORD");
    const char *pass_file = getenv ("GEAK_REDIS_PASSWORD_FILE");
    if (env_pass && *env_pass)
        password = geak_strdup (env_pass);
    else
    if (pass_file && *pass_file) {
        FILE *file = fopen (pass_file, "r");
        char line [1024];
        bool ok = file && fgets (line, sizeof line, file);
        if (file)
            fclose (file);
        if (!ok) {
            geak_error ("store_config", "reason=password_file_unreadable path=\"%s\"", pass_file);
            *rc = GEAK_E_CONFIG;
            return NULL;
        }
        line [strcspn (line, "\r\n")] = '\0';
        password = geak_strdup (line);
        memset (line, 0, sizeof line);
    }
    geak_store_t *self = geak_store_new (host, (int) port, password, (int) timeout_ms, rc);
    if (password) {
        memset (password, 0, strlen (password));
        free (password);
    }
    if (self && prefix && *prefix)
        geak_store_set_prefix (self, prefix);
    return self;
}

void
geak_store_destroy (geak_store_t **self_p)
{
    assert (self_p);
    geak_store_t *self = *self_p;
    if (self) {
        s_drop (self);
        free (self->host);
        free (self->fence_run);
        if (self->password) {
            memset (self->password, 0, strlen (self->password));
            free (self->password);
        }
        free (self);
        *self_p = NULL;
    }
}

geak_rc_t
geak_store_set_prefix (geak_store_t *self, const char *prefix)
{
    assert (self);
    if (!s_valid_prefix (prefix))
        return GEAK_E_INVALID;
    strcpy (self->prefix, prefix);
    return GEAK_OK;
}

const char *
geak_store_prefix (const geak_store_t *self)
{
    assert (self);
    return self->prefix;
}

void
geak_store_set_backoff (geak_store_t *self, int initial_ms, int max_ms, int max_wait_ms)
{
    assert (self);
    if (initial_ms > 0)
        self->backoff_initial_ms = initial_ms;
    if (max_ms > 0)
        self->backoff_max_ms = max_ms;
    if (max_wait_ms > 0)
        self->max_wait_ms = max_wait_ms;
    if (self->backoff_max_ms < self->backoff_initial_ms)
        self->backoff_max_ms = self->backoff_initial_ms;
}

geak_rc_t
geak_store_ping (geak_store_t *self)
{
    assert (self);
    const char *argv [] = { "PING" };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 1, argv);
    if (rc == GEAK_OK)
        freeReplyObject (r);
    return rc;
}

uint64_t
geak_store_reconnects (const geak_store_t *self)
{
    assert (self);
    return self->reconnects;
}

const char *
geak_store_last_error (const geak_store_t *self)
{
    assert (self);
    return self->last_error;
}

// ---------------------------------------------------------------- runs

geak_rc_t
geak_store_run_create (geak_store_t *self, const char *run_id, const char *config_json)
{
    assert (self);
    char run_key [KEY_MAX], runs_key [KEY_MAX], now [32];
    if (!config_json
    ||  s_key (run_key, sizeof run_key, self->prefix, 2, "run", run_id)
    ||  s_key (runs_key, sizeof runs_key, self->prefix, 1, "runs"))
        return GEAK_E_INVALID;
    snprintf (now, sizeof now, "%lld", (long long) geak_clock_wall_ms ());
    const char *argv [] = { NULL, NULL, "2", run_key, runs_key, run_id, config_json, now };
    size_t lens [8];
    for (int i = 2; i < 8; i++)
        lens [i] = strlen (argv [i]);
    redisReply *r;
    geak_rc_t rc = s_script (self, s_create_script, self->create_sha, 8, argv, lens, &r);
    if (rc != GEAK_OK)
        return rc;
    long long created = 0;
    rc = s_expect_int (self, r, &created);
    freeReplyObject (r);
    if (rc == GEAK_OK && !created)
        rc = GEAK_E_EXISTS;
    return rc;
}

geak_rc_t
geak_store_run_get (geak_store_t *self, const char *run_id, char **config_json, char **status)
{
    assert (self);
    char key [KEY_MAX];
    if (s_key (key, sizeof key, self->prefix, 2, "run", run_id))
        return GEAK_E_INVALID;
    const char *argv [] = { "HMGET", key, "config", "status" };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 4, argv);
    if (rc != GEAK_OK)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        freeReplyObject (r);
        return GEAK_E_PROTOCOL;
    }
    redisReply *c = r->element [0], *s = r->element [1];
    if (c->type == REDIS_REPLY_NIL && s->type == REDIS_REPLY_NIL)
        rc = GEAK_E_NOT_FOUND;
    else
    if (c->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING)
        rc = GEAK_E_MALFORMED;
    else {
        if (config_json)
            *config_json = s_strndup (c->str, c->len);
        if (status)
            *status = s_strndup (s->str, s->len);
    }
    freeReplyObject (r);
    return rc;
}

geak_rc_t
geak_store_run_set_status (geak_store_t *self, const char *run_id, const char *status)
{
    return geak_store_run_set_status_reason (self, run_id, status, "");
}

geak_rc_t
geak_store_run_set_status_reason (geak_store_t *self, const char *run_id, const char *status,
                                  const char *reason)
{
    assert (self);
    char key [KEY_MAX], now [32];
    if (!s_valid_name (status) || !reason
    ||  s_key (key, sizeof key, self->prefix, 2, "run", run_id))
        return GEAK_E_INVALID;
    snprintf (now, sizeof now, "%lld", (long long) geak_clock_wall_ms ());
    const char *argv [] = { NULL, NULL, "1", key, status, now, reason };
    size_t lens [7];
    for (int i = 2; i < 7; i++)
        lens [i] = strlen (argv [i]);
    redisReply *r;
    geak_rc_t rc = s_script (self, s_status_script, self->status_sha, 7, argv, lens, &r);
    if (rc != GEAK_OK)
        return rc;
    long long done = 0;
    rc = s_expect_int (self, r, &done);
    freeReplyObject (r);
    if (rc == GEAK_OK && !done)
        rc = GEAK_E_NOT_FOUND;
    return rc;
}

geak_rc_t
geak_store_run_reason (geak_store_t *self, const char *run_id, char **reason)
{
    assert (self && reason);
    *reason = NULL;
    char key [KEY_MAX];
    if (s_key (key, sizeof key, self->prefix, 2, "run", run_id))
        return GEAK_E_INVALID;
    const char *argv [] = { "HGET", key, "reason" };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 3, argv);
    if (rc != GEAK_OK)
        return rc;
    if (r->type == REDIS_REPLY_STRING)
        *reason = s_strndup (r->str, r->len);
    else
    if (r->type == REDIS_REPLY_NIL)
        *reason = s_strndup ("", 0);
    else
        rc = GEAK_E_PROTOCOL;
    freeReplyObject (r);
    return rc;
}

geak_rc_t
geak_store_run_counter_incr (geak_store_t *self, const char *run_id, const char *name,
                             int64_t by, int64_t *value_or_NULL)
{
    assert (self);
    char key [KEY_MAX], by_text [32];
    if (!s_valid_name (name)
    ||  s_key (key, sizeof key, self->prefix, 3, "run", run_id, "counters"))
        return GEAK_E_INVALID;
    snprintf (by_text, sizeof by_text, "%lld", (long long) by);
    const char *argv [] = { "HINCRBY", key, name, by_text };
    redisReply *r;
    geak_rc_t rc = s_callv (self, false, &r, 4, argv);
    if (rc != GEAK_OK)
        return rc;
    long long value = 0;
    rc = s_expect_int (self, r, &value);
    freeReplyObject (r);
    if (rc == GEAK_OK && value_or_NULL)
        *value_or_NULL = (int64_t) value;
    return rc;
}

static int
s_cmp_counter (const void *a, const void *b, void *arg)
{
    const geak_store_counters_t *c = arg;
    size_t i = *(const size_t *) a, j = *(const size_t *) b;
    return strcmp (c->names [i], c->names [j]);
}

geak_rc_t
geak_store_run_counters (geak_store_t *self, const char *run_id, geak_store_counters_t **out)
{
    assert (self);
    assert (out);
    *out = NULL;
    char key [KEY_MAX];
    if (s_key (key, sizeof key, self->prefix, 3, "run", run_id, "counters"))
        return GEAK_E_INVALID;
    const char *argv [] = { "HGETALL", key };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 2, argv);
    if (rc != GEAK_OK)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        freeReplyObject (r);
        return GEAK_E_PROTOCOL;
    }
    size_t n = r->elements / 2;
    geak_store_counters_t *raw = geak_malloc0 (sizeof *raw);
    raw->names = geak_malloc0 ((n? n: 1) * sizeof (char *));
    raw->values = geak_malloc0 ((n? n: 1) * sizeof (int64_t));
    for (size_t i = 0; i < n && rc == GEAK_OK; i++) {
        redisReply *k = r->element [2 * i], *v = r->element [2 * i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            rc = GEAK_E_PROTOCOL;
            break;
        }
        char text [32];
        if (v->len == 0 || v->len >= sizeof text) {
            rc = GEAK_E_MALFORMED;
            break;
        }
        memcpy (text, v->str, v->len);
        text [v->len] = '\0';
        char *end;
        errno = 0;
        long long value = strtoll (text, &end, 10);
        if (errno || *end) {
            rc = GEAK_E_MALFORMED;
            break;
        }
        raw->names [i] = s_strndup (k->str, k->len);
        raw->values [i] = (int64_t) value;
        raw->size = i + 1;
    }
    freeReplyObject (r);
    if (rc != GEAK_OK) {
        geak_store_counters_destroy (&raw);
        return rc;
    }
    //  Sort by name: permute through an index array
    geak_store_counters_t *sorted = geak_malloc0 (sizeof *sorted);
    sorted->names = geak_malloc0 ((n? n: 1) * sizeof (char *));
    sorted->values = geak_malloc0 ((n? n: 1) * sizeof (int64_t));
    size_t *order = geak_malloc0 ((n? n: 1) * sizeof (size_t));
    for (size_t i = 0; i < n; i++)
        order [i] = i;
    qsort_r (order, n, sizeof (size_t), s_cmp_counter, raw);
    for (size_t i = 0; i < n; i++) {
        sorted->names [i] = raw->names [order [i]];
        sorted->values [i] = raw->values [order [i]];
    }
    sorted->size = n;
    free (order);
    free (raw->names);
    free (raw->values);
    free (raw);
    *out = sorted;
    return GEAK_OK;
}

geak_rc_t
geak_store_run_add_task (geak_store_t *self, const char *run_id, const char *task)
{
    assert (self);
    char key [KEY_MAX];
    if (!s_valid_name (task)
    ||  s_key (key, sizeof key, self->prefix, 3, "run", run_id, "tasks"))
        return GEAK_E_INVALID;
    const char *argv [] = { "SADD", key, task };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 3, argv);
    if (rc == GEAK_OK)
        freeReplyObject (r);
    return rc;
}

geak_rc_t
geak_store_run_tasks (geak_store_t *self, const char *run_id, geak_store_list_t **out)
{
    assert (self);
    assert (out);
    *out = NULL;
    char key [KEY_MAX];
    if (s_key (key, sizeof key, self->prefix, 3, "run", run_id, "tasks"))
        return GEAK_E_INVALID;
    const char *argv [] = { "SMEMBERS", key };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 2, argv);
    if (rc != GEAK_OK)
        return rc;
    rc = s_reply_to_list (self, r, true, out);
    freeReplyObject (r);
    return rc;
}

geak_rc_t
geak_store_runs_list (geak_store_t *self, geak_store_list_t **out)
{
    assert (self);
    assert (out);
    *out = NULL;
    char key [KEY_MAX];
    if (s_key (key, sizeof key, self->prefix, 1, "runs"))
        return GEAK_E_INVALID;
    const char *argv [] = { "ZRANGE", key, "0", "-1" };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 4, argv);
    if (rc != GEAK_OK)
        return rc;
    rc = s_reply_to_list (self, r, false, out);
    freeReplyObject (r);
    return rc;
}

// ---------------------------------------------------------------- attempts

//  Hash fields written by attempt_put besides pb

geak_rc_t
geak_store_attempt_put (geak_store_t *self, const Geak__Attempt *attempt)
{
    assert (self);
    if (!attempt || !attempt->attempt_id || !s_valid_name (attempt->attempt_id))
        return GEAK_E_INVALID;
    const Geak__Candidate *cand = attempt->candidate;
    const Geak__Lineage *lin = cand? cand->lineage: NULL;
    if (!lin || !s_valid_name (lin->run_id) || !s_valid_name (lin->task))
        return GEAK_E_INVALID;
    const Geak__EvalResult *res = attempt->result;
    const char *status = attempt->status;
    if (!status || !*status)
        status = res? "evaluated": "pending";
    int rank;
    if (strcmp (status, "pending") == 0)
        rank = 0;
    else
    if (strcmp (status, "evaluated") == 0 || strcmp (status, "failed") == 0)
        rank = 1;
    else
        return GEAK_E_INVALID;

    char attempt_key [KEY_MAX], lineage_key [KEY_MAX], counters_key [KEY_MAX],
         hist_key [KEY_MAX], tasks_key [KEY_MAX], sample [16], iteration [16];
    snprintf (sample, sizeof sample, "%u", (unsigned) lin->sample);
    snprintf (iteration, sizeof iteration, "%u", (unsigned) lin->iteration);
    if (s_key (attempt_key, sizeof attempt_key, self->prefix, 2, "attempt", attempt->attempt_id)
    ||  s_key (lineage_key, sizeof lineage_key, self->prefix, 4, "lineage", lin->run_id, lin->task, sample)
    ||  s_key (counters_key, sizeof counters_key, self->prefix, 3, "run", lin->run_id, "counters")
    ||  s_key (hist_key, sizeof hist_key, self->prefix, 3, "hist", lin->run_id, lin->task)
    ||  s_key (tasks_key, sizeof tasks_key, self->prefix, 3, "run", lin->run_id, "tasks"))
        return GEAK_E_INVALID;

    size_t packed_size = geak__attempt__get_packed_size (attempt);
    if (packed_size > GEAK_STORE_BLOB_MAX)
        return GEAK_E_INVALID;
    uint8_t *packed = geak_malloc0 (packed_size);
    geak__attempt__pack (attempt, packed);

    //  Readable fields
    const Geak__LlmUsage *usage = cand->usage;
    char tokens_in [24], tokens_out [24], rank_text [4], role [32], error_class [48],
         latency [40], speedup [40], score [40], created [24], finished [24];
    snprintf (tokens_in, sizeof tokens_in, "%llu",
              (unsigned long long) (usage? usage->tokens_in: 0));
    snprintf (tokens_out, sizeof tokens_out, "%llu",
              (unsigned long long) (usage? usage->tokens_out: 0));
    snprintf (rank_text, sizeof rank_text, "%d", rank);
    s_enum_name (&geak__role__descriptor, lin->role, role, sizeof role);
    s_enum_name (&geak__error_class__descriptor,
                 res? res->error_class: GEAK__ERROR_CLASS__ERROR_CLASS_UNSPECIFIED,
                 error_class, sizeof error_class);
    double median = res && res->candidate? res->candidate->median_ms: 0.0;
    bool timed = isfinite (median) && median > 0.0;
    latency [0] = '\0';
    if (timed)
        snprintf (latency, sizeof latency, "%.15g", median);
    speedup [0] = '\0';
    if (res && isfinite (res->speedup) && res->speedup > 0.0)
        snprintf (speedup, sizeof speedup, "%.15g", res->speedup);
    score [0] = '\0';
    bool call_ok = res && res->call_ok;
    bool exec_ok = res && res->exec_ok;
    if (strcmp (status, "evaluated") == 0 && exec_ok && timed)
        snprintf (score, sizeof score, "%.17g", median);
    snprintf (created, sizeof created, "%lld", (long long) attempt->created_ms);
    snprintf (finished, sizeof finished, "%lld", (long long) attempt->finished_ms);
    const char *parent = lin->parent_attempt? lin->parent_attempt: "";
    const char *impl = lin->implementation? lin->implementation: "";

    const char *argv [64];
    size_t lens [64];
    int argc = 0;
#define ARG(s)        do { argv [argc] = (s); lens [argc] = strlen (argv [argc]); argc++; } while (0)
#define ARGN(s, n)    do { argv [argc] = (const char *) (s); lens [argc] = (n); argc++; } while (0)
#define FIELD(k, v)   do { ARG (k); ARG (v); } while (0)
    ARGN (NULL, 0);                 //  EVALSHA / EVAL
    ARGN (NULL, 0);                 //  sha / script
    char run_key [KEY_MAX], fence [24] = "", position [16] = "", seq [24] = "";
    if (s_key (run_key, sizeof run_key, self->prefix, 2, "run", lin->run_id)) {
        free (packed);
        return GEAK_E_INVALID;
    }
    if (self->fence_run && strcmp (self->fence_run, lin->run_id) == 0) {
        snprintf (fence, sizeof fence, "%llu", (unsigned long long) self->fence_token);
        snprintf (position, sizeof position, "%u", (unsigned) lin->iteration);
        snprintf (seq, sizeof seq, "%llu", (unsigned long long) self->fence_seq);
    }
    ARG ("6");
    ARG (attempt_key); ARG (lineage_key); ARG (counters_key); ARG (hist_key); ARG (tasks_key);
    ARG (run_key);
    ARG (attempt->attempt_id);
    ARG (rank_text);
    ARG (status);
    ARG (tokens_in);
    ARG (tokens_out);
    ARG (call_ok? "1": "0");
    ARG (exec_ok? "1": "0");
    ARG (score);
    ARG (lin->task);
    ARG (fence);
    ARG (position);
    ARG (seq);
    ARG ("pb"); ARGN (packed, packed_size);
    FIELD ("id", attempt->attempt_id);
    FIELD ("run", lin->run_id);
    FIELD ("task", lin->task);
    FIELD ("sample", sample);
    FIELD ("iteration", iteration);
    FIELD ("role", role);
    FIELD ("implementation", impl);
    FIELD ("parent", parent);
    FIELD ("status", status);
    FIELD ("rank", rank_text);
    FIELD ("error_class", error_class);
    FIELD ("call_ok", call_ok? "1": "0");
    FIELD ("exec_ok", exec_ok? "1": "0");
    FIELD ("latency_ms", latency);
    FIELD ("speedup", speedup);
    FIELD ("tokens_in", tokens_in);
    FIELD ("tokens_out", tokens_out);
    FIELD ("created_ms", created);
    FIELD ("finished_ms", finished);
#undef FIELD
#undef ARGN
#undef ARG
    assert (argc <= 64);

    redisReply *r;
    geak_rc_t rc = s_script (self, s_put_script, self->put_sha, argc, argv, lens, &r);
    free (packed);
    if (rc != GEAK_OK)
        return rc;
    long long changed = 0;
    rc = s_expect_int (self, r, &changed);
    freeReplyObject (r);
    if (rc == GEAK_OK && changed == 0)
        rc = GEAK_E_EXISTS;
    if (rc == GEAK_OK && changed > 0 && *fence)
        self->fence_seq++;
    if (rc == GEAK_OK && changed == 3)
        changed = 2;
    if (rc == GEAK_OK && changed < 0) {
        char why [LAST_ERROR_MAX];
        if (changed == -4)
            snprintf (why, sizeof why, "run %s holds fewer writes than the %llu this driver had "
                      "acknowledged: the store lost attempts this driver wrote (Redis restarted "
                      "from an older snapshot, or without its AOF?)", lin->run_id,
                      (unsigned long long) self->fence_seq);
        else
        if (changed == -2 || changed == -1)
            snprintf (why, sizeof why, changed == -2
                      ? "run %s is held by a newer driver (lease token above %llu)"
                      : "run %s is gone from the store or older than this driver's lease %llu "
                        "(Redis restarted without its data?)",
                      lin->run_id, (unsigned long long) self->fence_token);
        else
            snprintf (why, sizeof why, "lineage %s/%s/%s holds fewer attempts than iteration %s "
                      "needs: the store lost attempts this driver wrote (Redis restarted from an "
                      "older snapshot?)", lin->run_id, lin->task, sample, iteration);
        s_set_error (self, why, strlen (why));
        rc = changed == -2 ? GEAK_E_FENCED : GEAK_E_LOST;
        geak_error ("store_lost", "run=%s attempt=%s code=%s error=\"%s\"", lin->run_id,
                    attempt->attempt_id, geak_rc_name (rc), why);
    }
    if (rc == GEAK_OK)
        geak_debug ("store_attempt_put", "attempt=%s run=%s task=%s status=%s change=%s",
                    attempt->attempt_id, lin->run_id, lin->task, status,
                    changed == 1? "insert": "transition");
    return rc;
}

// ---------------------------------------------------------------- leases

void
geak_store_set_fence (geak_store_t *self, const char *run_id, uint64_t token)
{
    assert (self);
    free (self->fence_run);
    self->fence_run = run_id ? geak_strdup (run_id) : NULL;
    self->fence_token = token;
    self->fence_seq = self->lease_seq;
}

void
geak_store_set_interrupt (geak_store_t *self, volatile sig_atomic_t *flag)
{
    assert (self);
    self->interrupt = flag;
}

geak_rc_t
geak_store_run_lease_acquire (geak_store_t *self, const char *run_id, const char *owner,
                              const char *dead_holder, int64_t ttl_ms, uint64_t *token,
                              char **holder, int64_t *left_ms)
{
    assert (self && owner && token && holder && left_ms);
    *token = 0;
    *holder = NULL;
    *left_ms = 0;
    char key [KEY_MAX], ttl [24];
    if (s_key (key, sizeof key, self->prefix, 2, "run", run_id) || ttl_ms <= 0)
        return GEAK_E_INVALID;
    snprintf (ttl, sizeof ttl, "%lld", (long long) ttl_ms);
    const char *argv [] = { NULL, NULL, "1", key, owner, ttl, dead_holder ? dead_holder : "" };
    size_t lens [7];
    for (int i = 2; i < 7; i++)
        lens [i] = strlen (argv [i]);
    redisReply *r;
    geak_rc_t rc = s_script (self, s_lease_acquire_script, self->acquire_sha, 7, argv, lens, &r);
    if (rc != GEAK_OK)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element [0]->type != REDIS_REPLY_INTEGER)
        rc = GEAK_E_PROTOCOL;
    else
    if (r->element [0]->integer == -1)
        rc = GEAK_E_NOT_FOUND;
    else
    if (r->element [0]->integer == 1 && r->elements == 3 && r->element [1]->type == REDIS_REPLY_INTEGER
    &&  r->element [2]->type == REDIS_REPLY_INTEGER) {
        *token = (uint64_t) r->element [1]->integer;
        self->lease_seq = (uint64_t) r->element [2]->integer;
    }
    else
    if (r->element [0]->integer == 0 && r->elements == 3 && r->element [1]->type == REDIS_REPLY_STRING
    &&  r->element [2]->type == REDIS_REPLY_INTEGER) {
        *holder = s_strndup (r->element [1]->str, r->element [1]->len);
        *left_ms = r->element [2]->integer;
        rc = GEAK_E_EXISTS;
    }
    else
        rc = GEAK_E_PROTOCOL;
    freeReplyObject (r);
    return rc;
}

static geak_rc_t
s_lease_renew (geak_store_t *self, const char *run_id, uint64_t token, int64_t ttl_ms)
{
    char key [KEY_MAX], tok [24], ttl [24];
    if (s_key (key, sizeof key, self->prefix, 2, "run", run_id) || ttl_ms < 0)
        return GEAK_E_INVALID;
    snprintf (tok, sizeof tok, "%llu", (unsigned long long) token);
    snprintf (ttl, sizeof ttl, "%lld", (long long) ttl_ms);
    const char *argv [] = { NULL, NULL, "1", key, tok, ttl };
    size_t lens [6];
    for (int i = 2; i < 6; i++)
        lens [i] = strlen (argv [i]);
    redisReply *r;
    geak_rc_t rc = s_script (self, s_lease_renew_script, self->renew_sha, 6, argv, lens, &r);
    if (rc != GEAK_OK)
        return rc;
    long long result = 0;
    rc = s_expect_int (self, r, &result);
    freeReplyObject (r);
    if (rc == GEAK_OK && result == -1) {
        char why [LAST_ERROR_MAX];
        snprintf (why, sizeof why, "run %s is gone from the store or older than lease %llu "
                  "(Redis restarted without its data?)", run_id, (unsigned long long) token);
        s_set_error (self, why, strlen (why));
        rc = GEAK_E_LOST;
    }
    else
    if (rc == GEAK_OK && result == -2) {
        char why [LAST_ERROR_MAX];
        snprintf (why, sizeof why, "run %s is held by a newer driver (lease token above %llu)",
                  run_id, (unsigned long long) token);
        s_set_error (self, why, strlen (why));
        rc = GEAK_E_FENCED;
    }
    return rc;
}

geak_rc_t
geak_store_run_lease_renew (geak_store_t *self, const char *run_id, uint64_t token, int64_t ttl_ms)
{
    assert (self);
    return ttl_ms > 0 ? s_lease_renew (self, run_id, token, ttl_ms) : GEAK_E_INVALID;
}

geak_rc_t
geak_store_run_lease_release (geak_store_t *self, const char *run_id, uint64_t token)
{
    assert (self);
    return s_lease_renew (self, run_id, token, 0);
}

geak_rc_t
geak_store_persistence (geak_store_t *self, bool *aof, char **save)
{
    assert (self && aof && save);
    *aof = false;
    *save = NULL;
    const char *a [] = { "CONFIG", "GET", "appendonly" };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 3, a);
    if (rc != GEAK_OK)
        return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element [1]->type == REDIS_REPLY_STRING)
        *aof = strcmp (r->element [1]->str, "yes") == 0;
    else
        rc = GEAK_E_PROTOCOL;
    freeReplyObject (r);
    if (rc != GEAK_OK)
        return rc;
    const char *b [] = { "CONFIG", "GET", "save" };
    rc = s_callv (self, true, &r, 3, b);
    if (rc != GEAK_OK)
        return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element [1]->type == REDIS_REPLY_STRING)
        *save = s_strndup (r->element [1]->str, r->element [1]->len);
    else
        rc = GEAK_E_PROTOCOL;
    freeReplyObject (r);
    return rc;
}

geak_rc_t
geak_store_attempt_get (geak_store_t *self, const char *attempt_id, Geak__Attempt **out)
{
    assert (self);
    assert (out);
    *out = NULL;
    char key [KEY_MAX];
    if (s_key (key, sizeof key, self->prefix, 2, "attempt", attempt_id))
        return GEAK_E_INVALID;
    const char *argv [] = { "HGET", key, "pb" };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 3, argv);
    if (rc != GEAK_OK)
        return rc;
    if (r->type == REDIS_REPLY_NIL)
        rc = GEAK_E_NOT_FOUND;
    else
    if (r->type != REDIS_REPLY_STRING || r->len > GEAK_STORE_BLOB_MAX)
        rc = GEAK_E_MALFORMED;
    else {
        Geak__Attempt *attempt = geak__attempt__unpack (NULL, r->len, (const uint8_t *) r->str);
        if (!attempt)
            rc = GEAK_E_MALFORMED;
        else
        if (!attempt->attempt_id || strcmp (attempt->attempt_id, attempt_id) != 0) {
            geak__attempt__free_unpacked (attempt, NULL);
            rc = GEAK_E_MALFORMED;
        }
        else
            *out = attempt;
        if (rc == GEAK_E_MALFORMED)
            geak_warn ("store_attempt_malformed", "attempt=%s bytes=%zu", attempt_id, r->len);
    }
    freeReplyObject (r);
    return rc;
}

geak_rc_t
geak_store_lineage (geak_store_t *self, const char *run_id, const char *task,
                    uint32_t sample, geak_store_list_t **out)
{
    assert (self);
    assert (out);
    *out = NULL;
    char key [KEY_MAX], sample_text [16];
    snprintf (sample_text, sizeof sample_text, "%u", (unsigned) sample);
    if (s_key (key, sizeof key, self->prefix, 4, "lineage", run_id, task, sample_text))
        return GEAK_E_INVALID;
    const char *argv [] = { "LRANGE", key, "0", "-1" };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 4, argv);
    if (rc != GEAK_OK)
        return rc;
    rc = s_reply_to_list (self, r, false, out);
    freeReplyObject (r);
    return rc;
}

void
geak_store_attempts_free (Geak__Attempt ***list_p, size_t n)
{
    assert (list_p);
    Geak__Attempt **list = *list_p;
    if (list) {
        for (size_t i = 0; i < n; i++)
            if (list [i])
                geak__attempt__free_unpacked (list [i], NULL);
        free (list);
        *list_p = NULL;
    }
}

geak_rc_t
geak_store_history (geak_store_t *self, const char *run_id, const char *task,
                    size_t limit, Geak__Attempt ***out, size_t *n)
{
    assert (self);
    assert (out);
    assert (n);
    *out = NULL;
    *n = 0;
    char key [KEY_MAX], stop [32];
    if (s_key (key, sizeof key, self->prefix, 3, "hist", run_id, task))
        return GEAK_E_INVALID;
    if (limit == 0 || limit > (size_t) INT32_MAX)
        strcpy (stop, "-1");
    else
        snprintf (stop, sizeof stop, "%zu", limit - 1);
    //  Fastest first from Redis; reversed below
    const char *argv [] = { "ZRANGE", key, "0", stop };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 4, argv);
    if (rc != GEAK_OK)
        return rc;
    geak_store_list_t *ids = NULL;
    rc = s_reply_to_list (self, r, false, &ids);
    freeReplyObject (r);
    if (rc != GEAK_OK)
        return rc;
    Geak__Attempt **list = geak_malloc0 ((ids->size? ids->size: 1) * sizeof *list);
    size_t count = 0;
    for (size_t i = ids->size; i-- > 0 && rc == GEAK_OK; ) {
        Geak__Attempt *attempt = NULL;
        geak_rc_t get_rc = geak_store_attempt_get (self, ids->items [i], &attempt);
        if (get_rc == GEAK_OK)
            list [count++] = attempt;
        else
        if (get_rc == GEAK_E_NOT_FOUND)
            geak_warn ("store_history_dangling", "attempt=%s", ids->items [i]);
        else
            rc = get_rc;
    }
    geak_store_list_destroy (&ids);
    if (rc != GEAK_OK) {
        geak_store_attempts_free (&list, count);
        return rc;
    }
    if (count == 0) {
        free (list);
        list = NULL;
    }
    *out = list;
    *n = count;
    return GEAK_OK;
}

// ---------------------------------------------------------------- blobs

static geak_rc_t
s_blob_set (geak_store_t *self, const char *ref, const void *data, size_t size, bool nx)
{
    char key [KEY_MAX];
    if ((!data && size) || size > GEAK_STORE_BLOB_MAX
    ||  s_key (key, sizeof key, self->prefix, 2, "blob", ref))
        return GEAK_E_INVALID;
    const char *argv [] = { "SET", key, data? (const char *) data: "", "NX" };
    size_t lens [] = { 3, strlen (key), size, 2 };
    redisReply *r;
    geak_rc_t rc = s_call (self, nx? 4: 3, argv, lens, true, &r);
    if (rc == GEAK_OK)
        freeReplyObject (r);     //  OK, or nil when NX found it present
    return rc;
}

geak_rc_t
geak_store_blob_put (geak_store_t *self, const char *ref, const void *data, size_t size)
{
    assert (self);
    return s_blob_set (self, ref, data, size, false);
}

geak_rc_t
geak_store_blob_put_content (geak_store_t *self, const void *data, size_t size,
                             char ref_out [GEAK_STORE_REF_SIZE])
{
    assert (self);
    assert (ref_out);
    ref_out [0] = '\0';
    if ((!data && size) || size > GEAK_STORE_BLOB_MAX)
        return GEAK_E_INVALID;
    char ref [GEAK_STORE_REF_SIZE];
    geak_store_sha256_hex (data? data: "", size, ref);
    geak_rc_t rc = s_blob_set (self, ref, data, size, true);
    if (rc == GEAK_OK)
        memcpy (ref_out, ref, GEAK_STORE_REF_SIZE);
    return rc;
}

geak_rc_t
geak_store_blob_get (geak_store_t *self, const char *ref, void **data, size_t *size)
{
    assert (self);
    assert (data);
    assert (size);
    *data = NULL;
    *size = 0;
    char key [KEY_MAX];
    if (s_key (key, sizeof key, self->prefix, 2, "blob", ref))
        return GEAK_E_INVALID;
    const char *argv [] = { "GET", key };
    redisReply *r;
    geak_rc_t rc = s_callv (self, true, &r, 2, argv);
    if (rc != GEAK_OK)
        return rc;
    if (r->type == REDIS_REPLY_NIL)
        rc = GEAK_E_NOT_FOUND;
    else
    if (r->type != REDIS_REPLY_STRING)
        rc = GEAK_E_STORE;     //  WRONGTYPE would be an error reply; be safe
    else {
        *data = s_strndup (r->str, r->len);
        *size = r->len;
    }
    freeReplyObject (r);
    return rc;
}

// ---------------------------------------------------------------- SHA-256
//  FIPS 180-4. The round constants are the first 32 bits of the fractional
//  parts of the cube roots of the first 64 primes; the initial state those
//  of the square roots of the first 8 primes.

static const uint32_t s_sha_k [64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
s_sha_block (uint32_t state [8], const uint8_t block [64])
{
    uint32_t w [64];
    for (int i = 0; i < 16; i++)
        w [i] = (uint32_t) block [4 * i] << 24 | (uint32_t) block [4 * i + 1] << 16
              | (uint32_t) block [4 * i + 2] << 8 | (uint32_t) block [4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR (w [i - 15], 7) ^ ROTR (w [i - 15], 18) ^ (w [i - 15] >> 3);
        uint32_t s1 = ROTR (w [i - 2], 17) ^ ROTR (w [i - 2], 19) ^ (w [i - 2] >> 10);
        w [i] = w [i - 16] + s0 + w [i - 7] + s1;
    }
    uint32_t a = state [0], b = state [1], c = state [2], d = state [3],
             e = state [4], f = state [5], g = state [6], h = state [7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROTR (e, 6) ^ ROTR (e, 11) ^ ROTR (e, 25))
                    + ((e & f) ^ (~e & g)) + s_sha_k [i] + w [i];
        uint32_t t2 = (ROTR (a, 2) ^ ROTR (a, 13) ^ ROTR (a, 22))
                    + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    state [0] += a; state [1] += b; state [2] += c; state [3] += d;
    state [4] += e; state [5] += f; state [6] += g; state [7] += h;
}

void
geak_store_sha256_hex (const void *data, size_t size, char hex_out [GEAK_STORE_REF_SIZE])
{
    assert (data || size == 0);
    assert (hex_out);
    uint32_t state [8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
    };
    const uint8_t *bytes = data;
    size_t full = size / 64;
    for (size_t i = 0; i < full; i++)
        s_sha_block (state, bytes + 64 * i);
    //  Tail: remaining bytes, 0x80, zero pad, 64-bit big-endian bit length
    uint8_t tail [128] = { 0 };
    size_t rest = size - 64 * full;
    if (rest)
        memcpy (tail, bytes + 64 * full, rest);
    tail [rest] = 0x80;
    size_t tail_len = rest + 1 + 8 <= 64? 64: 128;
    uint64_t bits = (uint64_t) size * 8;
    for (int i = 0; i < 8; i++)
        tail [tail_len - 1 - i] = (uint8_t) (bits >> (8 * i));
    s_sha_block (state, tail);
    if (tail_len == 128)
        s_sha_block (state, tail + 64);
    static const char hex [] = "0123456789abcdef";
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) {
            uint8_t byte = (uint8_t) (state [i] >> (24 - 8 * j));
            hex_out [8 * i + 2 * j] = hex [byte >> 4];
            hex_out [8 * i + 2 * j + 1] = hex [byte & 0xf];
        }
    hex_out [64] = '\0';
}

// ---------------------------------------------------------------- selftest

int
geak_store_test (bool verbose)
{
    int failures = 0;
#define CHECK(cond) do { if (!(cond)) { failures++; \
        fprintf (stderr, "geak_store_test: %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

    //  Names
    CHECK (s_valid_name ("softmax"));
    CHECK (s_valid_name ("tritonbench-revised/softmax_v2.py"));
    CHECK (!s_valid_name (NULL));
    CHECK (!s_valid_name (""));
    CHECK (!s_valid_name ("a:b"));
    CHECK (!s_valid_name ("a b"));
    CHECK (!s_valid_name ("a\nb"));
    CHECK (!s_valid_name ("tab\there"));
    char long_name [GEAK_STORE_NAME_MAX + 2];
    memset (long_name, 'x', sizeof long_name - 1);
    long_name [GEAK_STORE_NAME_MAX + 1] = '\0';
    CHECK (!s_valid_name (long_name));
    long_name [GEAK_STORE_NAME_MAX] = '\0';
    CHECK (s_valid_name (long_name));

    //  Prefixes
    CHECK (s_valid_prefix ("geak:"));
    CHECK (s_valid_prefix ("test-1234:geak:"));
    CHECK (!s_valid_prefix (""));
    CHECK (!s_valid_prefix ("has space:"));

    //  Keys
    char key [KEY_MAX];
    CHECK (s_key (key, sizeof key, "geak:", 1, "runs") == GEAK_OK);
    CHECK (strcmp (key, "geak:runs") == 0);
    CHECK (s_key (key, sizeof key, "geak:", 3, "run", "r1", "counters") == GEAK_OK);
    CHECK (strcmp (key, "geak:run:r1:counters") == 0);
    CHECK (s_key (key, sizeof key, "t:", 4, "lineage", "r1", "softmax", "3") == GEAK_OK);
    CHECK (strcmp (key, "t:lineage:r1:softmax:3") == 0);
    CHECK (s_key (key, sizeof key, "geak:", 2, "attempt", "bad:id") == GEAK_E_INVALID);
    CHECK (key [0] == '\0');
    CHECK (s_key (key, sizeof key, "geak:", 2, "run", NULL) == GEAK_E_INVALID);
    CHECK (s_key (key, sizeof key, "geak:", 1, "run") == GEAK_OK);
    CHECK (strcmp (key, "geak:run") == 0);
    CHECK (s_key (key, sizeof key, "geak:", 2, "run", "") == GEAK_E_INVALID);
    char small [13];     //  exactly "geak:run:abc" + NUL
    CHECK (s_key (small, sizeof small, "geak:", 2, "attempt", "abcdefgh") == GEAK_E_INVALID);
    CHECK (s_key (small, sizeof small, "geak:", 2, "run", "abc") == GEAK_OK);
    CHECK (strcmp (small, "geak:run:abc") == 0);

    //  SHA-256 (FIPS 180-4 examples)
    char hex [GEAK_STORE_REF_SIZE];
    geak_store_sha256_hex ("abc", 3, hex);
    CHECK (strcmp (hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    geak_store_sha256_hex ("", 0, hex);
    CHECK (strcmp (hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    geak_store_sha256_hex (two, strlen (two), hex);
    CHECK (strcmp (hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    CHECK (s_valid_name (hex));

    //  Objects: argument validation without a server
    geak_rc_t rc = GEAK_OK;
    CHECK (geak_store_new ("127.0.0.1", 0, NULL, 100, &rc) == NULL && rc == GEAK_E_INVALID);
    CHECK (geak_store_new ("127.0.0.1", 70000, NULL, 100, &rc) == NULL && rc == GEAK_E_INVALID);
    CHECK (geak_store_new ("", 6379, NULL, 100, &rc) == NULL && rc == GEAK_E_INVALID);
    geak_store_t *self = s_new ("127.0.0.1", 1, NULL, 100, &rc);
    CHECK (self);
    if (self) {
        CHECK (strcmp (geak_store_prefix (self), "geak:") == 0);
        CHECK (geak_store_set_prefix (self, "x y") == GEAK_E_INVALID);
        CHECK (geak_store_set_prefix (self, "selftest:") == GEAK_OK);
        CHECK (strcmp (geak_store_prefix (self), "selftest:") == 0);
        geak_store_set_backoff (self, 10, 5, 100);
        CHECK (self->backoff_max_ms == 10);
        //  Invalid arguments are refused before any network work
        CHECK (geak_store_run_create (self, "bad:run", "{}") == GEAK_E_INVALID);
        CHECK (geak_store_run_create (self, "r", NULL) == GEAK_E_INVALID);
        CHECK (geak_store_run_set_status (self, "r", "") == GEAK_E_INVALID);
        CHECK (geak_store_run_counter_incr (self, "r", "a b", 1, NULL) == GEAK_E_INVALID);
        CHECK (geak_store_blob_put (self, "x:y", "z", 1) == GEAK_E_INVALID);
        CHECK (geak_store_blob_put (self, "ok", NULL, 5) == GEAK_E_INVALID);
        Geak__Attempt attempt = GEAK__ATTEMPT__INIT;
        CHECK (geak_store_attempt_put (self, NULL) == GEAK_E_INVALID);
        CHECK (geak_store_attempt_put (self, &attempt) == GEAK_E_INVALID);
        attempt.attempt_id = "a1";
        CHECK (geak_store_attempt_put (self, &attempt) == GEAK_E_INVALID);   //  no lineage
        Geak__Candidate cand = GEAK__CANDIDATE__INIT;
        Geak__Lineage lin = GEAK__LINEAGE__INIT;
        lin.run_id = "r1";
        lin.task = "soft max";
        cand.lineage = &lin;
        attempt.candidate = &cand;
        CHECK (geak_store_attempt_put (self, &attempt) == GEAK_E_INVALID);   //  bad task
        lin.task = "softmax";
        attempt.status = "finished";
        CHECK (geak_store_attempt_put (self, &attempt) == GEAK_E_INVALID);   //  bad status
        CHECK (self->ctx == NULL);
        char role [32];
        s_enum_name (&geak__role__descriptor, GEAK__ROLE__OPTIMIZER, role, sizeof role);
        CHECK (strcmp (role, "optimizer") == 0);
        s_enum_name (&geak__error_class__descriptor, GEAK__ERROR_CLASS__MISMATCH, role, sizeof role);
        CHECK (strcmp (role, "mismatch") == 0);
        geak_store_destroy (&self);
        CHECK (self == NULL);
        geak_store_destroy (&self);
    }
    //  Lists and counters helpers
    geak_store_list_t *list = NULL;
    geak_store_list_destroy (&list);
    geak_store_counters_t *counters = geak_malloc0 (sizeof *counters);
    counters->names = geak_malloc0 (sizeof (char *));
    counters->values = geak_malloc0 (sizeof (int64_t));
    counters->names [0] = geak_strdup ("attempts");
    counters->values [0] = 7;
    counters->size = 1;
    CHECK (geak_store_counters_get (counters, "attempts", -1) == 7);
    CHECK (geak_store_counters_get (counters, "missing", -1) == -1);
    geak_store_counters_destroy (&counters);
    CHECK (counters == NULL);
#undef CHECK
    if (verbose)
        printf ("geak_store_test: %d failures\n", failures);
    return failures? 1: 0;
}
