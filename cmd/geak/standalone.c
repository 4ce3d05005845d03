/*  standalone.c - a private broker, evaluators and role services for one
    command (see standalone.h). */
#include "standalone.h"
#include "geak_gpu.h"
#include "geak_log.h"
#include "geak_proto.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ROLE_COUNT 3

static const char *s_roles [ROLE_COUNT] = { "generator", "reflector", "optimizer" };
static const char *s_role_services [ROLE_COUNT] = {
    GEAK_SERVICE_GENERATOR, GEAK_SERVICE_REFLECTOR, GEAK_SERVICE_OPTIMIZER
};

struct standalone_t {
    const char *tool;
    pid_t broker;
    pid_t evaluators [STANDALONE_MAX];
    int n;                          //  evaluators started
    pid_t roles [ROLE_COUNT];
    char endpoint [64];
};

int
standalone_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0
        && getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

static pid_t
s_spawn (const char *tool, char *const argv [], char *const envp [])
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    //  children's stdout joins stderr: our stdout carries JSON only
    posix_spawn_file_actions_adddup2 (&actions, 2, 1);
    pid_t pid = 0;
    int rc = posix_spawn (&pid, argv [0], &actions, NULL, argv, envp ? envp : environ);
    posix_spawn_file_actions_destroy (&actions);
    if (rc != 0) {
        fprintf (stderr, "%s: cannot start %s: %s\n", tool, argv [0], strerror (rc));
        return -1;
    }
    return pid;
}

//  Stop one child: SIGTERM, wait up to timeout_ms, then SIGKILL
static int
s_stop_child (pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return 0;
    kill (pid, SIGTERM);
    int64_t deadline = geak_clock_mono_ms () + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid (pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        if (r < 0)
            return -1;
        if (geak_clock_mono_ms () >= deadline) {
            kill (pid, SIGKILL);
            waitpid (pid, &status, 0);
            return 137;
        }
        struct pollfd none;
        poll (&none, 0, 20);
    }
}

void
standalone_destroy (standalone_t **self_p)
{
    assert (self_p);
    standalone_t *self = *self_p;
    if (!self)
        return;
    //  everyone gets SIGTERM first, so they stop in parallel
    for (int i = 0; i < ROLE_COUNT; i++)
        if (self->roles [i] > 0)
            kill (self->roles [i], SIGTERM);
    for (int i = 0; i < self->n; i++)
        if (self->evaluators [i] > 0)
            kill (self->evaluators [i], SIGTERM);
    for (int i = 0; i < ROLE_COUNT; i++) {
        int code = s_stop_child (self->roles [i], 10000);
        if (code != 0)
            geak_warn ("standalone_role_exit", "role=%s pid=%d code=%d", s_roles [i],
                       (int) self->roles [i], code);
    }
    for (int i = 0; i < self->n; i++) {
        int code = s_stop_child (self->evaluators [i], 20000);
        if (code != 0)
            geak_warn ("standalone_evaluator_exit", "pid=%d code=%d", (int) self->evaluators [i], code);
    }
    int code = s_stop_child (self->broker, 10000);
    if (code != 0)
        geak_warn ("standalone_broker_exit", "pid=%d code=%d", (int) self->broker, code);
    free (self);
    *self_p = NULL;
}

const char *
standalone_endpoint (const standalone_t *self)
{
    assert (self);
    return self->endpoint;
}

cJSON *
standalone_stats (geak_client_t *client, int timeout_ms)
{
    geak_reply_t *reply = NULL;
    geak_rc_t rc = geak_client_call (client, "mmi.stats", NULL, timeout_ms, "", 0, &reply);
    cJSON *stats = NULL;
    if (rc == GEAK_OK && reply && reply->body)
        stats = cJSON_Parse ((const char *) reply->body);
    geak_reply_destroy (&reply);
    if (stats && !cJSON_IsObject (stats)) {
        cJSON_Delete (stats);
        stats = NULL;
    }
    return stats;
}

int
standalone_stats_workers (const cJSON *stats, const char *service)
{
    const cJSON *services = cJSON_GetObjectItem (stats, "services");
    const cJSON *svc = cJSON_GetObjectItem (services, service);
    const cJSON *w = cJSON_GetObjectItem (svc, "workers");
    return cJSON_IsNumber (w) ? (int) w->valuedouble : 0;
}

int
standalone_service_workers (geak_client_t *client, const char *service)
{
    cJSON *stats = standalone_stats (client, 2000);
    int workers = stats ? standalone_stats_workers (stats, service) : -1;
    cJSON_Delete (stats);
    return workers;
}

//  Our environment with the entries of extra set (replacing ours). Caller
//  frees the array only (the strings are borrowed).
static char **
s_env_with (char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ [n])
        n++;
    while (extra && extra [m])
        m++;
    char **envp = geak_malloc0 ((n + m + 1) * sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr (environ [i], '=');
        size_t name_len = eq ? (size_t) (eq - environ [i]) : strlen (environ [i]);
        bool replaced = false;
        for (size_t j = 0; j < m && !replaced; j++)
            replaced = strncmp (extra [j], environ [i], name_len) == 0 && extra [j][name_len] == '=';
        if (!replaced)
            envp [k++] = environ [i];
    }
    for (size_t j = 0; j < m; j++)
        envp [k++] = extra [j];
    envp [k] = NULL;
    return envp;
}

//  Has any child exited? Reports it and forgets its pid.
static bool
s_any_dead (standalone_t *self)
{
    bool dead = false;
    int status;
    for (int i = 0; i < self->n; i++)
        if (self->evaluators [i] > 0 && waitpid (self->evaluators [i], &status, WNOHANG) == self->evaluators [i]) {
            fprintf (stderr, "%s: evaluator %d exited during start\n", self->tool, i);
            self->evaluators [i] = 0;
            dead = true;
        }
    for (int i = 0; i < ROLE_COUNT; i++)
        if (self->roles [i] > 0 && waitpid (self->roles [i], &status, WNOHANG) == self->roles [i]) {
            fprintf (stderr, "%s: %s exited during start\n", self->tool, s_roles [i]);
            self->roles [i] = 0;
            dead = true;
        }
    if (self->broker > 0 && waitpid (self->broker, &status, WNOHANG) == self->broker) {
        fprintf (stderr, "%s: broker exited during start\n", self->tool);
        self->broker = 0;
        dead = true;
    }
    return dead;
}

static int
s_start (standalone_t *self, const standalone_opts_t *opts)
{
    char exe [PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return -1;
    exe [len] = 0;
    char *slash = strrchr (exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    char broker_bin [PATH_MAX + 32], evaluator_bin [PATH_MAX + 32];
    snprintf (broker_bin, sizeof broker_bin, "%s/geak-broker", exe);
    snprintf (evaluator_bin, sizeof evaluator_bin, "%s/geak-evaluator", exe);
    int port = standalone_free_port ();
    if (port <= 0)
        return -1;
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%d", port);
    char *bargv [] = { broker_bin, "--bind", self->endpoint, NULL };
    self->broker = s_spawn (self->tool, bargv, NULL);
    if (self->broker <= 0)
        return -1;
    //  pin the evaluators round-robin over the GPUs, if any
    geak_gpu_info_t *gpus = NULL;
    int ngpus = 0;
    if (geak_gpu_probe (&gpus, &ngpus) != GEAK_OK)
        ngpus = 0;
    free (gpus);
    for (int i = 0; i < opts->evaluators; i++) {
        char gpu [16];
        snprintf (gpu, sizeof gpu, "%d", ngpus ? i % ngpus : 0);
        char *eargv [12];
        int a = 0;
        eargv [a++] = evaluator_bin;
        eargv [a++] = "--broker";
        eargv [a++] = self->endpoint;
        eargv [a++] = "--tasks";
        eargv [a++] = (char *) opts->tasks;
        if (ngpus) {
            eargv [a++] = "--gpu";
            eargv [a++] = gpu;
        }
        eargv [a] = NULL;
        self->evaluators [i] = s_spawn (self->tool, eargv, NULL);
        if (self->evaluators [i] <= 0)
            return -1;
        self->n = i + 1;
    }
    if (opts->roles) {
        char **envp = s_env_with (opts->role_env);
        char threads [16];
        snprintf (threads, sizeof threads, "%d", opts->role_threads > 0 ? opts->role_threads : 1);
        for (int i = 0; i < ROLE_COUNT; i++) {
            char bin [PATH_MAX + 32];
            snprintf (bin, sizeof bin, "%s/geak-%s", exe, s_roles [i]);
            char *rargv [] = { bin, "--broker", self->endpoint, "--threads", threads,
                               "--tasks", (char *) opts->tasks, NULL };
            self->roles [i] = s_spawn (self->tool, rargv, envp);
            if (self->roles [i] <= 0) {
                free (envp);
                return -1;
            }
        }
        free (envp);
    }
    //  ready when every child is registered (bounded)
    geak_client_t *client = geak_client_new (NULL, self->endpoint);
    if (!client)
        return -1;
    int64_t deadline = geak_clock_mono_ms () + STANDALONE_READY_MS;
    int workers = -1;
    int result = -1;
    while (geak_clock_mono_ms () < deadline) {
        if (s_any_dead (self))
            break;
        cJSON *stats = standalone_stats (client, 2000);
        if (stats) {
            workers = standalone_stats_workers (stats, GEAK_SERVICE_EVALUATOR);
            bool ready = workers >= opts->evaluators;
            for (int i = 0; i < ROLE_COUNT && opts->roles; i++)
                ready = ready && standalone_stats_workers (stats, s_role_services [i]) >= 1;
            cJSON_Delete (stats);
            if (ready) {
                result = 0;
                break;
            }
        }
        struct pollfd none;
        poll (&none, 0, 50);
    }
    geak_client_destroy (&client);
    if (result != 0)
        fprintf (stderr, "%s: %d of %d evaluators ready%s\n", self->tool, workers < 0 ? 0 : workers,
                 opts->evaluators, opts->roles ? " (and the role services)" : "");
    else
        geak_info ("standalone_ready", "endpoint=%s evaluators=%d roles=%d", self->endpoint,
                   opts->evaluators, (int) opts->roles);
    return result;
}

standalone_t *
standalone_new (const standalone_opts_t *opts)
{
    assert (opts && opts->tasks);
    if (opts->evaluators < 1 || opts->evaluators > STANDALONE_MAX)
        return NULL;
    standalone_t *self = geak_malloc0 (sizeof *self);
    self->tool = opts->tool ? opts->tool : "geak";
    if (s_start (self, opts) != 0)
        standalone_destroy (&self);
    return self;
}

// ------------------------------------------------------------------ --llm

static char *
s_assign (const char *name, const char *value, size_t len)
{
    char *entry = NULL;
    if (asprintf (&entry, "%s=%.*s", name, (int) len, value) < 0)
        return NULL;
    return entry;
}

void
standalone_env_free (char ***env_p)
{
    assert (env_p);
    char **env = *env_p;
    if (!env)
        return;
    for (size_t i = 0; env [i]; i++)
        free (env [i]);
    free (env);
    *env_p = NULL;
}

geak_rc_t
standalone_llm_env (const char *spec, char ***env_p)
{
    assert (env_p);
    *env_p = NULL;
    if (!spec || !*spec)
        return GEAK_E_CONFIG;
    char **env = geak_malloc0 (4 * sizeof *env);
    size_t n = 0;
    if (strcmp (spec, "env") == 0) {
        *env_p = env;
        return GEAK_OK;
    }
    if (strncmp (spec, "replay:", 7) == 0 && spec [7]) {
        char *real = realpath (spec + 7, NULL);
        const char *path = real ? real : spec + 7;
        env [n++] = s_assign ("GEAK_LLM_PROVIDER", "replay", 6);
        env [n++] = s_assign ("GEAK_LLM_REPLAY", path, strlen (path));
        free (real);
    }
    else {
        const char *provider = strncmp (spec, "openai:", 7) == 0 ? "openai"
                             : strncmp (spec, "anthropic:", 10) == 0 ? "anthropic" : NULL;
        const char *model = provider ? strchr (spec, ':') + 1 : NULL;
        if (!model || !*model || *model == '@') {
            free (env);
            return GEAK_E_CONFIG;
        }
        //  the base URL follows the last '@' that starts an http(s) URL
        const char *at = NULL;
        for (const char *p = strchr (model, '@'); p; p = strchr (p + 1, '@'))
            if (strncmp (p + 1, "http://", 7) == 0 || strncmp (p + 1, "https://", 8) == 0)
                at = p;
        size_t model_len = at ? (size_t) (at - model) : strlen (model);
        env [n++] = s_assign ("GEAK_LLM_PROVIDER", provider, strlen (provider));
        env [n++] = s_assign ("GEAK_LLM_MODEL", model, model_len);
        if (at)
            env [n++] = s_assign ("GEAK_LLM_BASE_URL", at + 1, strlen (at + 1));
    }
    for (size_t i = 0; i < n; i++)
        if (!env [i]) {
            standalone_env_free (&env);
            return GEAK_E_NOMEM;
        }
    *env_p = env;
    return GEAK_OK;
}
