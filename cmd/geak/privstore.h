/*  privstore.h - the private Redis of a geak command run with none
    configured (no GEAK_REDIS_HOST / GEAK_REDIS_PORT): a redis-server on a
    free loopback port with its data (AOF, appendfsync everysec) in the
    state directory, GEAK_STATE_DIR/redis, else $XDG_STATE_HOME/geak-c/redis,
    else ~/.local/state/geak-c/redis, so `geak run --resume`, `geak status`
    and `geak report` find the runs again. Commands running at once share
    it (redis.port in the directory, a lock while one starts); the last one
    to exit shuts it down. */
#ifndef GEAK_CMD_PRIVSTORE_H_INCLUDED
#define GEAK_CMD_PRIVSTORE_H_INCLUDED

//  With no Redis configured, start or share the private one and set
//  GEAK_REDIS_HOST / GEAK_REDIS_PORT in this process (children inherit
//  them). 0 ok (also when a Redis is configured: nothing done), -1 failed
//  (the reason printed as "TOOL: ...").
int privstore_ensure (const char *tool);
//  The private store's directory.
const char *privstore_dir (void);
//  Leave it now (shut it down when last), instead of at exit.
void privstore_leave (void);

#endif
