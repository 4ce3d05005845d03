/*  geak_store.h - the Redis store of geak-c: runs, counters, attempts,
    lineage, per-task history of correct attempts, and content blobs.
    The key schema is described in docs/store.md.

    Connection model
    - One geak_store_t owns one blocking hiredis connection. It is NOT
      thread-safe: use one store object per thread.
    - geak_store_new makes ONE connection attempt (plus AUTH and PING); it
      returns NULL with *rc = GEAK_E_STORE_CONN when the server cannot be
      reached, GEAK_E_STORE when the server refuses us (bad or missing
      password), GEAK_E_INVALID / GEAK_E_CONFIG for bad arguments.
    - Later, a lost connection (I/O error, EOF, timeout, peer closed) makes
      the store free the context and reconnect with exponential backoff
      (re-AUTH included), bounded by max_wait_ms in total, then re-issue the
      failed command once. Every store call except geak_store_run_counter_incr
      is idempotent, so that is safe. If the command still cannot be
      executed the call returns GEAK_E_STORE_CONN: a command is never
      dropped silently and GEAK_OK always means it was executed.
      Worst-case duration of one call: about 2 x timeout_ms + max_wait_ms.
    - A Redis error reply returns GEAK_E_STORE (text in geak_store_last_error).
    - The password is never logged (it is registered as a log secret).

    Names (run ids, task names, attempt ids, counter names, blob refs) must
    be 1..GEAK_STORE_NAME_MAX bytes without ':' , whitespace or control
    characters; otherwise the call returns GEAK_E_INVALID.

    Ownership: strings and lists returned through out-parameters are owned
    by the caller and freed as documented at each call. */
#ifndef GEAK_STORE_H_INCLUDED
#define GEAK_STORE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak.pb-c.h"

#include <signal.h>

#define GEAK_STORE_DEFAULT_PREFIX   "geak:"
#define GEAK_STORE_PREFIX_MAX       64
#define GEAK_STORE_NAME_MAX         200
//  Largest blob / packed attempt the store accepts
#define GEAK_STORE_BLOB_MAX         (64u * 1024u * 1024u)
//  A content ref: 64 lowercase hex chars of SHA-256, plus NUL
#define GEAK_STORE_REF_SIZE         65

//  Defaults (milliseconds)
#define GEAK_STORE_DEFAULT_TIMEOUT_MS      2000
#define GEAK_STORE_DEFAULT_BACKOFF_MS      50
#define GEAK_STORE_DEFAULT_BACKOFF_MAX_MS  2000
#define GEAK_STORE_DEFAULT_MAX_WAIT_MS     10000

typedef struct _geak_store_t geak_store_t;

//  A list of strings (caller owns; free with geak_store_list_destroy).
typedef struct {
    size_t size;
    char **items;
} geak_store_list_t;
void geak_store_list_destroy (geak_store_list_t **self_p);

//  Counter name/value pairs (caller owns; free with geak_store_counters_destroy).
typedef struct {
    size_t size;
    char **names;
    int64_t *values;
} geak_store_counters_t;
void geak_store_counters_destroy (geak_store_counters_t **self_p);
//  Value of a named counter, or dflt when absent.
int64_t geak_store_counters_get (const geak_store_counters_t *self, const char *name, int64_t dflt);

// ---------------------------------------------------------------- connection

//  Connect to host:port (host NULL -> 127.0.0.1). password may be NULL.
//  timeout_ms <= 0 -> GEAK_STORE_DEFAULT_TIMEOUT_MS (connect and per-command).
geak_store_t *geak_store_new (const char *host, int port, const char *password,
                              int timeout_ms, geak_rc_t *rc);

//  Connect from the environment:
//    GEAK_REDIS_HOST (127.0.0.1), GEAK_REDIS_PORT (6379),
//    GEAK_REDIS_PASSWORD, or else GEAK_REDIS_PASSWORD_FILE (first line),
//    GEAK_REDIS_TIMEOUT_MS (2000), GEAK_REDIS_PREFIX ("geak:").
//  A malformed value -> NULL with *rc = GEAK_E_CONFIG.
geak_store_t *geak_store_new_from_env (geak_rc_t *rc);

//  Close the connection and free; NULLs *self_p; safe to call twice.
void geak_store_destroy (geak_store_t **self_p);

//  Key prefix (default "geak:"); copied. Lets tests and runs be isolated.
//  Returns GEAK_E_INVALID for an empty / too long / whitespace prefix.
geak_rc_t geak_store_set_prefix (geak_store_t *self, const char *prefix);
const char *geak_store_prefix (const geak_store_t *self);

//  Reconnect policy: first retry after initial_ms, doubling up to max_ms,
//  giving up when max_wait_ms have passed in total. A value <= 0 keeps the
//  current setting. Defaults: 50, 2000, 10000.
void geak_store_set_backoff (geak_store_t *self, int initial_ms, int max_ms, int max_wait_ms);

//  Round trip to the server (reconnecting if needed).
geak_rc_t geak_store_ping (geak_store_t *self);

//  Diagnostics: number of successful reconnects so far, and the text of the
//  last Redis error reply or connection error ("" if none). Borrowed.
uint64_t geak_store_reconnects (const geak_store_t *self);
const char *geak_store_last_error (const geak_store_t *self);

// ---------------------------------------------------------------- runs

//  Create a run with its config (JSON text, stored as is; may be "") and
//  status "running". GEAK_E_EXISTS if the run exists (config untouched;
//  also returned when an earlier try of this same call got through before
//  a connection loss).
geak_rc_t geak_store_run_create (geak_store_t *self, const char *run_id, const char *config_json);

//  Read a run. config_json / status may each be NULL (not wanted); on
//  GEAK_OK the caller frees the returned strings. GEAK_E_NOT_FOUND if absent.
geak_rc_t geak_store_run_get (geak_store_t *self, const char *run_id,
                              char **config_json, char **status);

//  Set a run's status ("running", "done", "failed", ...: a name).
//  GEAK_E_NOT_FOUND if the run does not exist.
geak_rc_t geak_store_run_set_status (geak_store_t *self, const char *run_id, const char *status);
//  The same with why the run is in that state ("" clears the reason):
//  "failed: POST http://...: HTTP 404 ...", "incomplete: 3 lineages stuck: ...".
geak_rc_t geak_store_run_set_status_reason (geak_store_t *self, const char *run_id,
                                            const char *status, const char *reason);
//  The reason last set ("" when none). Caller frees *reason.
geak_rc_t geak_store_run_reason (geak_store_t *self, const char *run_id, char **reason);

//  Add `by` to a run counter; value_or_NULL receives the new value.
//  NOT idempotent: it is re-issued after a reconnect only when the first
//  send provably did not reach the server; when the outcome is unknown it
//  returns GEAK_E_STORE_CONN (the increment may or may not have happened).
geak_rc_t geak_store_run_counter_incr (geak_store_t *self, const char *run_id,
                                       const char *name, int64_t by, int64_t *value_or_NULL);

//  All counters of a run, sorted by name (empty if none). Caller frees *out.
//  Counters maintained by geak_store_attempt_put: attempts, evaluated,
//  failed, call_ok, exec_ok, tokens_in, tokens_out.
geak_rc_t geak_store_run_counters (geak_store_t *self, const char *run_id,
                                   geak_store_counters_t **out);

//  Add a task name to the run's task set (idempotent). attempt_put also
//  adds the task of every attempt it stores.
geak_rc_t geak_store_run_add_task (geak_store_t *self, const char *run_id, const char *task);

//  The run's tasks, sorted (byte order). Caller frees *out.
geak_rc_t geak_store_run_tasks (geak_store_t *self, const char *run_id, geak_store_list_t **out);

//  All run ids, oldest first (by creation time). Caller frees *out.
geak_rc_t geak_store_runs_list (geak_store_t *self, geak_store_list_t **out);

// ---------------------------------------------------------------- leases

//  One driver per run. acquire: GEAK_OK with *token (a fencing token that
//  only grows: every acquire adds 1), GEAK_E_EXISTS when a live driver holds
//  it (*holder malloc'd, its owner string; *left_ms until its lease
//  expires), GEAK_E_NOT_FOUND without the run. The lease lasts ttl_ms
//  (server time) unless renewed. owner: who holds it ("host pid N").
//  dead_holder (may be NULL): a holder the caller knows is dead (a process
//  of its own host that no longer exists): its live lease is taken over.
geak_rc_t geak_store_run_lease_acquire (geak_store_t *self, const char *run_id, const char *owner,
                                        const char *dead_holder, int64_t ttl_ms, uint64_t *token,
                                        char **holder, int64_t *left_ms);
//  Extend it by ttl_ms from now. GEAK_E_FENCED: a newer driver took the run;
//  GEAK_E_LOST: the run or its token is gone or older (the store lost data).
geak_rc_t geak_store_run_lease_renew (geak_store_t *self, const char *run_id, uint64_t token,
                                      int64_t ttl_ms);
//  Give it up (same answers).
geak_rc_t geak_store_run_lease_release (geak_store_t *self, const char *run_id, uint64_t token);
//  From now on attempt_put of run_id's attempts checks, in the same script,
//  that the run's lease token is `token` (GEAK_E_FENCED when newer,
//  GEAK_E_LOST when gone or older), that the run holds every write this
//  driver had acknowledged (a write counter in the run hash, counted from
//  where the last lease acquire found it: GEAK_E_LOST when Redis came back
//  from an older state, even by one transition), and that a new attempt's
//  lineage holds every earlier iteration (GEAK_E_LOST when shorter). NULL
//  run_id: off.
void geak_store_set_fence (geak_store_t *self, const char *run_id, uint64_t token);
//  While *flag is set, a call that would wait for a reconnect returns
//  GEAK_E_INTERRUPTED at once (a shutdown is not held up by a dead Redis).
void geak_store_set_interrupt (geak_store_t *self, volatile sig_atomic_t *flag);
//  The server's persistence: *aof (appendonly yes) and *save (the RDB
//  schedule, "" when none; malloc'd). GEAK_E_STORE when CONFIG is refused.
geak_rc_t geak_store_persistence (geak_store_t *self, bool *aof, char **save);

// ---------------------------------------------------------------- attempts

//  Store an attempt (one atomic Lua script). Required: attempt_id, and
//  candidate->lineage with run_id and task. status is "pending",
//  "evaluated" or "failed"; an empty status means "evaluated" when result
//  is set, else "pending"; anything else -> GEAK_E_INVALID.
//  Returns GEAK_OK when the store changed: a new attempt, or a transition
//  pending -> evaluated / failed. Returns GEAK_E_EXISTS, changing nothing,
//  when the attempt is already stored at the same or a later status (a
//  re-put, or an out-of-order pending after evaluated: never goes back).
//  On insert: appended to its lineage list; counters attempts, tokens_in,
//  tokens_out incremented; task added to the run's task set.
//  On reaching evaluated: counters evaluated, call_ok, exec_ok incremented,
//  and when exec_ok with a candidate median latency > 0 the attempt joins
//  the (run, task) history scored by that latency. On reaching failed:
//  counter failed incremented.
geak_rc_t geak_store_attempt_put (geak_store_t *self, const Geak__Attempt *attempt);

//  Read an attempt. On GEAK_OK the caller frees *out with
//  geak__attempt__free_unpacked (*out, NULL). GEAK_E_NOT_FOUND if absent,
//  GEAK_E_MALFORMED if the stored blob does not unpack or names another id.
geak_rc_t geak_store_attempt_get (geak_store_t *self, const char *attempt_id, Geak__Attempt **out);

//  Attempt ids of one (run, task, sample) in insertion order. Caller frees *out.
geak_rc_t geak_store_lineage (geak_store_t *self, const char *run_id, const char *task,
                              uint32_t sample, geak_store_list_t **out);

//  Correct, timed attempts of (run, task): the `limit` fastest ones
//  (limit 0 = all), ordered SLOWEST -> FASTEST (the optimizer's prompt
//  order). On GEAK_OK *out is a caller-owned array of *n attempts (NULL
//  when *n == 0); free with geak_store_attempts_free (out, n).
geak_rc_t geak_store_history (geak_store_t *self, const char *run_id, const char *task,
                              size_t limit, Geak__Attempt ***out, size_t *n);
void geak_store_attempts_free (Geak__Attempt ***list_p, size_t n);

// ---------------------------------------------------------------- blobs

//  Store bytes under a caller-chosen ref (a name; overwrites). Binary-safe.
geak_rc_t geak_store_blob_put (geak_store_t *self, const char *ref, const void *data, size_t size);

//  Content-addressed put: ref_out receives the lowercase hex SHA-256 of the
//  data (the value to keep in Candidate.prompt_ref / reply_ref); the blob
//  is written only if absent, so this is naturally idempotent.
geak_rc_t geak_store_blob_put_content (geak_store_t *self, const void *data, size_t size,
                                       char ref_out [GEAK_STORE_REF_SIZE]);

//  Read a blob. On GEAK_OK *data is a caller-owned buffer of *size bytes,
//  with one extra NUL byte after them (so text can be used as a C string).
//  GEAK_E_NOT_FOUND if absent.
geak_rc_t geak_store_blob_get (geak_store_t *self, const char *ref, void **data, size_t *size);

//  Hex SHA-256 of data into hex_out (65 bytes). Pure helper.
void geak_store_sha256_hex (const void *data, size_t size, char hex_out [GEAK_STORE_REF_SIZE]);

//  Selftest: pure checks (key building, validation, hashing); no server.
int geak_store_test (bool verbose);

#endif
