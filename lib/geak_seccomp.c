/*  geak_seccomp.c - the candidate seccomp policy (see geak_seccomp.h). */
#include "geak_seccomp.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

//  Denied outright with EPERM. Names, not numbers: libseccomp resolves them
//  per architecture and skips none silently (an unknown name is an error).
static const char *s_denied [] = {
    //  another process's memory and descriptors
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    //  namespaces and mounts
    "setns", "unshare", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    //  kernel attack surface
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "lookup_dcookie", "name_to_handle_at", "open_by_handle_at", "iopl", "ioperm",
    //  host administration
    "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "vhangup",
};
#define NDENIED (sizeof s_denied / sizeof s_denied [0])

static const uint64_t s_ns_flags [] = {
    CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
    CLONE_NEWCGROUP,
};

size_t
geak_seccomp_rule_count (void)
{
    return NDENIED + 3;   //  + clone flags, clone3, ioctl TIOCSTI
}

static geak_rc_t
s_build (scmp_filter_ctx *ctx_p)
{
    scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
    if (!ctx)
        return GEAK_E_NOMEM;
    //  other ABIs are not added, so their syscalls hit the bad-arch action
    int rc = seccomp_attr_set (ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0)
        rc = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 1);
    for (size_t i = 0; rc == 0 && i < NDENIED; i++) {
        int nr = seccomp_syscall_resolve_name (s_denied [i]);
        if (nr == __NR_SCMP_ERROR) {
            rc = -EINVAL;
            break;
        }
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), nr, 0);
    }
    for (size_t i = 0; rc == 0 && i < sizeof s_ns_flags / sizeof s_ns_flags [0]; i++)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (clone), 1,
                               SCMP_A0 (SCMP_CMP_MASKED_EQ, s_ns_flags [i], s_ns_flags [i]));
    if (rc == 0)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), SCMP_SYS (clone3), 0);
    if (rc == 0)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                               SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, TIOCSTI));
    if (rc != 0) {
        seccomp_release (ctx);
        return GEAK_E_UNSUPPORTED;
    }
    *ctx_p = ctx;
    return GEAK_OK;
}

geak_rc_t
geak_seccomp_write_bpf (int fd)
{
    scmp_filter_ctx ctx;
    geak_rc_t rc = s_build (&ctx);
    if (rc != GEAK_OK)
        return rc;
    int e = seccomp_export_bpf (ctx, fd);
    seccomp_release (ctx);
    return e == 0 ? GEAK_OK : GEAK_E_IO;
}

geak_rc_t
geak_seccomp_write_bpf_file (const char *path)
{
    assert (path);
    char *tmp = geak_strdupf ("%s.%ld.tmp", path, (long) getpid ());
    if (!tmp)
        return GEAK_E_NOMEM;
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        free (tmp);
        return GEAK_E_IO;
    }
    geak_rc_t rc = geak_seccomp_write_bpf (fd);
    if (fchmod (fd, 0644) != 0 && rc == GEAK_OK)
        rc = GEAK_E_IO;
    if (close (fd) != 0 && rc == GEAK_OK)
        rc = GEAK_E_IO;
    if (rc == GEAK_OK && rename (tmp, path) != 0)
        rc = GEAK_E_IO;
    if (rc != GEAK_OK)
        unlink (tmp);
    free (tmp);
    return rc;
}

// ------------------------------------------------------------------ selftest

//  Load the exported program in a child and check a denied call, a clone
//  flag and an allowed call, the way bwrap loads it.
static int
s_child_probe (int bpf_fd)
{
    struct stat st;
    if (fstat (bpf_fd, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof (struct sock_filter))
        return 10;
    struct sock_filter *prog = malloc ((size_t) st.st_size);
    if (!prog || pread (bpf_fd, prog, (size_t) st.st_size, 0) != st.st_size)
        return 11;
    struct sock_fprog fprog = { .len = (unsigned short) (st.st_size / sizeof *prog), .filter = prog };
    if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return 12;
    if (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0)
        return 13;
    errno = 0;
    if (unshare (CLONE_NEWNET) == 0 || errno != EPERM)
        return 14;
    errno = 0;
    if (syscall (SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0) == 0 || errno != EPERM)
        return 15;
    errno = 0;
    if (syscall (SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
        return 16;
    if (getpid () <= 0)
        return 17;
    pid_t pid = fork ();          //  plain clone stays allowed
    if (pid < 0)
        return 18;
    if (pid == 0)
        _exit (0);
    int status;
    if (waitpid (pid, &status, 0) != pid || !WIFEXITED (status))
        return 19;
    return 0;
}

int
geak_seccomp_test (bool verbose)
{
    if (verbose)
        printf (" * geak_seccomp: ");
    char path [] = "/tmp/geak-seccomp-test-XXXXXX";
    int fd = mkstemp (path);
    GEAK_CHECK (fd >= 0);
    close (fd);
    GEAK_CHECK (geak_seccomp_write_bpf_file (path) == GEAK_OK);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    GEAK_CHECK (fd >= 0);
    struct stat st;
    GEAK_CHECK (fstat (fd, &st) == 0);
    GEAK_CHECK (st.st_size > (off_t) (geak_seccomp_rule_count () * sizeof (struct sock_filter)));
    GEAK_CHECK ((st.st_mode & 0777) == 0644);
    pid_t pid = fork ();
    GEAK_CHECK (pid >= 0);
    if (pid == 0)
        _exit (s_child_probe (fd));
    int status;
    GEAK_CHECK (waitpid (pid, &status, 0) == pid);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fprintf (stderr, "geak_seccomp: probe child status %d\n", status);
    GEAK_CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    close (fd);
    unlink (path);
    //  a path we cannot create is an error, not a crash
    GEAK_CHECK (geak_seccomp_write_bpf_file ("/nonexistent-dir/x.bpf") == GEAK_E_IO);
    if (verbose)
        printf ("OK\n");
    return 0;
}
