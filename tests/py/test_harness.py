"""Tests of the Python evaluation harness (services/evaluator/harness) under TRITON_INTERPRET=1.

One real fork server per module, driven over os.pipe() pipes exactly as the C evaluator
drives it; every hostile candidate must get its class and the same server must keep serving.
"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EVALUATOR = os.path.join(ROOT, "services", "evaluator")
TASKS = os.path.join(ROOT, "tasks")
GELU = os.path.join(TASKS, "gelu")
DROP_UID = 65534 if os.geteuid() == 0 else None
LIMITS = {"cpu_s": 60, "nofile": 256, "fsize_mb": 64, "as_mb": 2048, "nproc": 4096}


def seccomp_bpf(directory):
    """The candidate seccomp filter, written by the real `geak sandbox-bpf` (lib/geak_seccomp.c)."""
    import geakproc
    path = os.path.join(directory, "candidate.bpf")
    subprocess.run([os.path.join(geakproc.BIN, "geak"), "sandbox-bpf", path], check=True)
    return path


class ForkServer:
    def __init__(self, cache_dir, extra=(), require=True):
        os.makedirs(cache_dir, exist_ok=True)
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=EVALUATOR)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.forkserver", "--req-fd", str(req_r), "--resp-fd", str(resp_w),
             "--cache-dir", cache_dir, "--seccomp-bpf", seccomp_bpf(cache_dir)]
            + (["--require-isolation"] if require else []) + list(extra),
            pass_fds=(req_r, resp_w), env=env, cwd=EVALUATOR, stdout=subprocess.DEVNULL)
        os.close(req_r)
        os.close(resp_w)
        self.buf = b""

    def send(self, obj):
        os.write(self.req_w, (json.dumps(obj) + "\n").encode())

    def recv(self, timeout=120.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.resp_r], [], [], max(0.0, left))
            if not r:
                raise TimeoutError("no response from the fork server")
            chunk = os.read(self.resp_r, 1 << 16)
            if not chunk:
                raise EOFError("fork server closed its response pipe")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        try:
            self.send({"op": "quit"})
            self.recv(10)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.req_w)
        os.close(self.resp_r)


def started_server(prefix):
    """A fork server on a fresh cache dir, pinged (its pid and isolation kept on it)."""
    cache = tempfile.mkdtemp(prefix=prefix)
    fs = ForkServer(cache)
    fs.cache = cache
    fs.send({"op": "ping"})
    pong = fs.recv(180)
    assert pong["op"] == "pong", pong
    fs.pid = pong["pid"]
    fs.isolation = pong.get("isolation")
    return fs


@pytest.fixture(scope="module")
def server():
    fs = started_server("geak-harness-test-cache-")
    yield fs
    fs.close()
    shutil.rmtree(fs.cache, ignore_errors=True)


_seed = [1000]


def evaluate(fs, code, task=GELU, kill_after=None, **over):
    """Send one eval request for `code`; -> result dict.  kill_after plays the C side's
    wall-clock timeout: kill the reported process group if no result came by then."""
    sb = tempfile.mkdtemp(prefix="geak-sb-")
    try:
        with open(os.path.join(sb, "candidate.py"), "w") as f:
            f.write(code)
        _seed[0] += 1
        req = {"op": "eval", "id": "t%d" % _seed[0], "task_dir": task, "sandbox_dir": sb,
               "code_file": "candidate.py", "seed": _seed[0], "mode": "correctness", "perf_reps": 5,
               "timeout_s": 60, "check_determinism": False, "limits": dict(LIMITS), "drop_uid": DROP_UID}
        req.update(over)
        fs.send(req)
        first = fs.recv(60)
        if first.get("event") == "result":  # rejected before any child existed (screen)
            assert first["id"] == req["id"]
            return first["result"]
        assert first == {"id": req["id"], "event": "started", "pgid": first["pgid"]}
        try:
            msg = fs.recv(kill_after if kill_after is not None else 120)
        except TimeoutError:
            os.killpg(first["pgid"], signal.SIGKILL)
            msg = fs.recv(30)
        assert msg["id"] == req["id"] and msg["event"] == "result"
        return msg["result"]
    finally:
        shutil.rmtree(sb, ignore_errors=True)


def reference_code(task=GELU):
    with open(os.path.join(task, "reference.py")) as f:
        return f.read()


KERNEL = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _k(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = 0.5 * x * (1.0 + tl.math.erf(x * 0.7071067811865476))
    tl.store(out_ptr + offs, (y * SCALE).to(out_ptr.dtype.element_ty), mask=mask)


SCALE = 1.0


def launch(x, out):
    if x.numel():
        _k[(triton.cdiv(x.numel(), 1024),)](x, out, x.numel(), BLOCK=1024)
    return out
'''


def cand(body, prelude=""):
    return prelude + KERNEL + "\n" + body


# ------------------------------------------------------------------ good candidates

def test_ping_reports_interpreted_cpu(server):
    server.send({"op": "ping"})
    pong = server.recv()
    d = pong["device"]
    assert d["vendor"] == "cpu" and d["interpreted"] is True and d["arch"] == "cpu"


def test_reference_passes(server):
    r = evaluate(server, reference_code(), check_determinism=True)
    assert r["error_class"] == "pass", r
    assert r["call_ok"] and r["exec_ok"] and not r["timed"]
    assert len(r["verdicts"]) >= 6 and all(v["ok"] for v in r["verdicts"])
    assert any("reseeded" in v["label"] for v in r["verdicts"])
    assert r["device"]["interpreted"] is True


def test_reference_passes_full_mode_untimed(server):
    r = evaluate(server, reference_code(), mode="full")
    assert r["error_class"] == "pass" and r["timed"] is False and r["speedup"] == 0.0


@pytest.fixture(scope="module")
def small_perf_task():
    """gelu with one small perf case, so the timing path runs under the interpreter (time_on_cpu)."""
    d = tempfile.mkdtemp(prefix="geak-task-")
    t = os.path.join(d, "gelu")
    shutil.copytree(GELU, t)
    with open(os.path.join(t, "spec.py")) as f:
        src = f.read()
    src = src.replace('def perf_cases(interpreted):\n',
                      'def perf_cases(interpreted):\n    return [{"dtype": "float32", "n": 2048, "label": "float32 n=2048"}]\n', 1)
    with open(os.path.join(t, "spec.py"), "w") as f:
        f.write(src)
    yield t
    shutil.rmtree(d, ignore_errors=True)


def test_timing_path_on_cpu(server, small_perf_task):
    r = evaluate(server, reference_code(), task=small_perf_task, mode="full", time_on_cpu=True, perf_reps=16)
    assert r["error_class"] == "pass" and r["timed"] is True, r
    assert r["speedup"] > 0 and r["reference"]["n"] >= 15 and r["candidate"]["n"] == r["reference"]["n"], r
    assert r["timing_plan"].startswith("samples x calls per perf case: "), r
    assert r["verdicts"][-1]["label"] == "float32 n=2048" and r["verdicts"][-1]["ok"], r
    assert "timing" in r["phases_ms"], r
    # the per-GPU lock (gpulock.py) is exercised too: shared for the checks, exclusive for timing
    assert "lock_shared_wait" in r["phases_ms"] and "lock_exclusive_wait" in r["phases_ms"], r
    assert [n for n in os.listdir(server.cache) if n.startswith("gpu") and n.endswith(".lock")], r


def test_correctness_waits_while_another_server_times(server):
    """A fork server's correctness work (time_on_cpu: the lock is used under the interpreter)
    does not start while another process holds the GPU's lock exclusively, as timing does."""
    sys.path.insert(0, EVALUATOR)
    try:
        from harness import gpulock
    finally:
        sys.path.remove(EVALUATOR)
    lock = gpulock.GpuLock(server.cache, gpulock.device_key(0))
    sb = tempfile.mkdtemp(prefix="geak-sb-")
    try:
        with open(os.path.join(sb, "candidate.py"), "w") as f:
            f.write(reference_code())
        lock.acquire_exclusive()
        server.send({"op": "eval", "id": "locked", "task_dir": GELU, "sandbox_dir": sb, "seed": 77,
                     "mode": "correctness", "timeout_s": 60, "limits": dict(LIMITS), "drop_uid": DROP_UID,
                     "time_on_cpu": True})
        with pytest.raises(TimeoutError):
            server.recv(1.0)  # no child is started while we hold the lock
        lock.release()
        first = server.recv(60)
        assert first["id"] == "locked" and first["event"] == "started", first
        r = server.recv(120)["result"]
        assert r["error_class"] == "pass" and r["phases_ms"]["lock_shared_wait"] >= 100, r
    finally:
        lock.close()
        shutil.rmtree(sb, ignore_errors=True)


def test_timing_path_catches_wrong_output_after_timing(server, small_perf_task):
    code = reference_code().replace("def gelu(", "_calls = [0]\n\ndef _gelu(", 1) + \
        "\n\ndef gelu(x):\n    _calls[0] += 1\n    y = _gelu(x)\n    return y if _calls[0] < 12 else y + 1\n"
    r = evaluate(server, code, task=small_perf_task, mode="full", time_on_cpu=True, perf_reps=16)
    assert r["error_class"] == "mismatch" and "after timing" in r["error_message"], r


def test_timing_plan():
    sys.path.insert(0, EVALUATOR)
    try:
        from harness.forkserver import timing_plan, MAX_SAMPLE_MS, MIN_SAMPLES
    finally:
        sys.path.remove(EVALUATOR)
    calls, n = timing_plan(0.13, 0.14, 100, 2000.0)
    assert calls * 0.13 >= 1.0 and n == 100
    assert timing_plan(5.0, 5.0, 100, 2000.0) == (1, 100)
    calls, n = timing_plan(0.1, 10.0, 100, 2000.0)  # a slow candidate: samples stay bounded
    assert calls * 10.0 <= MAX_SAMPLE_MS and n * calls * 10.1 <= 2000.0 + 100
    calls, n = timing_plan(200.0, 200.0, 100, 2000.0)
    assert calls == 1 and n == MIN_SAMPLES


def test_other_task_reference_passes(server):
    r = evaluate(server, reference_code(os.path.join(TASKS, "softmax")), task=os.path.join(TASKS, "softmax"))
    assert r["error_class"] == "pass", r


# ------------------------------------------------------------------ wrong answers

def test_wrong_values_mismatch(server):
    r = evaluate(server, cand("def gelu(x):\n    return launch(x, torch.empty_like(x))\n").replace(
        "SCALE = 1.0", "SCALE = 1.01"))
    assert r["error_class"] == "mismatch", r
    bad = [v for v in r["verdicts"] if not v["ok"]]
    assert bad and bad[0]["index"] == 0 and bad[0]["max_abs_err"] > 0 and "out of tolerance" in bad[0]["message"]
    assert r["call_ok"] and not r["exec_ok"]


def test_wrong_shape_mismatch(server):
    r = evaluate(server, cand("def gelu(x):\n    return launch(x, torch.empty_like(x)).unsqueeze(0)\n"))
    assert r["error_class"] == "mismatch" and "shape" in r["error_message"], r


def test_torch_only_no_kernel(server):
    r = evaluate(server, "import torch\n\ndef gelu(x):\n    return torch.nn.functional.gelu(x.float()).to(x.dtype)\n")
    assert r["error_class"] == "no_kernel_launched", r


def test_input_mutated(server):
    r = evaluate(server, cand("def gelu(x):\n    out = launch(x, torch.empty_like(x))\n    x.zero_()\n    return out\n"))
    assert r["error_class"] == "input_mutated", r


def test_in_place_result_is_input_mutation(server):
    r = evaluate(server, cand("def gelu(x):\n    return launch(x, x)\n"))
    assert r["error_class"] == "input_mutated", r


def test_cached_output_by_shape_fails(server):
    body = ("_cache = {}\n\ndef gelu(x):\n"
            "    key = (tuple(x.shape), x.dtype)\n"
            "    if key in _cache:\n"
            "        return _cache[key].clone()\n"
            "    out = launch(x, torch.empty_like(x))\n"
            "    _cache[key] = out.clone()\n"
            "    return out\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "mismatch", r
    assert any("reseeded" in v["label"] and not v["ok"] for v in r["verdicts"])


def test_precomputed_guessed_inputs_fail(server):
    body = ("torch.manual_seed(0)\n_pre = {}\nfor n in (1000, 4097, 333, 1, 16384):\n"
            "    for dt in (torch.float32, torch.float16, torch.bfloat16):\n"
            "        g = (torch.randn(n) * 3).to(dt)\n"
            "        _pre[(n, dt)] = launch(g, torch.empty_like(g))\n"
            "def gelu(x):\n"
            "    launch(x, torch.empty_like(x))\n"
            "    return _pre.get((x.numel(), x.dtype), x).clone()\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "mismatch", r


def test_freed_buffer_reuse_fails(server):
    body = ("def gelu(x):\n"
            "    tmp = launch(x, torch.empty_like(x))\n"
            "    del tmp\n"
            "    return torch.empty_like(x)\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "mismatch", r
    assert "NaN" in r["error_message"] or "tolerance" in r["error_message"]


def test_side_stream_forbidden(server):
    body = ("def gelu(x):\n    s = torch.cuda.Stream()\n    with torch.cuda.stream(s):\n"
            "        return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "forbidden_construct" and "line" in r["error_message"], r


# ------------------------------------------------------------------ hostile candidates

def test_hang_killed_by_caller_then_server_serves(server):
    r = evaluate(server, cand("def gelu(x):\n    while True:\n        pass\n"), kill_after=2.0)
    assert r["error_class"] == "runtime_error" and "SIGKILL" in r["error_message"], r
    r = evaluate(server, reference_code())
    assert r["error_class"] == "pass"


def test_hang_rlimit_cpu(server):
    lim = dict(LIMITS, cpu_s=1)
    r = evaluate(server, cand("def gelu(x):\n    while True:\n        pass\n"), limits=lim)
    assert r["error_class"] == "timeout" and "RLIMIT_CPU" in r["error_message"], r


def test_fork_static(server):
    r = evaluate(server, "import os\n\ndef gelu(x):\n    for _ in range(100):\n        os.fork()\n")
    assert r["error_class"] == "forbidden_construct", r


def test_fork_dynamic(server):
    """A fork bomb inside the sandbox: bounded by RLIMIT_NPROC, its copies write into the result
    channel (a corrupted channel), and the whole tree is killed before the next candidate."""
    body = ("def gelu(x):\n    f = getattr(__import__('o' + 's'), 'fo' + 'rk')\n"
            "    for _ in range(100):\n        try:\n            f()\n        except Exception:\n            pass\n"
            "    return launch(x, torch.empty_like(x))\n")
    t = time.monotonic()
    r = evaluate(server, cand(body), limits=dict(LIMITS, nproc=256))
    assert r["error_class"] in ("sandbox_violation", "runtime_error"), r
    assert time.monotonic() - t < 60
    assert evaluate(server, reference_code())["error_class"] == "pass"


def test_subprocess_dynamic(server):
    """Processes are the candidate's own business inside the sandbox (Triton's compiler needs them)."""
    body = ("def gelu(x):\n    sp = __import__('sub' + 'process')\n    sp.run(['true'], check=True)\n"
            "    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "pass", r


def test_memory_hog(server):
    lim = dict(LIMITS, as_mb=256)
    r = evaluate(server, cand("def gelu(x):\n    junk = bytearray(8 << 30)\n    return launch(x, torch.empty_like(x))\n"),
                 limits=lim)
    assert r["error_class"] in ("runtime_error", "sandbox_violation"), r


def test_socket_static(server):
    r = evaluate(server, "import socket\n\ndef gelu(x):\n    socket.create_connection(('1.1.1.1', 80))\n")
    assert r["error_class"] == "forbidden_construct", r


def test_socket_dynamic(server):
    """The sandbox has no network: the connection fails, whatever the candidate does about it."""
    body = ("def gelu(x):\n    s = __import__('soc' + 'ket')\n"
            "    s.socket(s.AF_INET, s.SOCK_STREAM).connect(('127.0.0.1', 9))\n"
            "    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "runtime_error" and "Connection" in r["error_message"], (r["error_message"], r["trace"])


def test_write_outside_sandbox(server):
    target = os.path.join(os.path.dirname(__file__), "geak-escape-%d.txt" % os.getpid())
    body = ("def gelu(x):\n    with open(%r, 'w') as f:\n        f.write('x')\n"
            "    return launch(x, torch.empty_like(x))\n" % target)
    r = evaluate(server, cand(body))
    assert r["error_class"] == "runtime_error", r
    assert not os.path.exists(target)


def test_write_inside_sandbox_allowed(server):
    body = ("def gelu(x):\n    with open('scratch.txt', 'w') as f:\n        f.write('ok')\n"
            "    print('hello from the candidate')\n    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "pass", r


def test_exit_early_static(server):
    r = evaluate(server, "import os\n\ndef gelu(x):\n    os._exit(0)\n")
    assert r["error_class"] == "forbidden_construct", r


def test_exit_early_dynamic(server):
    body = "def gelu(x):\n    getattr(__import__('o' + 's'), '_ex' + 'it')(0)\n"
    r = evaluate(server, cand(body))
    assert r["error_class"] == "runtime_error" and "before delivering" in r["error_message"], r


def test_monkeypatch_static(server):
    r = evaluate(server, cand("torch.allclose = lambda *a, **k: True\n\ndef gelu(x):\n    return x\n"))
    assert r["error_class"] == "forbidden_construct" and "allclose" in r["error_message"], r
    r = evaluate(server, cand("import harness\n\ndef gelu(x):\n    return x\n"))
    assert r["error_class"] == "forbidden_construct", r


def test_monkeypatch_dynamic_does_not_pass(server):
    body = ("t = __import__('tor' + 'ch')\n"
            "b = __import__('built' + 'ins')\n"
            "sa = getattr(b, 'set' + 'attr')\n"
            "sa(t, 'all' + 'close', lambda *a, **k: True)\n"
            "sa(t, 'equal', lambda *a, **k: True)\n"
            "for name in list(getattr(__import__('s' + 'ys'), 'mod' + 'ules')):\n"
            "    if name.startswith('har' + 'ness'):\n"
            "        m = getattr(__import__('s' + 'ys'), 'mod' + 'ules')[name]\n"
            "        for fn in ('compare', 'same_bits', 'digest_tensors'):\n"
            "            try:\n                sa(m, fn, lambda *a, **k: (True, 0.0, 0.0, ''))\n"
            "            except Exception:\n                pass\n"
            "def gelu(x):\n    launch(x, torch.empty_like(x))\n    return x * 0\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] != "pass", r
    assert r["error_class"] in ("mismatch", "sandbox_violation"), r


def test_frame_walk_finds_nothing_trusted(server):
    """Frames, globals and gc of the candidate's own process hold no oracle, no reference and no
    verdict: walking them is harmless, so it is not policed."""
    body = ("def gelu(x):\n    f = getattr(__import__('s' + 'ys'), '_get' + 'frame')(1)\n"
            "    while f is not None:\n"
            "        for v in list(getattr(f, 'f_' + 'locals').values()):\n"
            "            if isinstance(v, dict) and 'oracle' in v:\n"
            "                raise RuntimeError('ESCAPED: oracle in reach')\n"
            "        f = getattr(f, 'f_' + 'back')\n"
            "    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "pass", r


def test_forged_result_frame_rejected(server):
    body = ("def gelu(x):\n    o = __import__('o' + 's')\n"
            "    for fd in range(3, 64):\n"
            "        try:\n            getattr(o, 'wri' + 'te')(fd, b'\\x10\\x00\\x00\\x00\\x00\\x00\\x00\\x00' + b'A' * 48)\n"
            "        except Exception:\n            pass\n"
            "    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "sandbox_violation" and "channel" in r["error_message"], r


# ------------------------------------------------------------------ source-level failures

def test_syntax_error(server):
    r = evaluate(server, "def gelu(x)\n    return x\n")
    assert r["error_class"] == "syntax_error" and "line 1" in r["error_message"], r


def test_import_error(server):
    r = evaluate(server, "import torch\nimport not_a_real_module_xyz\n\ndef gelu(x):\n    return x\n")
    assert r["error_class"] == "import_error" and "not_a_real_module_xyz" in r["error_message"], r


def test_missing_entry_point(server):
    r = evaluate(server, "import torch\n\ndef not_gelu(x):\n    return x\n")
    assert r["error_class"] == "import_error" and "gelu" in r["error_message"], r


def test_runtime_error(server):
    r = evaluate(server, cand("def gelu(x):\n    raise ValueError('boom')\n"))
    assert r["error_class"] == "runtime_error" and "boom" in r["error_message"] and "Traceback" in r["trace"], r


def test_empty_code(server):
    r = evaluate(server, "   \n\n")
    assert r["error_class"] == "no_code", r


def test_harness_error_is_ours(server):
    r = evaluate(server, reference_code(), task=os.path.join(TASKS, "does-not-exist"))
    assert r["error_class"] == "harness_error", r


# ------------------------------------------------------------------ control ops

def test_selfcheck_ok(server):
    server.send({"op": "selfcheck", "id": "sc", "task_dir": GELU, "drop_uid": DROP_UID})
    msg = server.recv(120)
    assert msg["op"] == "selfcheck" and msg["result"]["status"] == "ok", msg
    r = msg["result"]
    assert r["error_class"] == "pass" and r["call_ok"] and r["exec_ok"] and r["reason"] == "", r


def test_selfcheck_cached_on_the_host(server, tmp_path):
    """A task checked once (same digest, device, torch, triton, harness) is answered from the cache
    dir, by this fork server and by any other sharing it; a changed task file is checked again."""
    task = tmp_path / "gelu"
    shutil.copytree(GELU, task)
    with open(task / "spec.py", "a") as f:   # a digest no other test has checked
        f.write("\n# %s\n" % tmp_path)
    server.send({"op": "selfcheck", "id": "c1", "task_dir": str(task)})
    first = server.recv(120)["result"]
    assert first["status"] == "ok" and first["cached"] is False, first
    other = ForkServer(server.cache)   # a second evaluator of the same host
    try:
        other.send({"op": "selfcheck", "id": "c2", "task_dir": str(task)})
        again = other.recv(120)["result"]
        assert again["cached"] is True and again["status"] == "ok", again
        assert again["results"] == first["results"]     # the stored answer, not a new run
    finally:
        other.close()
    with open(task / "spec.py", "a") as f:
        f.write("\n# edited\n")
    server.send({"op": "selfcheck", "id": "c3", "task_dir": str(task)})
    assert server.recv(120)["result"]["cached"] is False


FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tasks")


@pytest.mark.parametrize("task,status,cls,reason", [
    ("selfcheck_broken", "broken", "mismatch", "mismatch: "),
    ("selfcheck_flaky", "flaky", "mismatch", "the oracle is not deterministic"),
])
def test_selfcheck_broken_and_flaky(server, task, status, cls, reason):
    server.send({"op": "selfcheck", "id": task, "task_dir": os.path.join(FIXTURES, task), "seed": 5,
                 "drop_uid": DROP_UID})
    msg = server.recv(120)
    r = msg["result"]
    assert msg["id"] == task and r["status"] == status and r["error_class"] == cls, msg
    assert r["reason"].startswith(reason) and r["call_ok"] and not r["exec_ok"], r
    assert len(r["results"]) == 2


def test_selfcheck_task_that_does_not_load_is_broken(server, tmp_path):
    (tmp_path / "task.json").write_text('{"name": "x", "entry": {"name": "f"}}')
    (tmp_path / "spec.py").write_text("raise RuntimeError('spec is broken')\n")
    (tmp_path / "reference.py").write_text("def f(x):\n    return x\n")
    server.send({"op": "selfcheck", "id": "bad", "task_dir": str(tmp_path)})
    r = server.recv(60)["result"]
    assert r["status"] == "broken" and r["error_class"] == "import_error" and "spec" in r["reason"], r


def test_server_survived_everything(server):
    server.send({"op": "ping"})
    pong = server.recv()
    assert pong["op"] == "pong" and pong["pid"] == server.pid
    assert server.proc.poll() is None
    server.send({"op": "bogus"})
    assert server.recv()["op"] == "error"
    os.write(server.req_w, b"{not json\n")
    assert server.recv()["op"] == "error"


# ------------------------------------------------------------------ benchmark perf cases with state

STATEFUL = os.path.join(ROOT, "tests", "fixtures", "tritonbench-stateful")


@pytest.fixture(scope="module")
def stateful_tasks():
    """tests/fixtures/tritonbench-stateful imported by the real `geak tasks import`."""
    import geakproc
    d = tempfile.mkdtemp(prefix="geak-stateful-")
    out = os.path.join(d, "tasks")
    p = subprocess.run([os.path.join(geakproc.BIN, "geak"), "tasks", "import", "tritonbench-revised", STATEFUL,
                        "--out", out], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    yield out
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("name", ["accumulate_into", "scale_inplace_perf", "partial_write"])
def test_gold_against_itself_with_state_kept_between_perf_calls(server, stateful_tasks, name):
    """The check after timing runs on fresh inputs (the op accumulated into / scaled its inputs on
    every timed call), poisoned, and elements of a perf output the gold leaves unwritten (NaN in
    the oracle) are not compared: the gold passes its own full-mode evaluation, timed."""
    task = os.path.join(stateful_tasks, name)
    r = evaluate(server, reference_code(task), task=task, mode="full", time_on_cpu=True, perf_reps=16)
    assert r["error_class"] == "pass" and r["timed"] is True, r
    perf = [v for v in r["verdicts"] if v["label"].startswith("benchmark perf input")]
    assert len(perf) == 3 and all(v["ok"] for v in perf), r["verdicts"]
    if name == "partial_write":   # the unwritten half: NaN in the oracle, not compared after timing
        assert all("not compared" in v["message"] for v in perf), perf
    assert r["speedup"] > 0 and r["speedup_ci"] > 0, r


def test_state_after_timing_still_catches_a_wrong_answer(server, stateful_tasks):
    """Fresh inputs for the last check do not hide a candidate that is right only at first."""
    task = os.path.join(stateful_tasks, "accumulate_into")
    code = reference_code(task).replace("def accumulate_(x, out):", "_n = [0]\n\n\ndef accumulate_(x, out):\n"
                                        "    _n[0] += 1\n    if _n[0] > 40:\n        return out * 0\n", 1)
    r = evaluate(server, code, task=task, mode="full", time_on_cpu=True, perf_reps=16)
    assert r["error_class"] == "mismatch" and "after timing" in r["error_message"], r


def test_perf_input_that_fails_the_gold_marks_the_task_not_the_candidate(server, stateful_tasks):
    task = os.path.join(stateful_tasks, "perf_crash")
    r = evaluate(server, reference_code(task), task=task, mode="full", time_on_cpu=True, perf_reps=16)
    assert r["error_class"] == "pass" and r["exec_ok"] is True and r["timed"] is False, r
    assert "the task's reference fails on" in r["timing_note"] and "not the candidate" in r["timing_note"], r
    assert "illegal memory access" in r["timing_note"], r


# ------------------------------------------------------------------ self-check statuses

_UNARY_SPEC = '''
import os
import torch


def correctness_cases(interpreted):
    return [{"n": 256, "label": "n=256"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)
    return (torch.randn(case["n"], generator=g, device=device),)


def oracle(x):
    return %s
'''

_UNARY_REF = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _k(x_ptr, o_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(o_ptr + offs, %s, mask=mask)


def f(x):
    out = torch.empty_like(x)
    _k[(triton.cdiv(x.numel(), 256),)](x, out, x.numel(), BLOCK=256)
    return out
'''


def unary_task(root, name, oracle_expr, kernel_expr, tol=1e-5):
    d = os.path.join(str(root), name)
    os.makedirs(d)
    with open(os.path.join(d, "task.json"), "w") as f:
        json.dump({"name": name, "entry": {"name": "f"},
                   "tolerances": {"float32": {"atol": tol, "rtol": tol}}}, f)
    with open(os.path.join(d, "spec.py"), "w") as f:
        f.write(_UNARY_SPEC % oracle_expr)
    with open(os.path.join(d, "reference.py"), "w") as f:
        f.write(_UNARY_REF % kernel_expr)
    return d


def selfcheck(fs, task):
    fs.send({"op": "selfcheck", "id": os.path.basename(task), "task_dir": task, "seed": 9, "drop_uid": DROP_UID})
    msg = fs.recv(180)
    assert msg["op"] == "selfcheck", msg
    return msg["result"]


def test_nan_policy_reference_nan_is_a_value_and_reported(server, tmp_path):
    """NaN policy (docs/tasks.md): where a check's reference yields NaN (log of a negative input)
    the candidate must yield NaN too, in the self-check and in a candidate's verdict alike; the
    self-check reports how many elements that is, and a mismatch there says so."""
    task = unary_task(tmp_path, "log_nan", "torch.log(x)", "tl.log(x)")
    r = selfcheck(server, task)
    assert r["status"] == "ok" and r["error_class"] == "pass", r
    assert "yields NaN in" in r["reason"] and "of 256 elements" in r["reason"], r
    assert "matched as NaN" in r["reason"], r
    v = evaluate(server, _UNARY_REF % "tl.log(x)", task=task)
    assert v["error_class"] == "pass", v
    assert any("matched as NaN" in x["message"] for x in v["verdicts"]), v["verdicts"]
    # a finite value where the reference has NaN is a mismatch, named as such
    finite = _UNARY_REF % "tl.where(x > 0, tl.log(tl.abs(x) + 1e-30), 0.0)"
    v = evaluate(server, finite, task=task)
    assert v["error_class"] == "mismatch" and "NaN is compared as a value" in v["error_message"], v
    # Inf has to match exactly too
    inf_task = unary_task(tmp_path, "log_inf", "torch.where(x > 0, torch.full_like(x, float('inf')), x)",
                          "tl.where(x > 0, float('inf'), x)")
    assert selfcheck(server, inf_task)["status"] == "ok"
    assert evaluate(server, _UNARY_REF % "x", task=inf_task)["error_class"] == "mismatch"


def test_reference_nan_everywhere_is_reported_not_broken(server, tmp_path):
    """A case whose answer is NaN everywhere (a mean over nothing, a NaN input cast) is a
    legitimate case: ok, with the note."""
    task = unary_task(tmp_path, "all_nan", "x * float('nan')", "x * float('nan')")
    r = selfcheck(server, task)
    assert r["status"] == "ok" and "NaN in 256 of 256 elements" in r["reason"], r


def test_oracle_that_differs_only_within_tolerance_is_not_flaky(server, tmp_path):
    """Two fresh oracle processes that differ by rounding (here a pid-dependent 1e-6 relative
    term, within the task's 1e-3) make an ok task, not a flaky one."""
    within = unary_task(tmp_path, "rounding", "x * (1 + (os.getpid() % 97 + 1) * 1e-6)", "x", tol=1e-3)
    r = selfcheck(server, within)
    assert r["status"] == "ok", r
    # (beyond the tolerance: test_selfcheck_broken_and_flaky's pid-valued oracle)


def test_gold_with_another_vendors_intrinsics_is_unsupported_on_device(server, tmp_path):
    """AMD-only gold (tl.extra.hip) cannot run here (the CPU interpreter; on NVIDIA ptxas fails on
    __ocml_*): a fact about the task on this device, not a broken task."""
    task = unary_task(tmp_path, "hip_pow", "x * x", "tl.extra.hip.libdevice.pow(x, 2.0)")
    r = selfcheck(server, task)
    assert r["status"] == "unsupported_on_device", r
    assert "AMD-only" in r["reason"] and "tl.extra.hip" in r["reason"], r
    assert r["error_class"] not in ("pass", "harness_error"), r
