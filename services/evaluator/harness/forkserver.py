"""geak-c evaluation fork server.

    python3 -m harness.forkserver --req-fd R --resp-fd W [--device-index N] [--cache-dir D]

Imports torch and triton once, never touches the GPU itself, and answers JSON-line
requests read from fd R with JSON-line responses written to fd W (see docs/harness.md).
Every candidate, oracle and reference runs in its own forked child; comparison and
statistics happen here, on data received over private tagged pipes.
"""
import argparse
import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

import torch  # noqa: E402  (imported once; children inherit it)
import triton  # noqa: E402,F401
import triton.language  # noqa: E402,F401
from triton.runtime import interpreter as _interp  # noqa: E402,F401

from . import child, compare, gpulock, isolate, screen, stats, task as tasklib, wire  # noqa: E402
from . import selfcheck_cache as sccache  # noqa: E402

# Pure-Python modules that torch/triton import lazily on their first GPU operation (torch._dynamo
# pulls in sympy: seconds): import them once here, before any fork, so no child pays for them.
for _m in ("torch._dynamo", "torch.fx.experimental.symbolic_shapes", "triton.compiler.compiler",
           "triton.backends.nvidia.compiler", "triton.backends.nvidia.driver",
           "triton.backends.amd.compiler", "triton.backends.amd.driver", "triton.testing"):
    try:
        __import__(_m)
    except Exception:
        pass

# the parent never runs a parallel region: an OpenMP pool does not survive fork
torch.set_num_threads(1)

GRACE_S = 20.0
# timing (docs/harness.md "Timing"): a sample covers `calls` back-to-back calls so that it lasts
# >= SAMPLE_TARGET_MS; both sides use the same count; the samples of a perf case fit in the budget
SAMPLE_TARGET_MS = 1.0
MAX_CALLS = 256
MAX_SAMPLE_MS = 25.0
MIN_SAMPLES = 15
CI_TARGET = 0.01  # stop timing a perf case once the speedup's 95 % interval is within +-1 %
TIMING_BUDGET_MS = 4000.0
CALIBRATION_SAMPLES = 3
WARMUP_CALLS = 10
ROUND_SAMPLES = 10
SAMPLE_OVERHEAD_MS = 0.6  # flush + synchronise + pre-sample spin + pipe round trip, per sample
PRIORITY = ["sandbox_violation", "input_mutated", "mismatch", "no_kernel_launched", "nondeterministic"]
# a candidate output frame may be this much larger than the oracle's output (plus 1 MiB) before
# it is refused unread: nothing from a candidate is buffered before its size is checked
OUTPUT_SLACK = 4
# trusted clock cross-check of timing (docs/security.md): a candidate whose reported kernel time
# explains less than this share of the wall time the trusted side saw (beyond the reference's own
# overhead) is `implausible_timing`
WALL_EXPLAINED_MIN = 0.5
WALL_SLACK_MS = 0.5
PEAK_MARGIN = 1.15
# diagnostics a child may repeat (marks, violations) are kept up to this many
MAX_NOTES = 64
SIGNAL_NAMES = {getattr(signal, n): n for n in dir(signal) if n.startswith("SIG") and not n.startswith("SIG_")}


class HarnessFault(Exception):
    """Our own failure: reported as harness_error, never blamed on the candidate."""


def _log(event, **kv):
    parts = " ".join("%s=%s" % (k, json.dumps(v) if isinstance(v, str) and " " in v else v)
                     for k, v in kv.items())
    try:
        sys.stderr.write("harness %s %s\n" % (event, parts))
        sys.stderr.flush()
    except Exception:
        pass


def empty_stats():
    return stats.latency_stats([])


def base_result():
    return {"call_ok": False, "exec_ok": False, "error_class": "harness_error", "error_message": "",
            "trace": "", "verdicts": [], "reference": empty_stats(), "candidate": empty_stats(),
            "speedup": 0.0, "gbps": 0.0, "tflops": 0.0, "timed": False, "device": {}, "eval_ms": 0.0,
            "sandbox": ""}


# ------------------------------------------------------------------ children

class Child:
    def __init__(self, pid, key, ctl_w, data_r, what):
        self.pid = pid
        self.key = key
        self.ctl_w = ctl_w
        self.reader = wire.Reader(data_r, key)
        self.data_r = data_r
        self.what = what
        self.status = None
        self.phase = "setup"
        self.marks = []

    def send(self, obj, blob=b"", deadline=None):
        try:
            wire.send(self.ctl_w, self.key, obj, blob, deadline)
            return True
        except (OSError, wire.WireTimeout):
            return False

    def recv(self, deadline):
        while True:
            msg, blob = self.reader.recv(deadline)
            if msg.get("ev") == "mark":  # diagnostics only (a bounded number: a child may flood them)
                if len(self.marks) < MAX_NOTES:
                    self.marks.append({k: v for k, v in msg.items() if k != "ev"})
                continue
            return msg, blob

    def poll(self):
        if self.status is None:
            try:
                pid, st = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.status = 0
                return self.status
            if pid:
                self.status = st
        return self.status

    def wait(self, deadline):
        """Reap the child; kill its group at the deadline.  -> wait status."""
        while self.poll() is None:
            if time.monotonic() >= deadline:
                self.kill()
                try:
                    _, self.status = os.waitpid(self.pid, 0)
                except ChildProcessError:
                    self.status = 0
                break
            time.sleep(0.002)
        return self.status

    def kill(self):
        for f in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                f()
            except OSError:
                pass

    def close(self):
        for fd in (self.ctl_w, self.data_r):
            try:
                os.close(fd)
            except OSError:
                pass

    def finish(self, deadline):
        self.send({"cmd": "exit"})
        st = self.wait(deadline)
        self.kill()  # anything it left behind in its group
        self.close()
        return st

    def discard(self):
        """Kill the child's process group now (its results are all in) and close the pipes; the
        exit (CUDA context teardown: ~0.3-0.5 s) is reaped later by reap_discarded()."""
        self.kill()
        self.close()
        if self.poll() is None:
            _DISCARDED.append(self)


_DISCARDED = []


class SandboxedChild(Child):
    """A candidate: a child of the candidate server inside the sandbox (isolate.py).  It is not our
    child, so its exit status comes from the server (advisory: it only picks among failure classes)."""

    def __init__(self, pid, key, ctl_w, data_r, sandbox):
        super().__init__(pid, key, ctl_w, data_r, "candidate")
        self.sandbox = sandbox
        self.tail = ""

    def poll(self):
        return self.status

    def wait(self, deadline):
        if self.status is None:
            st, tail = self.sandbox.wait(self.pid, max(0.1, deadline - time.monotonic()))
            self.status, self.tail = st, tail or self.tail
        return self.status

    def kill(self):
        self.sandbox.kill_current()

    def discard(self):
        self.close()


def reap_discarded(deadline=None):
    """Reap killed children without blocking (or until `deadline`). -> how many are still there."""
    while _DISCARDED:
        for c in list(_DISCARDED):
            if c.poll() is not None:
                _DISCARDED.remove(c)
        if not _DISCARDED or deadline is None or time.monotonic() >= deadline:
            break
        time.sleep(0.002)
    return len(_DISCARDED)


def spawn(target, what):
    """Fork a child running target(key, ctl_r, data_w) (which must os._exit)."""
    key = os.urandom(32)
    ctl_r, ctl_w = os.pipe()
    data_r, data_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ctl_w)
            os.close(data_r)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            target(key, ctl_r, data_w)
        finally:
            os._exit(4)
    os.close(ctl_r)
    os.close(data_w)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child already did it (or exited)
    return Child(pid, key, ctl_w, data_r, what)


def describe_status(st):
    """-> (signal name or None, exit code or None)."""
    if st is None:
        return None, None
    if os.WIFSIGNALED(st):
        return SIGNAL_NAMES.get(os.WTERMSIG(st), "signal %d" % os.WTERMSIG(st)), None
    if os.WIFEXITED(st):
        return None, os.WEXITSTATUS(st)
    return None, None


# ------------------------------------------------------------------ server

class Server:
    def __init__(self, req_fd, resp_fd, device_index=0, cache_dir=None, seccomp_bpf=None,
                 sandbox_uid=65534, require_isolation=False):
        self.req_fd = req_fd
        self.resp_fd = resp_fd
        self.device_index = device_index
        self.seccomp_bpf = seccomp_bpf
        self.sandbox_uid = sandbox_uid
        self.require_isolation = require_isolation
        self._sandbox = None
        self.cache_dir = os.path.realpath(cache_dir or sccache.default_cache_dir())
        os.makedirs(self.cache_dir, mode=0o700, exist_ok=True)
        os.chmod(self.cache_dir, 0o700)
        self.interpret_env = os.environ.get("TRITON_INTERPRET", "") not in ("", "0")
        self._facts = None
        self.served = 0
        # per-GPU readers-writer lock (gpulock.py): shared while children do correctness work,
        # exclusive while a pair is timed; only on a GPU (or with time_on_cpu, for tests)
        self.gpu_lock = gpulock.GpuLock(self.cache_dir, gpulock.device_key(device_index))
        self._eval_lock = None

    # ---- io
    def respond(self, obj):
        line = (json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode()
        wire.write_all(self.resp_fd, line)

    def requests(self):
        buf = b""
        while True:
            nl = buf.find(b"\n")
            if nl >= 0:
                line, buf = buf[:nl], buf[nl + 1:]
                if line.strip():
                    yield line
                continue
            try:
                chunk = os.read(self.req_fd, 1 << 16)
            except InterruptedError:
                continue
            if not chunk:
                if buf.strip():
                    yield buf
                return
            buf += chunk
            if len(buf) > (16 << 20):
                buf = b""
                self.respond({"op": "error", "message": "request line too long"})

    def serve(self):
        for line in self.requests():
            try:
                req = json.loads(line)
                if not isinstance(req, dict):
                    raise ValueError("request is not an object")
            except ValueError as e:
                self.respond({"op": "error", "message": "malformed request: %s" % e})
                continue
            op = req.get("op")
            reap_discarded()
            try:
                if op == "ping":
                    self.respond({"op": "pong", "device": self.facts(), "pid": os.getpid(),
                                  "served": self.served, "isolation": self.isolation()})
                elif op == "eval":
                    self.handle_eval(req)
                elif op == "selfcheck":
                    self.respond({"op": "selfcheck", "id": req.get("id"), "result": self.selfcheck(req)})
                elif op == "quit":
                    nxt, self._next_ref = getattr(self, "_next_ref", None), None
                    if nxt is not None:
                        nxt.discard()
                    reap_discarded(time.monotonic() + 10)
                    self.respond({"op": "bye"})
                    return
                else:
                    self.respond({"op": "error", "id": req.get("id"), "message": "unknown op %r" % (op,)})
            except Exception as e:  # never die on a request
                _log("request_failed", op=op, error=repr(e))
                self.respond({"op": "error", "id": req.get("id"),
                              "message": "harness failure: %r" % (e,),
                              "trace": child.trim_trace(traceback.format_exc())})
            self.served += 1

    # ---- the candidate sandbox (isolate.py)
    def sandbox(self):
        """The running candidate server, started (or restarted) when needed.  Raises
        isolate.IsolationError (ours: harness_error) when it cannot start."""
        if self._sandbox is None:
            self._sandbox = isolate.Sandbox(self.sandbox_uid, self.seccomp_bpf,
                                            bool(self.facts().get("interpreted")),
                                            require=self.require_isolation)
        self._sandbox.ensure()
        return self._sandbox

    def isolation(self):
        """-> {"layers", "missing", "notes", "starts"} of the sandbox, or {"error"}."""
        try:
            sb = self.sandbox()
        except isolate.IsolationError as e:
            return {"error": str(e), "missing": list(isolate.LAYERS), "layers": {}}
        missing = list(sb.missing)
        if not self.seccomp_bpf and "seccomp" not in missing:
            missing.append("seccomp")
        return {"layers": sb.layers, "missing": missing, "notes": sb.notes, "starts": sb.starts}

    def _candidate_pipes(self, facts):
        key = os.urandom(32)
        ctl_r, ctl_w = os.pipe()
        data_r, data_w = os.pipe()
        os.set_blocking(ctl_w, False)
        spec = {"key": key.hex(), "interpreted": bool(facts.get("interpreted")),
                "device_index": self.device_index, "l2_bytes": facts.get("l2_bytes", 0),
                "clock_mhz": facts.get("clock_mhz", 0)}
        return key, ctl_r, ctl_w, data_r, data_w, spec

    def recycle_sandbox(self, facts):
        """After a verdict: the sandbox cleans up and forks the next candidate process now, so its
        start (CUDA context, Triton driver) is off the next evaluation's path."""
        sb = self._sandbox
        if sb is None or not sb.alive():
            return
        key, ctl_r, ctl_w, data_r, data_w, spec = self._candidate_pipes(facts)
        sb.recycle(ctl_r, data_w, spec)
        if sb.pending:
            self._next_cand = (key, ctl_w, data_r)
        else:
            os.close(ctl_w)
            os.close(data_r)

    def spawn_candidate(self, facts, req):
        """A candidate process in the sandbox on two private pipes: the one forked ahead by
        recycle_sandbox, or a new one."""
        nxt, self._next_cand = getattr(self, "_next_cand", None), None
        if nxt is not None:
            key, ctl_w, data_r = nxt
            try:
                pid = self._sandbox.take()
                return SandboxedChild(pid, key, ctl_w, data_r, self._sandbox)
            except (isolate.IsolationError, OSError):
                os.close(ctl_w)
                os.close(data_r)
        sb = self.sandbox()
        key, ctl_r, ctl_w, data_r, data_w, spec = self._candidate_pipes(facts)
        try:
            pid = sb.fork(ctl_r, data_w, spec)
        except (isolate.IsolationError, OSError) as e:
            os.close(ctl_w)
            os.close(data_r)
            sb.stop()
            raise HarnessFault("candidate sandbox: %s" % e)
        return SandboxedChild(pid, key, ctl_w, data_r, sb)

    # ---- device facts (probed in a child so this process stays CUDA-free)
    def facts(self):
        if self._facts is None:
            c = spawn(lambda key, ctl_r, data_w: child.device_main(
                key, data_w, self.device_index, self.interpret_env), "device")
            deadline = time.monotonic() + 120
            facts = None
            try:
                msg, _ = c.recv(deadline)
                if msg.get("ev") == "device" and isinstance(msg.get("facts"), dict):
                    facts = msg["facts"]
            except (EOFError, wire.WireError, wire.WireTimeout):
                pass
            c.finish(deadline)
            if facts is None:
                facts = child._cpu_facts(self.device_index, "device probe failed")
            self._facts = facts
            try:
                # what `geak tasks check` needs to answer from the cache without a fork server
                sccache.write_device(self.cache_dir, self.device_index, self.interpret_env, facts,
                                     torch.__version__, triton.__version__)
            except OSError as e:
                _log("device_file_failed", error=repr(e))
        return dict(self._facts)

    # ---- oracle outputs, cached per (task, seed, device, runs)
    def _cache_path(self, task, facts, seed, runs):
        fp = hashlib.sha256(json.dumps(runs, sort_keys=True).encode()).hexdigest()[:16]
        dev = ("%s-%s" % (facts.get("arch", "cpu"), facts.get("name", ""))).replace("/", "_").replace(" ", "_")
        return os.path.join(self.cache_dir, "oracle", "%s-%s" % (task.name, task.digest),
                            "%s-%d-%s.bin" % (dev, seed, fp))

    def _cache_load(self, path, n):
        """-> (inputs frame (msg, blob), oracle outputs) or None."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            r = wire.Reader(fd, b"geak-oracle-cache")
            inputs = r.recv()
            if inputs[0].get("ev") != "inputs":
                return None
            out = []
            for _ in range(n):
                msg, blob = r.recv()
                out.append((msg["digest"], wire.unpack_value(msg["value"], blob)))
            return inputs, out
        except Exception:
            return None
        finally:
            os.close(fd)

    def _cache_store(self, path, frames):
        if sum(len(b) for _, b in frames) > (64 << 20):
            return
        d = os.path.dirname(path)
        os.makedirs(d, mode=0o700, exist_ok=True)
        tmp = path + ".%d.tmp" % os.getpid()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for msg, blob in frames:
                wire.send(fd, b"geak-oracle-cache", msg, blob)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        try:
            entries = sorted((os.path.join(d, n) for n in os.listdir(d)), key=os.path.getmtime)
            for old in entries[:-256]:
                os.unlink(old)
        except OSError:
            pass

    def start_reference(self, task, facts, runs, need_oracle, want_reference):
        """The oracle/reference child: the one forked ahead (prefork_reference) when it is still
        there, else a new one.  -> Child (task and oracle commands already sent)."""
        ref, self._next_ref = getattr(self, "_next_ref", None), None
        if ref is not None and ref.poll() is not None:
            ref.close()
            ref = None
        if ref is None or not ref.send({"cmd": "task", "dir": task.dir, "want_reference": want_reference}):
            if ref is not None:
                ref.discard()
            ref = spawn(lambda key, ctl_r, data_w: child.reference_main(
                task, key, ctl_r, data_w, facts, want_reference), "reference")
        if need_oracle:
            ref.send({"cmd": "oracle", "runs": [r for r in runs if r["kind"] != "perf"]})
        return ref

    def prefork_reference(self, facts):
        """Fork the next evaluation's oracle/reference child now: it sets up its device and waits
        for its task, off the next evaluation's path.  It is a fresh process all the same."""
        if getattr(self, "_next_ref", None) is None:
            self._next_ref = spawn(lambda key, ctl_r, data_w: child.reference_main(
                None, key, ctl_r, data_w, facts, None), "reference")

    @staticmethod
    def _oracle_frame(ref, deadline, want):
        """The next frame of the oracle child, which must be `want` (our faults raise)."""
        try:
            msg, blob = ref.recv(deadline)
        except EOFError:
            sig, code = describe_status(ref.wait(time.monotonic() + 5))
            raise HarnessFault("oracle child died (%s)" % (sig or "exit %s" % code))
        except wire.WireTimeout:
            raise HarnessFault("oracle child timed out")
        except wire.WireError as e:
            raise HarnessFault("oracle child stream: %s" % e)
        if msg.get("ev") == "error":
            raise HarnessFault("%s\n%s" % (msg.get("message"), msg.get("trace", "")))
        if msg.get("ev") != want:
            raise HarnessFault("unexpected frame from the oracle child: %r" % (msg.get("ev"),))
        return msg, blob

    def collect_inputs(self, ref, deadline):
        """The inputs frame the oracle child sends first: -> (msg, blob)."""
        msg, blob = self._oracle_frame(ref, deadline, "inputs")
        if not isinstance(msg.get("digests"), list):
            raise HarnessFault("oracle child sent inputs without digests")
        return {"ev": "inputs", "value": msg["value"], "digests": msg["digests"]}, blob

    def collect_oracle(self, ref, runs, deadline):
        frames, outs = [], []
        self.oracle_marks = []
        for i in range(len(runs)):
            msg, blob = self._oracle_frame(ref, deadline, "oracle")
            if msg.get("run") != i:
                raise HarnessFault("oracle frame for run %r, expected %d" % (msg.get("run"), i))
            frames.append(({"digest": msg["digest"], "value": msg["value"]}, blob))
            self.oracle_marks.append(round(float(msg.get("t_ms", 0) or 0), 1))
            outs.append((msg["digest"], wire.unpack_value(msg["value"], blob)))
        msg, _ = self._oracle_frame(ref, deadline, "oracle_done")
        self.last_oracle_ms = msg.get("t_ms")
        return outs, frames

    # ---- building the run list
    def make_runs(self, task, seed, interpreted, with_perf):
        runs = []
        for i, case in enumerate(task.correctness_cases(interpreted)):
            runs.append({"case": case, "seed": _mix(seed, i), "label": task.label(case), "kind": "check"})
        if runs:
            # the first case once more with fresh values: an answer cached by shape fails here
            first = runs[0]
            runs.append({"case": first["case"], "seed": _mix(seed ^ 0x5DEECE66D, 0),
                         "label": first["label"] + " (reseeded)", "kind": "reseed"})
        if with_perf:
            for i, case in enumerate(task.perf_cases(interpreted)):
                runs.append({"case": case, "seed": _mix(seed, 1000 + i), "label": task.label(case),
                             "kind": "perf"})
        return runs

    # ---- one evaluation
    def handle_eval(self, req):
        rid = req.get("id")
        t0 = time.monotonic()
        res = base_result()
        started = [False]

        def on_started(pgid):
            started[0] = True
            self.respond({"id": rid, "event": "started", "pgid": pgid})

        try:
            res = self.evaluate(req, on_started, use_cache=True)[0]
        except Exception as e:
            res["error_class"] = "harness_error"
            res["device"] = self._facts or {}
            res["error_message"] = "harness failure: %r" % (e,)
            res["trace"] = child.trim_trace(traceback.format_exc())
        res["eval_ms"] = (time.monotonic() - t0) * 1e3
        _log("eval", id=rid, cls=res["error_class"], ms=round(res["eval_ms"], 1))
        self.respond({"id": rid, "event": "result", "result": _finite(res)})

    def evaluate(self, req, on_started=None, use_cache=True, code_path=None):
        """-> (result dict, oracle outputs or None)."""
        t_start = time.monotonic()
        res = base_result()
        facts = self.facts()
        res["device"] = facts
        interpreted = bool(facts.get("interpreted"))
        timeout_s = float(req.get("timeout_s") or 120)
        deadline = time.monotonic() + timeout_s + _grace_s(req)
        mode = req.get("mode", "full")
        try:
            task = tasklib.load(req["task_dir"])
            task.spec  # noqa: B018 - import errors are ours
        except (KeyError, tasklib.TaskError) as e:
            res["error_message"] = "task: %s" % (e,)
            return res, None
        res.update(task.facts())
        sandbox_dir = req.get("sandbox_dir")
        if not sandbox_dir or not os.path.isdir(sandbox_dir):
            res["error_message"] = "sandbox_dir %r is not a directory" % (sandbox_dir,)
            return res, None
        code_path = code_path or os.path.join(sandbox_dir, req.get("code_file") or "candidate.py")
        source_bytes = _read_code(code_path)
        source = source_bytes.decode("utf-8", errors="replace")
        problem = screen.screen(source)
        if problem and problem[0] == "forbidden_construct" and not req.get("static_screen", True):
            problem = None
        phases = res.setdefault("phases_ms", {})
        phases["screen"] = round((time.monotonic() - t_start) * 1e3, 2)
        if not problem:
            missing = screen.missing_names(source, _required_names(task))
            if missing:
                problem = ("import_error", "entry point %s() is not defined by the candidate" % missing[0])
        if problem:
            res["error_class"], res["error_message"] = problem
            return res, None

        seed = int(req.get("seed") or 0) & 0x7FFFFFFF
        # time_on_cpu (tests, diagnostics): exercise the timing path under the interpreter too
        timed = mode == "full" and (not interpreted or bool(req.get("time_on_cpu")))
        runs = self.make_runs(task, seed, interpreted, with_perf=timed)
        n_check = sum(1 for r in runs if r["kind"] != "perf")
        cache_path = self._cache_path(task, facts, seed, runs[:n_check])
        cached = self._cache_load(cache_path, n_check) if use_cache else None
        ref = None
        cand = None
        # on a GPU every child's work is under the per-GPU lock: shared now (other fork servers'
        # correctness runs may overlap), exclusive only around timing (time_pair)
        lock = self.gpu_lock if (not interpreted or req.get("time_on_cpu")) else None
        self._eval_lock = lock
        try:
            if lock is not None:
                t_lock = time.monotonic()
                lock.acquire_shared()
                phases["lock_shared_wait"] = round((time.monotonic() - t_lock) * 1e3, 1)
            refbox = {"ref": None}

            def get_ref():
                # the oracle/reference process starts only once the candidate's code has loaded:
                # a candidate that fails to import costs no oracle (and no second GPU context)
                if refbox["ref"] is None and (cached is None or timed):
                    refbox["ref"] = self.start_reference(task, facts, runs, cached is None, want_reference=timed)
                return refbox["ref"]

            t_spawn = time.monotonic()
            try:
                cand = self.spawn_candidate(facts, req)
            except HarnessFault:
                if self.require_isolation:
                    raise
                cand = self.spawn_candidate(facts, req)  # one restart of the candidate server
            phases["spawn"] = round((time.monotonic() - t_spawn) * 1e3, 1)
            res["sandbox"] = self._sandbox.describe()
            res["isolation_missing"] = list(self._sandbox.missing)
            if on_started:
                on_started(self._sandbox.pgid)
            state = {"inputs": cached[0] if cached else None, "oracle": cached[1] if cached else None,
                     "frames": None}

            def get_inputs():
                if state["inputs"] is None:
                    t_in = time.monotonic()
                    state["inputs"] = self.collect_inputs(get_ref(), deadline)
                    phases["inputs_wait"] = round((time.monotonic() - t_in) * 1e3, 1)
                return state["inputs"]

            def get_oracle():
                # called once the candidate has its inputs: its calls overlap the oracle's work
                if state["oracle"] is None:
                    t_or = time.monotonic()
                    state["oracle"], frames = self.collect_oracle(get_ref(), runs[:n_check], deadline)
                    phases["oracle_wait"] = round((time.monotonic() - t_or) * 1e3, 1)
                    phases["oracle_child"] = round(getattr(self, "last_oracle_ms", 0) or 0, 1)
                    if use_cache:
                        try:
                            self._cache_store(cache_path, [state["inputs"]] + frames)
                        except OSError as e:
                            _log("cache_store_failed", error=repr(e))
                return state["oracle"]

            try:
                self.drive_candidate(cand, get_ref, task, runs, n_check, get_inputs, get_oracle, req, res,
                                     deadline, timed, source_bytes)
            finally:
                ref = refbox["ref"]
            oracle = state["oracle"]
        except HarnessFault as e:
            res.update(error_class="harness_error", error_message=str(e)[:4000], call_ok=False, exec_ok=False)
            oracle = None
        finally:
            # every frame the verdict needs has been read: kill now (the sandbox is wiped for the
            # next candidate), reap the oracle later
            for c in (cand, ref):
                if c is not None:
                    c.discard()
            if cand is not None:
                t_clean = time.monotonic()
                self.recycle_sandbox(facts)
                phases["clean"] = round((time.monotonic() - t_clean) * 1e3, 1)
            if ref is not None and req.get("prefork", True):
                self.prefork_reference(facts)
            # children killed: a hanging candidate held the shared lock until this point only
            if lock is not None:
                lock.release()
            self._eval_lock = None
        return res, oracle

    @contextlib.contextmanager
    def _exclusive_gpu(self, res):
        """Timing: trade this evaluation's shared lock for the exclusive one (never both held:
        see gpulock.py), and give it back at the end."""
        lock = self._eval_lock
        if lock is None:
            yield
            return
        lock.release()
        t_lock = time.monotonic()
        lock.acquire_exclusive()
        res.setdefault("phases_ms", {})["lock_exclusive_wait"] = round((time.monotonic() - t_lock) * 1e3, 1)
        try:
            yield
        finally:
            lock.release()

    def drive_candidate(self, cand, get_ref, task, runs, n_check, get_inputs, get_oracle, req, res, deadline,
                        timed, source):
        violations = []
        verdicts = res["verdicts"]
        outs = {}

        phases = res.setdefault("phases_ms", {})
        t_spawn = time.monotonic()
        marks = {}
        kicked = []

        def recv():
            while True:
                msg, blob = cand.recv(deadline)
                if msg.get("ev") in ("ready", "loaded", "checked"):
                    marks[msg["ev"]] = time.monotonic()
                ev = msg.get("ev")
                # events a candidate may send as often as it likes: each is kept bounded
                if ev == "violation":
                    if len(violations) < MAX_NOTES:
                        violations.append("%s: %s" % (_text(msg.get("event"), 100), _text(msg.get("detail"), 500)))
                    continue
                if ev == "phase":
                    cand.phase = _text(msg.get("phase"), 40) or cand.phase
                    continue
                if ev == "imported":
                    # its code imported: the oracle starts now, alongside the candidate's GPU start
                    # (never for a candidate that failed to import)
                    if not kicked:
                        kicked.append(get_ref())
                    continue
                if ev == "limits":
                    notes = msg.get("notes")
                    if isinstance(notes, list) and "limits" not in marks:
                        marks["limits"] = time.monotonic()
                        res["sandbox"] += ";" + ",".join(_text(n, 40) for n in notes[:16])
                    continue
                return msg, blob

        def fail(cls, message, trace=""):
            res.update(error_class=_candidate_class(cls), error_message=_text(message, 4000),
                       trace=_text(trace, child.TRACE_CHARS + 10))

        # nothing the candidate sends before its outputs may be large
        cand.reader.max_blob = 1 << 20
        try:
            msg, _ = recv()
            if msg.get("ev") == "ready":
                append = child._append_of(task)
                code_msg = {"cmd": "code", "entry": task.entry, "src_len": len(source),
                            "limits": req.get("limits") or {}}
                blob = source
                if append is not None:
                    code_msg["append_name"] = append[0]
                    blob = source + append[1]
                if not cand.send(code_msg, blob, deadline):
                    raise EOFError
                msg, _ = recv()
            if msg.get("ev") == "error":
                fail(msg.get("class", "runtime_error"), msg.get("message", ""), msg.get("trace", ""))
                return self._finish_violations(res, violations, cand, deadline)
            if msg.get("ev") != "loaded":
                fail("runtime_error", "unexpected frame %r from the candidate" % (_text(msg.get("ev"), 40),))
                return self._finish_violations(res, violations, cand, deadline)
            # the seed-derived inputs exist only now, after the code is loaded; they are drawn by
            # the trusted oracle process and reach the candidate as bytes
            in_msg, in_blob = get_inputs()
            digests = in_msg["digests"]
            if not cand.send({"cmd": "run", "runs": [{"label": r["label"]} for r in runs[:n_check]],
                              "determinism": bool(req.get("check_determinism")), "inputs": in_msg["value"]},
                             in_blob, deadline):
                raise EOFError
            t_sent = time.monotonic()
            oracle = get_oracle()
            cand.reader.max_blob = OUTPUT_SLACK * max([_nbytes(o[1]) for o in oracle] + [0]) + (1 << 20)
            reps = 2 if req.get("check_determinism") else 1
            got = 0
            while got < n_check * reps:
                msg, blob = recv()
                ev = msg.get("ev")
                if ev == "error":
                    fail(msg.get("class", "runtime_error"), msg.get("message", ""), msg.get("trace", ""))
                    i = msg.get("run")
                    if isinstance(i, int) and 0 <= i < len(runs):
                        verdicts.append(_verdict(i, runs[i], False, msg.get("class", "runtime_error"),
                                                 0.0, 0.0, msg.get("message", "")))
                    return self._finish_violations(res, violations, cand, deadline)
                if ev != "out":
                    fail("runtime_error", "unexpected frame %r from the candidate" % (ev,))
                    return self._finish_violations(res, violations, cand, deadline)
                i, rep = msg.get("run"), msg.get("rep", 0)
                if not isinstance(i, int) or not 0 <= i < n_check or rep not in (0, 1) or (i, rep) in outs:
                    raise wire.WireError("bad or repeated run index")
                outs[(i, rep)] = (msg, wire.unpack_value(msg.get("value"), blob))
                got += 1
            msg, _ = recv()
            if msg.get("ev") != "checked":
                raise wire.WireError("missing end of checks")
            if "ready" in marks:
                phases["ready"] = round((marks["ready"] - t_spawn) * 1e3, 1)
            if "loaded" in marks and "ready" in marks:
                phases["load"] = round((marks["loaded"] - marks["ready"]) * 1e3, 1)
            phases["calls"] = round((time.monotonic() - t_sent) * 1e3, 1)
        except EOFError:
            return self._died(res, violations, cand, deadline)
        except wire.WireTimeout:
            cand.kill()
            fail("timeout", "no answer before the harness backstop deadline")
            return res
        except wire.WireError as e:
            cand.kill()
            fail("sandbox_violation", "the candidate corrupted its result channel (%s)" % e)
            return res
        except (KeyError, TypeError, ValueError) as e:
            # a frame that parses but does not have the shape of the protocol: the candidate's doing
            cand.kill()
            fail("sandbox_violation", "the candidate sent a malformed frame (%s)" % _text(repr(e), 200))
            return res

        t_cmp = time.monotonic()
        res["call_ok"] = True
        worst = None
        for i in range(n_check):
            if (i, 0) not in outs:
                continue
            msg, value = outs[(i, 0)]
            want_digest, want = oracle[i]
            tol = task.tol
            ok, mabs, mrel, text = compare.compare(value, want, tol)
            cls = "pass"
            if msg.get("in_before") != want_digest or digests[i] != want_digest:
                cls, text = "sandbox_violation", "inputs seen by the candidate differ from the oracle's (input generation was tampered with)"
            elif msg.get("in_after") != msg.get("in_before"):
                cls, text = "input_mutated", "the candidate modified its inputs"
            elif not ok:
                cls = "mismatch"
            elif _numel(want) > 0 and not msg.get("launches"):
                cls, text = "no_kernel_launched", "no Triton kernel was launched"
            elif (i, 1) in outs:
                ok2, _, _, text2 = compare.compare(outs[(i, 1)][1], want, tol)
                same = compare.same_bits(outs[(i, 1)][1], value)
                m2 = outs[(i, 1)][0]
                if not ok2 or m2.get("in_after") != m2.get("in_before"):
                    cls, text = "nondeterministic", "second run on the same inputs differs: " + (text2 or "inputs changed")
                elif not same:
                    text = "second run differs within tolerance (rounding)"
            verdicts.append(_verdict(i, runs[i], cls == "pass", cls, mabs, mrel, text))
            if cls != "pass" and (worst is None or PRIORITY.index(cls) < PRIORITY.index(worst[0])):
                worst = (cls, "%s: %s" % (runs[i]["label"], text))
        if violations:
            worst = ("sandbox_violation", violations[0])
        phases["compare"] = round((time.monotonic() - t_cmp) * 1e3, 1)
        if worst:
            res.update(error_class=worst[0], error_message=_text(worst[1], 4000), exec_ok=False)
            return res
        res.update(exec_ok=True, error_class="pass", error_message="")
        if timed:
            t_timing = time.monotonic()
            try:
                self.time_pair(cand, get_ref(), task, runs, n_check, oracle, req, res, deadline)
            except EOFError:
                # the candidate (or reference) vanished during timing
                if cand.poll() is not None or cand.wait(time.monotonic() + 2) is not None:
                    return self._died(res, violations, cand, deadline)
                self._perf_fault(res, "the reference process died during timing")
            except HarnessFault as e:
                # every fault raised while timing is the reference's (the task's gold code on its
                # perf inputs): the task's perf case is marked, the candidate keeps its verdict
                self._perf_fault(res, str(e))
            except wire.WireTimeout:
                cand.kill()
                res.update(error_class="timeout", error_message="timing did not finish before the deadline",
                           exec_ok=False)
            res.pop("_perf_case", None)
            phases["timing"] = round((time.monotonic() - t_timing) * 1e3, 1)
            if violations:
                res.update(error_class="sandbox_violation", error_message=violations[0], exec_ok=False)
        return res

    @staticmethod
    def _perf_fault(res, why):
        at = res.get("_perf_case") or "its perf inputs"
        res.update(timed=False, speedup=0.0, perf_fault=True,
                   timing_note=_text("not timed: the task's reference fails on %s (the task's perf case "
                                     "is at fault, not the candidate): %s" % (at, why.strip()), 1000))
        _log("perf_case_fault", case=at, detail=_text(why, 300))

    def _finish_violations(self, res, violations, cand, deadline):
        # drain frames until the child is gone, so a violation reported just before an error counts
        drain_until = min(deadline, time.monotonic() + 2)  # once: a chatty candidate cannot extend it
        try:
            while True:
                msg, _ = cand.recv(drain_until)
                if msg.get("ev") == "violation" and len(violations) < MAX_NOTES:
                    violations.append("%s: %s" % (_text(msg.get("event"), 100), _text(msg.get("detail"), 500)))
        except (EOFError, wire.WireError, wire.WireTimeout):
            pass
        if violations:
            res.update(error_class="sandbox_violation", error_message=violations[0])
        return res

    def _died(self, res, violations, cand, deadline):
        st = cand.wait(min(deadline, time.monotonic() + 5))
        sig, code = describe_status(st)
        if st is None and isinstance(cand, SandboxedChild) and not cand.sandbox.alive():
            sig = "SIGKILL"  # killed with its whole sandbox (the caller's deadline)
        if violations:
            res.update(error_class="sandbox_violation", error_message=_text(violations[0], 4000),
                       call_ok=False, exec_ok=False)
            return res
        stderr_tail = _text(getattr(cand, "tail", ""), 2000)
        if sig in ("SIGSEGV", "SIGBUS"):
            cls = "illegal_memory_access" if cand.phase == "call" else "runtime_error"
            msg = "killed by %s during %s" % (sig, cand.phase)
        elif sig == "SIGXCPU":
            cls, msg = "timeout", "CPU time limit (RLIMIT_CPU) exceeded"
        elif sig:
            cls, msg = "runtime_error", "killed by %s" % sig
        elif code is None:
            cls, msg = "runtime_error", "the candidate process ended before delivering its results"
        elif code == 0:
            cls, msg = "runtime_error", "the candidate process exited (status 0) before delivering its results"
        else:
            cls, msg = "runtime_error", "the candidate process exited with status %s" % code
        res.update(error_class=cls, error_message=msg, call_ok=False, exec_ok=False, trace=stderr_tail)
        return res

    def time_pair(self, cand, ref, task, runs, n_check, oracle, req, res, deadline):
        reps = max(1, min(10000, int(req.get("perf_reps") or 100)))
        perf = [i for i, r in enumerate(runs) if r["kind"] == "perf"]
        if not perf:
            return
        # oracle outputs of the (large) perf runs: computed only now, never cached
        res["_perf_case"] = "its perf inputs (computing their oracle outputs)"
        t_po = time.monotonic()
        if not ref.send({"cmd": "oracle", "runs": [runs[j] for j in perf]}):
            raise HarnessFault("reference child is gone")
        p_msg, p_blob = self.collect_inputs(ref, deadline)
        if not cand.send({"cmd": "perf_inputs", "runs": perf, "value": p_msg["value"]}, p_blob, deadline):
            raise EOFError
        del p_blob
        perf_oracle, _ = self.collect_oracle(ref, [runs[j] for j in perf], deadline)
        cand.reader.max_blob = OUTPUT_SLACK * max([_nbytes(o[1]) for o in perf_oracle] + [0]) + (1 << 20)
        oracle = dict(enumerate(oracle))
        for j, o in zip(perf, perf_oracle):
            oracle[j] = o
        res.setdefault("phases_ms", {})["perf_oracle"] = round((time.monotonic() - t_po) * 1e3, 1)
        budget_ms = TIMING_BUDGET_MS / len(perf)
        with self._exclusive_gpu(res):
            if not ref.send({"cmd": "reference"}):
                raise HarnessFault("reference child is gone")
            msg, _ = ref.recv(deadline)
            if msg.get("ev") != "loaded":
                raise HarnessFault("reference did not load: %s" % msg.get("message"))
            speedups, first, plans, cis = [], None, [], []
            suspect = [0]
            walls = {}   # who -> [(trusted wall ms per sample, reported ms per call, calls)]

            def sample(who, j, spec_j, k, warm, calls):
                t_send = time.monotonic()
                who.send({"cmd": "time", "run": j, "spec": spec_j, "reps": k, "warmup": warm, "calls": calls},
                          deadline=deadline)
                while True:
                    msg, _ = who.recv(deadline)
                    if msg.get("ev") == "violation":
                        got = res.setdefault("_violations", [])
                        if len(got) < MAX_NOTES:
                            got.append(_text(msg.get("detail"), 500))
                        continue
                    break
                if msg.get("ev") != "samples":
                    if who is ref:
                        raise HarnessFault("reference timing failed: %s" % msg.get("message"))
                    res.update(error_class=msg.get("class", "runtime_error"),
                               error_message=msg.get("message", ""), exec_ok=False)
                    return None
                wall = (time.monotonic() - t_send) * 1e3
                if who is cand:
                    s_ = msg.get("suspect", 0)
                    suspect[0] += int(s_) if isinstance(s_, int) and 0 <= s_ <= 1 << 20 else 0
                ms = msg.get("ms")
                xs = [float(x) for x in (ms if isinstance(ms, list) else [])
                      if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0]
                if len(xs) != k:
                    if who is ref:
                        raise HarnessFault("reference timing returned %d samples for %d" % (len(xs), k))
                    res.update(error_class="implausible_timing", exec_ok=False,
                               error_message="the candidate reported %d timing samples for %d asked" % (len(xs), k))
                    return None
                if not warm:
                    walls.setdefault(who, []).append((wall / k, sum(xs) / k, calls))
                return xs

            for j in perf:
                res["_perf_case"] = runs[j]["label"]
                spec_j = {"case": runs[j]["case"], "seed": runs[j]["seed"]}
                # calibration (warm-up included, samples discarded): per-call time of each side
                est = {}
                for who in (ref, cand):
                    xs = sample(who, j, spec_j, CALIBRATION_SAMPLES, WARMUP_CALLS, 1)
                    if xs is None:
                        return
                    est[who] = stats.latency_stats(xs)["median_ms"]
                calls, n = timing_plan(est[ref], est[cand], reps, budget_ms)
                plans.append("%dx%d" % (n, calls))
                chunk = max(1, min(ROUND_SAMPLES, n // 4 or 1))
                rms, cms = [], []
                done, rnd = 0, 0
                ci = float("inf")
                while done < n:
                    k = min(chunk, n - done)
                    order = ((ref, rms), (cand, cms)) if rnd % 2 == 0 else ((cand, cms), (ref, rms))
                    for who, acc in order:
                        xs = sample(who, j, spec_j, k, 0, calls)
                        if xs is None:
                            return
                        acc.extend(xs)
                    done += k
                    rnd += 1
                    # stop as soon as both medians are known to +-CI_TARGET (95 %): a stable kernel
                    # needs a few rounds, a noisy one gets the whole plan
                    ci = math.hypot(stats.median_ci_rel(rms), stats.median_ci_rel(cms))
                    if done >= MIN_SAMPLES and ci <= CI_TARGET:
                        break
                cis.append(ci)
                plans[-1] = "%dx%d" % (done, calls)
                # the output after timing must still be right: one call on fresh inputs (docs/harness.md)
                cand.send({"cmd": "time", "run": j, "spec": spec_j, "reps": 1, "warmup": 0, "want_output": True})
                msg, blob = cand.recv(deadline)
                if msg.get("ev") == "error":
                    res.update(error_class=_candidate_class(msg.get("class", "runtime_error")), exec_ok=False,
                               error_message=_text("%s (fresh inputs after timing): %s"
                                                   % (runs[j]["label"], msg.get("message", "")), 4000))
                    return
                if msg.get("ev") != "samples" or "value" not in msg:
                    res.update(error_class="runtime_error", error_message="no output after timing", exec_ok=False)
                    return
                ok, mabs, mrel, text = compare.compare(wire.unpack_value(msg["value"], blob), oracle[j][1], task.tol,
                                                       nan_undefined=True)
                res["verdicts"].append(_verdict(j, runs[j], ok, "pass" if ok else "mismatch", mabs, mrel, text))
                if not ok:
                    res.update(error_class="mismatch", error_message="%s (after timing): %s" % (runs[j]["label"], text),
                               exec_ok=False)
                    return
                rs, cs = stats.latency_stats(rms), stats.latency_stats(cms)
                problem = _wall_check(walls.get(ref, []), walls.get(cand, []))
                walls.clear()
                if problem:
                    res.update(error_class="implausible_timing", error_message="%s: %s" % (runs[j]["label"], problem),
                               exec_ok=False)
                    return
                if first is None:
                    first = (j, rs, cs)
                if cs["median_ms"] > 0 and rs["median_ms"] > 0:
                    speedups.append(rs["median_ms"] / cs["median_ms"])
        j, rs, cs = first
        res["reference"], res["candidate"] = rs, cs
        res["timed"] = True
        res["timing_plan"] = "samples x calls per perf case: %s" % " ".join(plans)
        if cis and all(math.isfinite(c) for c in cis):
            # the geometric mean of the cases' ratios is known to about this (relative, 95 %)
            res["speedup_ci"] = math.sqrt(sum(c * c for c in cis)) / len(cis)
        if speedups:
            res["speedup"] = math.exp(sum(math.log(s) for s in speedups) / len(speedups))
        sec = cs["median_ms"] / 1e3
        if sec > 0:
            res["gbps"] = task.bytes_moved(runs[j]["case"]) / sec / 1e9
            res["tflops"] = task.flops(runs[j]["case"]) / sec / 1e12
        if suspect[0]:
            res["timing_note"] = "%d samples used the wall clock (work escaped the timed stream)" % suspect[0]
        problem = _peak_check(res["gbps"], res["tflops"], res.get("device") or {})
        if problem:
            res.update(error_class="implausible_timing", error_message=problem, exec_ok=False, timed=False)

    # ---- selfcheck: the task's reference against its oracle, twice, fresh processes
    def selfcheck(self, req):
        """The self-check, answered from the host's cache when this task (by digest) was checked on
        this device with this torch, triton and harness before (`cached: true`): a deployment's
        evaluators and `geak tasks check` share it through the cache dir.  `no_cache` skips it."""
        key = None
        try:
            task = tasklib.load(req["task_dir"])
            facts = self.facts()
            key = sccache.key(task, facts, torch.__version__, triton.__version__, req.get("mode", "correctness"))
        except (KeyError, tasklib.TaskError):
            pass
        path = sccache.answer_path(self.cache_dir, key) if key else None
        if path and not req.get("no_cache"):
            hit = sccache.read_answer(path)
            if hit is not None:
                hit["cached"] = True
                return hit
        out = self._selfcheck_run(req)
        if path:
            try:
                os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                tmp = path + ".%d.tmp" % os.getpid()
                with open(tmp, "w") as f:
                    json.dump(out, f)
                os.replace(tmp, path)
            except OSError as e:
                _log("selfcheck_cache_store_failed", error=repr(e))
        return dict(out, cached=False)

    def _selfcheck_run(self, req):
        """-> {status ok|broken|flaky, reason, error_class, call_ok, exec_ok, results}.  error_class is
        pass for ok, else the reference's failure class; a failure of the task's own code in its
        children (spec import, oracle raising or dying: harness_error in an eval) counts as the task's
        (import_error / runtime_error), never ours.  Our own faults raise (-> {"op":"error"})."""
        try:
            task = tasklib.load(req["task_dir"])
            task.spec  # noqa: B018
        except (KeyError, tasklib.TaskError) as e:
            return {"status": "broken", "reason": "task: %s" % e, "error_class": "import_error",
                    "call_ok": False, "exec_ok": False, "results": []}
        seed = int(req.get("seed") or 12345) & 0x7FFFFFFF
        outcomes = []
        for attempt in range(2):
            sb = tempfile.mkdtemp(prefix="geak-selfcheck-", dir=req.get("sandbox_root") or None)
            try:
                shutil.copy(task.reference_file, os.path.join(sb, "candidate.py"))
                sub = {"task_dir": task.dir, "sandbox_dir": sb, "code_file": "candidate.py", "seed": seed,
                       "mode": req.get("mode", "correctness"), "timeout_s": req.get("timeout_s", 300),
                       "check_determinism": True, "limits": req.get("limits") or {},
                       "grace_s": _grace_s(req),
                       "drop_uid": req.get("drop_uid"), "perf_reps": req.get("perf_reps", 20)}
                r, oracle = self.evaluate(sub, None, use_cache=False)
                outcomes.append((r, oracle))
            finally:
                shutil.rmtree(sb, ignore_errors=True)
        (r1, o1), (r2, o2) = outcomes
        ok1, ok2 = r1["error_class"] == "pass", r2["error_class"] == "pass"
        failed = r1 if not ok1 else r2  # the first failing run (r2 when both passed)

        def answer(status, reason, cls):
            if cls == "harness_error":  # the task's oracle/reference failed in its own child
                cls = "timeout" if "timed out" in failed["error_message"] else "runtime_error"
            return {"status": status, "reason": reason, "error_class": cls, **task.facts(),
                    "call_ok": bool(r1["call_ok"] and r2["call_ok"]), "exec_ok": ok1 and ok2,
                    "results": [_brief(r1), _brief(r2)]}

        if not (ok1 and ok2):
            foreign = _foreign_intrinsic(failed, self.facts(), task)
            if foreign:
                return answer("unsupported_on_device", foreign, failed["error_class"])
        if "harness_error" in (r1["error_class"], r2["error_class"]) and not (ok1 or ok2):
            return answer("broken", "oracle or task failed: %s" % (r1["error_message"] or r2["error_message"]),
                          "harness_error")
        notes = []
        if o1 is not None and o2 is not None:
            cls = failed["error_class"] if not (ok1 and ok2) else "nondeterministic"
            for i, ((d1, v1), (d2, v2)) in enumerate(zip(o1, o2)):
                if d1 != d2:
                    return answer("flaky", "input generation is not deterministic", cls)
                if compare.same_bits(v1, v2):
                    continue
                # not bit-identical: within the task's tolerance it is rounding, not flakiness
                same, _, _, text = compare.compare(v2, v1, task.tol)
                if not same:
                    return answer("flaky", "the oracle is not deterministic beyond the task's tolerance: %s"
                                  % text, cls)
                notes.append("the oracle differs between runs within the tolerance (run %d)" % i)
            label = {v.get("index"): v.get("label", "") for v in r1.get("verdicts") or []}
            for i, (_, v) in enumerate(o1):
                nan, n = compare.nan_elements(v)
                if nan:
                    # reported: a candidate must yield NaN there too (docs/tasks.md, NaN policy)
                    notes.append("the reference yields NaN in %d of %d elements of %s (matched as NaN)"
                                 % (nan, n, label.get(i) or "run %d" % i))
        for r in (r1, r2):
            if r.get("perf_fault") and r.get("timing_note") not in notes:
                notes.append(r["timing_note"])
        if ok1 and ok2:
            return answer("ok", "; ".join(notes[:4]), "pass")
        if ok1 != ok2:
            return answer("flaky", "reference passed once and failed once: %s: %s"
                          % (failed["error_class"], failed["error_message"]), failed["error_class"])
        return answer("broken", "%s: %s" % (r1["error_class"], r1["error_message"]), r1["error_class"])


# names that exist only in one vendor's compiler stack: gold code that uses them cannot compile for
# another vendor's device (or run under the CPU interpreter)
_VENDOR_MARKERS = {"amd": ("__ocml_", "__ockl_", "__triton_hip_", "tl.extra.hip", "amdgcn", "llvm.amdgcn"),
                   "nvidia": ("__nv_", "tl.extra.cuda", "nvvm.", "llvm.nvvm")}


def _foreign_intrinsic(res, facts, task):
    """A self-check failure whose error, trace or gold source names another vendor's intrinsics
    -> reason text, else None (the failure is the task's own)."""
    text = "%s\n%s" % (res.get("error_message") or "", res.get("trace") or "")
    gold = ""
    for path in (task.reference_file,):
        try:
            with open(path, errors="replace") as f:
                gold += f.read(1 << 22)
        except OSError:
            pass
    gold += (task.append_src or b"").decode("utf-8", "replace")
    vendor = str(facts.get("vendor", ""))
    for owner, markers in _VENDOR_MARKERS.items():
        if owner == vendor:
            continue
        for where in (text, gold):
            hit = next((m for m in markers if m in where), None)
            if hit:
                word = next((w for w in where.replace("'", " ").replace('"', " ").split() if hit in w), hit)
                return ("the gold code needs %s-only code (%s) and cannot run on this %s device: %s: %s"
                        % ("AMD" if owner == "amd" else "NVIDIA", word.strip("`,.:()")[:80], vendor or "unknown",
                           res.get("error_class"), _text(res.get("error_message"), 300)))
    return None


def _grace_s(req):
    """The backstop past a request's timeout: the request's grace_s (its caller's budget,
    geak_harness_budget_ms), GRACE_S when absent."""
    g = req.get("grace_s")
    return float(g) if isinstance(g, (int, float)) and not isinstance(g, bool) and 0 <= g <= 3600 else GRACE_S


def _wall_check(ref, cand):
    """Trusted clock cross-check of one perf case.  ref/cand: [(wall ms per sample, reported ms per
    call, calls)] of the timed batches.  The reference's batches give the honest overhead of a
    sample (flush, synchronise, spin, pipe); a candidate whose reported kernel time explains less
    than WALL_EXPLAINED_MIN of its wall time beyond that overhead did work the report hides.
    -> problem text or None."""
    if not ref or not cand:
        return None
    ovh = sorted(w - r * c for w, r, c in ref)[len(ref) // 2]
    wall = sum(w for w, _, _ in cand) / len(cand)
    told = sum(r * c for _, r, c in cand) / len(cand)
    seen = wall - max(0.0, ovh)
    if seen > WALL_SLACK_MS and told < WALL_EXPLAINED_MIN * seen:
        return ("reported %.4f ms per sample, but the trusted clock saw %.4f ms of work per sample "
                "(beyond the reference's %.4f ms overhead)" % (told, seen, ovh))
    return None


# dense peak of the fastest number format, TFLOP/s, and memory bandwidth, GB/s, by device name
_PEAKS = (("H200", 1979.0, 4800.0), ("H100", 1979.0, 3350.0), ("H800", 1979.0, 3350.0),
          ("A100", 624.0, 2039.0), ("L40", 733.0, 864.0), ("MI300", 2615.0, 5300.0),
          ("MI250", 383.0, 3277.0), ("B200", 4500.0, 8000.0))


def _peak_check(gbps, tflops, facts):
    """A timing that implies more than the device can do is not a win.  -> problem text or None."""
    name = str(facts.get("name", ""))
    peak = next(((f, b) for key, f, b in _PEAKS if key in name), None)
    if peak is None:
        bw = facts.get("mem_bw_gbps") or 0
        if not bw:
            return None
        peak = (0.0, float(bw))
    pf, pb = peak
    if pb and gbps > PEAK_MARGIN * pb:
        return "%.0f GB/s is above the device's peak bandwidth (%.0f GB/s)" % (gbps, pb)
    if pf and tflops > PEAK_MARGIN * pf:
        return "%.0f TFLOP/s is above the device's peak (%.0f TFLOP/s)" % (tflops, pf)
    return None


def timing_plan(ref_ms, cand_ms, reps, budget_ms):
    """-> (calls per sample, samples per side).  Same `calls` for both sides: enough that a sample of
    the faster side lasts SAMPLE_TARGET_MS, but no sample of the slower side over MAX_SAMPLE_MS;
    `reps` samples per side unless that exceeds budget_ms (never fewer than MIN_SAMPLES)."""
    lo = max(min(ref_ms, cand_ms), 1e-4)
    hi = max(ref_ms, cand_ms, 1e-4)
    calls = int(math.ceil(SAMPLE_TARGET_MS / lo))
    calls = max(1, min(MAX_CALLS, calls, int(MAX_SAMPLE_MS / hi) or 1))
    per_sample = calls * (ref_ms + cand_ms) + 2 * SAMPLE_OVERHEAD_MS
    n = min(reps, max(MIN_SAMPLES, int(budget_ms / per_sample)))
    return calls, max(1, n)


_CANDIDATE_CLASSES = {"syntax_error", "import_error", "compile_error", "runtime_error", "illegal_memory_access",
                      "timeout", "sandbox_violation", "no_kernel_launched", "mismatch"}


def _candidate_class(cls):
    """A class named by the candidate's process: only failure classes it can own ("pass" or
    "harness_error" from there is a lie, read as runtime_error)."""
    return cls if isinstance(cls, str) and cls in _CANDIDATE_CLASSES else "runtime_error"


def _text(v, n):
    """A bounded string from an untrusted value."""
    if not isinstance(v, str):
        v = "" if v is None else str(v) if isinstance(v, (int, float)) else ""
    return v[:n]


def _nbytes(v):
    if isinstance(v, torch.Tensor):
        return v.numel() * v.element_size()
    if isinstance(v, (tuple, list)):
        return sum(_nbytes(x) for x in v)
    return 64


def _required_names(task):
    """Names the candidate itself must define: the entry point, unless the task's appended code
    defines it; then the benchmark function the appended test section calls (task.json
    entry.signature)."""
    import re as _re
    append_src = getattr(task, "append_src", None)
    if append_src is None:
        return [task.entry]
    if not screen.missing_names(append_src.decode("utf-8", "replace"), [task.entry]):
        entry = task.meta.get("entry")
        sig = entry.get("signature", "") if isinstance(entry, dict) else ""
        m = _re.search(r"def\s+(\w+)", sig or "")
        return [m.group(1)] if m else []
    return [task.entry]


def _read_code(path, limit=4 << 20):
    """The candidate's code as the C side wrote it (never a link, FIFO or device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        import stat as _stat
        if not _stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        out = b""
        while len(out) < limit:
            b = os.read(fd, min(1 << 20, limit - len(out)))
            if not b:
                break
            out += b
        return out
    except OSError:
        return b""
    finally:
        os.close(fd)




def _harness_digest():
    return sccache.harness_digest()


def _brief(r):
    return {k: r.get(k) for k in ("error_class", "error_message", "call_ok", "exec_ok", "speedup", "timed",
                                  "gbps", "tflops", "timing_note", "speedup_ci")}


def _numel(v):
    if isinstance(v, torch.Tensor):
        return v.numel()
    if isinstance(v, (tuple, list)):
        return sum(_numel(x) for x in v)
    return 0


def _mix(seed, i):
    h = hashlib.sha256(("%d:%d" % (seed, i)).encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def _verdict(i, run, ok, cls, mabs, mrel, message):
    return {"index": i, "label": run["label"], "ok": bool(ok), "error_class": cls,
            "max_abs_err": float(mabs), "max_rel_err": float(mrel), "message": message or ""}


def _finite(obj):
    """JSON has no NaN/Inf: replace them (e.g. max error of a NaN output) by large numbers."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return -1.0
        if math.isinf(obj):
            return 1e308 if obj > 0 else -1e308
        return obj
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _read_fd(fd):
    out = b""
    while len(out) < (1 << 20):
        b = os.read(fd, 1 << 16)
        if not b:
            break
        out += b
    os.close(fd)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="harness.forkserver")
    p.add_argument("--req-fd", type=int, required=True)
    p.add_argument("--resp-fd", type=int, required=True)
    p.add_argument("--device-index", type=int, default=0)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--seccomp-bpf", default=os.environ.get("GEAK_SECCOMP_BPF"),
                   help="the candidate seccomp filter (raw BPF, `geak sandbox-bpf`)")
    p.add_argument("--seccomp-fd", type=int, default=None, help="the same, on an inherited fd")
    p.add_argument("--sandbox-uid", type=int, default=int(os.environ.get("GEAK_SANDBOX_UID", "65534")),
                   help="the unprivileged uid candidates run as (when we are root)")
    p.add_argument("--require-isolation", action="store_true",
                   default=os.environ.get("GEAK_REQUIRE_ISOLATION", "") not in ("", "0"),
                   help="refuse to evaluate unless every isolation layer is active")
    a = p.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.set_inheritable(a.req_fd, False)
    os.set_inheritable(a.resp_fd, False)
    bpf = None
    if a.seccomp_fd is not None:
        bpf = _read_fd(a.seccomp_fd)
    elif a.seccomp_bpf:
        with open(a.seccomp_bpf, "rb") as f:
            bpf = f.read(1 << 20)
    srv = Server(a.req_fd, a.resp_fd, a.device_index, a.cache_dir, seccomp_bpf=bpf,
                 sandbox_uid=a.sandbox_uid, require_isolation=a.require_isolation)
    _log("ready", pid=os.getpid(), interpret=srv.interpret_env, cache=srv.cache_dir)
    srv.serve()
    reap_discarded(time.monotonic() + 10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
