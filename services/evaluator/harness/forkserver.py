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

from . import child, compare, gpulock, screen, stats, task as tasklib, wire  # noqa: E402

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
TIMING_BUDGET_MS = 4000.0
CALIBRATION_SAMPLES = 3
WARMUP_CALLS = 10
ROUND_SAMPLES = 10
SAMPLE_OVERHEAD_MS = 0.6  # flush + synchronise + pre-sample spin + pipe round trip, per sample
PRIORITY = ["sandbox_violation", "input_mutated", "mismatch", "no_kernel_launched", "nondeterministic"]
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

    def send(self, obj):
        try:
            wire.send(self.ctl_w, self.key, obj)
            return True
        except OSError:
            return False

    def recv(self, deadline):
        while True:
            msg, blob = self.reader.recv(deadline)
            if msg.get("ev") == "mark":  # diagnostics only
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
    def __init__(self, req_fd, resp_fd, device_index=0, cache_dir=None):
        self.req_fd = req_fd
        self.resp_fd = resp_fd
        self.device_index = device_index
        self.cache_dir = os.path.realpath(cache_dir or os.path.join(
            tempfile.gettempdir(), "geak-harness-cache-%d" % os.getuid()))
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
                                  "served": self.served})
                elif op == "eval":
                    self.handle_eval(req)
                elif op == "selfcheck":
                    self.respond({"op": "selfcheck", "id": req.get("id"), "result": self.selfcheck(req)})
                elif op == "quit":
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
        return dict(self._facts)

    # ---- oracle outputs, cached per (task, seed, device, runs)
    def _cache_path(self, task, facts, seed, runs):
        fp = hashlib.sha256(json.dumps(runs, sort_keys=True).encode()).hexdigest()[:16]
        dev = ("%s-%s" % (facts.get("arch", "cpu"), facts.get("name", ""))).replace("/", "_").replace(" ", "_")
        return os.path.join(self.cache_dir, "oracle", "%s-%s" % (task.name, task.digest),
                            "%s-%d-%s.bin" % (dev, seed, fp))

    def _cache_load(self, path, n):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            r = wire.Reader(fd, b"geak-oracle-cache")
            out = []
            for _ in range(n):
                msg, blob = r.recv()
                out.append((msg["digest"], wire.unpack_value(msg["value"], blob)))
            return out
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
        """Fork the oracle/reference child.  -> Child (oracle command already sent)."""
        ref = spawn(lambda key, ctl_r, data_w: child.reference_main(
            task, key, ctl_r, data_w, facts, want_reference), "reference")
        if need_oracle:
            ref.send({"cmd": "oracle", "runs": [r for r in runs if r["kind"] != "perf"]})
        return ref

    def collect_oracle(self, ref, runs, deadline):
        frames, outs = [], []
        self.oracle_marks = []
        try:
            for i in range(len(runs)):
                msg, blob = ref.recv(deadline)
                if msg.get("ev") == "error":
                    raise HarnessFault("%s\n%s" % (msg.get("message"), msg.get("trace", "")))
                if msg.get("ev") != "oracle" or msg.get("run") != i:
                    raise HarnessFault("unexpected frame from the oracle child: %r" % (msg.get("ev"),))
                frames.append(({"digest": msg["digest"], "value": msg["value"]}, blob))
                self.oracle_marks.append(round(float(msg.get("t_ms", 0) or 0), 1))
                outs.append((msg["digest"], wire.unpack_value(msg["value"], blob)))
            msg, _ = ref.recv(deadline)
            if msg.get("ev") != "oracle_done":
                raise HarnessFault("oracle child did not finish")
            self.last_oracle_ms = msg.get("t_ms")
        except EOFError:
            sig, code = describe_status(ref.wait(time.monotonic() + 5))
            raise HarnessFault("oracle child died (%s)" % (sig or "exit %s" % code))
        except wire.WireTimeout:
            raise HarnessFault("oracle child timed out")
        except wire.WireError as e:
            raise HarnessFault("oracle child stream: %s" % e)
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
        res = base_result()
        facts = self.facts()
        res["device"] = facts
        interpreted = bool(facts.get("interpreted"))
        timeout_s = float(req.get("timeout_s") or 120)
        deadline = time.monotonic() + timeout_s + GRACE_S
        mode = req.get("mode", "full")
        try:
            task = tasklib.load(req["task_dir"])
            task.spec  # noqa: B018 - import errors are ours
        except (KeyError, tasklib.TaskError) as e:
            res["error_message"] = "task: %s" % (e,)
            return res, None
        sandbox_dir = req.get("sandbox_dir")
        if not sandbox_dir or not os.path.isdir(sandbox_dir):
            res["error_message"] = "sandbox_dir %r is not a directory" % (sandbox_dir,)
            return res, None
        res["_sandbox_dir"] = sandbox_dir
        code_path = code_path or os.path.join(sandbox_dir, req.get("code_file") or "candidate.py")
        try:
            with open(code_path, "rb") as f:
                source = f.read(4 << 20).decode("utf-8", errors="replace")
        except OSError:
            source = ""
        if req.get("static_screen", True):
            problem = screen.screen(source)
        else:
            problem = screen.screen(source)
            if problem and problem[0] == "forbidden_construct":
                problem = None
        if problem:
            res["error_class"], res["error_message"] = problem
            return res, None

        seed = int(req.get("seed") or 0) & 0x7FFFFFFF
        # time_on_cpu (tests, diagnostics): exercise the timing path under the interpreter too
        timed = mode == "full" and (not interpreted or bool(req.get("time_on_cpu")))
        runs = self.make_runs(task, seed, interpreted, with_perf=timed)
        n_check = sum(1 for r in runs if r["kind"] != "perf")
        cache_path = self._cache_path(task, facts, seed, runs[:n_check])
        oracle = self._cache_load(cache_path, n_check) if use_cache else None
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
                res.setdefault("phases_ms", {})["lock_shared_wait"] = round((time.monotonic() - t_lock) * 1e3, 1)
            if oracle is None or timed:
                ref = self.start_reference(task, facts, runs, oracle is None, want_reference=timed)
            cand = spawn(lambda key, ctl_r, data_w: child.candidate_main(
                req, task, key, ctl_r, data_w, dict(facts, device_index=self.device_index),
                self.cache_dir), "candidate")
            if on_started:
                on_started(cand.pid)
            res["sandbox"] = ""
            got_oracle = [oracle]

            def get_oracle():
                # called once the candidate has its run list: its calls overlap the oracle's work
                if got_oracle[0] is None:
                    t_or = time.monotonic()
                    got_oracle[0], frames = self.collect_oracle(ref, runs[:n_check], deadline)
                    res.setdefault("phases_ms", {})["oracle_wait"] = round((time.monotonic() - t_or) * 1e3, 1)
                    res["phases_ms"]["oracle_child"] = round(getattr(self, "last_oracle_ms", 0) or 0, 1)
                    if use_cache:
                        try:
                            self._cache_store(cache_path, frames)
                        except OSError as e:
                            _log("cache_store_failed", error=repr(e))
                return got_oracle[0]

            self.drive_candidate(cand, ref, task, runs, n_check, get_oracle, req, res, deadline, timed)
            oracle = got_oracle[0]
        except HarnessFault as e:
            res.update(error_class="harness_error", error_message=str(e)[:4000], call_ok=False, exec_ok=False)
        finally:
            # every frame the verdict needs has been read: kill now, reap later
            for c in (cand, ref):
                if c is not None:
                    c.discard()
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

    def drive_candidate(self, cand, ref, task, runs, n_check, get_oracle, req, res, deadline, timed):
        violations = []
        verdicts = res["verdicts"]
        outs = {}

        phases = res.setdefault("phases_ms", {})
        t_spawn = time.monotonic()

        def recv():
            while True:
                msg, blob = cand.recv(deadline)
                if msg.get("ev") in ("ready", "loaded", "checked"):
                    phases[msg["ev"]] = round((time.monotonic() - t_spawn) * 1e3, 1)
                ev = msg.get("ev")
                if ev == "violation":
                    violations.append("%s: %s" % (msg.get("event"), msg.get("detail")))
                    continue
                if ev == "phase":
                    cand.phase = msg.get("phase", cand.phase)
                    continue
                return msg, blob

        def fail(cls, message, trace=""):
            res.update(error_class=cls, error_message=message, trace=trace)

        try:
            msg, _ = recv()
            if msg.get("ev") == "ready":
                res["sandbox"] = ",".join(str(n) for n in msg.get("notes", []))
                msg, _ = recv()
            if msg.get("ev") == "error":
                fail(msg.get("class", "runtime_error"), msg.get("message", ""), msg.get("trace", ""))
                return self._finish_violations(res, violations, cand, deadline)
            if msg.get("ev") != "loaded":
                fail("runtime_error", "unexpected frame %r from the candidate" % (msg.get("ev"),))
                return self._finish_violations(res, violations, cand, deadline)
            # the seed-derived inputs are only drawn now, after the code is loaded
            cand.send({"cmd": "run", "runs": runs[:n_check],
                       "determinism": bool(req.get("check_determinism"))})
            oracle = get_oracle()
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
                if not isinstance(i, int) or not 0 <= i < n_check:
                    raise wire.WireError("bad run index")
                outs[(i, rep)] = (msg, wire.unpack_value(msg.get("value"), blob))
                got += 1
            msg, _ = recv()
            if msg.get("ev") != "checked":
                raise wire.WireError("missing end of checks")
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
            if msg.get("in_before") != want_digest:
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
        if worst:
            res.update(error_class=worst[0], error_message=worst[1], exec_ok=False)
            return res
        res.update(exec_ok=True, error_class="pass", error_message="")
        if timed:
            t_timing = time.monotonic()
            try:
                self.time_pair(cand, ref, task, runs, n_check, oracle, req, res, deadline)
            except EOFError:
                # the candidate (or reference) vanished during timing
                if cand.poll() is not None or cand.wait(time.monotonic() + 2) is not None:
                    return self._died(res, violations, cand, deadline)
                raise HarnessFault("reference child died during timing")
            except wire.WireTimeout:
                cand.kill()
                res.update(error_class="timeout", error_message="timing did not finish before the deadline",
                           exec_ok=False)
            phases["timing"] = round((time.monotonic() - t_timing) * 1e3, 1)
            if violations:
                res.update(error_class="sandbox_violation", error_message=violations[0], exec_ok=False)
        return res

    def _finish_violations(self, res, violations, cand, deadline):
        # drain frames until the child is gone, so a violation reported just before an error counts
        try:
            while True:
                msg, _ = cand.recv(min(deadline, time.monotonic() + 2))
                if msg.get("ev") == "violation":
                    violations.append("%s: %s" % (msg.get("event"), msg.get("detail")))
        except (EOFError, wire.WireError, wire.WireTimeout):
            pass
        if violations:
            res.update(error_class="sandbox_violation", error_message=violations[0])
        return res

    def _died(self, res, violations, cand, deadline):
        st = cand.wait(deadline)
        sig, code = describe_status(st)
        if violations:
            res.update(error_class="sandbox_violation", error_message=violations[0], call_ok=False, exec_ok=False)
            return res
        stderr_tail = _tail(os.path.join(res.get("_sandbox_dir", ""), "stderr.txt"))
        if sig in ("SIGSEGV", "SIGBUS"):
            cls = "illegal_memory_access" if cand.phase == "call" else "runtime_error"
            msg = "killed by %s during %s" % (sig, cand.phase)
        elif sig == "SIGXCPU":
            cls, msg = "timeout", "CPU time limit (RLIMIT_CPU) exceeded"
        elif sig:
            cls, msg = "runtime_error", "killed by %s" % sig
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
        t_po = time.monotonic()
        if not ref.send({"cmd": "oracle", "runs": [runs[j] for j in perf]}):
            raise HarnessFault("reference child is gone")
        perf_oracle, _ = self.collect_oracle(ref, [runs[j] for j in perf], deadline)
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
            speedups, first, plans = [], None, []
            suspect = [0]

            def sample(who, j, spec_j, k, warm, calls):
                who.send({"cmd": "time", "run": j, "spec": spec_j, "reps": k, "warmup": warm, "calls": calls})
                while True:
                    msg, _ = who.recv(deadline)
                    if msg.get("ev") == "violation":
                        res.setdefault("_violations", []).append(msg.get("detail"))
                        continue
                    break
                if msg.get("ev") != "samples":
                    if who is ref:
                        raise HarnessFault("reference timing failed: %s" % msg.get("message"))
                    res.update(error_class=msg.get("class", "runtime_error"),
                               error_message=msg.get("message", ""), exec_ok=False)
                    return None
                if who is cand:
                    suspect[0] += int(msg.get("suspect", 0) or 0)
                return [float(x) for x in msg.get("ms", []) if isinstance(x, (int, float)) and math.isfinite(x)]

            for j in perf:
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
                # the output after timing must still be right
                cand.send({"cmd": "time", "run": j, "spec": spec_j, "reps": 1, "warmup": 0, "want_output": True})
                msg, blob = cand.recv(deadline)
                if msg.get("ev") != "samples" or "value" not in msg:
                    res.update(error_class="runtime_error", error_message="no output after timing", exec_ok=False)
                    return
                ok, mabs, mrel, text = compare.compare(wire.unpack_value(msg["value"], blob), oracle[j][1], task.tol)
                res["verdicts"].append(_verdict(j, runs[j], ok, "pass" if ok else "mismatch", mabs, mrel, text))
                if not ok:
                    res.update(error_class="mismatch", error_message="%s (after timing): %s" % (runs[j]["label"], text),
                               exec_ok=False)
                    return
                rs, cs = stats.latency_stats(rms), stats.latency_stats(cms)
                if first is None:
                    first = (j, rs, cs)
                if cs["median_ms"] > 0 and rs["median_ms"] > 0:
                    speedups.append(rs["median_ms"] / cs["median_ms"])
        j, rs, cs = first
        res["reference"], res["candidate"] = rs, cs
        res["timed"] = True
        res["timing_plan"] = "samples x calls per perf case: %s" % " ".join(plans)
        if speedups:
            res["speedup"] = math.exp(sum(math.log(s) for s in speedups) / len(speedups))
        sec = cs["median_ms"] / 1e3
        if sec > 0:
            res["gbps"] = task.bytes_moved(runs[j]["case"]) / sec / 1e9
            res["tflops"] = task.flops(runs[j]["case"]) / sec / 1e12
        if suspect[0]:
            res["timing_note"] = "%d samples used the wall clock (work escaped the timed stream)" % suspect[0]

    # ---- selfcheck: the task's reference against its oracle, twice, fresh processes
    def selfcheck(self, req):
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
            return {"status": status, "reason": reason, "error_class": cls,
                    "call_ok": bool(r1["call_ok"] and r2["call_ok"]), "exec_ok": ok1 and ok2,
                    "results": [_brief(r1), _brief(r2)]}

        if "harness_error" in (r1["error_class"], r2["error_class"]) and not (ok1 or ok2):
            return answer("broken", "oracle or task failed: %s" % (r1["error_message"] or r2["error_message"]),
                          "harness_error")
        if o1 is not None and o2 is not None:
            cls = failed["error_class"] if not (ok1 and ok2) else "nondeterministic"
            for (d1, v1), (d2, v2) in zip(o1, o2):
                if d1 != d2:
                    return answer("flaky", "input generation is not deterministic", cls)
                if not compare.same_bits(v1, v2):
                    return answer("flaky", "the oracle is not deterministic", cls)
        if ok1 and ok2:
            return answer("ok", "", "pass")
        if ok1 != ok2:
            return answer("flaky", "reference passed once and failed once: %s: %s"
                          % (failed["error_class"], failed["error_message"]), failed["error_class"])
        return answer("broken", "%s: %s" % (r1["error_class"], r1["error_message"]), r1["error_class"])


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


def _brief(r):
    return {k: r.get(k) for k in ("error_class", "error_message", "call_ok", "exec_ok", "speedup", "timed",
                                  "gbps", "tflops")}


def _tail(path, n=2000):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


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


def main(argv=None):
    p = argparse.ArgumentParser(prog="harness.forkserver")
    p.add_argument("--req-fd", type=int, required=True)
    p.add_argument("--resp-fd", type=int, required=True)
    p.add_argument("--device-index", type=int, default=0)
    p.add_argument("--cache-dir", default=None)
    a = p.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.set_inheritable(a.req_fd, False)
    os.set_inheritable(a.resp_fd, False)
    srv = Server(a.req_fd, a.resp_fd, a.device_index, a.cache_dir)
    child.sandbox.warm_up()
    _log("ready", pid=os.getpid(), interpret=srv.interpret_env, cache=srv.cache_dir)
    srv.serve()
    reap_discarded(time.monotonic() + 10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
