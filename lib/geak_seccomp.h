/*  geak_seccomp.h - the seccomp-bpf policy every candidate process runs under.

    The trusted side compiles the filter with libseccomp and hands the raw
    BPF program to bubblewrap (`bwrap --seccomp FD`), which loads it, with
    no_new_privs, right before it executes the sandbox's first process: the
    candidate server (services/evaluator/harness/zygote.py) and every
    candidate forked from it run under it, and no process in the sandbox can
    remove it.

    Default action: allow. Denied with EPERM: tracing and cross-process
    memory (ptrace, process_vm_readv/writev, kcmp, pidfd_getfd), namespace
    and mount changes (setns, unshare, mount, umount2, pivot_root, chroot,
    the new mount API), new namespaces through clone flags, kernel
    interfaces a kernel exploit needs (bpf, perf_event_open, userfaultfd,
    io_uring, keyctl and the key syscalls, module loading, kexec), host
    administration (reboot, swapon/off, syslog, acct, quotactl, clocks,
    hostname), name_to_handle_at/open_by_handle_at, iopl/ioperm and the
    TIOCSTI terminal injection. clone3 answers ENOSYS so that libc falls
    back to clone, whose flags the filter can see. A syscall of another
    architecture (the i386 or x32 ABI) kills the process. See
    docs/security.md. */
#ifndef GEAK_SECCOMP_H_INCLUDED
#define GEAK_SECCOMP_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

//  Write the candidate filter as a raw BPF program to fd (what bwrap's
//  --seccomp reads). GEAK_OK, GEAK_E_UNSUPPORTED (libseccomp refused a
//  rule: an unknown architecture), GEAK_E_IO (write failed).
geak_rc_t geak_seccomp_write_bpf (int fd);

//  Write it to a new file at path (mode 0644, replaced atomically).
geak_rc_t geak_seccomp_write_bpf_file (const char *path);

//  How many syscalls the policy names (for logs and tests).
size_t geak_seccomp_rule_count (void);

int geak_seccomp_test (bool verbose);

#endif
