"""Confinement of a candidate child (runs in the freshly forked child only).

Order used by child.py: own process group -> close foreign fds -> stdio to
files -> network namespace -> (GPU init) -> rlimits -> uid drop -> chdir ->
audit hook.  Each step reports what it managed in `notes` so the result can
say how strong the sandbox really was.
"""
import functools
import os
import stat
import resource
import sys

# address-space headroom a candidate gets over what it maps after its set-up when the request
# names none (the GPU runtimes map their ranges before the limit is set)
DEFAULT_AS_MB = 8192
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


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


def unshare_net():
    """Try a private, empty network namespace. -> short description."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) == 0:
            return "netns"
        if os.geteuid() != 0 and libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            return "userns+netns"
        return "no-netns(errno %d)" % ctypes.get_errno()
    except Exception as e:  # pragma: no cover - platform without ctypes/libc
        return "no-netns(%s)" % e


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


@functools.lru_cache(maxsize=1)
def _triton_blocked():
    """_unreadable_by_others for the triton package, once per process; the fork server asks
    before it forks (warm_up), so its children inherit the answer."""
    import triton
    return _unreadable_by_others(os.path.dirname(triton.__file__))


def warm_up():
    """Work done once in the fork server, before any child: see _triton_blocked."""
    _triton_blocked()


def drop_privileges(uid, dirs, notes):
    if uid is None or os.geteuid() != 0:
        return
    # Triton reads the sources of its own @jit helpers (tl.sort, ...) while it compiles or
    # interprets a kernel: under a uid that cannot read the install every such kernel would fail
    # as if the candidate were wrong. Keep the uid then, and say so in the sandbox notes.
    blocked = _triton_blocked()
    if blocked:
        notes.append("uid kept: %s not readable by uid %d" % (blocked, uid))
        return
    for d in dirs:
        try:
            os.chown(d, uid, uid)
        except OSError:
            pass
        for root, subdirs, files in os.walk(d):
            for n in subdirs + files:
                try:
                    os.chown(os.path.join(root, n), uid, uid)
                except OSError:
                    pass
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    notes.append("uid=%d" % uid)


_STDLIB = os.path.dirname(os.__file__)
_SITE_MARKERS = ("site-packages", "dist-packages")

_WRITE_PATH_EVENTS = {
    "os.mkdir": (0,), "os.rename": (0, 1), "os.remove": (0,), "os.rmdir": (0,),
    "os.symlink": (0, 1), "os.link": (0, 1), "os.chmod": (0,), "os.chown": (0,),
    "os.truncate": (0,), "os.utime": (0,), "os.mkfifo": (0,), "os.mknod": (0,),
    "os.setxattr": (0,), "os.removexattr": (0,), "shutil.rmtree": (0,),
    "shutil.copyfile": (1,), "shutil.move": (1,),
}
_SPAWN_EVENTS = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                 "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn", "os.startfile"}
_NET_EVENTS = {"socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
               "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg",
               "socket.socketpair", "http.client.connect", "urllib.Request", "ftplib.connect",
               "smtplib.connect", "webbrowser.open"}
_INTROSPECT_EVENTS = {"sys._getframe", "sys._current_frames", "gc.get_objects", "gc.get_referrers",
                      "gc.get_referents", "object.__getattr__", "ctypes.dlopen", "ctypes.dlsym",
                      "ctypes.dlsym/handle", "ctypes.cdata", "ctypes.cdata/buffer", "ctypes.addressof",
                      "ctypes.string_at", "ctypes.wstring_at", "ctypes.set_errno", "sys.settrace",
                      "sys.setprofile", "sys._current_exceptions", "function.__new__", "code.__new__",
                      "sys.addaudithook", "mmap.__new__", "object.__setattr__", "object.__delattr__"}
_ALWAYS_REFUSE = {"sys.addaudithook", "sys._current_frames", "sys._current_exceptions"}
# stdlib modules that need sys._getframe for their own bookkeeping and give no frame back
_GETFRAME_OK = ("warnings.py", os.path.join("logging", "__init__.py"), "typing.py",
                os.path.join("collections", "__init__.py"), "enum.py", "dataclasses.py", "abc.py")
_PROTECTED_PKGS = {"torch", "triton", "numpy", "harness", "builtins"}
_ALLOWED_TOOLS = {"ptxas", "ldconfig", "cc", "gcc", "clang", "nvdisasm", "cuobjdump", "ld.lld",
                  "hipcc", "amdclang", "ld", "ld.gold", "x86_64-linux-gnu-gcc"}


def install_audit_hook(sandbox_dir, candidate_file, deny_dirs, report, extra_write_dirs=()):
    """Refuse writes outside sandbox_dir, reads under deny_dirs, process creation, network,
    and frame/object introspection done on behalf of the candidate.  Every refusal is passed
    to report(event, detail) (which tells the fork server at once) and raises PermissionError,
    so a candidate that swallows the exception is still caught."""
    import triton
    sandbox = os.path.realpath(sandbox_dir) + os.sep
    writable = (sandbox,) + tuple(os.path.realpath(d) + os.sep for d in extra_write_dirs)
    candidate = os.path.realpath(candidate_file)
    deny = tuple(os.path.realpath(d) + os.sep for d in deny_dirs if d)
    triton_dir = os.path.dirname(os.path.realpath(triton.__file__)) + os.sep
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    state = {"busy": False, "popen_ok": 0.0}
    from time import monotonic
    getframe = sys._getframe
    realpath = os.path.realpath
    fspath = os.fsdecode

    def is_write(mode, flags):
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            return True
        return isinstance(flags, int) and bool(flags & write_flags)

    def inside(path):
        try:
            p = realpath(fspath(path))
        except Exception:
            return False
        return (p + os.sep).startswith(writable) or p == "/dev/null"

    def denied_read(path):
        try:
            p = realpath(fspath(path)) + os.sep
        except Exception:
            return False
        return any(p.startswith(d) for d in deny)

    def stack():
        f = getframe(2)
        while f is not None:
            yield f.f_code.co_filename
            f = f.f_back

    def first_foreign():
        """(direct caller file, first frame outside the stdlib)"""
        direct = None
        for fn in stack():
            if fn == __file__:
                continue
            if direct is None:
                direct = fn
            if not fn.startswith(_STDLIB) or any(m in fn for m in _SITE_MARKERS):
                return direct, fn
            if fn.startswith("<frozen"):
                continue
        return direct, None

    def for_candidate():
        direct, foreign = first_foreign()
        if direct is not None and realpath(direct) == candidate:
            return True, direct
        return foreign is not None and realpath(foreign) == candidate, direct

    def spawn_by_triton(args):
        exe = args[0] if args else None
        try:
            name = os.path.basename(fspath(exe)) if exe is not None else ""
        except Exception:
            name = ""
        if name not in _ALLOWED_TOOLS:
            return False
        _, foreign = first_foreign()
        return foreign is not None and foreign.startswith(triton_dir)

    def refuse(event, detail):
        report(event, detail)
        raise PermissionError("sandbox: %s refused (%s)" % (event, detail))

    def hook(event, args):
        if state["busy"]:
            return
        if event == "open":
            path, mode, flags = (list(args) + [None, None, None])[:3]
            if isinstance(path, int):
                return
            if path is None:
                return
            state["busy"] = True
            try:
                w = is_write(mode, flags)
                bad_write = w and not inside(path)
                bad_read = (not w) and denied_read(path)
            finally:
                state["busy"] = False
            if bad_write:
                refuse("open", "write to %s outside the sandbox" % (path,))
            if bad_read:
                state["busy"] = True
                try:
                    by_candidate, _ = for_candidate()
                finally:
                    state["busy"] = False
                if by_candidate:
                    refuse("open", "read of %s is not allowed" % (path,))
                # blocked all the same, only not blamed (tracebacks, linecache, libraries)
                raise PermissionError("sandbox: read of %s is not allowed" % (path,))
            return
        if event in ("os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
            state["busy"] = True
            try:
                bad = denied_read(args[0])
                by_candidate = bad and for_candidate()[0]
            finally:
                state["busy"] = False
            if by_candidate:
                refuse(event, "listing %s is not allowed" % (args[0],))
            if bad:
                raise PermissionError("sandbox: listing %s is not allowed" % (args[0],))
            return
        if event in _WRITE_PATH_EVENTS:
            state["busy"] = True
            try:
                bad = [args[i] for i in _WRITE_PATH_EVENTS[event]
                       if i < len(args) and isinstance(args[i], (str, bytes, os.PathLike))
                       and not inside(args[i])]
            finally:
                state["busy"] = False
            if bad:
                refuse(event, "%s outside the sandbox" % (bad[0],))
            return
        if event == "subprocess.Popen":
            state["busy"] = True
            try:
                ok = spawn_by_triton(args)
            finally:
                state["busy"] = False
            if not ok:
                refuse(event, "process creation (%s)" % (args[0] if args else "?",))
            state["popen_ok"] = monotonic()
            return
        if event in ("os.posix_spawn", "os.exec", "os.fork") and monotonic() - state["popen_ok"] < 2.0:
            # the low-level half of a subprocess.Popen that was just allowed above
            state["busy"] = True
            try:
                ok = event == "os.fork" or spawn_by_triton(args)
                _, foreign = first_foreign()
                ok = ok and foreign is not None and foreign.startswith(triton_dir)
            finally:
                state["busy"] = False
            state["popen_ok"] = 0.0
            if ok:
                return
        if event in _SPAWN_EVENTS:
            refuse(event, "process creation/signalling is not allowed")
        if event in _NET_EVENTS:
            refuse(event, "network access is not allowed")
        if event in _INTROSPECT_EVENTS:
            if event in _ALWAYS_REFUSE:
                refuse(event, "not allowed")
            if event in ("object.__setattr__", "object.__delattr__"):
                obj = args[0] if args else None
                name = args[1] if len(args) > 1 else None
                mod = getattr(obj, "__module__", "") if isinstance(obj, type) else ""
                if name not in ("__code__", "__globals__", "__defaults__", "__kwdefaults__",
                                "__closure__", "__class__", "__bases__", "__dict__") and \
                        not (isinstance(mod, str) and mod.split(".")[0] in _PROTECTED_PKGS):
                    return
            if event == "object.__getattr__" and len(args) > 1 and args[1] not in (
                    "tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "gi_code",
                    "f_globals", "f_locals", "__globals__"):
                return
            state["busy"] = True
            try:
                bad, direct = for_candidate()
                if bad and event == "sys._getframe" and direct and direct.endswith(_GETFRAME_OK) \
                        and realpath(direct) != candidate:
                    bad = False
            finally:
                state["busy"] = False
            if bad:
                refuse(event, "introspection from candidate code")

    sys.addaudithook(hook)
