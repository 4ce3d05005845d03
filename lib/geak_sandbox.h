/*  geak_sandbox.h - the C side of the evaluation sandbox.

    One geak_sandbox_t per evaluation: a private directory (mkdtemp under a
    root, mode 0700, owned by the drop uid when we run as root) that holds
    the candidate's code and whatever it writes; the resource limits the
    process running it gets; and a wall-clock deadline after which the whole
    process group is killed (killpg SIGKILL). Destroying the sandbox kills
    the group if it is still armed and removes the directory without ever
    following a symlink out of it.

    The Python harness applies the limits (setrlimit), the uid drop and the
    namespaces in the child it forks; this class computes them, owns the
    directory and is the last line of defence for the deadline (the
    harness cannot time itself out if it hangs). See docs/evaluator.md. */
#ifndef GEAK_SANDBOX_H_INCLUDED
#define GEAK_SANDBOX_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include <sys/types.h>

typedef struct {
    uint32_t cpu_s;       //  RLIMIT_CPU seconds
    uint32_t nproc;       //  RLIMIT_NPROC (per uid: only meaningful with a drop uid)
    uint32_t fsize_mb;    //  RLIMIT_FSIZE
    uint32_t nofile;      //  RLIMIT_NOFILE
    uint32_t as_mb;       //  RLIMIT_AS; 0 = unlimited (GPU runtimes map huge ranges)
} geak_sandbox_limits_t;

typedef struct geak_sandbox_t geak_sandbox_t;

//  Limits for one evaluation with the given wall-clock timeout: defaults,
//  then the environment (GEAK_SANDBOX_CPU_S, _NPROC, _FSIZE_MB, _NOFILE,
//  _AS_MB). cpu_s defaults to 2 x timeout + 10 (CPU time of all threads).
void geak_sandbox_limits_for (geak_sandbox_limits_t *limits, uint32_t timeout_ms);

//  Apply limits to the calling process (for a child about to exec); returns
//  GEAK_OK or GEAK_E_IO (errno kept). Only lowers limits, never raises them
//  above the current hard limit.
geak_rc_t geak_sandbox_apply_limits (const geak_sandbox_limits_t *limits);

//  Root for sandbox directories: GEAK_SANDBOX_ROOT, else $TMPDIR, else /tmp.
const char *geak_sandbox_default_root (void);

//  Create a sandbox directory under root (NULL: default root). drop_uid < 0
//  means no drop; when >= 0 and we are root, the directory is chowned to it.
//  Returns NULL and sets *rc on failure.
geak_sandbox_t *geak_sandbox_new (const char *root, int drop_uid, geak_rc_t *rc);
//  Kill the group if still armed, remove the directory, free. Safe twice.
void geak_sandbox_destroy (geak_sandbox_t **self_p);

//  The absolute directory path (owned by self).
const char *geak_sandbox_dir (const geak_sandbox_t *self);

//  Write name (a plain file name, no '/') with data into the directory,
//  mode 0644, owned by the drop uid when we are root. O_NOFOLLOW|O_EXCL.
geak_rc_t geak_sandbox_write (geak_sandbox_t *self, const char *name,
                              const void *data, size_t size);

//  Start the wall-clock: deadline = now + timeout_ms (monotonic).
void geak_sandbox_arm (geak_sandbox_t *self, uint32_t timeout_ms);
//  The process group to kill at the deadline (must not be ours, nor <= 1).
geak_rc_t geak_sandbox_set_pgid (geak_sandbox_t *self, pid_t pgid);
pid_t geak_sandbox_pgid (const geak_sandbox_t *self);
//  Milliseconds left before the deadline (0 when passed; INT64_MAX unarmed).
int64_t geak_sandbox_remaining_ms (const geak_sandbox_t *self);
bool geak_sandbox_expired (const geak_sandbox_t *self);
//  killpg (pgid, SIGKILL) now; returns true if a signal was sent. Disarms.
bool geak_sandbox_kill (geak_sandbox_t *self);
//  If the deadline passed, kill; returns true when it killed.
bool geak_sandbox_enforce (geak_sandbox_t *self);
//  The evaluation finished normally: forget the group, stop the clock.
void geak_sandbox_disarm (geak_sandbox_t *self);

//  Remove path and everything under it without following symlinks; files
//  and dirs made unreadable by the candidate are chmod'ed first. Returns
//  GEAK_OK, or GEAK_E_IO when something could not be removed.
geak_rc_t geak_sandbox_remove_tree (const char *path);

//  Make this process a child subreaper (orphaned descendants are re-parented
//  to it so it can reap them). Returns GEAK_OK or GEAK_E_UNSUPPORTED.
geak_rc_t geak_sandbox_become_subreaper (bool on);

int geak_sandbox_test (bool verbose);

#endif
