"""Helpers of tests/gpu/bench_tables.sh: the candidate chunks of the gold-vs-gold step, GEAK-eval's
perf-script method on a sample, and the tables (self-check status with reasons, gold against
itself in full mode, both methods side by side).  Reads only what the steps wrote under OUT.

    bench_tables.py gold-candidates SELFCHECK.json TASKS_ROOT CHUNK OUTDIR
    bench_tables.py geak-eval-method TRITONBENCH_DIR SELFCHECK.json SAMPLE OUTDIR
    bench_tables.py tables OUT
"""
import glob
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCHES = (("tritonbench-revised", "TritonBench-revised"), ("rocm-triton", "ROCm"))


def _bench_of(task):
    src = task.get("source") or ""
    for key, label in BENCHES:
        if src.startswith(key + ":"):
            return label
    return "other"


def gold_candidates(selfcheck, root, chunk, outdir):
    """selfcheck: the check's JSON (its ok tasks), or a text file of task names."""
    if selfcheck.endswith(".json"):
        tasks = [t for t in json.load(open(selfcheck))["tasks"] if t["status"] == "ok"]
    else:
        tasks = [{"name": n.strip(), "path": n.strip()} for n in open(selfcheck) if n.strip()]
    tasks.sort(key=lambda t: t["name"])
    os.makedirs(outdir, exist_ok=True)
    rows = []
    for t in tasks:
        with open(os.path.join(root, t["path"], "reference.py")) as f:
            rows.append({"id": t["name"], "task": t["name"], "code": f.read()})
    chunk = max(1, int(chunk))
    for i in range(0, len(rows), chunk):
        path = os.path.join(outdir, "chunk_%03d.jsonl" % (i // chunk))
        if not os.path.exists(path):
            with open(path, "w") as f:
                for r in rows[i:i + chunk]:
                    f.write(json.dumps(r) + "\n")
    print("gold: %d ok tasks in chunks of %d under %s" % (len(rows), chunk, outdir))


def _run_perf_script(bench, name, work, timeout_s):
    """GEAK-eval's method for one run: the benchmark's perf script (their performance_utils,
    triton.testing.do_bench) on the gold kernel file.  -> [ms per input] or None."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "TritonBench_G_v1"))
    perf_dir = os.path.join(work, "perf_G")
    os.makedirs(os.path.join(perf_dir, "AMD_Instinct_MI300X_VF_golden_metrics"))
    shutil.copy(os.path.join(bench, "data", "TritonBench_G_v1", name + ".py"),
                os.path.join(work, "TritonBench_G_v1", name + ".py"))
    shutil.copy(os.path.join(bench, "performance_metrics", "perf_G", "performance_utils.py"), perf_dir)
    script = name + "_perf.py"
    shutil.copy(os.path.join(bench, "performance_metrics", "perf_G", "golden_metrics", script), perf_dir)
    try:
        subprocess.run([sys.executable, script], cwd=perf_dir, timeout=timeout_s, capture_output=True)
    except subprocess.TimeoutExpired:
        return None
    got = glob.glob(os.path.join(perf_dir, "AMD_Instinct_MI300X_VF_golden_metrics", "*.json"))
    if not got:
        return None
    try:
        return [float(r["ms"]) for r in json.load(open(got[0]))]
    except (ValueError, KeyError, TypeError):
        return None


def geak_eval_method(bench, selfcheck, sample, outdir, budget_s=None):
    budget_s = float(os.environ.get("GE_BUDGET_S", budget_s or 240))
    tasks = [t for t in json.load(open(selfcheck))["tasks"]
             if t["status"] == "ok" and _bench_of(t) == "TritonBench-revised"]
    have = set(os.path.basename(p)[:-len("_perf.py")] for p in
               glob.glob(os.path.join(bench, "performance_metrics", "perf_G", "golden_metrics", "*_perf.py")))
    tasks = [t for t in sorted(tasks, key=lambda t: t["name"]) if t["name"] in have]
    step = max(1, len(tasks) // max(1, int(sample)))
    picked = tasks[::step][:int(sample)]
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "geak_eval_method.jsonl")
    done = set()
    if os.path.exists(path):
        done = {json.loads(l)["task"] for l in open(path)}
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="geak-ge-")
    with open(path, "a") as out:
        for t in picked:
            if t["name"] in done:
                continue
            if time.monotonic() - t0 > budget_s:
                print("geakeval: budget spent before %s" % t["name"])
                break
            a = _run_perf_script(bench, t["name"], os.path.join(work, "a"), 150)
            b = _run_perf_script(bench, t["name"], os.path.join(work, "b"), 150) if a else None
            row = {"task": t["name"], "ms_a": a, "ms_b": b}
            if a and b and len(a) == len(b):
                ratios = [x / y for x, y in zip(a, b) if x > 0 and y > 0]
                row["speedup_mean"] = sum(ratios) / len(ratios) if ratios else None
            out.write(json.dumps(row) + "\n")
            out.flush()
            print("geakeval: %s %s" % (t["name"], row.get("speedup_mean")))
    shutil.rmtree(work, ignore_errors=True)


def _pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p
    lo = int(math.floor(k))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _load_jsonl(pattern):
    rows = []
    for p in sorted(glob.glob(pattern)):
        for line in open(p):
            if line.strip():
                rows.append(json.loads(line))
    return rows


def tables(out):
    times = open(os.path.join(out, "times.txt")).read() if os.path.exists(os.path.join(out, "times.txt")) else ""
    dev = open(os.path.join(out, "device.txt")).read().strip() if os.path.exists(os.path.join(out, "device.txt")) else "?"
    print("device: %s" % dev)
    sc_path = os.path.join(out, "selfcheck_cold.json")
    tasks = json.load(open(sc_path))["tasks"] if os.path.exists(sc_path) else []
    by_name = {t["name"]: t for t in tasks}
    print("\n== Self-check (reference against its oracle, twice, fresh processes; correctness)")
    for line in times.splitlines():
        if line.startswith("selfcheck"):
            print("  " + line)
    statuses = ("ok", "broken", "flaky", "unsupported_on_device", "error", "pending")
    print("  %-20s %5s %s" % ("benchmark", "tasks", "  ".join("%s" % s for s in statuses)))
    for _, label in BENCHES:
        ts = [t for t in tasks if _bench_of(t) == label]
        print("  %-20s %5d %s" % (label, len(ts), "  ".join("%*d" % (len(s), sum(t["status"] == s for t in ts))
                                                           for s in statuses)))
    for _, label in BENCHES:
        bad = [t for t in tasks if _bench_of(t) == label and t["status"] != "ok"]
        if bad:
            print("\n  %s, tasks not ok:" % label)
            for t in sorted(bad, key=lambda t: (t["status"], t["name"])):
                print("    %-34s %-22s %s" % (t["name"], t["status"], (t.get("reason") or "")[:150].replace("\n", " ")))
    notes = [t for t in tasks if t["status"] == "ok" and t.get("reason")]
    if notes:
        print("\n  ok tasks with a note (NaN elements not compared, rounding between oracle runs, ...):")
        for t in notes:
            print("    %-34s %s" % (t["name"], t["reason"][:150]))

    gold = _load_jsonl(os.path.join(out, "gold", "chunk_*.verdicts"))
    if gold:
        print("\n== Gold against itself in full mode (geak eval, timed; the 'ok' tasks)")
        for line in times.splitlines():
            if line.startswith("gold"):
                print("  " + line)
        for _, label in BENCHES + (("", "all"),):
            vs = [v for v in gold if label == "all" or _bench_of(by_name.get(v["task"], {})) == label]
            if not vs:
                continue
            sp = [v["speedup"] for v in vs if v.get("error_class") == "pass" and v.get("timed") and v.get("speedup")]
            untimed = [v for v in vs if v.get("error_class") == "pass" and not v.get("timed")]
            failed = [v for v in vs if v.get("error_class") != "pass"]
            line = "  %-20s %3d evaluated: %3d pass timed, %2d pass not timed, %2d fail" % (
                label, len(vs), len(sp), len(untimed), len(failed))
            if sp:
                dev_ = [abs(s - 1) for s in sp]
                line += ("; self-speedup median %.3f, p5 %.3f, p95 %.3f, geomean %.3f; within +-2%%: %d/%d, "
                         "+-5%%: %d/%d" % (statistics.median(sp), _pct(sp, 0.05), _pct(sp, 0.95),
                                           math.exp(sum(math.log(s) for s in sp) / len(sp)),
                                           sum(d <= 0.02 for d in dev_), len(sp), sum(d <= 0.05 for d in dev_), len(sp)))
            print(line)
        for v in gold:
            if v.get("error_class") != "pass":
                print("    fail     %-30s %-20s %s" % (v["task"], v.get("error_class"), (v.get("message") or "")[:140]))
            elif not v.get("timed"):
                print("    untimed  %-30s %s" % (v["task"], (v.get("timing_note") or "")[:160]))
        outliers = sorted((v for v in gold if v.get("timed") and v.get("speedup")), key=lambda v: abs(v["speedup"] - 1))
        if outliers:
            print("  furthest from 1.00:")
            for v in outliers[-5:]:
                print("    %-30s %.3f (ci %.3f)" % (v["task"], v["speedup"], v.get("speedup_ci") or 0))
    ge = _load_jsonl(os.path.join(out, "geakeval", "geak_eval_method.jsonl"))
    if ge:
        ours = {v["task"]: v for v in gold}
        print("\n== Gold against itself: GEAK-eval's method (its perf script, do_bench, two runs) beside ours")
        print("  %-30s %10s %10s %8s" % ("task", "geak-eval", "ours", "ours ci"))
        for r in ge:
            o = ours.get(r["task"], {})
            g = r.get("speedup_mean")
            print("  %-30s %10s %10s %8s" % (r["task"], "%.3f" % g if g else "failed",
                                            "%.3f" % o["speedup"] if o.get("speedup") else "-",
                                            "%.3f" % o["speedup_ci"] if o.get("speedup_ci") else "-"))
        gs = [r["speedup_mean"] for r in ge if r.get("speedup_mean")]
        if gs:
            print("  geak-eval method: median %.3f, max |1-s| %.3f over %d tasks" % (
                statistics.median(gs), max(abs(s - 1) for s in gs), len(gs)))


def main(argv):
    if len(argv) >= 5 and argv[0] == "gold-candidates":
        return gold_candidates(argv[1], argv[2], argv[3], argv[4])
    if len(argv) >= 5 and argv[0] == "geak-eval-method":
        return geak_eval_method(argv[1], argv[2], argv[3], argv[4])
    if len(argv) >= 2 and argv[0] == "tables":
        return tables(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
