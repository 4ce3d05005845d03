"""Process hygiene of a candidate child, inside the sandbox (runs in the freshly forked child).

The isolation itself is the operating system's (isolate.py: bubblewrap namespaces, uid, seccomp).
Here: close every inherited descriptor but the two private pipes, stdio to files in the
candidate's own directory, and the resource limits (each reported in `notes`).
"""
import os
import stat
import resource
import sys

# address-space headroom a candidate gets over what it maps after its set-up when the request
# names none (the GPU runtimes map their ranges before the limit is set)
DEFAULT_AS_MB = 8192


def close_foreign_fds(keep):
    keep = sorted(set(keep) | {0, 1, 2})
    prev = 0
    for fd in keep:
        if fd > prev:
            os.closerange(prev, fd)
        prev = fd + 1
    os.closerange(prev, 1 << 16)


def redirect_stdio(directory):
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        f = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)


def vm_size_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except Exception:
        return 0


def apply_rlimits(limits, notes, address_space=True):
    """limits: {"cpu_s","nproc","fsize_mb","nofile","as_mb"}; as_mb is headroom over the
    address space the child already has after setup (torch alone maps gigabytes).
    address_space: False leaves RLIMIT_AS for a later call (after the GPU runtime started)."""
    table = (("cpu_s", resource.RLIMIT_CPU, 1),
             ("nproc", resource.RLIMIT_NPROC, 1),
             ("fsize_mb", resource.RLIMIT_FSIZE, 1 << 20),
             ("nofile", resource.RLIMIT_NOFILE, 1))
    for key, res, scale in table:
        v = limits.get(key)
        if v is None or v <= 0:
            continue
        v = int(v * scale)
        try:
            if key == "cpu_s":
                # soft limit -> SIGXCPU; hard limit a bit later -> SIGKILL
                resource.setrlimit(res, (v, v + 2))
            else:
                resource.setrlimit(res, (v, v))
            notes.append("%s=%d" % (key, v // scale))
        except (ValueError, OSError) as e:
            notes.append("%s-failed(%s)" % (key, e))
    if not address_space:
        return
    v = limits.get("as_mb")
    if not v:
        v = DEFAULT_AS_MB  # a memory limit always, unless asked for none (negative)
    if v > 0:
        lim = vm_size_bytes() + int(v) * (1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
            notes.append("as_mb=+%d" % v)
        except (ValueError, OSError) as e:
            notes.append("as-failed(%s)" % e)


def _unreadable_by_others(path):
    """The first directory on the way to path (path included) that a uid owning none of it
    cannot traverse and read, or None."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts) + 1):
        d = os.sep.join(parts[:i]) or os.sep
        try:
            mode = os.stat(d).st_mode
        except OSError:
            return d
        if not mode & stat.S_IXOTH or not mode & stat.S_IROTH:
            return d
    return None


def namespace_inodes():
    """Inode of each namespace of this process (mnt, pid, net, ipc, uts; None if unreadable): two
    processes are in the same namespace exactly when the inodes match."""
    out = {}
    for ns in ("mnt", "pid", "net", "ipc", "uts"):
        try:
            out[ns] = os.stat("/proc/self/ns/" + ns).st_ino
        except OSError:
            out[ns] = None
    return out
