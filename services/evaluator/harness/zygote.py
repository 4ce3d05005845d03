"""The candidate server: runs inside the sandbox and is untrusted (docs/security.md).

    python3 -m harness.zygote --sock FD --uid UID [--direct [--seccomp-fd FD]] [--host-ns JSON]

Started by isolate.Sandbox through bubblewrap (or directly, when the host gives no namespaces).
It drops to its uid, makes itself non-dumpable (so no process of the same uid can read or write
its memory or descriptors through /proc), imports torch and triton once, reports the isolation
layers it really has, then serves requests on a SOCK_SEQPACKET socket:

  {"op":"fork","spec":{...}} + two fds (ctl_r, data_w)  -> {"ev":"forked","pid":P}
      one fresh child per candidate, which runs child.candidate_main on those two pipes only;
  {"op":"clean"} -> {"ev":"clean","ok":B,"stderr_tail":S}
      kills every process left in the sandbox and removes everything the candidate wrote.

It never initialises CUDA itself (children do), never reads what a candidate wrote except the
tail of its stderr (advisory), and never runs two candidates at once.
"""
import argparse
import ctypes
import json
import os
import signal
import socket
import stat
import sys
import time

PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_MODE_FILTER = 2
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUTS = 0x04000000
_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp(data):
    """Install a raw BPF program (what bwrap --seccomp reads) on this process."""
    if not data or len(data) % 8:
        raise OSError("bad seccomp program (%d bytes)" % len(data))
    buf = ctypes.create_string_buffer(bytes(data), len(data))
    prog = _SockFprog(len(data) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def _status_field(name):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def probe_layers(host_ns, uid_dropped):
    """What this process really runs under (read before any candidate exists)."""
    from .sandbox import namespace_inodes
    mine = namespace_inodes()
    other = lambda ns: bool(host_ns.get(ns)) and mine.get(ns) is not None and mine[ns] != host_ns[ns]  # noqa: E731
    return {"uid": os.getuid() if uid_dropped else 0, "mountns": other("mnt"), "pidns": other("pid"),
            "netns": other("net"), "ipcns": other("ipc"), "utsns": other("uts"),
            "seccomp": _status_field("Seccomp") == "2", "nnp": _status_field("NoNewPrivs") == "1",
            "rlimits": True}


def drop_uid(uid):
    """-> True when the process now runs as uid (it was root), False when it kept its uid."""
    if os.geteuid() != 0:
        return False
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError("uid drop did not take")
    return True


def _warm_up(interpreted, cache):
    """Load what every candidate needs and is the same for all: Triton's lazy modules and, on a
    GPU, its compiled driver utilities (no CUDA call: the children initialise CUDA)."""
    os.environ["TRITON_CACHE_DIR"] = cache
    import torch  # noqa: F401
    import triton
    import triton.language  # noqa: F401
    from . import child  # noqa: F401  (the candidate runner and everything it imports)
    for mod in ("torch._dynamo", "triton.compiler.compiler", "triton.backends.nvidia.compiler",
                "triton.backends.nvidia.driver", "triton.backends.amd.compiler", "triton.backends.amd.driver",
                "triton.testing", "triton.runtime.interpreter", "triton.experimental", "triton.tools"):
        try:
            __import__(mod)
        except Exception:
            pass
    if not interpreted:
        try:
            triton.runtime.driver.active.utils  # noqa: B018
        except Exception:
            pass
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        raise RuntimeError("CUDA was initialised in the candidate server (it must not be)")


def _others():
    me = os.getpid()
    try:
        return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
    except OSError:
        return []


def _dying(pid):
    """A zombie, or a process with SIGKILL pending: it will never run user code again (its exit,
    e.g. a GPU context teardown, may still take a while)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:") and line.split()[1] in ("Z", "X"):
                    return True
                if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & (1 << 8):
                    return True
    except (OSError, ValueError, IndexError):
        return True  # gone already
    return False


def _kill_all_others(deadline):
    """kill(-1, SIGKILL) and reap, again, until every other process of this pid namespace (but
    its init) is dead or dying: nothing a candidate started can run after this returns."""
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        left = [p for p in _others() if not _dying(p)]
        if not left or time.monotonic() >= deadline:
            return not left
        time.sleep(0.002)


def _remove_tree_contents(root, keep=()):
    """Delete everything under root without following links and without entering another file
    system (the sandbox's read-only binds below /tmp stay); directories the candidate made
    unreadable are chmod'ed first; the directories in `keep` are emptied, not removed.  Iterative:
    depth costs no recursion.  -> True when nothing the candidate could have written is left."""
    try:
        dev = os.lstat(root).st_dev
    except OSError:
        return False
    keep = set(keep) | {root}
    stack, dirs, held, ok = [root], [], set(), True
    while stack:
        d = stack.pop()
        dirs.append(d)
        if d != root:
            try:
                os.chmod(d, 0o700, follow_symlinks=False)
            except OSError:
                pass
        try:
            entries = list(os.scandir(d))
        except OSError:
            ok = False
            continue
        for e in entries:
            try:
                if e.stat(follow_symlinks=False).st_dev != dev:
                    # a mount point: its parents stay (they are the sandbox's, not the candidate's)
                    p = d
                    while p not in held and p != root:
                        held.add(p)
                        p = os.path.dirname(p)
                    continue
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    os.unlink(e.path)
            except OSError:
                ok = False
    for d in reversed(dirs):
        if d in keep or d in held:
            continue
        try:
            os.rmdir(d)
        except OSError:
            ok = False
    return ok


def _tail_regular(path, n=2000):
    """Last n bytes of path if it is a regular file (never a link, FIFO or device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ""
        os.lseek(fd, max(0, st.st_size - n), os.SEEK_SET)
        return os.read(fd, n).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


class Server:
    def __init__(self, sock, work_root, direct):
        self.sock = sock
        self.work_root = work_root
        self.direct = direct
        self.current = None     # (pid, work dir) of the candidate of this round
        self.seq = 0

    def reply(self, obj):
        self.sock.send(json.dumps(obj).encode())

    def serve(self):
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            except OSError:
                return
            if not data:
                return
            try:
                req = json.loads(data)
                op = req.get("op") if isinstance(req, dict) else None
            except ValueError:
                op = None
            if op == "fork" and len(fds) == 2 and self.current is None:
                self.fork(fds, req.get("spec") or {})
            elif op == "clean":
                for fd in fds:
                    os.close(fd)
                self.reply(self.clean())
            elif op == "wait":
                for fd in fds:
                    os.close(fd)
                self.reply(self.wait(float(req.get("timeout") or 0)))
            elif op == "kill":
                for fd in fds:
                    os.close(fd)
                self.kill_current()
                self.reply({"ev": "killed"})
            else:
                for fd in fds:
                    os.close(fd)
                self.reply({"ev": "error", "message": "bad request"})

    def fork(self, fds, spec):
        self.seq += 1
        work = os.path.join(self.work_root, "c%d-%s" % (self.seq, os.urandom(8).hex()))
        os.mkdir(work, 0o700)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 4
            try:
                self.sock.close()
                os.setpgid(0, 0)
                # the candidate may read its own /proc entries; the server stays non-dumpable
                _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
                from . import child
                child.candidate_main(spec, fds[0], fds[1], work)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        self.current = (pid, work)
        self.reply({"ev": "forked", "pid": pid})

    def kill_current(self):
        if self.current is None:
            return
        pid = self.current[0]
        if self.direct:
            for f in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    f()
                except OSError:
                    pass
        else:
            _kill_all_others(time.monotonic() + 5)

    def wait(self, timeout):
        """The wait status of this round's candidate (None if it is still running after timeout)
        and the tail of its stderr."""
        if self.current is None:
            return {"ev": "status", "status": None, "stderr_tail": ""}
        pid, work = self.current
        st = self.status if getattr(self, "status_pid", None) == pid else None
        deadline = time.monotonic() + min(max(timeout, 0.0), 30.0)
        while st is None:
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if got:
                st = status
                self.status, self.status_pid = st, pid
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.002)
        return {"ev": "status", "status": st, "stderr_tail": _tail_regular(os.path.join(work, "stderr.txt"))}

    def clean(self):
        tail = ""
        if self.current is not None:
            pid, work = self.current
            tail = _tail_regular(os.path.join(work, "stderr.txt"))
            if self.direct:
                # no pid namespace: only the candidate's own group can be named safely
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            else:
                # every process of the sandbox but this one (and the sandbox's init), until none
                # is left: a fork bomb may create some while the first kill runs
                _kill_all_others(time.monotonic() + 5)
            self.current = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.002)
        if self.direct:
            ok = _remove_tree_contents(self.work_root)   # the host's /tmp is not ours to wipe
        else:
            # the whole tmpfs, not only the work root: nothing one candidate writes anywhere is
            # there for the next one
            ok = _remove_tree_contents("/tmp", keep=[self.work_root])
            if os.path.isdir("/dev/shm"):
                ok = _remove_tree_contents("/dev/shm") and ok
        return {"ev": "clean", "ok": bool(ok), "stderr_tail": tail,
                "message": "" if ok else "files the candidate left could not be removed"}


def main(argv=None):
    p = argparse.ArgumentParser(prog="harness.zygote")
    p.add_argument("--sock", type=int, required=True)
    p.add_argument("--uid", type=int, required=True)
    p.add_argument("--direct", action="store_true")
    p.add_argument("--seccomp-fd", type=int, default=None)
    p.add_argument("--host-ns", default="{}")
    a = p.parse_args(argv)
    sock = socket.socket(fileno=a.sock)
    host_ns = json.loads(a.host_ns)
    interpreted = os.environ.get("TRITON_INTERPRET", "") not in ("", "0")
    try:
        bpf = None
        if a.seccomp_fd is not None:
            bpf = b""
            while True:
                b = os.read(a.seccomp_fd, 1 << 16)
                if not b:
                    break
                bpf += b
            os.close(a.seccomp_fd)
        if a.direct and os.geteuid() == 0:
            for flag in (CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS):
                _libc.unshare(flag)
        blocked = None
        if a.direct:
            # no mount namespace to give the uid a readable view of the Python installation
            import importlib.util
            from .sandbox import _unreadable_by_others
            for mod in ("torch", "triton"):
                spec = importlib.util.find_spec(mod)
                if spec and spec.origin:
                    blocked = blocked or _unreadable_by_others(os.path.dirname(spec.origin))
        dropped = False if blocked else drop_uid(a.uid)
        if a.direct:
            work_root = os.path.join("/tmp", "geak-zygote-%d-%s" % (os.getuid(), os.urandom(8).hex()))
            os.mkdir(work_root, 0o700)
            _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        else:
            work_root = "/tmp/.geak-candidates"
            os.mkdir(work_root, 0o700)
        if bpf:
            load_seccomp(bpf)
        layers = probe_layers(host_ns, dropped)
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        cache = os.path.join(work_root, ".zygote-cache-%s" % os.urandom(4).hex())
        os.mkdir(cache, 0o700)
        _warm_up(interpreted, cache)
    except BaseException as e:
        sys.stderr.write("zygote: setup failed: %r\n" % (e,))
        sys.stderr.flush()
        return 3
    sock.send(json.dumps({"ev": "hello", "pid": os.getpid(), "layers": layers,
                          "python": sys.version.split()[0]}).encode())
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        Server(sock, work_root, a.direct).serve()
    finally:
        if a.direct:
            _remove_tree_contents(work_root)
            try:
                os.rmdir(work_root)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
