/*  geak_harness.c - drive one Python fork server over JSON-line pipes
    (see geak_harness.h). */
#include "geak_harness.h"
#include "geak_log.h"
#include "geak_seccomp.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64u << 20)
#define HARNESS_REQ_FD 3
#define HARNESS_RESP_FD 4
#define HARNESS_SECCOMP_FD 5
#define DRAIN_AFTER_KILL_MS 5000
#define STARTED_GRACE_MS 30000

extern char **environ;

struct geak_harness_t {
    char *python;               //  resolved path
    char *harness_dir;
    int device_index;
    char *visible_var, *visible_value;
    bool interpret;
    bool clear_interpret;
    char *cache_dir;
    int sandbox_uid;
    bool require_isolation;
    int start_timeout_ms;
    int quit_timeout_ms;

    pid_t pid;                  //  0: not running
    bool starting;              //  spawned and pinged, the pong not read yet (geak_harness_start)
    int req_fd;                 //  we write requests here
    int resp_fd;                //  we read responses here
    char *buf;                  //  partial response line
    size_t buf_len, buf_cap;
    cJSON *device;              //  from the last pong
    cJSON *isolation;           //  from the last pong: {layers, missing, notes, starts} or {error}
    uint64_t next_id;
    uint64_t starts;
};

static char *
s_dup_or_null (const char *s)
{
    return s ? geak_strdup (s) : NULL;
}

//  Resolve a program name against PATH (before fork: exec must not search)
static char *
s_which (const char *name)
{
    if (strchr (name, '/'))
        return geak_strdup (name);
    const char *path = getenv ("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = geak_strdup (path);
    char *save = NULL;
    char *found = NULL;
    for (char *dir = strtok_r (copy, ":", &save); dir && !found;
         dir = strtok_r (NULL, ":", &save)) {
        size_t n = strlen (dir) + strlen (name) + 2;
        char *full = malloc (n);
        assert (full);
        snprintf (full, n, "%s/%s", *dir ? dir : ".", name);
        if (access (full, X_OK) == 0)
            found = full;
        else
            free (full);
    }
    free (copy);
    return found ? found : geak_strdup (name);
}

geak_harness_t *
geak_harness_new (const geak_harness_opts_t *opts)
{
    if (!opts || !opts->harness_dir)
        return NULL;
    geak_harness_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->python = s_which (opts->python ? opts->python : "python3");
    self->harness_dir = geak_strdup (opts->harness_dir);
    self->device_index = opts->device_index;
    self->visible_var = s_dup_or_null (opts->visible_var);
    self->visible_value = s_dup_or_null (opts->visible_value);
    self->interpret = opts->interpret;
    self->clear_interpret = opts->clear_interpret;
    self->cache_dir = s_dup_or_null (opts->cache_dir);
    self->sandbox_uid = opts->sandbox_uid;
    self->require_isolation = opts->require_isolation;
    self->start_timeout_ms = opts->start_timeout_ms > 0 ? opts->start_timeout_ms : 120000;
    self->quit_timeout_ms = opts->quit_timeout_ms > 0 ? opts->quit_timeout_ms : 2000;
    self->req_fd = -1;
    self->resp_fd = -1;
    self->next_id = 1;
    return self;
}

bool
geak_harness_running (const geak_harness_t *self)
{
    return self && self->pid > 0;
}

pid_t
geak_harness_pid (const geak_harness_t *self)
{
    return self ? self->pid : 0;
}

const cJSON *
geak_harness_device (const geak_harness_t *self)
{
    return self ? self->device : NULL;
}

const cJSON *
geak_harness_isolation (const geak_harness_t *self)
{
    return self ? self->isolation : NULL;
}

size_t
geak_harness_isolation_missing (const geak_harness_t *self, char *buf, size_t size)
{
    assert (buf && size);
    buf [0] = 0;
    size_t n = 0, used = 0;
    const cJSON *iso = self ? self->isolation : NULL;
    if (!iso)
        return 0;
    const cJSON *missing = cJSON_GetObjectItemCaseSensitive (iso, "missing");
    const cJSON *item;
    cJSON_ArrayForEach (item, missing) {
        if (!cJSON_IsString (item))
            continue;
        int w = snprintf (buf + used, size - used, "%s%s", n ? "," : "", item->valuestring);
        if (w < 0 || (size_t) w >= size - used)
            break;
        used += (size_t) w;
        n++;
    }
    return n;
}

uint64_t
geak_harness_starts (const geak_harness_t *self)
{
    return self ? self->starts : 0;
}

void
geak_harness_stop (geak_harness_t *self)
{
    if (!self)
        return;
    if (self->req_fd >= 0)
        close (self->req_fd);
    if (self->resp_fd >= 0)
        close (self->resp_fd);
    self->req_fd = self->resp_fd = -1;
    self->buf_len = 0;
    if (self->pid > 0) {
        //  the fork server leads its own group; candidates it forked lead
        //  theirs and are killed through their sandbox
        killpg (self->pid, SIGKILL);
        kill (self->pid, SIGKILL);
        int status;
        while (waitpid (self->pid, &status, 0) < 0 && errno == EINTR)
            ;
        geak_info ("harness_stopped", "pid=%d", (int) self->pid);
        self->pid = 0;
        self->starting = false;
    }
}

void
geak_harness_destroy (geak_harness_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_harness_t *self = *self_p;
    if (self->pid > 0 && self->req_fd >= 0) {
        //  polite first: quit, then EOF; wait a moment for a clean exit
        static const char quit [] = "{\"op\":\"quit\"}\n";
        if (write (self->req_fd, quit, sizeof quit - 1) < 0)
            geak_debug ("harness_quit_failed", "errno=%d", errno);
        close (self->req_fd);
        self->req_fd = -1;
        int64_t deadline = geak_clock_mono_ms () + self->quit_timeout_ms;
        while (geak_clock_mono_ms () < deadline) {
            int status;
            pid_t r = waitpid (self->pid, &status, WNOHANG);
            if (r == self->pid || (r < 0 && errno != EINTR)) {
                self->pid = 0;
                break;
            }
            struct pollfd none;
            poll (&none, 0, 10);
        }
    }
    geak_harness_stop (self);
    free (self->python);
    free (self->harness_dir);
    free (self->visible_var);
    free (self->visible_value);
    free (self->cache_dir);
    free (self->buf);
    cJSON_Delete (self->device);
    cJSON_Delete (self->isolation);
    free (self);
    *self_p = NULL;
}

// ------------------------------------------------------------------ start

//  Environment for the fork server: ours, with our overrides replacing any
//  earlier value of the same name (and without TRITON_INTERPRET when asked
//  to clear it). All strings are malloc'd.
static char **
s_build_env (geak_harness_t *self)
{
    size_t n = 0;
    while (environ [n])
        n++;
    char **env = calloc (n + 8, sizeof *env);
    assert (env);
    const char *old_path = getenv ("PYTHONPATH");
    char *overrides [8];
    int k = 0;
    size_t len = strlen (self->harness_dir) + (old_path ? strlen (old_path) : 0) + 16;
    overrides [k] = malloc (len);
    assert (overrides [k]);
    if (old_path && *old_path)
        snprintf (overrides [k], len, "PYTHONPATH=%s:%s", self->harness_dir, old_path);
    else
        snprintf (overrides [k], len, "PYTHONPATH=%s", self->harness_dir);
    k++;
    overrides [k++] = geak_strdup ("PYTHONUNBUFFERED=1");
    overrides [k++] = geak_strdup ("PYTHONDONTWRITEBYTECODE=1");
    if (self->interpret)
        overrides [k++] = geak_strdup ("TRITON_INTERPRET=1");
    if (self->visible_var && self->visible_value) {
        len = strlen (self->visible_var) + strlen (self->visible_value) + 2;
        overrides [k] = malloc (len);
        assert (overrides [k]);
        snprintf (overrides [k], len, "%s=%s", self->visible_var, self->visible_value);
        k++;
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (int j = 0; j < k; j++) {
            size_t name_len = strcspn (overrides [j], "=") + 1;
            if (strncmp (environ [i], overrides [j], name_len) == 0)
                replaced = true;
        }
        if (self->clear_interpret && !self->interpret
            && strncmp (environ [i], "TRITON_INTERPRET=", 17) == 0)
            replaced = true;
        if (!replaced)
            env [out++] = geak_strdup (environ [i]);
    }
    for (int j = 0; j < k; j++)
        env [out++] = overrides [j];
    env [out] = NULL;
    return env;
}

static void
s_free_strv (char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v [i]; i++)
        free (v [i]);
    free (v);
}

static geak_rc_t s_wait_reply (geak_harness_t *self, const char *op, uint64_t id,
                               int timeout_ms, cJSON **reply_p);

static geak_rc_t
s_spawn (geak_harness_t *self)
{
    int req [2], resp [2];
    if (pipe2 (req, O_CLOEXEC) != 0)
        return GEAK_E_IO;
    if (pipe2 (resp, O_CLOEXEC) != 0) {
        close (req [0]);
        close (req [1]);
        return GEAK_E_IO;
    }
    //  the candidate seccomp filter, compiled here, read by the harness from fd 5
    int bpf = memfd_create ("geak-seccomp", MFD_CLOEXEC);
    if (bpf < 0 || geak_seccomp_write_bpf (bpf) != GEAK_OK || lseek (bpf, 0, SEEK_SET) != 0) {
        geak_error ("harness_seccomp", "reason=\"cannot compile the candidate seccomp filter\"");
        if (bpf >= 0)
            close (bpf);
        close (req [0]);
        close (req [1]);
        close (resp [0]);
        close (resp [1]);
        return GEAK_E_IO;
    }
    char req_arg [16], resp_arg [16], dev_arg [16], bpf_arg [16], uid_arg [16];
    snprintf (req_arg, sizeof req_arg, "%d", HARNESS_REQ_FD);
    snprintf (resp_arg, sizeof resp_arg, "%d", HARNESS_RESP_FD);
    snprintf (dev_arg, sizeof dev_arg, "%d", self->device_index);
    char *argv [24];
    int a = 0;
    argv [a++] = self->python;
    argv [a++] = "-m";
    argv [a++] = "harness";
    argv [a++] = "--req-fd";
    argv [a++] = req_arg;
    argv [a++] = "--resp-fd";
    argv [a++] = resp_arg;
    if (self->device_index >= 0) {
        argv [a++] = "--device-index";
        argv [a++] = dev_arg;
    }
    if (self->cache_dir) {
        argv [a++] = "--cache-dir";
        argv [a++] = self->cache_dir;
    }
    snprintf (bpf_arg, sizeof bpf_arg, "%d", HARNESS_SECCOMP_FD);
    argv [a++] = "--seccomp-fd";
    argv [a++] = bpf_arg;
    if (self->sandbox_uid > 0) {
        snprintf (uid_arg, sizeof uid_arg, "%d", self->sandbox_uid);
        argv [a++] = "--sandbox-uid";
        argv [a++] = uid_arg;
    }
    if (self->require_isolation)
        argv [a++] = "--require-isolation";
    argv [a] = NULL;
    char **env = s_build_env (self);
    pid_t parent = getpid ();

    pid_t pid = fork ();
    if (pid < 0) {
        s_free_strv (env);
        close (req [0]);
        close (req [1]);
        close (resp [0]);
        close (resp [1]);
        close (bpf);
        return GEAK_E_IO;
    }
    if (pid == 0) {
        //  only async-signal-safe calls from here to exec
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        //  move our ends above the target numbers first, then into place
        int r = fcntl (req [0], F_DUPFD, 10);
        int w = fcntl (resp [1], F_DUPFD, 10);
        int b = fcntl (bpf, F_DUPFD, 10);
        if (r < 0 || w < 0 || b < 0 || dup2 (r, HARNESS_REQ_FD) < 0 || dup2 (w, HARNESS_RESP_FD) < 0
            || dup2 (b, HARNESS_SECCOMP_FD) < 0)
            _exit (127);
        //  stdout of the harness goes to our stderr (stdout is not ours to use)
        dup2 (2, 1);
        if (syscall (SYS_close_range, HARNESS_SECCOMP_FD + 1, ~0U, 0) != 0)
            for (int fd = HARNESS_SECCOMP_FD + 1; fd < 4096; fd++)
                close (fd);
        signal (SIGPIPE, SIG_DFL);
        if (chdir (self->harness_dir) != 0)
            _exit (126);
        execve (self->python, argv, env);
        _exit (127);
    }
    s_free_strv (env);
    close (req [0]);
    close (resp [1]);
    close (bpf);
    self->pid = pid;
    self->req_fd = req [1];
    self->resp_fd = resp [0];
    self->buf_len = 0;
    self->starts++;
    //  the parent sets the group too, so killpg works even before the
    //  child got to run
    setpgid (pid, pid);
    geak_info ("harness_started", "pid=%d dir=%s interpret=%d device_index=%d", (int) pid,
               self->harness_dir, self->interpret, self->device_index);

    cJSON *ping = cJSON_CreateObject ();
    cJSON_AddStringToObject (ping, "op", "ping");
    char *text = cJSON_PrintUnformatted (ping);
    cJSON_Delete (ping);
    size_t len = strlen (text);
    text = realloc (text, len + 2);
    assert (text);
    text [len] = '\n';
    text [len + 1] = 0;
    ssize_t n = write (self->req_fd, text, len + 1);
    free (text);
    if (n != (ssize_t) len + 1) {
        geak_harness_stop (self);
        return GEAK_E_IO;
    }
    self->starting = true;
    return GEAK_OK;
}

//  Wait for the pong of a fork server s_spawn started
static geak_rc_t
s_finish_start (geak_harness_t *self)
{
    self->starting = false;
    cJSON *pong = NULL;
    geak_rc_t rc = s_wait_reply (self, "pong", 0, self->start_timeout_ms, &pong);
    if (rc != GEAK_OK) {
        geak_error ("harness_no_pong", "rc=%s", geak_rc_name (rc));
        geak_harness_stop (self);
        return rc;
    }
    cJSON *isolation = cJSON_DetachItemFromObjectCaseSensitive (pong, "isolation");
    cJSON_Delete (self->isolation);
    self->isolation = cJSON_IsObject (isolation) ? isolation : NULL;
    if (!self->isolation)
        cJSON_Delete (isolation);
    cJSON *device = cJSON_DetachItemFromObjectCaseSensitive (pong, "device");
    cJSON_Delete (self->device);
    self->device = cJSON_IsObject (device) ? device : NULL;
    if (!self->device)
        cJSON_Delete (device);
    cJSON_Delete (pong);
    return GEAK_OK;
}

static geak_rc_t
s_start (geak_harness_t *self)
{
    geak_rc_t rc = s_spawn (self);
    return rc == GEAK_OK ? s_finish_start (self) : rc;
}

void
geak_harness_request_timeout (cJSON *request, int64_t run_ms)
{
    assert (request);
    cJSON_DeleteItemFromObjectCaseSensitive (request, "timeout_s");
    cJSON_DeleteItemFromObjectCaseSensitive (request, "grace_s");
    cJSON_AddNumberToObject (request, "timeout_s", (double) run_ms / 1000.0);
    cJSON_AddNumberToObject (request, "grace_s", GEAK_HARNESS_GRACE_MS / 1000.0);
}

int64_t
geak_harness_budget_ms (int64_t run_ms, int runs, int64_t slack_ms)
{
    return (int64_t) (runs > 0 ? runs : 1) * (run_ms + GEAK_HARNESS_GRACE_MS) + slack_ms;
}

int64_t
geak_harness_run_ms_within (int64_t budget_ms, int runs, int64_t slack_ms)
{
    runs = runs > 0 ? runs : 1;
    return (budget_ms - slack_ms - (int64_t) runs * GEAK_HARNESS_GRACE_MS) / runs;
}

geak_rc_t
geak_harness_start (geak_harness_t *self)
{
    if (!self)
        return GEAK_E_INVALID;
    if (self->pid > 0)
        return GEAK_OK;
    return s_spawn (self);
}

geak_rc_t
geak_harness_ensure (geak_harness_t *self)
{
    if (!self)
        return GEAK_E_INVALID;
    if (self->pid > 0 && self->starting)
        return s_finish_start (self);
    if (self->pid > 0) {
        //  notice a fork server that exited since the last request
        int status;
        pid_t r = waitpid (self->pid, &status, WNOHANG);
        if (r == 0)
            return GEAK_OK;
        geak_warn ("harness_exited", "pid=%d status=%d", (int) self->pid, r > 0 ? status : -1);
        if (r > 0)
            self->pid = 0;
        geak_harness_stop (self);
    }
    return s_start (self);
}

// ------------------------------------------------------------------ lines

//  Read one line, waiting until the absolute monotonic deadline_ms (a past
//  deadline still takes what is already readable, without blocking).
//  GEAK_OK (*line_p malloc'd, no newline), GEAK_E_TIMEOUT, GEAK_E_WORKER_LOST
//  (EOF: the fork server is gone), GEAK_E_MALFORMED (a line too long).
static geak_rc_t
s_read_line (geak_harness_t *self, int64_t deadline_ms, char **line_p)
{
    *line_p = NULL;
    for (;;) {
        char *nl = self->buf_len ? memchr (self->buf, '\n', self->buf_len) : NULL;
        if (nl) {
            size_t len = (size_t) (nl - self->buf);
            char *line = malloc (len + 1);
            assert (line);
            memcpy (line, self->buf, len);
            line [len] = 0;
            memmove (self->buf, nl + 1, self->buf_len - len - 1);
            self->buf_len -= len + 1;
            *line_p = line;
            return GEAK_OK;
        }
        if (self->buf_len >= LINE_MAX_BYTES)
            return GEAK_E_MALFORMED;
        if (self->resp_fd < 0)
            return GEAK_E_WORKER_LOST;
        int64_t left = deadline_ms - geak_clock_mono_ms ();
        if (left < 0)
            left = 0;
        struct pollfd pfd = { .fd = self->resp_fd, .events = POLLIN };
        int rc = poll (&pfd, 1, left > 1000 ? 1000 : (int) left);
        if (rc < 0 && errno != EINTR)
            return GEAK_E_IO;
        if (rc <= 0) {
            if (left == 0)
                return GEAK_E_TIMEOUT;
            continue;
        }
        if (self->buf_cap - self->buf_len < 65536) {
            size_t cap = self->buf_cap ? self->buf_cap * 2 : 131072;
            char *grown = realloc (self->buf, cap);
            assert (grown);
            self->buf = grown;
            self->buf_cap = cap;
        }
        ssize_t n = read (self->resp_fd, self->buf + self->buf_len, self->buf_cap - self->buf_len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return GEAK_E_WORKER_LOST;
        self->buf_len += (size_t) n;
    }
}

static geak_rc_t
s_send (geak_harness_t *self, cJSON *request)
{
    char *text = cJSON_PrintUnformatted (request);
    if (!text)
        return GEAK_E_NOMEM;
    size_t len = strlen (text);
    char *line = realloc (text, len + 2);
    assert (line);
    line [len] = '\n';
    line [len + 1] = 0;
    size_t off = 0;
    geak_rc_t rc = GEAK_OK;
    while (off < len + 1) {
        ssize_t n = write (self->req_fd, line + off, len + 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = GEAK_E_WORKER_LOST;        //  EPIPE: the fork server is gone
            break;
        }
        off += (size_t) n;
    }
    free (line);
    return rc;
}

//  The numeric id of a response, or 0 when it has none
static uint64_t
s_id_of (const cJSON *obj)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive (obj, "id");
    if (cJSON_IsNumber (id) && id->valuedouble >= 1)
        return (uint64_t) id->valuedouble;
    return 0;
}

//  Wait for a reply object with "op" == op (id 0) or the same id (op NULL).
static geak_rc_t
s_wait_reply (geak_harness_t *self, const char *op, uint64_t id, int timeout_ms,
              cJSON **reply_p)
{
    int64_t deadline = geak_clock_mono_ms () + timeout_ms;
    for (;;) {
        char *line = NULL;
        geak_rc_t rc = s_read_line (self, deadline, &line);
        if (rc != GEAK_OK)
            return rc;
        cJSON *obj = cJSON_Parse (line);
        if (!cJSON_IsObject (obj)) {
            geak_warn ("harness_garbage", "bytes=%zu", strlen (line));
            free (line);
            cJSON_Delete (obj);
            return GEAK_E_PROTOCOL;
        }
        free (line);
        const cJSON *op_item = cJSON_GetObjectItemCaseSensitive (obj, "op");
        bool match = op ? cJSON_IsString (op_item) && strcmp (op_item->valuestring, op) == 0
                        : s_id_of (obj) == id;
        if (match) {
            *reply_p = obj;
            return GEAK_OK;
        }
        geak_debug ("harness_stale_reply", "id=%llu", (unsigned long long) s_id_of (obj));
        cJSON_Delete (obj);
    }
}

//  Give request the next id
static uint64_t
s_stamp (geak_harness_t *self, cJSON *request)
{
    uint64_t id = self->next_id++;
    cJSON_DeleteItemFromObjectCaseSensitive (request, "id");
    cJSON_AddNumberToObject (request, "id", (double) id);
    return id;
}

geak_rc_t
geak_harness_send (geak_harness_t *self, cJSON *request, uint64_t *id_p)
{
    if (!self || !request || !id_p)
        return GEAK_E_INVALID;
    *id_p = 0;
    geak_rc_t rc = geak_harness_ensure (self);
    if (rc != GEAK_OK)
        return rc;
    uint64_t id = s_stamp (self, request);
    rc = s_send (self, request);
    if (rc != GEAK_OK) {
        geak_harness_stop (self);
        return rc;
    }
    *id_p = id;
    return GEAK_OK;
}

int
geak_harness_reply_fd (const geak_harness_t *self)
{
    return self && self->pid > 0 ? self->resp_fd : -1;
}

geak_rc_t
geak_harness_take_reply (geak_harness_t *self, uint64_t id, cJSON **reply_p)
{
    if (!self || !reply_p)
        return GEAK_E_INVALID;
    *reply_p = NULL;
    if (self->pid <= 0)
        return GEAK_E_WORKER_LOST;
    geak_rc_t rc = s_wait_reply (self, NULL, id, 0, reply_p);
    if (rc == GEAK_E_TIMEOUT)
        return GEAK_OK;                 //  not there yet
    if (rc != GEAK_OK)
        geak_harness_stop (self);
    return rc;
}

geak_rc_t
geak_harness_call (geak_harness_t *self, cJSON *request, int timeout_ms, cJSON **reply_p)
{
    *reply_p = NULL;
    uint64_t id = 0;
    geak_rc_t rc = geak_harness_send (self, request, &id);
    if (rc != GEAK_OK)
        return rc;
    rc = s_wait_reply (self, NULL, id, timeout_ms, reply_p);
    if (rc != GEAK_OK)
        geak_harness_stop (self);
    return rc;
}

// ------------------------------------------------------------------ eval

//  After we killed the group: give the harness a moment to report the dead
//  child so the stream stays in step; a harness that stays silent is wedged.
static void
s_drain_after_kill (geak_harness_t *self, uint64_t id)
{
    cJSON *late = NULL;
    int64_t deadline = geak_clock_mono_ms () + DRAIN_AFTER_KILL_MS;
    for (;;) {
        int64_t left = deadline - geak_clock_mono_ms ();
        geak_rc_t rc = left > 0 ? s_wait_reply (self, NULL, id, (int) left, &late)
                                : GEAK_E_TIMEOUT;
        if (rc != GEAK_OK) {
            geak_warn ("harness_silent_after_kill", "rc=%s", geak_rc_name (rc));
            geak_harness_stop (self);
            return;
        }
        const cJSON *event = cJSON_GetObjectItemCaseSensitive (late, "event");
        bool final = cJSON_IsString (event) && strcmp (event->valuestring, "result") == 0;
        cJSON_Delete (late);
        late = NULL;
        if (final)
            return;
    }
}

geak_harness_outcome_t
geak_harness_eval (geak_harness_t *self, cJSON *request, geak_sandbox_t *sandbox,
                   uint32_t deadline_ms, cJSON **result_p, char **why)
{
    *result_p = NULL;
    *why = NULL;
    geak_rc_t rc = geak_harness_ensure (self);
    if (rc != GEAK_OK) {
        *why = geak_strdupf ("fork server did not start: %s", geak_rc_name (rc));
        return GEAK_HARNESS_EVAL_BROKEN;
    }
    uint64_t id = s_stamp (self, request);
    geak_sandbox_arm (sandbox, deadline_ms);
    int64_t started_at = geak_clock_mono_ms ();
    rc = s_send (self, request);
    if (rc != GEAK_OK) {
        geak_harness_stop (self);
        *why = geak_strdupf ("fork server gone before the request: %s", geak_rc_name (rc));
        return GEAK_HARNESS_EVAL_BROKEN;
    }
    bool started = false;
    for (;;) {
        //  until "started" we cannot kill a candidate: a fork server that
        //  does not even start it within the deadline (plus grace) is hung
        int64_t wait_ms = geak_sandbox_remaining_ms (sandbox);
        if (!started)
            wait_ms += STARTED_GRACE_MS;
        cJSON *event = NULL;
        rc = wait_ms > 0 ? s_wait_reply (self, NULL, id, (int) (wait_ms > INT32_MAX ? INT32_MAX
                                                                                   : wait_ms),
                                         &event)
                         : GEAK_E_TIMEOUT;
        if (rc == GEAK_E_TIMEOUT && started) {
            int64_t ran = geak_clock_mono_ms () - started_at;
            pid_t pgid = geak_sandbox_pgid (sandbox);
            geak_sandbox_kill (sandbox);
            geak_warn ("eval_timeout", "id=%llu pgid=%d ms=%lld", (unsigned long long) id,
                       (int) pgid, (long long) ran);
            s_drain_after_kill (self, id);
            *why = geak_strdupf ("wall-clock timeout: killed by the evaluator after %lld ms "
                             "(limit %u ms)", (long long) ran, deadline_ms);
            return GEAK_HARNESS_EVAL_TIMEOUT;
        }
        if (rc != GEAK_OK) {
            geak_sandbox_kill (sandbox);
            geak_harness_stop (self);
            *why = geak_strdupf ("fork server %s", rc == GEAK_E_TIMEOUT ? "never started the candidate"
                                             : rc == GEAK_E_WORKER_LOST ? "died"
                                             : rc == GEAK_E_PROTOCOL ? "sent a line that is not JSON"
                                             : geak_rc_name (rc));
            return GEAK_HARNESS_EVAL_BROKEN;
        }
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive (event, "event");
        const char *name = cJSON_IsString (kind) ? kind->valuestring : "";
        const cJSON *op = cJSON_GetObjectItemCaseSensitive (event, "op");
        if (cJSON_IsString (op) && strcmp (op->valuestring, "error") == 0) {
            //  the fork server refused or failed the request itself
            const cJSON *message = cJSON_GetObjectItemCaseSensitive (event, "message");
            *why = geak_strdupf ("fork server error: %s", cJSON_IsString (message)
                                                      ? message->valuestring : "(no message)");
            cJSON_Delete (event);
            geak_sandbox_kill (sandbox);
            geak_harness_stop (self);
            return GEAK_HARNESS_EVAL_BROKEN;
        }
        if (strcmp (name, "started") == 0) {
            const cJSON *pgid = cJSON_GetObjectItemCaseSensitive (event, "pgid");
            if (!cJSON_IsNumber (pgid)
                || geak_sandbox_set_pgid (sandbox, (pid_t) pgid->valuedouble) != GEAK_OK) {
                cJSON_Delete (event);
                geak_harness_stop (self);
                *why = geak_strdup ("fork server sent a started event without a valid pgid");
                return GEAK_HARNESS_EVAL_BROKEN;
            }
            started = true;
            cJSON_Delete (event);
            continue;
        }
        if (strcmp (name, "result") == 0) {
            cJSON *result = cJSON_DetachItemFromObjectCaseSensitive (event, "result");
            cJSON_Delete (event);
            //  the child is done and reaped by the fork server, so its pgid
            //  may be reused: forget it rather than kill a stranger's group
            geak_sandbox_disarm (sandbox);
            if (!cJSON_IsObject (result)) {
                cJSON_Delete (result);
                geak_harness_stop (self);
                *why = geak_strdup ("fork server sent a result event without a result object");
                return GEAK_HARNESS_EVAL_BROKEN;
            }
            *result_p = result;
            return GEAK_HARNESS_EVAL_RESULT;
        }
        //  an event we do not know (progress, log): ignore it
        geak_debug ("harness_event_ignored", "event=%s", name);
        cJSON_Delete (event);
    }
}

// ------------------------------------------------------------------ find

static bool
s_holds_harness (const char *dir)
{
    char *probe = NULL;
    if (asprintf (&probe, "%s/harness", dir) < 0)
        return false;
    struct stat st;
    bool found = stat (probe, &st) == 0 && S_ISDIR (st.st_mode);
    free (probe);
    return found;
}

char *
geak_harness_find_dir (const char *given)
{
    if (given) {
        //  the package's parent, or the package itself
        if (!*given)
            return NULL;
        char *dir = geak_strdup (given);
        size_t len = strlen (dir);
        while (len > 1 && dir [len - 1] == '/')
            dir [--len] = 0;
        char *found = NULL;
        if (s_holds_harness (dir))
            found = realpath (dir, NULL);
        else
        if (strcmp (dir, "harness") == 0) {
            if (s_holds_harness ("."))
                found = realpath (".", NULL);
        }
        else
        if (len > 8 && strcmp (dir + len - 8, "/harness") == 0) {
            dir [len - 8] = 0;
            if (s_holds_harness (dir))
                found = realpath (dir, NULL);
        }
        free (dir);
        return found;
    }
    if (s_holds_harness ("services/evaluator"))
        return realpath ("services/evaluator", NULL);
    //  next to the source tree of this binary: build/<B>/bin/<exe>
    char exe [PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe [n] = 0;
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr (exe, '/');
        if (!slash)
            break;
        *slash = 0;
        char *candidate = NULL;
        if (asprintf (&candidate, "%s/services/evaluator", exe) < 0)
            return NULL;
        if (s_holds_harness (candidate)) {
            char *real = realpath (candidate, NULL);
            free (candidate);
            return real;
        }
        free (candidate);
    }
    return NULL;
}

// ------------------------------------------------------------------ selftest

//  A protocol stub of the fork server (the real one needs torch and triton)
static const char s_stub [] =
    "import argparse, json, os, sys, time\n"
    "ap = argparse.ArgumentParser()\n"
    "ap.add_argument('--req-fd', type=int); ap.add_argument('--resp-fd', type=int)\n"
    "ap.add_argument('--device-index', type=int); ap.add_argument('--cache-dir')\n"
    "a, _ = ap.parse_known_args()\n"
    "rin, out = os.fdopen(a.req_fd, 'r'), os.fdopen(a.resp_fd, 'w')\n"
    "def send(o):\n"
    "    out.write(json.dumps(o) + '\\n'); out.flush()\n"
    "held = None\n"
    "for line in rin:\n"
    "    req = json.loads(line)\n"
    "    op = req.get('op')\n"
    "    if op == 'ping':\n"
    "        send({'op': 'pong', 'device': {'vendor': 'stub',\n"
    "              'interpret': os.environ.get('TRITON_INTERPRET', ''),\n"
    "              'visible': os.environ.get('GEAK_HARNESS_TEST_VISIBLE', ''),\n"
    "              'device_index': a.device_index, 'cache_dir': a.cache_dir,\n"
    "              'path0': os.environ.get('PYTHONPATH', '').split(':')[0],\n"
    "              'cwd': os.getcwd(), 'pgid_is_pid': os.getpgrp() == os.getpid()}})\n"
    "    elif op == 'quit':\n"
    "        break\n"
    "    elif op == 'echo':\n"
    "        send({'op': 'echo', 'id': req['id'], 'text': req.get('text')})\n"
    "    elif op == 'stale':\n"
    "        send({'op': 'stale', 'id': req['id'] + 1000}); send({'op': 'stale', 'id': req['id']})\n"
    "    elif op == 'hold':\n"
    "        held = req['id']\n"
    "    elif op == 'release':\n"
    "        send({'op': 'hold', 'id': held}); send({'op': 'release', 'id': req['id']})\n"
    "    elif op == 'garbage':\n"
    "        out.write('<<not json>>\\n'); out.flush()\n"
    "    elif op == 'die':\n"
    "        os._exit(3)\n"
    "    elif op == 'eval' and req.get('hang'):\n"
    "        pid = os.fork()\n"
    "        if pid == 0:\n"
    "            os.setpgid(0, 0); time.sleep(30); os._exit(0)\n"
    "        try:\n"
    "            os.setpgid(pid, pid)\n"
    "        except OSError:\n"
    "            pass\n"
    "        send({'id': req['id'], 'event': 'started', 'pgid': pid})\n"
    "        os.waitpid(pid, 0)\n"
    "        send({'id': req['id'], 'event': 'result', 'result': {'killed': True}})\n"
    "    elif op == 'eval':\n"
    "        send({'id': req['id'], 'event': 'progress'})\n"
    "        send({'id': req['id'], 'event': 'result', 'result': {'ok': True}})\n";

static int
s_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    GEAK_UNUSED (st);
    GEAK_UNUSED (ftw);
    return flag == FTW_DP ? rmdir (path) : unlink (path);
}

static void
s_write_text (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert (f);
    assert (fputs (text, f) >= 0);
    GEAK_CHECK (fclose (f) == 0);
}

static cJSON *
s_request (const char *op)
{
    cJSON *req = cJSON_CreateObject ();
    cJSON_AddStringToObject (req, "op", op);
    return req;
}

static const char *
s_str_of (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) ? item->valuestring : NULL;
}

//  Poll the reply fd (bounded) until the reply for id is taken or an error
static geak_rc_t
s_await (geak_harness_t *self, uint64_t id, cJSON **reply_p)
{
    int64_t deadline = geak_clock_mono_ms () + 20000;
    for (;;) {
        geak_rc_t rc = geak_harness_take_reply (self, id, reply_p);
        if (rc != GEAK_OK || *reply_p)
            return rc;
        int64_t left = deadline - geak_clock_mono_ms ();
        if (left <= 0)
            return GEAK_E_TIMEOUT;
        struct pollfd pfd = { .fd = geak_harness_reply_fd (self), .events = POLLIN };
        poll (&pfd, 1, (int) left);
    }
}

int
geak_harness_test (bool verbose)
{
    //  the protocol's time budget: the requests say what the waits assume
    GEAK_CHECK (geak_harness_budget_ms (1000, 2, 10000) == 2 * (1000 + GEAK_HARNESS_GRACE_MS) + 10000);
    GEAK_CHECK (geak_harness_run_ms_within (geak_harness_budget_ms (7000, 2, 10000), 2, 10000) == 7000);
    GEAK_CHECK (geak_harness_budget_ms (5000, 0, 0) == 5000 + GEAK_HARNESS_GRACE_MS);
    cJSON *timed = cJSON_CreateObject ();
    cJSON_AddNumberToObject (timed, "timeout_s", 1);
    geak_harness_request_timeout (timed, 2500);
    GEAK_CHECK (cJSON_GetArraySize (timed) == 2);
    GEAK_CHECK (cJSON_GetObjectItem (timed, "timeout_s")->valuedouble == 2.5);
    GEAK_CHECK (cJSON_GetObjectItem (timed, "grace_s")->valuedouble == GEAK_HARNESS_GRACE_MS / 1000.0);
    cJSON_Delete (timed);

    char root [] = "/tmp/geak-harness-test-XXXXXX";
    GEAK_CHECK (mkdtemp (root));
    char *pkg = NULL, *path = NULL;
    GEAK_CHECK (asprintf (&pkg, "%s/harness", root) > 0);
    GEAK_CHECK (mkdir (pkg, 0700) == 0);
    GEAK_CHECK (asprintf (&path, "%s/__init__.py", pkg) > 0);
    s_write_text (path, "");
    free (path);
    GEAK_CHECK (asprintf (&path, "%s/__main__.py", pkg) > 0);
    s_write_text (path, s_stub);
    free (path);

    //  find_dir: the parent or the package, with or without a slash; nothing else
    char *dir = geak_harness_find_dir (root);
    GEAK_CHECK (dir && strcmp (dir, root) == 0);
    free (dir);
    dir = geak_harness_find_dir (pkg);
    GEAK_CHECK (dir && strcmp (dir, root) == 0);
    free (dir);
    GEAK_CHECK (asprintf (&path, "%s/harness//", root) > 0);
    dir = geak_harness_find_dir (path);
    GEAK_CHECK (dir && strcmp (dir, root) == 0);
    free (dir);
    free (path);
    GEAK_CHECK (asprintf (&path, "%s/nothing/harness", root) > 0);
    GEAK_CHECK (geak_harness_find_dir (path) == NULL);
    free (path);
    GEAK_CHECK (geak_harness_find_dir ("") == NULL);
    GEAK_CHECK (geak_harness_find_dir ("/proc/self") == NULL);
    if (verbose)
        printf (" * find_dir: ok\n");

    geak_harness_opts_t opts = { 0 };
    GEAK_CHECK (geak_harness_new (NULL) == NULL);
    GEAK_CHECK (geak_harness_new (&opts) == NULL);
    opts.harness_dir = root;
    opts.device_index = -1;
    opts.interpret = true;
    opts.start_timeout_ms = 30000;
    geak_harness_t *h = geak_harness_new (&opts);
    GEAK_CHECK (h);
    GEAK_CHECK (!geak_harness_running (h) && geak_harness_pid (h) == 0);
    GEAK_CHECK (geak_harness_reply_fd (h) == -1 && geak_harness_starts (h) == 0);
    GEAK_CHECK (geak_harness_device (h) == NULL);

    //  ensure: started, pinged, the device kept; a second ensure is a no-op
    geak_rc_t rc = geak_harness_ensure (h);
    GEAK_CHECK (rc == GEAK_OK);
    pid_t pid = geak_harness_pid (h);
    GEAK_CHECK (geak_harness_running (h) && pid > 0 && geak_harness_starts (h) == 1);
    GEAK_CHECK (geak_harness_reply_fd (h) >= 0);
    const cJSON *device = geak_harness_device (h);
    GEAK_CHECK (device && strcmp (s_str_of (device, "vendor"), "stub") == 0);
    GEAK_CHECK (strcmp (s_str_of (device, "interpret"), "1") == 0);
    GEAK_CHECK (strcmp (s_str_of (device, "path0"), root) == 0);
    GEAK_CHECK (strcmp (s_str_of (device, "cwd"), root) == 0);
    GEAK_CHECK (cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (device, "pgid_is_pid")));
    GEAK_CHECK (cJSON_IsNull (cJSON_GetObjectItemCaseSensitive (device, "device_index")));
    GEAK_CHECK (getpgid (pid) == pid);
    rc = geak_harness_ensure (h);
    GEAK_CHECK (rc == GEAK_OK && geak_harness_pid (h) == pid && geak_harness_starts (h) == 1);
    if (verbose)
        printf (" * ensure/ping: ok (pid %d)\n", (int) pid);

    //  call: one request, the reply with its id; a stale reply is skipped
    cJSON *req = s_request ("echo");
    cJSON_AddStringToObject (req, "text", "hello");
    cJSON *reply = NULL;
    rc = geak_harness_call (h, req, 10000, &reply);
    cJSON_Delete (req);
    GEAK_CHECK (rc == GEAK_OK && reply);
    GEAK_CHECK (strcmp (s_str_of (reply, "text"), "hello") == 0);
    cJSON_Delete (reply);
    req = s_request ("stale");
    rc = geak_harness_call (h, req, 10000, &reply);
    GEAK_CHECK (rc == GEAK_OK && reply);
    const cJSON *id_item = cJSON_GetObjectItemCaseSensitive (reply, "id");
    GEAK_CHECK (cJSON_IsNumber (id_item) && id_item->valuedouble
            == cJSON_GetObjectItemCaseSensitive (req, "id")->valuedouble);
    cJSON_Delete (req);
    cJSON_Delete (reply);
    if (verbose)
        printf (" * call: ok\n");

    //  non-blocking: a held request has no reply yet; releasing it brings both
    uint64_t held = 0, released = 0;
    req = s_request ("hold");
    rc = geak_harness_send (h, req, &held);
    cJSON_Delete (req);
    GEAK_CHECK (rc == GEAK_OK && held > 0);
    reply = (cJSON *) 1;
    rc = geak_harness_take_reply (h, held, &reply);
    GEAK_CHECK (rc == GEAK_OK && reply == NULL);
    req = s_request ("release");
    rc = geak_harness_send (h, req, &released);
    cJSON_Delete (req);
    GEAK_CHECK (rc == GEAK_OK && released > held);
    rc = s_await (h, held, &reply);
    GEAK_CHECK (rc == GEAK_OK && reply && strcmp (s_str_of (reply, "op"), "hold") == 0);
    cJSON_Delete (reply);
    rc = s_await (h, released, &reply);
    GEAK_CHECK (rc == GEAK_OK && reply && strcmp (s_str_of (reply, "op"), "release") == 0);
    cJSON_Delete (reply);
    GEAK_CHECK (geak_harness_pid (h) == pid);
    if (verbose)
        printf (" * send/take: ok\n");

    //  eval: events until the result; past the deadline the candidate's group is killed
    geak_sandbox_t *sandbox = geak_sandbox_new (NULL, -1, &rc);
    GEAK_CHECK (sandbox);
    cJSON *result = NULL;
    char *why = NULL;
    req = s_request ("eval");
    geak_harness_outcome_t outcome = geak_harness_eval (h, req, sandbox, 20000, &result, &why);
    cJSON_Delete (req);
    GEAK_CHECK (outcome == GEAK_HARNESS_EVAL_RESULT && result && !why);
    GEAK_CHECK (cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (result, "ok")));
    cJSON_Delete (result);
    req = s_request ("eval");
    cJSON_AddTrueToObject (req, "hang");
    int64_t t0 = geak_clock_mono_ms ();
    outcome = geak_harness_eval (h, req, sandbox, 300, &result, &why);
    cJSON_Delete (req);
    GEAK_CHECK (outcome == GEAK_HARNESS_EVAL_TIMEOUT && !result && why);
    GEAK_CHECK (geak_clock_mono_ms () - t0 < 20000);
    free (why);
    why = NULL;
    GEAK_CHECK (geak_harness_pid (h) == pid);      //  the fork server reported the dead child
    geak_sandbox_destroy (&sandbox);
    if (verbose)
        printf (" * eval: ok\n");

    //  garbage on a call: the fork server is stopped; the next ensure starts a new one
    req = s_request ("garbage");
    rc = geak_harness_call (h, req, 10000, &reply);
    cJSON_Delete (req);
    GEAK_CHECK (rc == GEAK_E_PROTOCOL && !reply);
    GEAK_CHECK (!geak_harness_running (h) && geak_harness_reply_fd (h) == -1);
    GEAK_CHECK (kill (pid, 0) != 0);                //  reaped
    rc = geak_harness_ensure (h);
    GEAK_CHECK (rc == GEAK_OK && geak_harness_starts (h) == 2);
    pid = geak_harness_pid (h);
    //  garbage on a non-blocking take: the same
    uint64_t id = 0;
    req = s_request ("garbage");
    rc = geak_harness_send (h, req, &id);
    cJSON_Delete (req);
    GEAK_CHECK (rc == GEAK_OK);
    rc = s_await (h, id, &reply);
    GEAK_CHECK (rc == GEAK_E_PROTOCOL && !reply && !geak_harness_running (h));
    rc = geak_harness_take_reply (h, id, &reply);
    GEAK_CHECK (rc == GEAK_E_WORKER_LOST);
    //  death and silence: stopped too; send restarts
    req = s_request ("die");
    rc = geak_harness_call (h, req, 10000, &reply);
    cJSON_Delete (req);
    GEAK_CHECK (rc == GEAK_E_WORKER_LOST && !geak_harness_running (h));
    GEAK_CHECK (geak_harness_starts (h) == 3);
    req = s_request ("hold");
    rc = geak_harness_call (h, req, 200, &reply);
    cJSON_Delete (req);
    GEAK_CHECK (rc == GEAK_E_TIMEOUT && !geak_harness_running (h));
    GEAK_CHECK (geak_harness_starts (h) == 4);
    if (verbose)
        printf (" * restart on garbage/death/timeout: ok\n");

    //  stop and destroy are safe twice; destroy of a running one quits it
    geak_harness_stop (h);
    geak_harness_stop (h);
    geak_harness_stop (NULL);
    rc = geak_harness_ensure (h);
    GEAK_CHECK (rc == GEAK_OK);
    pid = geak_harness_pid (h);
    geak_harness_destroy (&h);
    GEAK_CHECK (h == NULL);
    geak_harness_destroy (&h);
    geak_harness_destroy (NULL);
    GEAK_CHECK (kill (pid, 0) != 0);

    //  a timed (not interpreted) server: inherited TRITON_INTERPRET dropped,
    //  visibility, device index and cache dir passed on
    char *old = getenv ("TRITON_INTERPRET") ? geak_strdup (getenv ("TRITON_INTERPRET")) : NULL;
    setenv ("TRITON_INTERPRET", "1", 1);
    opts.interpret = false;
    opts.clear_interpret = true;
    opts.device_index = 0;
    opts.visible_var = "GEAK_HARNESS_TEST_VISIBLE";
    opts.visible_value = "7";
    opts.cache_dir = "/tmp";
    opts.python = "python3";
    h = geak_harness_new (&opts);
    GEAK_CHECK (h);
    rc = geak_harness_ensure (h);
    GEAK_CHECK (rc == GEAK_OK);
    device = geak_harness_device (h);
    GEAK_CHECK (device && strcmp (s_str_of (device, "interpret"), "") == 0);
    GEAK_CHECK (strcmp (s_str_of (device, "visible"), "7") == 0);
    GEAK_CHECK (strcmp (s_str_of (device, "cache_dir"), "/tmp") == 0);
    const cJSON *index = cJSON_GetObjectItemCaseSensitive (device, "device_index");
    GEAK_CHECK (cJSON_IsNumber (index) && index->valueint == 0);
    geak_harness_destroy (&h);
    if (old) {
        setenv ("TRITON_INTERPRET", old, 1);
        free (old);
    }
    else
        unsetenv ("TRITON_INTERPRET");
    if (verbose)
        printf (" * options/env: ok\n");

    free (pkg);
    GEAK_CHECK (nftw (root, s_rm_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
    return 0;
}
