/*  testredis.h - scratch redis-server processes for the C tests.

    testredis_free_port picks a loopback port nobody listens on;
    testredis_start runs redis-server there (no persistence, debug commands
    on, optional password) with PR_SET_PDEATHSIG, so it cannot outlive the
    test; testredis_wait polls PING until it answers (bounded);
    testredis_kill stops one. Every server started is tracked: register
    testredis_kill_all with atexit and testredis_on_signal for SIGINT and
    SIGTERM (testredis_init does both), and none is left behind.

    Header-only (static functions): the Makefile builds every C file in tests/c
    into a program of its own. */
#ifndef GEAK_TESTREDIS_H_INCLUDED
#define GEAK_TESTREDIS_H_INCLUDED

#include "geak_prelude.h"
#include "geak_log.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <hiredis/hiredis.h>

#define TESTREDIS_MAX 16
static pid_t testredis_pids [TESTREDIS_MAX];    //  0: a free slot

static inline void
testredis_track (pid_t pid, bool add)
{
    for (int i = 0; i < TESTREDIS_MAX; i++)
        if (add? testredis_pids [i] == 0: testredis_pids [i] == pid) {
            testredis_pids [i] = add? pid: 0;
            return;
        }
}

//  atexit: kill and reap every server still running
static inline void
testredis_kill_all (void)
{
    for (int i = 0; i < TESTREDIS_MAX; i++)
        if (testredis_pids [i] > 0) {
            kill (testredis_pids [i], SIGKILL);
            waitpid (testredis_pids [i], NULL, 0);
            testredis_pids [i] = 0;
        }
}

//  SIGINT / SIGTERM: kill every server, then die of the signal
static inline void
testredis_on_signal (int sig)
{
    for (int i = 0; i < TESTREDIS_MAX; i++)
        if (testredis_pids [i] > 0)
            kill (testredis_pids [i], SIGKILL);
    signal (sig, SIG_DFL);
    raise (sig);
}

//  A port nobody listens on right now (bind to 0, read it, close).
static inline int
testredis_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int rc = bind (fd, (struct sockaddr *) &addr, sizeof addr);
    assert (rc == 0);
    socklen_t len = sizeof addr;
    rc = getsockname (fd, (struct sockaddr *) &addr, &len);
    assert (rc == 0);
    close (fd);
    return ntohs (addr.sin_port);
}

//  Start redis-server on port (password may be NULL; its output goes to
//  /dev/null unless verbose). Does not wait: see testredis_wait.
static inline pid_t
testredis_start (int port, const char *password, bool verbose)
{
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", port);
    const char *argv [32];
    int argc = 0;
    argv [argc++] = "redis-server";
    argv [argc++] = "--port";
    argv [argc++] = port_text;
    argv [argc++] = "--bind";
    argv [argc++] = "127.0.0.1";
    argv [argc++] = "--save";
    argv [argc++] = "";
    argv [argc++] = "--appendonly";
    argv [argc++] = "no";
    argv [argc++] = "--dir";
    argv [argc++] = "/tmp";
    argv [argc++] = "--enable-debug-command";
    argv [argc++] = "yes";
    if (password) {
        argv [argc++] = "--requirepass";
        argv [argc++] = password;
    }
    argv [argc] = NULL;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        int null = open ("/dev/null", O_RDWR);
        if (null >= 0 && !verbose) {
            dup2 (null, 1);
            dup2 (null, 2);
        }
        execvp ("redis-server", (char * const *) argv);
        _exit (127);
    }
    testredis_track (pid, true);
    return pid;
}

//  Poll PING until the server answers, up to timeout_ms. Fails fast if the
//  server process exits.
static inline bool
testredis_wait (pid_t pid, int port, const char *password, int timeout_ms)
{
    int64_t deadline = geak_clock_mono_ms () + timeout_ms;
    while (geak_clock_mono_ms () < deadline) {
        if (pid > 0 && waitpid (pid, NULL, WNOHANG) == pid) {
            testredis_track (pid, false);
            return false;
        }
        struct timeval tv = { 0, 200000 };
        redisContext *c = redisConnectWithTimeout ("127.0.0.1", port, tv);
        bool up = false;
        if (c && !c->err) {
            redisSetTimeout (c, tv);
            redisReply *r = NULL;
            if (password)
                r = redisCommand (c, "AUTH %s", password);
            if (r)
                freeReplyObject (r);
            r = redisCommand (c, "PING");
            up = r && r->type == REDIS_REPLY_STATUS && strcmp (r->str, "PONG") == 0;
            if (r)
                freeReplyObject (r);
        }
        if (c)
            redisFree (c);
        if (up)
            return true;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep (&ts, NULL);
    }
    return false;
}

//  Kill and reap a server (pid <= 0: nothing)
static inline void
testredis_kill (pid_t pid)
{
    if (pid > 0) {
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        testredis_track (pid, false);
    }
}

//  The start of a test program that runs scratch servers: "-v" among the
//  arguments makes it verbose (returned), else logging is off; servers
//  are killed at exit and on SIGINT / SIGTERM; SIGPIPE is ignored.
static inline bool
testredis_init (int argc, char *argv [], const char *program)
{
    bool verbose = false;
    for (int i = 1; i < argc; i++)
        if (strcmp (argv [i], "-v") == 0)
            verbose = true;
    geak_log_init (program);
    if (!verbose)
        geak_log_set_level (GEAK_LOG_OFF);
    atexit (testredis_kill_all);
    signal (SIGINT, testredis_on_signal);
    signal (SIGTERM, testredis_on_signal);
    signal (SIGPIPE, SIG_IGN);
    return verbose;
}

#endif
