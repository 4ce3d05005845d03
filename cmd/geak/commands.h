/*  commands.h - subcommands of the geak CLI. Each returns the process exit
    code: 0 success, 1 the operation failed, 2 bad usage. */
#ifndef GEAK_CMD_COMMANDS_H_INCLUDED
#define GEAK_CMD_COMMANDS_H_INCLUDED

int geak_cmd_ping (int argc, char **argv);      //  health of a service
int geak_cmd_stats (int argc, char **argv);     //  broker counters (mmi.stats)
int geak_cmd_eval (int argc, char **argv);      //  evaluate a JSONL of candidates
int geak_cmd_gpu (int argc, char **argv);       //  device facts as JSON
int geak_cmd_call (int argc, char **argv);     //  send raw bytes to a service

#endif
