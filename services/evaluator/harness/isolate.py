"""The candidate sandbox, seen from the trusted side (docs/security.md).

Every candidate runs in a process forked from a *candidate server* (zygote.py) that lives inside
a bubblewrap sandbox: its own mount, pid, net, ipc, uts (and cgroup) namespaces, a read-only
view of the system and of the Python installation, a size-limited tmpfs as the only writable
path, GPU device nodes only, an unprivileged uid of its own, no_new_privs and the seccomp-bpf
policy compiled by lib/geak_seccomp.c.  The server is warm (torch and triton imported) and
serves one candidate at a time; before the next one it kills every process left in the
sandbox and wipes the tmpfs.  It is untrusted: nothing it or a candidate says decides a
verdict.

This module builds the bwrap command line, starts and stops the sandbox, and hands it the two
pipe ends of each candidate (SCM_RIGHTS over a unix socket).  When bubblewrap is missing or the
kernel refuses a layer, the sandbox starts with what the host gives and `missing` names every
absent layer; `require` makes that an error instead.
"""
import glob
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

import torch  # noqa: F401  (the fork server has it; only its location is needed here)
import triton

from . import sandbox

HARNESS_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("bwrap", "uid", "mountns", "pidns", "netns", "ipcns", "utsns", "seccomp", "nnp", "rlimits")
TMPFS_MB = 2048
HELLO_TIMEOUT_S = 120.0
_SYSTEM_DIRS = ("/usr", "/etc", "/opt", "/sys")
_TOP_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_GPU_NODES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/kfd", "/dev/dri")
_ENV_PASS = ("PATH", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
             "ROCR_VISIBLE_DEVICES", "CUDA_HOME", "ROCM_PATH", "TRITON_INTERPRET", "TRITON_PTXAS_PATH",
             "TRITON_CUOBJDUMP_PATH", "TRITON_NVDISASM_PATH", "TRITON_LIBCUDA_PATH", "TRITON_LIBDEVICE_PATH",
             "PYTORCH_NVML_BASED_CUDA_CHECK", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES")


class IsolationError(Exception):
    pass


def _python_dirs():
    """Directories the candidate's interpreter needs: prefixes, sys.path entries that exist, the
    torch and triton packages (they may sit outside the prefix, e.g. a --target install)."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
            os.path.realpath(os.path.dirname(os.path.dirname(torch.__file__))),
            os.path.realpath(os.path.dirname(os.path.dirname(triton.__file__))),
            os.path.realpath(os.path.dirname(os.path.realpath(sys.executable)))}
    for p in sys.path:
        if p and os.path.isdir(p):
            dirs.add(os.path.realpath(p))
    # keep the outermost only
    out = []
    for d in sorted(dirs, key=len):
        if not any(d == o or d.startswith(o.rstrip("/") + "/") for o in out):
            out.append(d)
    return out


def _covered(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def bwrap_argv(bwrap, uid, seccomp_fd, sock_fd, privileged, tmpfs_mb=TMPFS_MB):
    """-> argv of bwrap starting `python -m harness.zygote` in the sandbox."""
    a = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
         "--unshare-uts", "--unshare-cgroup-try", "--hostname", "geak-sandbox"]
    if privileged:
        # root: the namespaces come from our own privilege, no user namespace maps the sandbox's uid
        # onto ours; the server drops to `uid` itself (it keeps only these two capabilities)
        a += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        a += ["--unshare-user", "--disable-userns"]
    bound = []
    for d in _SYSTEM_DIRS:
        if os.path.isdir(d) and not os.path.islink(d):
            a += ["--ro-bind", d, d]
            bound.append(d)
    for l in _TOP_LINKS:
        if os.path.islink(l):
            a += ["--symlink", os.readlink(l), l]
        elif os.path.isdir(l):
            a += ["--ro-bind", l, l]
            bound.append(l)
    # the tmpfs first: a Python install or a checkout under /tmp is bound on top of it, not hidden
    a += ["--perms", "1777", "--size", str(int(tmpfs_mb) << 20), "--tmpfs", "/tmp"]
    made = {"/tmp"}
    for d in _python_dirs() + [HARNESS_PARENT]:
        if _covered(d, bound):
            continue
        parts = d.strip("/").split("/")
        for i in range(1, len(parts)):
            p = "/" + "/".join(parts[:i])
            if p not in made and not _covered(p, bound):
                a += ["--perms", "0755", "--dir", p]
                made.add(p)
        a += ["--ro-bind", d, d]
        bound.append(d)
    a += ["--proc", "/proc", "--dev", "/dev"]
    for pat in _GPU_NODES:
        for n in sorted(glob.glob(pat)):
            a += ["--dev-bind", n, n]
    if seccomp_fd is not None:
        a += ["--seccomp", str(seccomp_fd)]
    a += ["--chdir", "/tmp", sys.executable, "-s", "-m", "harness.zygote", "--sock", str(sock_fd),
          "--uid", str(uid), "--host-ns", json.dumps(sandbox.namespace_inodes())]
    return a


def _find_bwrap():
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d or ".", "bwrap")
        if os.access(p, os.X_OK):
            return p
    return None


def _memfd(data):
    fd = os.memfd_create("geak-seccomp", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class Sandbox:
    """One candidate server in its sandbox.  Not thread-safe (one per fork server)."""

    def __init__(self, uid, seccomp_bpf, interpreted, require=False):
        self.uid = int(uid)
        self.bpf = seccomp_bpf          # bytes or None
        self.interpreted = interpreted
        self.require = require
        self.proc = None
        self.sock = None
        self.layers = {}
        self.missing = []
        self.notes = []
        self.starts = 0

    # ---- lifecycle
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ensure(self):
        if not self.alive():
            self.stop()
            self.start()

    def start(self):
        bwrap = _find_bwrap()
        tried = []
        if bwrap:
            err = self._launch(bwrap)
            if err is None:
                return
            tried.append("bwrap failed: %s" % err)
        else:
            tried.append("bubblewrap (bwrap) not found")
        if self.require:
            raise IsolationError("isolation required: " + "; ".join(tried))
        err = self._launch(None)
        if err is not None:
            raise IsolationError("candidate server did not start: %s" % err)
        self.notes = tried

    def _launch(self, bwrap):
        """Start the server (through bwrap, or directly when bwrap is None). -> None or the error."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        seccomp_fd = _memfd(self.bpf) if self.bpf else None
        env = {k: os.environ[k] for k in _ENV_PASS if k in os.environ}
        env.update(HOME="/tmp", TMPDIR="/tmp", PYTHONPATH=HARNESS_PARENT, PYTHONDONTWRITEBYTECODE="1",
                   PYTHONNOUSERSITE="1")
        if self.interpreted:
            env["TRITON_INTERPRET"] = "1"
        pass_fds = [child.fileno()] + ([seccomp_fd] if seccomp_fd is not None else [])
        if bwrap:
            argv = bwrap_argv(bwrap, self.uid, seccomp_fd, child.fileno(), os.geteuid() == 0)
            cwd = "/"
        else:
            argv = [sys.executable, "-s", "-m", "harness.zygote", "--sock", str(child.fileno()),
                    "--uid", str(self.uid), "--direct", "--host-ns", json.dumps(sandbox.namespace_inodes())]
            if seccomp_fd is not None:
                argv += ["--seccomp-fd", str(seccomp_fd)]
            cwd = "/tmp"
        try:
            self.proc = subprocess.Popen(argv, pass_fds=pass_fds, env=env, cwd=cwd,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            parent.close()
            return "cannot start: %s" % e
        finally:
            child.close()
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        deadline = time.monotonic() + HELLO_TIMEOUT_S
        hello = None
        while time.monotonic() < deadline:
            r, _, _ = select.select([parent], [], [], 0.2)
            if r:
                try:
                    data = parent.recv(1 << 16)
                    hello = json.loads(data) if data else None
                except (OSError, ValueError):
                    hello = None
                break
            if self.proc.poll() is not None:
                break
        if not isinstance(hello, dict) or hello.get("ev") != "hello":
            err = self._stderr_of_dead() or "no hello from the candidate server"
            parent.close()
            self.stop()
            return err[-1500:]
        self._accept(hello, parent, "bwrap" if bwrap else "direct")
        return None

    def _accept(self, hello, sock, how):
        self.sock = sock
        self.starts += 1
        self.notes = []
        self.layers = dict(hello.get("layers") or {})
        self.layers["bwrap"] = how == "bwrap"
        self.missing = [k for k in LAYERS if not self.layers.get(k)]

    def stop(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None

    def _stderr_of_dead(self):
        p = self.proc
        if p is None or p.stderr is None:
            return ""
        try:
            p.wait(2)
        except subprocess.TimeoutExpired:
            return ""
        try:
            return p.stderr.read(4000).decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    @property
    def pgid(self):
        """Killing this group kills the whole sandbox (bwrap --die-with-parent)."""
        return self.proc.pid if self.proc is not None else 0

    def describe(self):
        """Short text for result.sandbox: the layers and what is missing."""
        on = [k for k in LAYERS if self.layers.get(k)]
        s = ",".join(on)
        if self.layers.get("uid"):
            s += ",uid=%s" % self.layers.get("uid")
        if self.missing:
            s += ";missing=" + ",".join(self.missing)
        return s

    # ---- one candidate
    def _send(self, obj, fds=(), timeout=30.0):
        data = json.dumps(obj).encode()
        _, w, _ = select.select([], [self.sock], [], timeout)
        if not w:
            raise IsolationError("candidate server does not accept requests")
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)

    def _recv(self, timeout):
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            raise IsolationError("candidate server did not answer in %.0f s" % timeout)
        data = self.sock.recv(1 << 16)
        if not data:
            raise IsolationError("candidate server is gone")
        try:
            msg = json.loads(data)
        except ValueError:
            raise IsolationError("candidate server sent garbage")
        if not isinstance(msg, dict):
            raise IsolationError("candidate server sent garbage")
        return msg

    def recycle(self, ctl_r, data_w, spec):
        """Clean up after the last candidate and fork the next one at once, without waiting for
        either answer: the candidate server does both in order while the trusted side reports the
        verdict; take() collects them when the next candidate is needed.  Closes both fds."""
        try:
            self._send({"op": "clean"}, timeout=5.0)
            self._send({"op": "fork", "spec": spec}, fds=(ctl_r, data_w), timeout=5.0)
            self.pending = True
        except (IsolationError, OSError):
            self.pending = False
            self.stop()
        finally:
            os.close(ctl_r)
            os.close(data_w)

    def take(self, timeout=30.0):
        """-> pid of the candidate forked by recycle(); raises IsolationError (the caller starts
        over with a fresh sandbox)."""
        if not getattr(self, "pending", False) or not self.alive():
            self.pending = False
            raise IsolationError("no candidate waiting")
        self.pending = False
        try:
            msg = self._recv(timeout)
            if msg.get("ev") != "clean" or not msg.get("ok"):
                raise IsolationError("cleanup failed: %s" % msg.get("message"))
            msg = self._recv(timeout)
            if msg.get("ev") != "forked" or not isinstance(msg.get("pid"), int):
                raise IsolationError("candidate server refused the fork")
            return msg["pid"]
        except (IsolationError, OSError):
            self.stop()
            raise

    def fork(self, ctl_r, data_w, spec, timeout=30.0):
        """Start one candidate with the given pipe ends (closed here).  -> its pid inside."""
        try:
            self._send({"op": "fork", "spec": spec}, fds=(ctl_r, data_w), timeout=timeout)
        finally:
            os.close(ctl_r)
            os.close(data_w)
        msg = self._recv(timeout)
        if msg.get("ev") != "forked" or not isinstance(msg.get("pid"), int):
            raise IsolationError("candidate server refused the fork: %r" % (msg.get("message"),))
        return msg["pid"]

    def wait(self, pid, timeout):
        """-> (wait status or None, stderr tail) of the current candidate (advisory)."""
        try:
            self._send({"op": "wait", "pid": pid, "timeout": timeout}, timeout=5.0)
            msg = self._recv(timeout + 5.0)
        except (IsolationError, OSError):
            return None, ""
        st = msg.get("status")
        tail = msg.get("stderr_tail")
        return (st if isinstance(st, int) else None), (tail if isinstance(tail, str) else "")

    def kill_current(self):
        """Kill the current candidate (and all it started); a server that does not answer is
        killed with its whole sandbox."""
        try:
            self._send({"op": "kill"}, timeout=5.0)
            if self._recv(5.0).get("ev") == "killed":
                return
        except (IsolationError, OSError):
            pass
        self.stop()
