/*  standalone.h - a private set of geak processes for one command
    (`geak eval --standalone N`, `geak run --standalone`): a geak-broker on
    a free loopback port, N geak-evaluator processes (pinned round-robin to
    the GPUs, if any) and, when asked, one geak-generator, geak-reflector
    and geak-optimizer. The binaries are taken from the directory of the
    running geak binary. Children's stdout joins their stderr (our stdout
    carries JSON only).

    standalone_new returns once every child is registered at the broker
    (mmi.stats, polled, bounded by STANDALONE_READY_MS); a child that exits
    during the start fails it at once. standalone_destroy stops everything
    (SIGTERM, then SIGKILL after a grace period). */
#ifndef GEAK_CMD_STANDALONE_H_INCLUDED
#define GEAK_CMD_STANDALONE_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_client.h"
#include <cjson/cJSON.h>

#define STANDALONE_MAX          64          //  evaluators at most
#define STANDALONE_READY_MS     120000

typedef struct {
    const char *tool;               //  for messages, e.g. "geak eval"
    const char *tasks;              //  task root: evaluators' and roles' --tasks
    int evaluators;                 //  1..STANDALONE_MAX
    bool roles;                     //  also one generator, reflector and optimizer
    int role_threads;               //  --threads of each role service (0: 1)
    //  "NAME=value" entries set for the role services only, NULL-terminated
    //  (NULL: none); the rest of their environment is ours.
    char *const *role_env;
} standalone_opts_t;

typedef struct standalone_t standalone_t;

//  Start and wait until ready. NULL on failure (children already stopped;
//  the reason went to stderr).
standalone_t *standalone_new (const standalone_opts_t *opts);
//  Stop all children and free; NULLs *self_p; safe to call twice.
void standalone_destroy (standalone_t **self_p);
//  The broker endpoint, e.g. "tcp://127.0.0.1:40123" (borrowed).
const char *standalone_endpoint (const standalone_t *self);

//  The broker's mmi.stats (caller frees with cJSON_Delete), or NULL when
//  the broker does not answer within timeout_ms.
cJSON *standalone_stats (geak_client_t *client, int timeout_ms);
//  Workers registered for a service in a stats object (0 when absent).
int standalone_stats_workers (const cJSON *stats, const char *service);
//  Both in one: workers of service, -1 when the broker does not answer.
int standalone_service_workers (geak_client_t *client, const char *service);

//  The role services' LLM environment for an --llm spec:
//    replay:FILE                 GEAK_LLM_PROVIDER=replay GEAK_LLM_REPLAY=<absolute FILE>
//    openai:MODEL[@BASE_URL]     GEAK_LLM_PROVIDER=openai GEAK_LLM_MODEL=MODEL [GEAK_LLM_BASE_URL]
//    anthropic:MODEL[@BASE_URL]  the same with provider anthropic
//    env                         nothing: the environment as it is
//  On GEAK_OK *env_p is a NULL-terminated array of "NAME=value" (free with
//  standalone_env_free). GEAK_E_CONFIG for anything else (*env_p NULL).
//  Keys never come from the spec: GEAK_LLM_API_KEY(_FILE) stays in the env.
geak_rc_t standalone_llm_env (const char *spec, char ***env_p);
void standalone_env_free (char ***env_p);

//  A loopback TCP port free now (bound and released), or -1.
int standalone_free_port (void);

#endif
