/*  geak sandbox-bpf - write the candidate seccomp filter (lib/geak_seccomp).

    geak sandbox-bpf FILE

    Writes the raw BPF program that bubblewrap loads for every candidate
    sandbox (`bwrap --seccomp FD`) to FILE. The evaluator writes its own at
    start; this command is for tests and for running the harness by hand
    (docs/security.md). */
#include "geak_prelude.h"
#include "geak_seccomp.h"
#include "commands.h"

int
geak_cmd_sandbox_bpf (int argc, char **argv)
{
    if (argc != 2 || argv [1][0] == '-') {
        fprintf (argc == 2 && strcmp (argv [1], "--help") == 0 ? stdout : stderr,
                 "usage: geak sandbox-bpf FILE\n"
                 "  writes the candidate seccomp-bpf program (bwrap --seccomp) to FILE\n");
        return argc == 2 && strcmp (argv [1], "--help") == 0 ? 0 : 2;
    }
    geak_rc_t rc = geak_seccomp_write_bpf_file (argv [1]);
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak sandbox-bpf: cannot write %s: %s\n", argv [1], geak_rc_str (rc));
        return 1;
    }
    return 0;
}
