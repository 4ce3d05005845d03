/*  harness_proc.c - one Python fork server over JSON-line pipes
    (see harness_proc.h). */
#include "harness_proc.h"
#include "geak_log.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64u << 20)
#define HARNESS_REQ_FD 3
#define HARNESS_RESP_FD 4
#define DRAIN_AFTER_KILL_MS 5000
#define STARTED_GRACE_MS 30000

extern char **environ;

struct harness_proc_t {
    char *python;               //  resolved path
    char *harness_dir;
    int device_index;
    char *visible_var, *visible_value;
    bool interpret;
    char *cache_dir;
    int start_timeout_ms;

    pid_t pid;                  //  0: not running
    int req_fd;                 //  we write requests here
    int resp_fd;                //  we read responses here
    char *buf;                  //  partial response line
    size_t buf_len, buf_cap;
    cJSON *device;              //  from the last pong
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

harness_proc_t *
harness_proc_new (const harness_opts_t *opts)
{
    if (!opts || !opts->harness_dir)
        return NULL;
    harness_proc_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->python = s_which (opts->python ? opts->python : "python3");
    self->harness_dir = geak_strdup (opts->harness_dir);
    self->device_index = opts->device_index;
    self->visible_var = s_dup_or_null (opts->visible_var);
    self->visible_value = s_dup_or_null (opts->visible_value);
    self->interpret = opts->interpret;
    self->cache_dir = s_dup_or_null (opts->cache_dir);
    self->start_timeout_ms = opts->start_timeout_ms > 0 ? opts->start_timeout_ms : 120000;
    self->req_fd = -1;
    self->resp_fd = -1;
    self->next_id = 1;
    return self;
}

bool
harness_proc_running (const harness_proc_t *self)
{
    return self && self->pid > 0;
}

pid_t
harness_proc_pid (const harness_proc_t *self)
{
    return self ? self->pid : 0;
}

const cJSON *
harness_proc_device (const harness_proc_t *self)
{
    return self ? self->device : NULL;
}

uint64_t
harness_proc_starts (const harness_proc_t *self)
{
    return self ? self->starts : 0;
}

void
harness_proc_stop (harness_proc_t *self)
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
    }
}

void
harness_proc_destroy (harness_proc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    harness_proc_t *self = *self_p;
    if (self->pid > 0 && self->req_fd >= 0) {
        //  polite first: quit, then EOF; wait a moment for a clean exit
        static const char quit [] = "{\"op\":\"quit\"}\n";
        if (write (self->req_fd, quit, sizeof quit - 1) < 0)
            geak_debug ("harness_quit_failed", "errno=%d", errno);
        close (self->req_fd);
        self->req_fd = -1;
        int64_t deadline = geak_clock_mono_ms () + 2000;
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
    harness_proc_stop (self);
    free (self->python);
    free (self->harness_dir);
    free (self->visible_var);
    free (self->visible_value);
    free (self->cache_dir);
    free (self->buf);
    cJSON_Delete (self->device);
    free (self);
    *self_p = NULL;
}

// ------------------------------------------------------------------ start

//  Environment for the fork server: ours, with our overrides replacing any
//  earlier value of the same name. All strings are malloc'd.
static char **
s_build_env (harness_proc_t *self)
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

static geak_rc_t s_wait_reply (harness_proc_t *self, const char *op, uint64_t id,
                               int timeout_ms, cJSON **reply_p);

static geak_rc_t
s_start (harness_proc_t *self)
{
    int req [2], resp [2];
    if (pipe2 (req, O_CLOEXEC) != 0)
        return GEAK_E_IO;
    if (pipe2 (resp, O_CLOEXEC) != 0) {
        close (req [0]);
        close (req [1]);
        return GEAK_E_IO;
    }
    char req_arg [16], resp_arg [16], dev_arg [16];
    snprintf (req_arg, sizeof req_arg, "%d", HARNESS_REQ_FD);
    snprintf (resp_arg, sizeof resp_arg, "%d", HARNESS_RESP_FD);
    snprintf (dev_arg, sizeof dev_arg, "%d", self->device_index);
    char *argv [16];
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
        if (r < 0 || w < 0 || dup2 (r, HARNESS_REQ_FD) < 0 || dup2 (w, HARNESS_RESP_FD) < 0)
            _exit (127);
        //  stdout of the harness goes to our stderr (stdout is not ours to use)
        dup2 (2, 1);
        if (syscall (SYS_close_range, HARNESS_RESP_FD + 1, ~0U, 0) != 0)
            for (int fd = HARNESS_RESP_FD + 1; fd < 4096; fd++)
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
        harness_proc_stop (self);
        return GEAK_E_IO;
    }
    cJSON *pong = NULL;
    geak_rc_t rc = s_wait_reply (self, "pong", 0, self->start_timeout_ms, &pong);
    if (rc != GEAK_OK) {
        geak_error ("harness_no_pong", "rc=%s", geak_rc_name (rc));
        harness_proc_stop (self);
        return rc;
    }
    cJSON *device = cJSON_DetachItemFromObjectCaseSensitive (pong, "device");
    cJSON_Delete (self->device);
    self->device = cJSON_IsObject (device) ? device : NULL;
    if (!self->device)
        cJSON_Delete (device);
    cJSON_Delete (pong);
    return GEAK_OK;
}

geak_rc_t
harness_proc_ensure (harness_proc_t *self)
{
    if (!self)
        return GEAK_E_INVALID;
    if (self->pid > 0) {
        //  notice a fork server that exited since the last request
        int status;
        pid_t r = waitpid (self->pid, &status, WNOHANG);
        if (r == 0)
            return GEAK_OK;
        geak_warn ("harness_exited", "pid=%d status=%d", (int) self->pid, r > 0 ? status : -1);
        if (r > 0)
            self->pid = 0;
        harness_proc_stop (self);
    }
    return s_start (self);
}

// ------------------------------------------------------------------ lines

//  Read one line, waiting until the absolute monotonic deadline_ms.
//  GEAK_OK (*line_p malloc'd, no newline), GEAK_E_TIMEOUT, GEAK_E_WORKER_LOST
//  (EOF: the fork server is gone), GEAK_E_MALFORMED (a line too long).
static geak_rc_t
s_read_line (harness_proc_t *self, int64_t deadline_ms, char **line_p)
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
        if (left <= 0)
            return GEAK_E_TIMEOUT;
        struct pollfd pfd = { .fd = self->resp_fd, .events = POLLIN };
        int rc = poll (&pfd, 1, left > 1000 ? 1000 : (int) left);
        if (rc < 0 && errno != EINTR)
            return GEAK_E_IO;
        if (rc <= 0)
            continue;
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
s_send (harness_proc_t *self, cJSON *request)
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
s_wait_reply (harness_proc_t *self, const char *op, uint64_t id, int timeout_ms,
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

geak_rc_t
harness_proc_call (harness_proc_t *self, cJSON *request, int timeout_ms, cJSON **reply_p)
{
    *reply_p = NULL;
    geak_rc_t rc = harness_proc_ensure (self);
    if (rc != GEAK_OK)
        return rc;
    uint64_t id = self->next_id++;
    cJSON_DeleteItemFromObjectCaseSensitive (request, "id");
    cJSON_AddNumberToObject (request, "id", (double) id);
    rc = s_send (self, request);
    if (rc == GEAK_OK)
        rc = s_wait_reply (self, NULL, id, timeout_ms, reply_p);
    if (rc != GEAK_OK)
        harness_proc_stop (self);
    return rc;
}

// ------------------------------------------------------------------ eval

static char *
s_printf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static char *
s_printf (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    char *text = NULL;
    if (vasprintf (&text, fmt, ap) < 0)
        text = NULL;
    va_end (ap);
    return text ? text : geak_strdup ("(no memory)");
}

//  After we killed the group: give the harness a moment to report the dead
//  child so the stream stays in step; a harness that stays silent is wedged.
static void
s_drain_after_kill (harness_proc_t *self, uint64_t id)
{
    cJSON *late = NULL;
    int64_t deadline = geak_clock_mono_ms () + DRAIN_AFTER_KILL_MS;
    for (;;) {
        int64_t left = deadline - geak_clock_mono_ms ();
        geak_rc_t rc = left > 0 ? s_wait_reply (self, NULL, id, (int) left, &late)
                                : GEAK_E_TIMEOUT;
        if (rc != GEAK_OK) {
            geak_warn ("harness_silent_after_kill", "rc=%s", geak_rc_name (rc));
            harness_proc_stop (self);
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

harness_eval_outcome_t
harness_proc_eval (harness_proc_t *self, cJSON *request, geak_sandbox_t *sandbox,
                   uint32_t deadline_ms, cJSON **result_p, char **why)
{
    *result_p = NULL;
    *why = NULL;
    geak_rc_t rc = harness_proc_ensure (self);
    if (rc != GEAK_OK) {
        *why = s_printf ("fork server did not start: %s", geak_rc_name (rc));
        return HARNESS_EVAL_BROKEN;
    }
    uint64_t id = self->next_id++;
    cJSON_DeleteItemFromObjectCaseSensitive (request, "id");
    cJSON_AddNumberToObject (request, "id", (double) id);
    geak_sandbox_arm (sandbox, deadline_ms);
    int64_t started_at = geak_clock_mono_ms ();
    rc = s_send (self, request);
    if (rc != GEAK_OK) {
        harness_proc_stop (self);
        *why = s_printf ("fork server gone before the request: %s", geak_rc_name (rc));
        return HARNESS_EVAL_BROKEN;
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
            *why = s_printf ("wall-clock timeout: killed by the evaluator after %lld ms "
                             "(limit %u ms)", (long long) ran, deadline_ms);
            return HARNESS_EVAL_TIMEOUT;
        }
        if (rc != GEAK_OK) {
            geak_sandbox_kill (sandbox);
            harness_proc_stop (self);
            *why = s_printf ("fork server %s", rc == GEAK_E_TIMEOUT ? "never started the candidate"
                                             : rc == GEAK_E_WORKER_LOST ? "died"
                                             : rc == GEAK_E_PROTOCOL ? "sent a line that is not JSON"
                                             : geak_rc_name (rc));
            return HARNESS_EVAL_BROKEN;
        }
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive (event, "event");
        const char *name = cJSON_IsString (kind) ? kind->valuestring : "";
        const cJSON *op = cJSON_GetObjectItemCaseSensitive (event, "op");
        if (cJSON_IsString (op) && strcmp (op->valuestring, "error") == 0) {
            //  the fork server refused or failed the request itself
            const cJSON *message = cJSON_GetObjectItemCaseSensitive (event, "message");
            *why = s_printf ("fork server error: %s", cJSON_IsString (message)
                                                      ? message->valuestring : "(no message)");
            cJSON_Delete (event);
            geak_sandbox_kill (sandbox);
            harness_proc_stop (self);
            return HARNESS_EVAL_BROKEN;
        }
        if (strcmp (name, "started") == 0) {
            const cJSON *pgid = cJSON_GetObjectItemCaseSensitive (event, "pgid");
            if (!cJSON_IsNumber (pgid)
                || geak_sandbox_set_pgid (sandbox, (pid_t) pgid->valuedouble) != GEAK_OK) {
                cJSON_Delete (event);
                harness_proc_stop (self);
                *why = geak_strdup ("fork server sent a started event without a valid pgid");
                return HARNESS_EVAL_BROKEN;
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
                harness_proc_stop (self);
                *why = geak_strdup ("fork server sent a result event without a result object");
                return HARNESS_EVAL_BROKEN;
            }
            *result_p = result;
            return HARNESS_EVAL_RESULT;
        }
        //  an event we do not know (progress, log): ignore it
        geak_debug ("harness_event_ignored", "event=%s", name);
        cJSON_Delete (event);
    }
}
