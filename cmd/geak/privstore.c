/*  privstore.c - the private Redis of a command run with none configured. */
#include "geak_prelude.h"
#include "geak_config.h"
#include "geak_log.h"
#include "privstore.h"
#include "standalone.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <hiredis/hiredis.h>

extern char **environ;

static pid_t s_owned = 0;           //  the redis-server this process started
static int s_used_port = 0;         //  the private Redis this process uses
static char s_dir [PATH_MAX];

//  mkdir -p
static int
s_mkdirs (const char *path)
{
    char buf [PATH_MAX];
    snprintf (buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir (buf, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir (buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

const char *
privstore_dir (void)
{
    const char *dir = geak_config_str ("GEAK_STATE_DIR", NULL);
    if (dir)
        snprintf (s_dir, sizeof s_dir, "%s/redis", dir);
    else {
        const char *xdg = geak_config_str ("XDG_STATE_HOME", NULL);
        const char *home = geak_config_str ("HOME", "/tmp");
        if (xdg)
            snprintf (s_dir, sizeof s_dir, "%s/geak-c/redis", xdg);
        else
            snprintf (s_dir, sizeof s_dir, "%s/.local/state/geak-c/redis", home);
    }
    return s_dir;
}

static bool
s_ping (int port)
{
    struct timeval tv = { .tv_sec = 0, .tv_usec = 300 * 1000 };
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", port, tv);
    bool ok = false;
    if (c && !c->err) {
        redisSetTimeout (c, tv);
        redisReply *r = redisCommand (c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && strcmp (r->str, "PONG") == 0;
        if (r)
            freeReplyObject (r);
    }
    if (c)
        redisFree (c);
    return ok;
}

//  At exit: the last command using the private Redis shuts it down (AOF
//  flushed); one still used by another command is left running for it
static void
s_leave (void)
{
    if (!s_used_port)
        return;
    struct timeval tv = { .tv_sec = 2, .tv_usec = 0 };
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", s_used_port, tv);
    bool last = false;
    if (c && !c->err) {
        redisSetTimeout (c, tv);
        redisReply *r = redisCommand (c, "CLIENT LIST");
        if (r && r->type == REDIS_REPLY_STRING) {
            int clients = 0;
            for (const char *at = r->str; at && *at; at = strchr (at, '\n') ? strchr (at, '\n') + 1 : NULL)
                clients += *at != '\0';
            last = clients <= 1;
        }
        if (r)
            freeReplyObject (r);
        if (last) {
            r = redisCommand (c, "SHUTDOWN");
            if (r)
                freeReplyObject (r);
            char path [PATH_MAX + 16];
            snprintf (path, sizeof path, "%s/redis.port", s_dir);
            unlink (path);
        }
    }
    if (c)
        redisFree (c);
    if (s_owned) {
        int status;
        for (int i = 0; last && i < 100 && waitpid (s_owned, &status, WNOHANG) == 0; i++)
            usleep (50 * 1000);
        if (last && waitpid (s_owned, &status, WNOHANG) == 0) {
            kill (s_owned, SIGKILL);
            waitpid (s_owned, &status, 0);
        }
        s_owned = 0;
    }
    s_used_port = 0;
}

int
privstore_ensure (const char *tool)
{
    if (geak_config_str ("GEAK_REDIS_HOST", NULL) || geak_config_str ("GEAK_REDIS_PORT", NULL))
        return 0;                   //  a Redis is configured: it is used, never replaced
    const char *dir = privstore_dir ();
    if (s_mkdirs (dir) != 0) {
        fprintf (stderr, "%s: cannot create the private store directory %s: %s (set GEAK_STATE_DIR, "
                 "or GEAK_REDIS_HOST/PORT for a Redis of your own)\n", tool, dir, strerror (errno));
        return -1;
    }
    char lock_path [PATH_MAX + 16], port_path [PATH_MAX + 16], log_path [PATH_MAX + 16];
    snprintf (lock_path, sizeof lock_path, "%s/redis.lock", dir);
    snprintf (port_path, sizeof port_path, "%s/redis.port", dir);
    snprintf (log_path, sizeof log_path, "%s/redis.log", dir);
    int lock = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock (lock, LOCK_EX) != 0) {
        fprintf (stderr, "%s: cannot lock %s: %s\n", tool, lock_path, strerror (errno));
        if (lock >= 0)
            close (lock);
        return -1;
    }
    //  one already running for this directory (another geak command): share it
    int port = 0;
    FILE *f = fopen (port_path, "r");
    if (f) {
        if (fscanf (f, "%d", &port) != 1)
            port = 0;
        fclose (f);
    }
    if (port <= 0 || !s_ping (port)) {
        port = standalone_free_port ();
        char port_text [16];
        snprintf (port_text, sizeof port_text, "%d", port);
        char *argv [] = { "redis-server", "--port", port_text, "--bind", "127.0.0.1",
                          "--dir", (char *) dir, "--appendonly", "yes", "--appendfsync", "everysec",
                          "--save", "", "--daemonize", "no", "--logfile", log_path, NULL };
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init (&actions);
        posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
        pid_t pid = 0;
        int rc = port > 0 ? posix_spawnp (&pid, "redis-server", &actions, NULL, argv, environ) : -1;
        posix_spawn_file_actions_destroy (&actions);
        if (rc != 0) {
            fprintf (stderr, "%s: no Redis configured (GEAK_REDIS_HOST/PORT) and redis-server cannot "
                     "be started: %s (install redis-server, or point GEAK_REDIS_HOST/PORT at one)\n",
                     tool, strerror (rc ? rc : EADDRINUSE));
            close (lock);
            return -1;
        }
        bool up = false;
        for (int i = 0; i < 200 && !up; i++) {
            int status;
            if (waitpid (pid, &status, WNOHANG) == pid)
                break;
            up = s_ping (port);
            if (!up)
                usleep (50 * 1000);
        }
        if (!up) {
            fprintf (stderr, "%s: the private redis-server did not start (see %s)\n", tool, log_path);
            kill (pid, SIGKILL);
            waitpid (pid, NULL, 0);
            close (lock);
            return -1;
        }
        s_owned = pid;
        f = fopen (port_path, "w");
        if (f) {
            fprintf (f, "%d\n", port);
            fclose (f);
        }
        geak_info ("private_store_started", "dir=%s port=%d pid=%d", dir, port, (int) pid);
        fprintf (stderr, "%s: no Redis configured (GEAK_REDIS_HOST/PORT): using a private one, data "
                 "in %s\n", tool, dir);
    }
    else
        geak_info ("private_store_shared", "dir=%s port=%d", dir, port);
    close (lock);
    s_used_port = port;
    atexit (s_leave);
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", port);
    setenv ("GEAK_REDIS_HOST", "127.0.0.1", 1);
    setenv ("GEAK_REDIS_PORT", port_text, 1);
    return 0;
}

void
privstore_leave (void)
{
    s_leave ();
}
