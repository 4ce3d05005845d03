/*  run_loop.h - the driver of `geak run`: every lineage (task, sample) of a
    run at once over one async client, one thread. What a lineage does next
    is decided by lib/geak_scan from its stored attempts only; this file does
    the talking (requests, replies, retries, back-pressure), the store
    writes and the progress output. docs/run.md describes the loop.

    run.c (the command) fills a run_t, then calls run_selfcheck (fresh runs),
    run_lineage_load + run_lineage_fold for every lineage, run_scan, and
    run_free. */
#ifndef GEAK_CMD_RUN_LOOP_H_INCLUDED
#define GEAK_CMD_RUN_LOOP_H_INCLUDED

#include "geak_prelude.h"
#include "geak_client.h"
#include "geak_scan.h"
#include "geak_store.h"
#include "run_config.h"

#include <signal.h>

#define RUN_REQUEST_ID_MAX  128         //  GMDP request ids: attempt id + ":" phase [+ ":r" redo]

enum { RUN_SVC_GEN, RUN_SVC_REFL, RUN_SVC_OPT, RUN_SVC_EVAL, RUN_SVC_COUNT };

typedef enum { RUN_IDLE, RUN_WAIT, RUN_BACKOFF, RUN_DONE, RUN_STUCK } run_lstate_t;

typedef struct {
    size_t task;                    //  index into cfg->tasks
    uint32_t sample;
    Geak__Attempt **att;            //  stored attempts in order (owned, unpacked)
    size_t n, alloc;
    geak_scan_state_t scan;
    run_lstate_t st;
    int svc;                        //  RUN_WAIT: the service asked
    bool selfcheck;                 //  a task self-check, not a lineage
    char request_id [RUN_REQUEST_ID_MAX + 1];
    uint32_t tries;                 //  transport failures of the current step
    uint32_t redo;                  //  answers redone for the current step
    int64_t retry_at;               //  RUN_BACKOFF: when (monotonic ms)
    Geak__Attempt *staged;          //  waiting for its store put (owned)
} run_lineage_t;

typedef struct {
    run_config_t *cfg;              //  borrowed
    geak_store_t *store;            //  borrowed
    geak_client_t *client;          //  borrowed
    run_lineage_t *lin;             //  owned (run_free)
    size_t nlin;
    run_lineage_t *checks;          //  one per task during the self-check
    int inflight [RUN_SVC_COUNT];
    int workers [RUN_SVC_COUNT];    //  registered at the broker (mmi.stats)
    int concurrency;                //  in flight per service at most
    int64_t next_stats;
    Geak__DeviceFacts *device;      //  owned; from the evaluators' answers
    bool tty, quiet;
    uint64_t attempts_new, evaluations;
    int64_t t0;
    int64_t next_progress;
    size_t rr;
    bool progress_shown;
    char *stop_reason;              //  owned; set: the whole run stops (run_stop)
    char *first_stuck;              //  owned; why the first lineage got stuck
    int64_t no_worker_since [RUN_SVC_COUNT];    //  mono ms; 0: a worker is there (or no work)
    bool no_worker_warned [RUN_SVC_COUNT];
    uint64_t lease_token;           //  0: none taken (yet)
    long lease_ttl_ms;
    int64_t lease_renew_at;         //  monotonic ms
} run_t;

//  Set by the command's SIGINT / SIGTERM handler: the loops return -1.
extern volatile sig_atomic_t run_interrupted;

//  Read a lineage's stored attempts (in order) into l.
geak_rc_t run_lineage_load (run_t *run, run_lineage_t *l);
//  Fold l's attempts through geak_scan (l becomes RUN_IDLE, RUN_DONE or RUN_STUCK).
void run_lineage_fold (run_t *run, run_lineage_t *l);
void run_lineage_stuck (run_t *run, run_lineage_t *l, const char *why);
//  Stop the whole run (a permanent failure every lineage would meet, e.g.
//  the LLM endpoint refusing the model): run_scan returns -2; the first
//  reason is kept.
void run_stop (run_t *run, const char *why);
//  Re-read the registered workers per service (every 2 s unless force).
void run_refresh_workers (run_t *run, bool force);
//  Self-check every task of cfg through the evaluators; fills task status
//  and reason ("unchecked" when the evaluator cannot say). 0, -1 when
//  interrupted or the client failed, -2 when run_stop was called.
int run_selfcheck (run_t *run);
//  Drive every lineage until each is RUN_DONE or RUN_STUCK. 0, -1 when
//  interrupted or the client failed, -2 when run_stop was called.
int run_scan (run_t *run);
//  Progress line (TTY) or log line; final prints the last one.
void run_progress (run_t *run, bool final);
void run_totals (const run_t *run, size_t *done, size_t *attempts, uint32_t *passes,
                 uint64_t *tokens_in, uint64_t *tokens_out, uint64_t *remaining);
//  Free the lineages, the checks and the device.
void run_free (run_t *run);

#endif
