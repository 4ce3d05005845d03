/*  commands.h - subcommands of the geak CLI. Each returns the process exit
    code: 0 success, 1 the operation failed, 2 bad usage. */
#ifndef GEAK_CMD_COMMANDS_H_INCLUDED
#define GEAK_CMD_COMMANDS_H_INCLUDED

int geak_cmd_ping (int argc, char **argv);      //  health of a service
int geak_cmd_stats (int argc, char **argv);     //  broker counters (mmi.stats)
int geak_cmd_eval (int argc, char **argv);      //  evaluate a JSONL of candidates
int geak_cmd_gpu (int argc, char **argv);       //  device facts as JSON
int geak_cmd_call (int argc, char **argv);     //  send raw bytes to a service
int geak_cmd_run (int argc, char **argv);      //  the GEAK agent loop (pass@k scans, resume)
int geak_cmd_report (int argc, char **argv);    //  metrics, plots and final candidates of a run
int geak_cmd_status (int argc, char **argv);    //  runs, or one run's progress
int geak_cmd_keygen (int argc, char **argv);    //  a CURVE key pair file
int geak_cmd_sandbox_bpf (int argc, char **argv);  //  the candidate seccomp filter
int geak_cmd_store (int argc, char **argv);     //  audit a stored run
int geak_cmd_llm (int argc, char **argv);       //  LLM endpoint check, request preview
int geak_cmd_tasks (int argc, char **argv);     //  benchmark import, task list, reference self-checks

#endif
