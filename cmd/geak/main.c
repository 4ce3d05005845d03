/*  geak - the command-line tool: dispatches to one subcommand per file. */
#include "geak_prelude.h"
#include "geak_log.h"
#include "commands.h"

static const struct {
    const char *name;
    int (*fn) (int argc, char **argv);
    const char *help;
} s_commands [] = {
    { "ping",  geak_cmd_ping,  "ping SERVICE...        health of each service through the broker" },
    { "stats", geak_cmd_stats, "stats                  the broker's counters (JSON)" },
    { "eval",  geak_cmd_eval,  "eval --candidates F    evaluate candidates, write verdicts and a summary" },
    { "call",  geak_cmd_call,  "call --body-file F SVC send raw bytes to a service, print the answer" },
    { "gpu",   geak_cmd_gpu,   "gpu                    this machine's devices (JSON)" },
    { "run",   geak_cmd_run,   "run --tasks D --k K --iterations N   the agent loop: pass@k scans (--resume ID)" },
    { "report", geak_cmd_report, "report RUN [--out DIR] metrics, plots and final candidates of a stored run" },
    { "status", geak_cmd_status, "status [RUN]           runs in the store, or one run's progress" },
    { "keygen", geak_cmd_keygen, "keygen FILE            a CURVE key pair file (0600); prints the public key" },
    { "sandbox-bpf", geak_cmd_sandbox_bpf, "sandbox-bpf FILE       the candidate seccomp-bpf filter (bwrap --seccomp)" },
    { "store", geak_cmd_store, "store check RUN        audit a stored run: lineages complete, attempts once, policy, counters" },
    { "llm",   geak_cmd_llm,   "llm check|request      the LLM endpoint: reach it and find the model; the request sent" },
    { "tasks", geak_cmd_tasks, "tasks list|check|import  the task directory: list, reference self-checks, benchmark import" },
};
#define NCOMMANDS (sizeof s_commands / sizeof s_commands [0])

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: geak COMMAND [options]   (geak-c %s)\n\ncommands:\n", GEAK_VERSION_STRING);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf (out, "  %s\n", s_commands [i].help);
    fprintf (out, "\nEach command takes --broker ENDPOINT (env GEAK_BROKER) where it talks to one.\n");
}

int
main (int argc, char *argv [])
{
    geak_log_init ("geak");
    if (argc < 2 || strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp (argv [1], "--version") == 0 || strcmp (argv [1], "version") == 0) {
        printf ("geak-c %s\n", GEAK_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp (argv [1], s_commands [i].name) == 0)
            return s_commands [i].fn (argc - 1, argv + 1);
    fprintf (stderr, "geak: unknown command '%s'\n", argv [1]);
    s_usage (stderr);
    return 2;
}
