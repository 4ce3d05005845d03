/*  geak_sandbox.c - per-evaluation directory, limits and deadline kill
    (see geak_sandbox.h). */
#include "geak_sandbox.h"
#include "geak_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REMOVE_MAX_DEPTH 256

struct geak_sandbox_t {
    char *dir;              //  absolute path, owned
    int drop_uid;           //  -1: none
    pid_t pgid;             //  0: none
    int64_t deadline_ms;    //  monotonic; 0: unarmed
};

// ------------------------------------------------------------------ limits

static uint32_t
s_env_u32 (const char *name, uint32_t fallback)
{
    const char *v = getenv (name);
    if (!v || !*v)
        return fallback;
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul (v, &end, 10);
    if (errno || *end || n > UINT32_MAX) {
        geak_warn ("sandbox_bad_env", "name=%s", name);
        return fallback;
    }
    return (uint32_t) n;
}

void
geak_sandbox_limits_for (geak_sandbox_limits_t *limits, uint32_t timeout_ms)
{
    assert (limits);
    uint32_t timeout_s = (timeout_ms + 999) / 1000;
    limits->cpu_s = s_env_u32 ("GEAK_SANDBOX_CPU_S", 2 * timeout_s + 10);
    limits->nproc = s_env_u32 ("GEAK_SANDBOX_NPROC", 512);
    limits->fsize_mb = s_env_u32 ("GEAK_SANDBOX_FSIZE_MB", 256);
    limits->nofile = s_env_u32 ("GEAK_SANDBOX_NOFILE", 1024);
    limits->as_mb = s_env_u32 ("GEAK_SANDBOX_AS_MB", 0);
}

static geak_rc_t
s_lower (int resource, rlim_t value)
{
    struct rlimit rl;
    if (getrlimit (resource, &rl) != 0)
        return GEAK_E_IO;
    if (rl.rlim_max != RLIM_INFINITY && value > rl.rlim_max)
        value = rl.rlim_max;
    rl.rlim_cur = value;
    rl.rlim_max = value;
    return setrlimit (resource, &rl) == 0 ? GEAK_OK : GEAK_E_IO;
}

geak_rc_t
geak_sandbox_apply_limits (const geak_sandbox_limits_t *limits)
{
    if (!limits)
        return GEAK_E_INVALID;
    geak_rc_t rc = GEAK_OK;
    if (limits->cpu_s && s_lower (RLIMIT_CPU, limits->cpu_s))
        rc = GEAK_E_IO;
    if (limits->nproc && s_lower (RLIMIT_NPROC, limits->nproc))
        rc = GEAK_E_IO;
    if (limits->fsize_mb && s_lower (RLIMIT_FSIZE, (rlim_t) limits->fsize_mb << 20))
        rc = GEAK_E_IO;
    if (limits->nofile && s_lower (RLIMIT_NOFILE, limits->nofile))
        rc = GEAK_E_IO;
    if (limits->as_mb && s_lower (RLIMIT_AS, (rlim_t) limits->as_mb << 20))
        rc = GEAK_E_IO;
    if (s_lower (RLIMIT_CORE, 0))
        rc = GEAK_E_IO;
    return rc;
}

// ------------------------------------------------------------------ directory

const char *
geak_sandbox_default_root (void)
{
    const char *root = getenv ("GEAK_SANDBOX_ROOT");
    if (!root || !*root)
        root = getenv ("TMPDIR");
    if (!root || !*root)
        root = "/tmp";
    return root;
}

geak_sandbox_t *
geak_sandbox_new (const char *root, int drop_uid, geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    if (!root)
        root = geak_sandbox_default_root ();
    char tmpl [PATH_MAX];
    if (snprintf (tmpl, sizeof tmpl, "%s/geak-eval-XXXXXX", root) >= (int) sizeof tmpl) {
        *rc = GEAK_E_INVALID;
        return NULL;
    }
    if (!mkdtemp (tmpl)) {
        geak_error ("sandbox_mkdtemp_failed", "root=%s errno=%d", root, errno);
        *rc = GEAK_E_IO;
        return NULL;
    }
    //  mkdtemp makes 0700 already; be explicit against odd umasks
    if (chmod (tmpl, 0700) != 0)
        goto fail;
    if (drop_uid >= 0 && geteuid () == 0 && chown (tmpl, (uid_t) drop_uid, (gid_t) -1) != 0)
        goto fail;
    char *abs = realpath (tmpl, NULL);
    if (!abs)
        goto fail;
    geak_sandbox_t *self = calloc (1, sizeof *self);
    if (!self) {
        free (abs);
        rmdir (tmpl);
        *rc = GEAK_E_NOMEM;
        return NULL;
    }
    self->dir = abs;
    self->drop_uid = drop_uid;
    *rc = GEAK_OK;
    return self;
fail:
    geak_error ("sandbox_setup_failed", "dir=%s errno=%d", tmpl, errno);
    rmdir (tmpl);
    *rc = GEAK_E_IO;
    return NULL;
}

void
geak_sandbox_destroy (geak_sandbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_sandbox_t *self = *self_p;
    if (self->pgid > 1)
        geak_sandbox_kill (self);
    if (self->dir && geak_sandbox_remove_tree (self->dir) != GEAK_OK)
        geak_warn ("sandbox_remove_failed", "dir=%s", self->dir);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

const char *
geak_sandbox_dir (const geak_sandbox_t *self)
{
    return self ? self->dir : NULL;
}

geak_rc_t
geak_sandbox_write (geak_sandbox_t *self, const char *name, const void *data, size_t size)
{
    if (!self || !name || !*name || strchr (name, '/') || strcmp (name, ".") == 0
        || strcmp (name, "..") == 0 || (size && !data))
        return GEAK_E_INVALID;
    int dir_fd = open (self->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0)
        return GEAK_E_IO;
    int fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    close (dir_fd);
    if (fd < 0)
        return errno == EEXIST ? GEAK_E_EXISTS : GEAK_E_IO;
    const char *p = data;
    size_t left = size;
    geak_rc_t rc = GEAK_OK;
    while (left > 0) {
        ssize_t n = write (fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = GEAK_E_IO;
            break;
        }
        p += n;
        left -= (size_t) n;
    }
    if (rc == GEAK_OK && self->drop_uid >= 0 && geteuid () == 0
        && fchown (fd, (uid_t) self->drop_uid, (gid_t) -1) != 0)
        rc = GEAK_E_IO;
    if (close (fd) != 0 && rc == GEAK_OK)
        rc = GEAK_E_IO;
    return rc;
}

// ------------------------------------------------------------------ deadline

void
geak_sandbox_arm (geak_sandbox_t *self, uint32_t timeout_ms)
{
    assert (self);
    self->deadline_ms = geak_clock_mono_ms () + timeout_ms;
    if (self->deadline_ms == 0)
        self->deadline_ms = 1;
}

geak_rc_t
geak_sandbox_set_pgid (geak_sandbox_t *self, pid_t pgid)
{
    if (!self || pgid <= 1 || pgid == getpgrp ())
        return GEAK_E_INVALID;
    self->pgid = pgid;
    return GEAK_OK;
}

pid_t
geak_sandbox_pgid (const geak_sandbox_t *self)
{
    return self ? self->pgid : 0;
}

int64_t
geak_sandbox_remaining_ms (const geak_sandbox_t *self)
{
    if (!self || self->deadline_ms == 0)
        return INT64_MAX;
    int64_t left = self->deadline_ms - geak_clock_mono_ms ();
    return left > 0 ? left : 0;
}

bool
geak_sandbox_expired (const geak_sandbox_t *self)
{
    return self && self->deadline_ms != 0 && geak_clock_mono_ms () >= self->deadline_ms;
}

bool
geak_sandbox_kill (geak_sandbox_t *self)
{
    if (!self || self->pgid <= 1)
        return false;
    bool sent = false;
    //  never our own group (set_pgid refused it, but the caller may have
    //  changed groups since)
    if (self->pgid != getpgrp ()) {
        sent = killpg (self->pgid, SIGKILL) == 0;
        geak_info ("sandbox_kill", "pgid=%d sent=%d errno=%d", (int) self->pgid, sent,
                   sent ? 0 : errno);
    }
    self->pgid = 0;
    self->deadline_ms = 0;
    return sent;
}

bool
geak_sandbox_enforce (geak_sandbox_t *self)
{
    if (geak_sandbox_expired (self))
        return geak_sandbox_kill (self);
    return false;
}

void
geak_sandbox_disarm (geak_sandbox_t *self)
{
    if (!self)
        return;
    self->pgid = 0;
    self->deadline_ms = 0;
}

// ------------------------------------------------------------------ removal

//  chmod the object behind an O_PATH descriptor (fchmod refuses O_PATH)
static void
s_chmod_path_fd (int fd, mode_t mode)
{
    char proc [64];
    snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (chmod (proc, mode) != 0)
        geak_debug ("sandbox_chmod_failed", "errno=%d", errno);
}

static int
s_remove_at (int parent_fd, const char *name, int depth)
{
    struct stat st;
    if (fstatat (parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR (st.st_mode)) {
        //  a symlink is removed as a link: its target is never touched
        if (unlinkat (parent_fd, name, 0) == 0 || errno == ENOENT)
            return 0;
        return -1;
    }
    if (depth > REMOVE_MAX_DEPTH)
        return -1;
    int pathfd = openat (parent_fd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (pathfd < 0)
        return errno == ENOENT ? 0 : -1;
    if ((st.st_mode & 0700) != 0700)
        s_chmod_path_fd (pathfd, 0700);
    int fd = openat (pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close (pathfd);
    if (fd < 0)
        return -1;
    DIR *dir = fdopendir (fd);
    if (!dir) {
        close (fd);
        return -1;
    }
    int failed = 0;
    //  removing while reading can make readdir skip entries: repeat the
    //  scan until a pass removes nothing more
    for (int pass = 0; pass < 8; pass++) {
        rewinddir (dir);
        int seen = 0;
        struct dirent *de;
        failed = 0;
        while ((de = readdir (dir))) {
            if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
                continue;
            seen++;
            if (s_remove_at (dirfd (dir), de->d_name, depth + 1) != 0)
                failed++;
        }
        if (seen == 0 || failed == seen)
            break;
    }
    closedir (dir);
    if (unlinkat (parent_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
        return 0;
    return -1;
}

geak_rc_t
geak_sandbox_remove_tree (const char *path)
{
    if (!path || !*path || strcmp (path, "/") == 0)
        return GEAK_E_INVALID;
    char *copy = geak_strdup (path);
    size_t len = strlen (copy);
    while (len > 1 && copy [len - 1] == '/')
        copy [--len] = 0;
    char *slash = strrchr (copy, '/');
    const char *parent = ".";
    const char *name = copy;
    if (slash == copy) {
        parent = "/";
        name = copy + 1;
    }
    else
    if (slash) {
        *slash = 0;
        parent = copy;
        name = slash + 1;
    }
    geak_rc_t rc = GEAK_E_IO;
    if (*name && strcmp (name, ".") != 0 && strcmp (name, "..") != 0) {
        int parent_fd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd >= 0) {
            if (s_remove_at (parent_fd, name, 0) == 0)
                rc = GEAK_OK;
            close (parent_fd);
        }
    }
    else
        rc = GEAK_E_INVALID;
    free (copy);
    return rc;
}

geak_rc_t
geak_sandbox_become_subreaper (bool on)
{
    return prctl (PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) == 0 ? GEAK_OK
                                                                   : GEAK_E_UNSUPPORTED;
}

// ------------------------------------------------------------------ selftest

static bool
s_exists_nofollow (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

static void
s_touch (const char *path, const char *text, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert (fd >= 0);
    if (text)
        GEAK_CHECK (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);
}

//  Fork a child that leads its own process group and spawns nkids
//  grandchildren that hang; returns the child's pid and fills pids [0..nkids]
//  (child first) once all have reported.
static pid_t
s_spawn_hanging_group (pid_t *pids, int nkids)
{
    int fds [2];
    assert (pipe (fds) == 0);
    pid_t child = fork ();
    assert (child >= 0);
    if (child == 0) {
        close (fds [0]);
        setpgid (0, 0);
        for (int i = 0; i < nkids; i++) {
            pid_t g = fork ();
            if (g == 0) {
                //  a grandchild that ignores the polite signals
                signal (SIGTERM, SIG_IGN);
                signal (SIGHUP, SIG_IGN);
                pid_t me = getpid ();
                if (write (fds [1], &me, sizeof me) != sizeof me)
                    _exit (1);
                for (;;)
                    pause ();
            }
        }
        pid_t me = getpid ();
        if (write (fds [1], &me, sizeof me) != sizeof me)
            _exit (1);
        for (;;)
            pause ();
    }
    close (fds [1]);
    //  also make the group from here: no race with the child's own setpgid
    setpgid (child, child);
    int got = 0;
    int64_t deadline = geak_clock_mono_ms () + 10000;
    while (got < nkids + 1 && geak_clock_mono_ms () < deadline) {
        struct pollfd pfd = { .fd = fds [0], .events = POLLIN };
        if (poll (&pfd, 1, 100) <= 0)
            continue;
        pid_t p;
        ssize_t n = read (fds [0], &p, sizeof p);
        if (n == sizeof p)
            pids [got++] = p;
        else
        if (n == 0)
            break;
    }
    close (fds [0]);
    assert (got == nkids + 1);
    return child;
}

static bool
s_alive (pid_t pid)
{
    return kill (pid, 0) == 0 || errno != ESRCH;
}

int
geak_sandbox_test (bool verbose)
{
    //  limits
    geak_sandbox_limits_t limits;
    unsetenv ("GEAK_SANDBOX_CPU_S");
    geak_sandbox_limits_for (&limits, 30000);
    GEAK_CHECK (limits.cpu_s == 70);
    GEAK_CHECK (limits.nproc > 0 && limits.nofile > 0 && limits.fsize_mb > 0);
    setenv ("GEAK_SANDBOX_CPU_S", "7", 1);
    geak_sandbox_limits_for (&limits, 30000);
    GEAK_CHECK (limits.cpu_s == 7);
    setenv ("GEAK_SANDBOX_CPU_S", "bogus", 1);
    geak_sandbox_limits_for (&limits, 1);
    GEAK_CHECK (limits.cpu_s == 12);
    unsetenv ("GEAK_SANDBOX_CPU_S");

    //  directory with a candidate in it
    geak_rc_t rc;
    geak_sandbox_t *sandbox = geak_sandbox_new (NULL, -1, &rc);
    GEAK_CHECK (sandbox && rc == GEAK_OK);
    const char *dir = geak_sandbox_dir (sandbox);
    GEAK_CHECK (dir && dir [0] == '/');
    struct stat st;
    GEAK_CHECK (stat (dir, &st) == 0 && S_ISDIR (st.st_mode) && (st.st_mode & 0777) == 0700);
    const char *code = "print ('hello')\n";
    GEAK_CHECK (geak_sandbox_write (sandbox, "candidate.py", code, strlen (code)) == GEAK_OK);
    GEAK_CHECK (geak_sandbox_write (sandbox, "candidate.py", code, 1) == GEAK_E_EXISTS);
    GEAK_CHECK (geak_sandbox_write (sandbox, "../escape.py", code, 1) == GEAK_E_INVALID);
    GEAK_CHECK (geak_sandbox_write (sandbox, "..", code, 1) == GEAK_E_INVALID);
    GEAK_CHECK (geak_sandbox_remaining_ms (sandbox) == INT64_MAX);
    GEAK_CHECK (!geak_sandbox_expired (sandbox));
    GEAK_CHECK (geak_sandbox_set_pgid (sandbox, getpgrp ()) == GEAK_E_INVALID);
    GEAK_CHECK (geak_sandbox_set_pgid (sandbox, 1) == GEAK_E_INVALID);

    //  nasty contents: links out of the sandbox must not take their targets
    char outside [] = "/tmp/geak-sandbox-outside-XXXXXX";
    GEAK_CHECK (mkdtemp (outside));
    char path [PATH_MAX], path2 [PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/keep.txt", outside);
    s_touch (path, "keep", 0644);
    snprintf (path2, sizeof path2, "%s/link-to-dir", dir);
    GEAK_CHECK (symlink (outside, path2) == 0);
    snprintf (path2, sizeof path2, "%s/link-to-file", dir);
    GEAK_CHECK (symlink (path, path2) == 0);
    snprintf (path2, sizeof path2, "%s/dangling", dir);
    GEAK_CHECK (symlink ("/nonexistent/nowhere", path2) == 0);
    //  deep nesting, a locked directory with a file in it, a fifo, a 000 file
    char deep [PATH_MAX];
    snprintf (deep, sizeof deep, "%s", dir);
    for (int i = 0; i < 40; i++) {
        strncat (deep, "/d", sizeof deep - strlen (deep) - 1);
        GEAK_CHECK (mkdir (deep, 0755) == 0);
    }
    snprintf (path2, sizeof path2, "%s/link-up", deep);
    GEAK_CHECK (symlink ("../../../../..", path2) == 0);
    snprintf (path2, sizeof path2, "%s/locked", dir);
    GEAK_CHECK (mkdir (path2, 0700) == 0);
    snprintf (path2, sizeof path2, "%s/locked/inner", dir);
    s_touch (path2, "x", 0000);
    snprintf (path2, sizeof path2, "%s/locked/link-out", dir);
    GEAK_CHECK (symlink (outside, path2) == 0);
    snprintf (path2, sizeof path2, "%s/locked", dir);
    GEAK_CHECK (chmod (path2, 0000) == 0);
    snprintf (path2, sizeof path2, "%s/fifo", dir);
    GEAK_CHECK (mkfifo (path2, 0600) == 0);
    snprintf (path2, sizeof path2, "%s/noperm", dir);
    s_touch (path2, "y", 0000);
    char *dir_copy = geak_strdup (dir);
    geak_sandbox_destroy (&sandbox);
    GEAK_CHECK (sandbox == NULL);
    geak_sandbox_destroy (&sandbox);
    GEAK_CHECK (!s_exists_nofollow (dir_copy));
    GEAK_CHECK (s_exists_nofollow (path));                //  target of the links survives
    GEAK_CHECK (s_exists_nofollow (outside));
    free (dir_copy);
    GEAK_CHECK (geak_sandbox_remove_tree (outside) == GEAK_OK);
    GEAK_CHECK (!s_exists_nofollow (outside));
    GEAK_CHECK (geak_sandbox_remove_tree ("/") == GEAK_E_INVALID);
    GEAK_CHECK (geak_sandbox_remove_tree ("/tmp/..") == GEAK_E_INVALID);

    //  the deadline kill reaps a whole process group, grandchildren included
    bool reaper = geak_sandbox_become_subreaper (true) == GEAK_OK;
    sandbox = geak_sandbox_new (NULL, -1, &rc);
    GEAK_CHECK (sandbox);
    enum { KIDS = 3 };
    pid_t pids [KIDS + 1];
    pid_t child = s_spawn_hanging_group (pids, KIDS);
    GEAK_CHECK (pids [0] != child || KIDS == 0);
    GEAK_CHECK (geak_sandbox_set_pgid (sandbox, child) == GEAK_OK);
    geak_sandbox_arm (sandbox, 200);
    GEAK_CHECK (!geak_sandbox_expired (sandbox));
    GEAK_CHECK (geak_sandbox_remaining_ms (sandbox) <= 200);
    int64_t start = geak_clock_mono_ms ();
    bool killed = false;
    while (!killed && geak_clock_mono_ms () - start < 10000) {
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep (&ts, NULL);     //  a polling tick, not a synchronisation
        killed = geak_sandbox_enforce (sandbox);
    }
    GEAK_CHECK (killed);
    GEAK_CHECK (geak_clock_mono_ms () - start >= 200);
    GEAK_CHECK (geak_sandbox_pgid (sandbox) == 0);
    //  reap: the child directly, the grandchildren once re-parented to us
    int reaped = 0;
    bool done [KIDS + 1] = { false };
    int64_t deadline = geak_clock_mono_ms () + 10000;
    while (reaped < KIDS + 1 && geak_clock_mono_ms () < deadline) {
        for (int i = 0; i < KIDS + 1; i++) {
            if (done [i])
                continue;
            pid_t r = waitpid (pids [i], NULL, WNOHANG);
            if (r == pids [i] || (r < 0 && errno == ECHILD && !reaper)) {
                done [i] = true;
                reaped++;
            }
        }
        if (reaped < KIDS + 1) {
            struct pollfd none;
            poll (&none, 0, 5);
        }
    }
    //  no survivors: every pid of the group is gone (or, without a
    //  subreaper, at least dead and handed to init)
    deadline = geak_clock_mono_ms () + 10000;
    int survivors;
    do {
        survivors = 0;
        for (int i = 0; i < KIDS + 1; i++)
            if (s_alive (pids [i]))
                survivors++;
        if (survivors) {
            struct pollfd none;
            poll (&none, 0, 5);
        }
    } while (survivors && geak_clock_mono_ms () < deadline);
    if (verbose)
        printf ("  killed group %d: reaped %d of %d, survivors %d (subreaper %d)\n",
                (int) child, reaped, KIDS + 1, survivors, reaper);
    GEAK_CHECK (survivors == 0);
    if (reaper)
        GEAK_CHECK (reaped == KIDS + 1);
    geak_sandbox_destroy (&sandbox);
    if (reaper)
        geak_sandbox_become_subreaper (false);

    //  destroy kills a group that is still armed
    sandbox = geak_sandbox_new (NULL, -1, &rc);
    pid_t pids2 [1];
    child = s_spawn_hanging_group (pids2, 0);
    GEAK_CHECK (geak_sandbox_set_pgid (sandbox, child) == GEAK_OK);
    geak_sandbox_arm (sandbox, 60000);
    geak_sandbox_destroy (&sandbox);
    GEAK_CHECK (waitpid (child, NULL, 0) == child);
    GEAK_CHECK (!s_alive (child));

    //  apply_limits in a child: a tiny file size limit stops a big write
    pid_t p = fork ();
    GEAK_CHECK (p >= 0);
    if (p == 0) {
        signal (SIGXFSZ, SIG_IGN);
        geak_sandbox_limits_t small = { .cpu_s = 5, .nproc = 0, .fsize_mb = 1, .nofile = 64 };
        if (geak_sandbox_apply_limits (&small) != GEAK_OK)
            _exit (2);
        char name [] = "/tmp/geak-sandbox-fsize-XXXXXX";
        int fd = mkstemp (name);
        unlink (name);
        static char block [1 << 16];
        size_t total = 0;
        while (total < (4u << 20)) {
            ssize_t n = write (fd, block, sizeof block);
            if (n <= 0)
                _exit (total <= (1u << 20) ? 0 : 3);
            total += (size_t) n;
        }
        _exit (4);
    }
    int status = 0;
    GEAK_CHECK (waitpid (p, &status, 0) == p);
    GEAK_CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    return 0;
}
