"""Code that runs only in forked children: the candidate runner, the reference/oracle
runner and the device probe.  Every entry point here ends in os._exit and never
returns into the fork server's loop.

Children talk to the fork server over two private pipes: `ctl` (commands in) and
`data` (frames out), both framed and tagged by wire.py.
"""
import os
import sys
import time
import traceback

from . import sandbox, wire

TRACE_CHARS = 4000


def trim_trace(text, limit=TRACE_CHARS):
    if len(text) <= limit:
        return text
    return "...\n" + text[-limit:]


def classify_exception(e, phase):
    """Map an exception raised by candidate code to an error class."""
    names = {c.__name__ for c in type(e).__mro__}
    msg = str(e)
    low = msg.lower()
    if isinstance(e, PermissionError) and msg.startswith("sandbox:"):
        return "sandbox_violation"
    if "CompilationError" in names or "CompileTimeAssertionFailure" in names or \
            "UnsupportedLanguageConstruct" in names:
        return "compile_error"
    if "illegal memory access" in low or "illegal address" in low or "misaligned address" in low \
            or "out of bounds" in low and "index" not in low:
        return "illegal_memory_access"
    if isinstance(e, ImportError):
        return "import_error"
    if phase == "load":
        if isinstance(e, SyntaxError):
            return "syntax_error"
        return "import_error"
    if "InterpreterError" in names and ("compil" in low or "unsupported" in low):
        return "compile_error"
    return "runtime_error"


def _sync_fn(device):
    if device == "cpu":
        return lambda: None
    import torch
    raw = torch._C._cuda_synchronize
    return raw


def _total_numel(values):
    import torch
    n = 0
    for v in values:
        if isinstance(v, torch.Tensor):
            n += v.numel()
    return n


# ------------------------------------------------------------------ shared setup

def _init_device(device_index, interpreted):
    """-> torch device string.  CUDA is first touched here, in the child."""
    import torch
    if interpreted:
        os.environ["TRITON_INTERPRET"] = "1"
        return "cpu"
    torch.cuda.set_device(device_index)
    torch.cuda.init()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        import triton
        triton.runtime.driver.active.get_current_device()
        triton.runtime.driver.active.utils  # noqa: B018 - loads the driver stub before the sandbox
    except Exception:
        pass
    return "cuda:%d" % device_index


def _launch_counter(interpreted):
    """Install a Triton launch counter. -> dict with 'n'."""
    counter = {"n": 0}
    if interpreted:
        from triton.runtime import interpreter as interp
        orig = interp.GridExecutor.__call__

        def counted(self, *a, **k):
            counter["n"] += 1
            return orig(self, *a, **k)
        interp.GridExecutor.__call__ = counted
    else:
        import triton

        def enter(*a, **k):
            counter["n"] += 1
        knobs = getattr(triton, "knobs", None)
        owner = knobs.runtime if knobs is not None else triton.compiler.CompiledKernel
        cur = getattr(owner, "launch_enter_hook", None)
        if hasattr(cur, "add"):  # HookChain (newer Triton)
            cur.add(enter)
        else:  # a single optional callable (older Triton): chain with what is there
            prev = cur

            def chained(*a, **k):
                enter()
                if prev is not None:
                    prev(*a, **k)
            setattr(owner, "launch_enter_hook", chained)
    return counter


def _install_poison():
    """Wrap torch.empty & co so that, while poisoning is on, fresh buffers hold NaN
    (floats) or 0xA5 bytes (others): an element the kernel never writes shows."""
    import torch
    state = {"on": False}
    nan = float("nan")

    def poison(t):
        if not state["on"] or not isinstance(t, torch.Tensor) or t.numel() == 0:
            return t
        try:
            if t.is_floating_point() or t.is_complex():
                t.fill_(nan)
            elif t.is_contiguous() and t.dtype != torch.bool:
                t.view(torch.uint8).fill_(0xA5)
        except Exception:
            pass
        return t

    def wrap(f):
        def w(*a, **k):
            return poison(f(*a, **k))
        w.__name__ = getattr(f, "__name__", "empty")
        w.__doc__ = getattr(f, "__doc__", None)
        return w

    for name in ("empty", "empty_like", "empty_strided"):
        setattr(torch, name, wrap(getattr(torch, name)))
    orig_new_empty = torch.Tensor.new_empty
    torch.Tensor.new_empty = wrap(orig_new_empty)
    return state


def _load_module(path, name="candidate", append=None, src=None):
    """append: (file name, source bytes) of the task's "append" file (docs/tasks.md): its code runs
    after the file's, in the same module, compiled under its own name so line numbers stay exact.
    src: the source when it does not come from the file at path (the candidate's, sent by the
    trusted side; its lines are registered in linecache for tracebacks and @triton.jit)."""
    import importlib.util
    import linecache
    if src is None:
        with open(path, "rb") as f:
            src = f.read()
    else:
        text = src.decode("utf-8", errors="replace")
        linecache.cache[path] = (len(text), None, text.splitlines(True), path)
        try:  # Triton's @jit reads the source through inspect: keep a copy where it looks
            with open(path, "wb") as f:
                f.write(src)
        except OSError:
            pass
    code = compile(src, path, "exec", dont_inherit=True)
    extra = None
    if append is not None:
        import linecache
        extra = compile(append[1], append[0], "exec", dont_inherit=True)
        # tracebacks (and inspect, for a @triton.jit there) read the lines from here: no file access
        text = append[1].decode("utf-8", errors="replace")
        linecache.cache[append[0]] = (len(text), None, text.splitlines(True), append[0])
    spec = importlib.util.spec_from_loader(name, loader=None, origin=path)
    mod = importlib.util.module_from_spec(spec)
    mod.__file__ = path
    sys.modules[name] = mod
    exec(code, mod.__dict__)
    if extra is not None:
        exec(extra, mod.__dict__)
    return mod


def _append_of(task):
    """(file, source) of the task's append file, read by the server before the fork, or None."""
    f = getattr(task, "append_file", None)
    return (f, task.append_src) if f and task.append_src is not None else None


class _Timer:
    """Per-repetition timing with L2 flush and device-wide synchronisation.  All functions
    are captured before candidate code exists, so later monkeypatching does not reach them."""

    def __init__(self, device, l2_bytes, clock_mhz=0):
        import torch
        self.device = device
        self.perf_counter = time.perf_counter
        self.spin = None
        if device == "cpu":
            self.sync = lambda: None
            self.flush = None
            return
        self.sync = torch._C._cuda_synchronize
        ev = torch._C._CudaEventBase
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)
        self.record = ev.record
        self.elapsed = ev.elapsed_time
        self.current_stream = torch.cuda.current_stream
        nbytes = max(2 * int(l2_bytes or 0), 64 << 20)
        self.flush = torch.empty(nbytes // 4, dtype=torch.int32, device=device)
        self.zero = torch.Tensor.zero_
        self.pre = torch.cuda.Event(enable_timing=True)
        # a short GPU-side spin before each sample (about 0.3 ms): cycles from the SM clock
        self.spin = getattr(torch._C, "_cuda_sleep", None)
        self.spin_cycles = int(max(500, int(clock_mhz or 0) or 1500) * 1000 * 0.3)

    def samples(self, fn, args, reps, warmup, calls=1):
        """reps samples; each sample = L2 flush, then `calls` back-to-back calls timed together.
        -> (per-call ms list, per-call wall ms list, suspect count, last output)."""
        out = None
        calls = max(1, int(calls))
        for _ in range(max(0, warmup)):
            out = fn(*args)
        self.sync()
        ms, wall, suspect = [], [], 0
        for _ in range(reps):
            if self.flush is not None:
                self.zero(self.flush)
                self.sync()
                s = self.current_stream()
                t0 = self.perf_counter()
                if self.spin is not None:
                    # keep the GPU busy while the host enqueues the calls: host launch overhead of
                    # the first call is hidden, the same way for both sides
                    self.record(self.pre, s)
                    self.spin(self.spin_cycles)
                self.record(self.start, s)
                for _ in range(calls):
                    out = fn(*args)
                self.record(self.end, s)
                self.sync()
                w = (self.perf_counter() - t0) * 1e3
                e = self.elapsed(self.start, self.end)
                stream_total = self.elapsed(self.pre, self.end) if self.spin is not None else e
                # work that escaped the stream (side streams, host work) shows on the wall clock
                if w > 1.5 * stream_total + 0.5:
                    suspect += 1
                    e = max(e, w - (stream_total - e))
                ms.append(e / calls)
                wall.append(w / calls)
            else:
                t0 = self.perf_counter()
                for _ in range(calls):
                    out = fn(*args)
                w = (self.perf_counter() - t0) * 1e3
                ms.append(w / calls)
                wall.append(w / calls)
        return ms, wall, suspect, out


def _serve_timing(ctl, data_w, key, entry, make_inputs, device, timer, sync, fresh=None, poison=None):
    """Timing loop shared by the candidate and the reference child.  The timed calls of a perf
    case share one set of inputs (as GEAK-eval's do_bench does); the output checked after timing
    comes from one call on fresh inputs, after `fresh()` (the task's hook that drops state it
    keeps between calls, e.g. an imported benchmark's perf tensors), poisoned like the checks:
    an op that accumulates into or updates its arguments has changed them while it was timed."""
    inputs = {}
    perf_cpu = {}

    def fresh_inputs(j, spec):
        """Perf case j's inputs on the device: a new copy of the trusted side's CPU inputs, or
        drawn by make_inputs (the reference child); None when there are none."""
        if j in perf_cpu:
            v = _to_device(perf_cpu[j], device)
            return v if isinstance(v, tuple) else tuple(v)
        if make_inputs is None:
            return None
        return make_inputs(spec["case"], spec["seed"], device)

    while True:
        cmd, blob = ctl.recv()
        c = cmd.get("cmd")
        if c == "exit":
            return
        if c == "perf_inputs":  # the candidate's perf inputs, drawn by the trusted side (CPU copies)
            inputs.clear()
            perf_cpu = dict(zip(cmd["runs"], wire.unpack_value(cmd["value"], blob)))
            del blob
            continue
        if c == "time":
            j = cmd["run"]
            want_output = bool(cmd.get("want_output"))
            if want_output:
                inputs.clear()  # the timed state goes first
                if fresh is not None:
                    fresh()
            args = inputs.get(j) if not want_output else None
            if args is None:
                inputs.clear()
                args = fresh_inputs(j, cmd["spec"])
                if args is None:
                    wire.send(data_w, key, {"ev": "error", "phase": "timing", "class": "runtime_error",
                                            "message": "no inputs for perf run %r" % (j,)})
                    return
                if not want_output:
                    inputs[j] = args
            if want_output:
                if poison is not None:
                    poison["on"] = True
                try:
                    out = entry(*args)
                    sync()
                except BaseException as e:
                    wire.send(data_w, key, {"ev": "error", "phase": "call", "run": j,
                                            "class": _classify_safe(e, "call"),
                                            "message": "%s: %s" % (type(e).__name__, _safe_str(e))})
                    return
                finally:
                    if poison is not None:
                        poison["on"] = False
                del args
                desc, blob = wire.pack_value(out)
                del out
                wire.send(data_w, key, {"ev": "samples", "run": j, "ms": [], "wall_ms": [], "suspect": 0,
                                        "value": desc}, blob)
                continue
            ms, wall, suspect, out = timer.samples(entry, args, int(cmd.get("reps", 10)),
                                                   int(cmd.get("warmup", 0)), int(cmd.get("calls", 1) or 1))
            sync()
            del out
            wire.send(data_w, key, {"ev": "samples", "run": j, "ms": ms, "wall_ms": wall, "suspect": suspect})
        else:
            wire.send(data_w, key, {"ev": "error", "phase": "timing", "class": "harness_error",
                                    "message": "unknown command %r" % (c,)})
            return


# ------------------------------------------------------------------ candidate child

def candidate_main(spec, ctl_r, data_w, work):
    """Runs in a child of the candidate server (zygote.py), inside the sandbox.  Never returns.
    Everything it reports is advisory: the trusted side checks the outputs itself."""
    code = 0
    key = bytes.fromhex(spec.get("key", ""))
    try:
        _candidate(spec, key, ctl_r, data_w, work)
    except BaseException as e:  # last resort: the runner itself failed in the child
        try:
            wire.send(data_w, key, {"ev": "error", "phase": "setup", "class": "runtime_error",
                                    "message": "candidate runner failed: %s" % _safe_repr(e),
                                    "trace": trim_trace(_safe_trace())})
        except Exception:
            pass
        code = 3
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(code)


def _safe_repr(e):
    """repr of an exception whose __repr__/__str__ may raise or recurse (candidate objects)."""
    try:
        return repr(e)[:2000]
    except BaseException:
        return "<%s (unprintable)>" % type(e).__name__


def _safe_str(e):
    try:
        return str(e)[:2000]
    except BaseException:
        return "(unprintable %s)" % type(e).__name__


def _safe_trace():
    try:
        return traceback.format_exc()
    except BaseException:
        return "(traceback unavailable)"


def _to_device(value, device):
    """Inputs arrive as CPU tensors (wire.unpack_value); place them on the device."""
    import torch
    if isinstance(value, torch.Tensor):
        return value.to(device) if device != "cpu" else value
    if isinstance(value, tuple):
        return tuple(_to_device(v, device) for v in value)
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    return value


def _candidate(spec, key, ctl_r, data_w, work):
    import tempfile
    sandbox.close_foreign_fds([ctl_r, data_w])
    sandbox.redirect_stdio(work)
    notes = []
    interpreted = bool(spec.get("interpreted"))
    device_index = int(spec.get("device_index", 0))
    # the device is initialised only once the code has loaded: a candidate that fails to import
    # (the most common failure) never pays for a GPU context
    device = "cpu" if interpreted else "cuda:%d" % device_index
    if interpreted:
        os.environ["TRITON_INTERPRET"] = "1"
    sync = _sync_fn(device)
    tmp = os.path.join(work, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    os.environ["TMPDIR"] = tmp
    os.environ["TRITON_HOME"] = os.path.join(work, ".triton")
    os.environ["TRITON_CACHE_DIR"] = os.path.join(work, ".triton", "cache")
    os.environ["HOME"] = work
    tempfile.tempdir = tmp
    import torch
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    digest = wire.digest_tensors
    pack = wire.pack_value
    send = wire.send
    counter = _launch_counter(interpreted)
    poison = _install_poison()
    ctl = wire.Reader(ctl_r, key)
    os.chdir(work)
    code_file = os.path.join(work, "candidate.py")

    sys.dont_write_bytecode = True
    if interpreted:
        _autotune_without_benchmark()
    # no in-process policing: the operating system is the boundary (docs/security.md)
    send(data_w, key, {"ev": "ready", "notes": notes})

    # ---- the code (it has not seen any input yet); this process may have been started ahead
    # and waited here until a candidate came
    cmd, blob = ctl.recv()
    if cmd.get("cmd") != "code":
        return
    limits = cmd.get("limits") or {}
    notes = []
    sandbox.apply_rlimits({k: v for k, v in limits.items() if k != "as_mb"}, notes, address_space=False)
    entry_name = cmd.get("entry")
    n_src = int(cmd.get("src_len", 0))
    source, append = blob[:n_src], None
    if cmd.get("append_name"):
        append = (cmd["append_name"], blob[n_src:])
    try:
        mod = _load_module(code_file, append=append, src=source)
        entry = getattr(mod, entry_name, None)
        if not callable(entry):
            send(data_w, key, {"ev": "error", "phase": "load", "class": "import_error",
                               "message": "entry point %s() is not defined by the candidate" % entry_name})
            return
    except BaseException as e:
        if isinstance(e, SystemExit):
            send(data_w, key, {"ev": "error", "phase": "load", "class": "runtime_error",
                               "message": "candidate called exit() while loading"})
            return
        send(data_w, key, {"ev": "error", "phase": "load", "class": _classify_safe(e, "load"),
                           "message": "%s: %s" % (type(e).__name__, _safe_str(e)),
                           "trace": trim_trace(_safe_trace())})
        return
    # imported: the trusted side starts the oracle now, while this process starts its GPU
    send(data_w, key, {"ev": "imported"})
    # the GPU now (the address-space limit after it: the runtime maps its ranges first)
    _init_device(device_index, interpreted)
    timer = _Timer(device, spec.get("l2_bytes", 0), spec.get("clock_mhz", 0))
    sandbox.apply_rlimits({"as_mb": limits.get("as_mb")}, notes, address_space=True)
    send(data_w, key, {"ev": "limits", "notes": notes})
    send(data_w, key, {"ev": "loaded"})

    # ---- the runs: inputs drawn by the trusted oracle process, sent here as bytes
    cmd, blob = ctl.recv()
    if cmd.get("cmd") != "run":
        return
    notes = []
    runs = cmd["runs"]
    all_inputs = wire.unpack_value(cmd["inputs"], blob)
    del blob
    det = bool(cmd.get("determinism"))
    for i, r in enumerate(runs):
        send(data_w, key, {"ev": "phase", "phase": "inputs", "run": i})
        inputs = _to_device(all_inputs[i], device)
        if not isinstance(inputs, tuple):
            inputs = tuple(inputs)
        before = digest(inputs)
        for rep in range(2 if det else 1):
            send(data_w, key, {"ev": "phase", "phase": "call", "run": i})
            counter["n"] = 0
            poison["on"] = True
            try:
                out = entry(*inputs)
                sync()
            except BaseException as e:
                poison["on"] = False
                if isinstance(e, SystemExit):
                    cls, msg = "runtime_error", "candidate called exit() during the call"
                else:
                    cls, msg = _classify_safe(e, "call"), "%s: %s" % (type(e).__name__, _safe_str(e))
                send(data_w, key, {"ev": "error", "phase": "call", "run": i, "class": cls,
                                   "message": msg, "trace": trim_trace(_safe_trace())})
                return
            poison["on"] = False
            launches = counter["n"]
            after = digest(inputs)
            try:
                desc, oblob = pack(out)
            except BaseException as e:
                send(data_w, key, {"ev": "error", "phase": "call", "run": i, "class": "runtime_error",
                                   "message": "the output cannot be read: %s: %s" % (type(e).__name__, _safe_str(e))})
                return
            send(data_w, key, {"ev": "out", "run": i, "rep": rep, "launches": launches,
                               "in_before": before, "in_after": after, "value": desc}, oblob)
            del out, oblob
        del inputs
    del all_inputs
    send(data_w, key, {"ev": "checked"})
    # the task's state hook comes from the task's appended code (an imported benchmark's runner)
    fresh = getattr(mod, "geak_fresh_state", None) if append is not None else None
    _serve_timing(ctl, data_w, key, entry, None, device, timer, sync,
                  fresh=fresh if callable(fresh) else None, poison=poison)


def _autotune_without_benchmark():
    """Under the interpreter there is no driver to benchmark configurations with: an
    @triton.autotune kernel runs its first (pruned) configuration instead of failing."""
    try:
        from triton.runtime import autotuner
    except Exception:
        return
    cls = getattr(autotuner, "Autotuner", None)
    if cls is None or not hasattr(cls, "_bench"):
        return

    def _bench(self, *args, config=None, **kw):
        return [0.0, 0.0, 0.0]
    cls._bench = _bench


def _classify_safe(e, phase):
    try:
        return classify_exception(e, phase)
    except BaseException:
        return "runtime_error"


# ------------------------------------------------------------------ reference / oracle child

def reference_main(task, key, ctl_r, data_w, facts, want_reference):
    code = 0
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    try:
        sandbox.close_foreign_fds([ctl_r, data_w, 2])
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.close(devnull)
        _reference(task, key, ctl_r, data_w, facts, want_reference)
    except BaseException as e:
        try:
            wire.send(data_w, key, {"ev": "error", "phase": "reference", "class": "harness_error",
                                    "message": "reference child failed: %r" % (e,),
                                    "trace": trim_trace(traceback.format_exc())})
        except Exception:
            pass
        code = 3
    finally:
        os._exit(code)


def _reference(task, key, ctl_r, data_w, facts, want_reference):
    t_fork = time.monotonic()
    import torch
    ctl = wire.Reader(ctl_r, key)
    if task is None:
        # forked ahead of its evaluation: the task comes first (and only then the GPU context,
        # so an evaluation that never needs an oracle never creates one)
        cmd, _ = ctl.recv()
        if cmd.get("cmd") != "task":
            return
        from . import task as tasklib
        task = tasklib.load(cmd["dir"])
        want_reference = bool(cmd.get("want_reference"))
    interpreted = bool(facts.get("interpreted"))
    device = _init_device(int(facts.get("device_index", 0)), interpreted)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    sync = _sync_fn(device)
    timer = _Timer(device, facts.get("l2_bytes", 0), facts.get("clock_mhz", 0))
    _launch_counter(interpreted)  # same launch-path overhead as the candidate's
    spec = task.spec
    t0 = time.monotonic()
    if os.environ.get("GEAK_HARNESS_DEBUG_STALL"):
        import faulthandler
        faulthandler.dump_traceback_later(float(os.environ["GEAK_HARNESS_DEBUG_STALL"]), repeat=True)
    while True:
        cmd, _ = ctl.recv()
        wire.send(data_w, key, {"ev": "mark", "what": "cmd", "t_ms": (time.monotonic() - t0) * 1e3,
                                "since_fork_ms": (time.monotonic() - t_fork) * 1e3})
        c = cmd.get("cmd")
        if c == "oracle":
            torch.use_deterministic_algorithms(True, warn_only=True)
            # the inputs first, all of them: the trusted server forwards them to the candidate
            # while this process computes the oracle outputs
            made, digests = [], []
            for r in cmd["runs"]:
                inputs = spec.make_inputs(r["case"], r["seed"], device)
                if not isinstance(inputs, tuple):
                    inputs = tuple(inputs)
                made.append(inputs)
                digests.append(wire.digest_tensors(inputs))
            desc, blob = wire.pack_value(made, keep_strides=True)
            wire.send(data_w, key, {"ev": "inputs", "value": desc, "digests": digests}, blob)
            del blob
            for i, r in enumerate(cmd["runs"]):
                inputs = made[i]
                perf = r.get("kind") == "perf"
                d = digests[i]
                with torch.no_grad():
                    out = spec.oracle(*inputs)
                sync()
                if not perf and wire.digest_tensors(inputs) != d:
                    raise RuntimeError("the oracle mutated its inputs (run %d)" % i)
                desc, blob = wire.pack_value(out)
                wire.send(data_w, key, {"ev": "oracle", "run": i, "digest": d, "value": desc,
                                        "t_ms": (time.monotonic() - t0) * 1e3}, blob)
                made[i] = None
                del inputs, out
            # deterministic mode also NaN-fills every torch.empty: keep it out of the timed reference
            torch.use_deterministic_algorithms(False)
            wire.send(data_w, key, {"ev": "oracle_done", "t_ms": (time.monotonic() - t0) * 1e3})
        elif c == "reference" and want_reference:
            mod = _load_module(task.reference_file, "geak_reference", append=_append_of(task))
            entry = getattr(mod, task.entry)
            wire.send(data_w, key, {"ev": "loaded"})
            _serve_timing(ctl, data_w, key, entry, spec.make_inputs, device, timer, sync)
            return
        else:
            return


# ------------------------------------------------------------------ device probe

def device_main(key, data_w, device_index, interpret_env):
    code = 0
    try:
        sandbox.close_foreign_fds([data_w, 2])
        wire.send(data_w, key, {"ev": "device", "facts": probe_device(device_index, interpret_env)})
    except BaseException as e:
        try:
            wire.send(data_w, key, {"ev": "error", "message": repr(e)})
        except Exception:
            pass
        code = 3
    finally:
        os._exit(code)


def _cpu_facts(device_index, why):
    import platform
    mem = 0
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    l2 = 0
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
            s = f.read().strip()
            l2 = int(s[:-1]) * 1024 if s.endswith("K") else int(s)
    except (OSError, ValueError):
        pass
    return {"vendor": "cpu", "name": platform.processor() or platform.machine(), "arch": "cpu",
            "compute_units": os.cpu_count() or 1, "memory_bytes": mem, "clock_mhz": 0,
            "l2_bytes": l2, "warp_size": 1, "interpreted": True, "device_index": device_index,
            "runtime": "interpreter", "note": why}


def probe_device(device_index, interpret_env):
    if interpret_env:
        return _cpu_facts(device_index, "TRITON_INTERPRET=1")
    import torch
    if not torch.cuda.is_available() or torch.cuda.device_count() <= device_index:
        return _cpu_facts(device_index, "no GPU visible")
    p = torch.cuda.get_device_properties(device_index)
    hip = getattr(torch.version, "hip", None)
    if hip:
        arch = getattr(p, "gcnArchName", "gfx").split(":")[0]
        vendor, runtime = "amd", "hip %s" % hip
    else:
        arch = "sm_%d%d" % (p.major, p.minor)
        vendor, runtime = "nvidia", "cuda %s" % torch.version.cuda
    clock = 0
    try:
        clock = int(getattr(p, "clock_rate", 0) / 1000)
    except Exception:
        pass
    return {"vendor": vendor, "name": p.name, "arch": arch,
            "compute_units": int(p.multi_processor_count), "memory_bytes": int(p.total_memory),
            "clock_mhz": clock, "l2_bytes": int(getattr(p, "L2_cache_size", 0) or 0),
            "warp_size": int(getattr(p, "warp_size", 64 if hip else 32) or (64 if hip else 32)),
            "interpreted": False, "device_index": device_index, "runtime": runtime}
