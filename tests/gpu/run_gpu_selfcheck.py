#!/usr/bin/env python3
"""GPU check of the evaluation harness (run on a machine with a GPU, without TRITON_INTERPRET).

    python3 tests/gpu/run_gpu_selfcheck.py [--tasks gelu,softmax] [--reps 100] [--throughput 20]

1. For every task: the task's own reference evaluated as the candidate, mode "full":
   must pass; its speedup over itself should be 1.00 +- 0.03.
2. selfcheck of every task (reference vs oracle, twice, fresh processes).
3. Throughput: evaluations per minute (correctness mode, fresh seed each) through 1, 4 and 8
   fork servers evaluating concurrently on the one GPU (the C evaluator with --threads N runs
   one fork server per worker thread; correctness runs concurrently, only timing takes the
   per-GPU lock) vs a naive baseline: one fresh python process per evaluation, one at a time.
Exits non-zero when a reference fails, a selfcheck is not ok, or a speedup is off by > 3%.

Smoke test without a GPU: with TRITON_INTERPRET=1 set, the same steps run under the interpreter
(references in correctness mode: no timings, no speedup check; the naive baseline on the CPU), e.g.
    TRITON_INTERPRET=1 python3 tests/gpu/run_gpu_selfcheck.py --tasks gelu --throughput 4 --concurrency 1,2
"""
import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EVALUATOR = os.path.join(ROOT, "services", "evaluator")
TASKS = os.path.join(ROOT, "tasks")
DROP_UID = 65534 if os.geteuid() == 0 and not os.environ.get("GEAK_NO_DROP_UID") else None
INTERPRET = os.environ.get("TRITON_INTERPRET", "") not in ("", "0")  # smoke test on the CPU


class ForkServer:
    def __init__(self, cache_dir, device_index=0):
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        env = dict(os.environ, PYTHONPATH=EVALUATOR)
        if not INTERPRET:
            env.pop("TRITON_INTERPRET", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.forkserver", "--req-fd", str(req_r), "--resp-fd", str(resp_w),
             "--cache-dir", cache_dir, "--device-index", str(device_index)],
            pass_fds=(req_r, resp_w), env=env, cwd=EVALUATOR)
        os.close(req_r)
        os.close(resp_w)
        self.buf = b""

    def send(self, obj):
        os.write(self.req_w, (json.dumps(obj) + "\n").encode())

    def recv(self, timeout=900.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            r, _, _ = select.select([self.resp_r], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                raise TimeoutError("fork server silent")
            chunk = os.read(self.resp_r, 1 << 16)
            if not chunk:
                raise EOFError("fork server exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def eval(self, task_dir, code, seed, mode="full", reps=100, timeout_s=600):
        sb = tempfile.mkdtemp(prefix="geak-gpu-sb-")
        try:
            with open(os.path.join(sb, "candidate.py"), "w") as f:
                f.write(code)
            self.send({"op": "eval", "id": "%s-%d" % (os.path.basename(task_dir), seed), "task_dir": task_dir,
                       "sandbox_dir": sb, "code_file": "candidate.py", "seed": seed, "mode": mode,
                       "perf_reps": reps, "timeout_s": timeout_s, "check_determinism": mode == "full",
                       "limits": {"nofile": 1024, "fsize_mb": 1024}, "drop_uid": DROP_UID})
            while True:
                msg = self.recv(timeout_s + 60)
                if msg.get("event") == "result":
                    return msg["result"]
        finally:
            shutil.rmtree(sb, ignore_errors=True)

    def close(self):
        try:
            self.send({"op": "quit"})
            self.recv(30)
        except Exception:
            pass
        self.proc.wait(30)


NAIVE = r'''
import os, sys, importlib.util, torch
task = sys.argv[1]; seed = int(sys.argv[2])
interpreted = os.environ.get("TRITON_INTERPRET", "") not in ("", "0")
device = "cpu" if interpreted else "cuda"
def load(name, path):
    s = importlib.util.spec_from_file_location(name, path); m = importlib.util.module_from_spec(s)
    s.loader.exec_module(m); return m
import json
meta = json.load(open(task + "/task.json"))
spec = load("spec", task + "/spec.py"); cand = load("cand", sys.argv[3])
fn = getattr(cand, meta["entry"]["name"])
ok = True
for i, case in enumerate(spec.correctness_cases(interpreted)):
    inp = spec.make_inputs(case, seed + i, device)
    want = spec.oracle(*inp); got = fn(*inp)
    if not interpreted:
        torch.cuda.synchronize()
    tol = meta.get("tolerances", {}).get(str(want.dtype).replace("torch.", ""), {"atol": 1e-5, "rtol": 1e-5})
    ok &= bool(torch.allclose(got.float(), want.float(), atol=tol["atol"], rtol=tol["rtol"]))
print("PASS" if ok else "FAIL")
'''


def _gelu_code():
    tdir = os.path.join(TASKS, "gelu")
    with open(os.path.join(tdir, "reference.py")) as f:
        return tdir, f.read()


def run_concurrent(servers, tdir, code, total, seed0):
    """`total` correctness evals spread over the servers, one driving thread per server (the C
    evaluator with --threads N: one fork server per worker thread, all on the same GPU).
    -> (wall s, [per-eval latency s], passed, [phases_ms])"""
    lock = threading.Lock()
    todo = list(range(total))
    lat, phases, passed = [], [], [0]

    def worker(srv):
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            t0 = time.monotonic()
            r = srv.eval(tdir, code, seed=seed0 + i, mode="correctness")
            dt = time.monotonic() - t0
            with lock:
                lat.append(dt)
                phases.append(r.get("phases_ms", {}))
                passed[0] += r["error_class"] == "pass"
                if r["error_class"] != "pass":
                    print("   eval %d: %s %s" % (i, r["error_class"], r["error_message"][:200]))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, lat, passed[0], phases


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0.0


def throughput(fs, cache, n, concurrencies):
    tdir, code = _gelu_code()
    bad = 0
    fs.eval(tdir, code, seed=1, mode="correctness")  # warm: Triton compile of this source
    print("\nthroughput (gelu reference as the candidate, correctness mode, fresh seed each):")
    # naive baseline: one fresh python per evaluation, sequential
    tmp = tempfile.mkdtemp()
    cand = os.path.join(tmp, "cand.py")
    shutil.copy(os.path.join(tdir, "reference.py"), cand)
    subprocess.run([sys.executable, "-c", NAIVE, tdir, "7", cand], check=False, stdout=subprocess.DEVNULL)
    m = max(3, n // 4)
    t0 = time.monotonic()
    for i in range(m):
        subprocess.run([sys.executable, "-c", NAIVE, tdir, str(200 + i), cand], check=False,
                       stdout=subprocess.DEVNULL)
    naive_s = (time.monotonic() - t0) / m
    shutil.rmtree(tmp, ignore_errors=True)
    naive_rate = 60.0 / naive_s
    print("  %-38s %7.1f evals/min  latency %.2f s  (%d evals)" % ("naive: fresh python per eval, 1 at a time",
                                                                  naive_rate, naive_s, m))
    extra = []
    try:
        for c in concurrencies:
            while len(extra) + 1 < c:
                extra.append(ForkServer(cache))
            servers = [fs] + extra[:c - 1]
            cold = [srv for srv in servers if not getattr(srv, "warm", False)]
            warm = [threading.Thread(target=srv.eval, args=(tdir, code, 2), kwargs={"mode": "correctness"})
                    for srv in cold]  # warm in parallel: torch import, first fork
            for t in warm:
                t.start()
            for t in warm:
                t.join()
            for srv in cold:
                srv.warm = True
            total = max(n, 3 * c)
            wall, lat, passed, phases = run_concurrent(servers, tdir, code, total, 1000 * c)
            rate = 60.0 * total / wall
            ph = {}
            for k in ("lock_shared_wait", "oracle_wait", "ready", "loaded", "checked"):
                ph[k] = _median([p[k] for p in phases if k in p])
            print("  %-38s %7.1f evals/min  latency %.2f s median (%d/%d pass): x%.1f vs naive   phases_ms(median)=%s"
                  % ("fork server%s, %d concurrent" % ("s" if c > 1 else "", c), rate, _median(lat), passed, total,
                     rate / naive_rate, json.dumps(ph)))
            bad += passed != total
    finally:
        for srv in extra:
            srv.close()
    return bad


def over_servers(servers, names, fn):
    """fn(server, name) for every name, one driving thread per server; -> {name: result}."""
    lock = threading.Lock()
    todo, out = list(reversed(names)), {}

    def worker(srv):
        while True:
            with lock:
                if not todo:
                    return
                name = todo.pop()
            try:
                r = fn(srv, name)
            except Exception as e:  # a harness fault is a problem of this run, reported per task
                r = e
            with lock:
                out[name] = r

    threads = [threading.Thread(target=worker, args=(srv,)) for srv in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def reference_as_candidate(srv, name, reps):
    tdir = os.path.join(TASKS, name)
    with open(os.path.join(tdir, "reference.py")) as f:
        code = f.read()
    return srv.eval(tdir, code, seed=17, reps=reps, mode="correctness" if INTERPRET else "full")


def report_reference(name, r):
    """Print one task's line; -> 1 when it is a problem (not pass, or off 1.00 by > 3%)."""
    if isinstance(r, Exception):
        print("%-20s harness fault: %r" % (name, r))
        return 1
    rs, cs = r["reference"], r["candidate"]
    cv = rs["stdev_ms"] / rs["median_ms"] if rs["median_ms"] else 0
    print("%-20s %-6s %8.3f %10.4f %10.4f %8.3f %8.1f %8.1f %6.1f %s" % (
        name, r["error_class"][:6], r["speedup"], rs["median_ms"], cs["median_ms"], cv,
        r["gbps"], r["tflops"], r["eval_ms"] / 1e3, r["error_message"][:200]))
    print("   phases_ms=%s plan=%s sandbox=%s %s" % (json.dumps(r.get("phases_ms", {})), r.get("timing_plan", ""),
                                                r.get("sandbox", ""), r.get("timing_note", "")))
    if r["error_class"] != "pass":
        print("   trace:", r.get("trace", "")[-1500:])
        return 1
    return int(not INTERPRET and (not r["timed"] or abs(r["speedup"] - 1.0) > 0.03))


def selfcheck(srv, name):
    t0 = time.monotonic()
    srv.send({"op": "selfcheck", "id": name, "task_dir": os.path.join(TASKS, name), "drop_uid": DROP_UID})
    return srv.recv(900)["result"], time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default=",".join(sorted(d for d in os.listdir(TASKS)
                                                       if os.path.isfile(os.path.join(TASKS, d, "task.json")))))
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--throughput", type=int, default=20, help="evaluations for the throughput comparison")
    ap.add_argument("--concurrency", default="1,4,8",
                    help="fork servers evaluating at once on the GPU for the throughput comparison")
    ap.add_argument("--skip-selfcheck", action="store_true")
    ap.add_argument("--parallel", type=int, default=1,
                    help="fork servers working through the task list at once (timing stays exclusive: "
                         "the harness's per-GPU lock)")
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="geak-gpu-cache-")
    fs = ForkServer(cache)
    bad = 0
    try:
        fs.send({"op": "ping"})
        dev = fs.recv(300)["device"]
        print("device:", json.dumps(dev))
        if dev.get("interpreted") and not INTERPRET:
            print("no GPU visible: nothing to time (set TRITON_INTERPRET=1 for a smoke test on the CPU)")
            return 2
        if INTERPRET:
            print("smoke test under TRITON_INTERPRET=1: references in correctness mode, no timings")
        print("\n%-20s %-6s %8s %10s %10s %8s %8s %8s %6s" % ("task", "class", "speedup", "ref_ms", "cand_ms",
                                                           "ref_cv", "GB/s", "TFLOPS", "eval_s"))
        names = args.tasks.split(",")
        pool = [fs] + [ForkServer(cache) for _ in range(max(0, args.parallel - 1))]
        try:
            results = over_servers(pool, names, lambda srv, name: reference_as_candidate(srv, name, args.reps))
            for name in names:
                bad += report_reference(name, results[name])
            if not args.skip_selfcheck:
                print()
                results = over_servers(pool, names, selfcheck)
                for name in names:
                    sc, dt = results[name]
                    print("selfcheck %-20s %-7s %.1fs %s" % (name, sc["status"], dt, sc["reason"][:300]))
                    bad += sc["status"] != "ok"
        finally:
            for srv in pool[1:]:
                srv.close()

        # ---- throughput: fork servers (as deployed) vs one fresh python per evaluation
        n = args.throughput
        if n > 0:
            bad += throughput(fs, cache, n, [int(c) for c in args.concurrency.split(",") if c.strip()])
    finally:
        fs.close()
        shutil.rmtree(cache, ignore_errors=True)
    print("\n%s" % ("ALL OK" if bad == 0 else "%d PROBLEM(S)" % bad))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
