/*  run_config.h - what `geak run` writes once per run (the run config JSON
    of docs/run.md, stored with geak_store_run_create) and the tasks it
    scans, read from <tasks_root>/<name>/task.json. */
#ifndef GEAK_CMD_RUN_CONFIG_H_INCLUDED
#define GEAK_CMD_RUN_CONFIG_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define RUN_NAME_MAX 64             //  run ids and task names: [A-Za-z0-9_-]

typedef struct {
    char *name;                     //  the task directory's name
    char *dir;                      //  absolute path
    char *category;
    uint32_t difficulty;
    char *instruction;
    char *signature;
    char *digest;                   //  SHA-256 hex of task.json + spec.py + reference.py
    char *status;                   //  self-check: "ok", "broken", "flaky", "unchecked"
    char *reason;
    bool loaded;                    //  task.json was read (resume: false when it is gone)
} run_task_t;

typedef struct {
    char *run_id;
    int64_t created_ms;
    char *tasks_root;               //  absolute
    uint32_t k;
    uint32_t iterations;
    uint32_t max_debug;
    char *llm;                      //  the --llm spec ("env" when not given)
    bool correctness_only;
    bool knowledge, one_shot, reflector, optimizer;     //  ablation: true = on
    double price_in, price_out;     //  USD per million tokens
    uint32_t timeout_ms;            //  per evaluation, 0 = the evaluator's default
    run_task_t *tasks;
    size_t ntasks;
} run_config_t;

run_config_t *run_config_new (void);
void run_config_destroy (run_config_t **self_p);

//  Run ids and task names: 1..RUN_NAME_MAX of [A-Za-z0-9_-] (they become
//  parts of attempt ids, Redis keys and request ids).
bool run_config_valid_name (const char *name);

//  Read the tasks under root (absolute or relative): every subdirectory
//  holding a task.json, sorted by name; only `names` when nnames > 0 (each
//  must exist). Sets tasks_root. On failure *error is a malloc'd sentence.
geak_rc_t run_config_load_tasks (run_config_t *self, const char *root, char *const *names,
                                 size_t nnames, char **error);
//  Resume: re-read task.json of every task named in the config (loaded =
//  false, with a warning, when it is missing or unreadable).
void run_config_reload_tasks (run_config_t *self);

//  The config JSON (caller frees).
char *run_config_to_json (const run_config_t *self);
//  Parse a stored config. NULL with *error (malloc'd) when it is unusable.
run_config_t *run_config_from_json (const char *json, char **error);

#endif
