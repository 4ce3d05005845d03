#!/usr/bin/env python3
"""The baseline bench/bench_eval_real.sh compares against: GEAK-eval's method, a fresh `python`
per step, W candidates at a time.

    baseline_eval.py --candidates C.jsonl --tasks ROOT --workers W --out V.jsonl

Per candidate: step "call" runs the candidate in a fresh interpreter (code + the task's appended
test section, the task's first correctness case, seed 42) and saves its outputs; if that worked,
step "exec" runs the gold kernel the same way in another fresh interpreter; the outputs are
compared in this process with the task's tolerances.  A syntax error costs a full interpreter
start, as it does there.  Verdicts: pass / call_fail / exec_fail, one JSON line per candidate.
"""
import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "services", "evaluator")

STEP = r'''
import os, sys, importlib.util, linecache
code_file, task_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, %(harness)r)
import torch
from harness import task as tasklib
task = tasklib.load(task_dir)
spec = task.spec
device = "cuda" if torch.cuda.is_available() and not os.environ.get("TRITON_INTERPRET") else "cpu"
if device == "cpu":
    os.environ["TRITON_INTERPRET"] = "1"
src = open(code_file, "rb").read()
mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("cand", loader=None, origin=code_file))
mod.__file__ = code_file
sys.modules["cand"] = mod
exec(compile(src, code_file, "exec"), mod.__dict__)
if task.append_src is not None:
    exec(compile(task.append_src, task.append_file, "exec"), mod.__dict__)
case = task.correctness_cases(device == "cpu")[0]
inputs = spec.make_inputs(case, 42, device)
if not isinstance(inputs, tuple):
    inputs = tuple(inputs)
res = getattr(mod, task.entry)(*inputs)
if device != "cpu":
    torch.cuda.synchronize()
def cpu(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu()
    if isinstance(v, (tuple, list)):
        return type(v)(cpu(x) for x in v)
    return v
torch.save(cpu(res), out)
'''


def run_step(code_file, task_dir, out, timeout):
    t = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-c", STEP % {"harness": os.path.abspath(HARNESS)},
                            code_file, task_dir, out], capture_output=True, timeout=timeout)
        ok = p.returncode == 0
        err = p.stderr.decode("utf-8", "replace")[-300:]
    except subprocess.TimeoutExpired:
        ok, err = False, "timeout"
    return ok, err, time.monotonic() - t


def compare(a, b, tol):
    import torch
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        t = tol.get(str(b.dtype).replace("torch.", ""), {"atol": 1e-5, "rtol": 1e-5})
        if not b.is_floating_point():
            return torch.equal(a, b)
        return bool(torch.allclose(a.double(), b.double(), atol=t["atol"], rtol=t["rtol"], equal_nan=True))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(compare(x, y, tol) for x, y in zip(a, b))
    return a == b


def evaluate(row, root, work, timeout):
    import torch
    sys.path.insert(0, os.path.abspath(HARNESS))
    from harness import task as tasklib
    task_dir = os.path.join(root, row["task"])
    d = tempfile.mkdtemp(dir=work)
    cf_path = os.path.join(d, "candidate.py")
    with open(cf_path, "w") as f:
        f.write(row["code"])
    t0 = time.monotonic()
    ok, err, _ = run_step(cf_path, task_dir, os.path.join(d, "cand.pt"), timeout)
    if not ok:
        return {"id": row["id"], "verdict": "call_fail", "ms": (time.monotonic() - t0) * 1e3, "why": err}
    task = tasklib.load(task_dir)
    ok, err, _ = run_step(task.reference_file, task_dir, os.path.join(d, "gold.pt"), timeout)
    if not ok:
        return {"id": row["id"], "verdict": "gold_fail", "ms": (time.monotonic() - t0) * 1e3, "why": err}
    a = torch.load(os.path.join(d, "cand.pt"), weights_only=False)
    b = torch.load(os.path.join(d, "gold.pt"), weights_only=False)
    same = compare(a, b, task.tolerances)
    return {"id": row["id"], "verdict": "pass" if same else "exec_fail", "ms": (time.monotonic() - t0) * 1e3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", required=True)
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--timeout-s", type=float, default=120)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.candidates) if l.strip()]
    work = tempfile.mkdtemp(prefix="geak-baseline-")
    t0 = time.monotonic()
    results = []
    with cf.ThreadPoolExecutor(a.workers) as ex:
        for r in ex.map(lambda row: evaluate(row, a.tasks, work, a.timeout_s), rows):
            results.append(r)
    wall = time.monotonic() - t0
    with open(a.out, "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    n_pass = sum(r["verdict"] == "pass" for r in results)
    print("baseline: %d candidates, %d workers, %.1f s, %.1f evals/min, %d pass"
          % (len(rows), a.workers, wall, 60 * len(rows) / wall, n_pass))


if __name__ == "__main__":
    main()
