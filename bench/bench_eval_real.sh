#!/usr/bin/env bash
# Evaluator throughput on real benchmark work, against GEAK-eval's method (a fresh python per step),
# same candidates, same number of workers, one run on one machine (docs: bench/README.md).
#
#   BIN=.gpucarry/bin LD_LIBRARY_PATH=.gpucarry/lib bash bench/bench_eval_real.sh
#
# Env: W (workers, 14), PER_TASK (variants per task, 2), LIMIT (tasks per root, 0 = all),
#      BENCH (TritonBench-revised data: ../shared/benchmarks/tritonbench-revised, or the
#      .gpucarry/benchmarks copy on a device), OUT (work dir), SKIP_BASELINE=1.
# Candidates: bench/make_real_candidates.py over the imported TritonBench-revised tasks and our
# suite: gold, perturbed launch, flipped operator, dropped mask, syntax error, renamed entry;
# every source distinct (no two share a compiled kernel).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
W=${W:-14}
PER_TASK=${PER_TASK:-2}
LIMIT=${LIMIT:-0}
TIMEOUT_S=${TIMEOUT_S:-60}
BENCH=${BENCH:-}
if [ -z "$BENCH" ]; then
    for d in ../shared/benchmarks/tritonbench-revised .gpucarry/benchmarks/tritonbench-revised; do
        [ -d "$d" ] && BENCH=$d && break
    done
fi
[ -d "$BENCH" ] || { echo "bench_eval_real: no TritonBench-revised data (set BENCH)" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/geak-bench-real-XXXXXX)}
mkdir -p "$OUT"
export PATH="$PWD/$BIN:$PATH"
ROOT="$OUT/tasks"
rm -rf "$ROOT" && mkdir -p "$ROOT"
"$BIN/geak" tasks import tritonbench-revised "$BENCH" --out "$ROOT/tb" | tail -1
cp -r tasks "$ROOT/suite"
rm -rf "$ROOT/suite/imported"
python3 bench/make_real_candidates.py --tasks "$ROOT/tb" --tasks "$ROOT/suite" --per-task "$PER_TASK" \
    --limit-tasks "$LIMIT" > "$OUT/cands.jsonl"
# one task root for both sides: the rows name tb/<task> or suite/<task>
python3 - "$OUT/cands.jsonl" "$ROOT" <<'PY'
import json, os, sys
path, root = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(path)]
flat = os.path.join(root, "all")
os.makedirs(flat, exist_ok=True)
for sub in ("tb", "suite"):
    for n in os.listdir(os.path.join(root, sub)):
        src = os.path.join(root, sub, n)
        if os.path.isdir(src) and not os.path.exists(os.path.join(flat, n)):
            os.rename(src, os.path.join(flat, n))
with open(path, "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
PY
N=$(wc -l < "$OUT/cands.jsonl")
echo "bench_eval_real: $N candidates, $W workers, tasks under $ROOT/all"
nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true

t0=$(date +%s.%N)
"$BIN/geak" eval --candidates "$OUT/cands.jsonl" --tasks "$ROOT/all" --standalone "$W" --no-selfcheck \
    --correctness-only --out "$OUT/ours.jsonl" --summary "$OUT/ours_summary.json" --timeout-ms $((TIMEOUT_S * 1000)) \
    > "$OUT/ours.log" 2>&1
rc=$?
t1=$(date +%s.%N)
ours_s=$(python3 -c "print(round($t1 - $t0, 1))")
echo "ours: rc=$rc ${ours_s} s"
tail -3 "$OUT/ours.log"

if [ "${SKIP_BASELINE:-0}" != 1 ]; then
    python3 bench/baseline_eval.py --candidates "$OUT/cands.jsonl" --tasks "$ROOT/all" --workers "$W" \
        --timeout-s "$TIMEOUT_S" --out "$OUT/baseline.jsonl" | tee "$OUT/baseline.log"
fi

python3 - "$OUT" "$ours_s" <<'PY'
import collections, json, os, statistics, sys
out, ours_s = sys.argv[1], float(sys.argv[2])
cands = {json.loads(l)["id"]: json.loads(l) for l in open(os.path.join(out, "cands.jsonl"))}
ours = {}
for l in open(os.path.join(out, "ours.jsonl")):
    v = json.loads(l)
    ours[v["id"]] = v
n = len(cands)
cls = collections.Counter(v.get("error_class") for v in ours.values())
print("ours: %d verdicts, classes %s" % (len(ours), dict(cls.most_common())))
print("ours: %.1f evals/min" % (60 * n / ours_s))
syn = [v.get("eval_ms") for v in ours.values() if v.get("error_class") == "syntax_error" and v.get("eval_ms") is not None]
if syn:
    print("ours: syntax_error eval_ms median %.1f max %.1f (n=%d)" % (statistics.median(syn), max(syn), len(syn)))
ph = collections.defaultdict(list)
for v in ours.values():
    for k, ms in (v.get("phases_ms") or {}).items():
        ph[k].append(ms)
print("ours: median phase ms: " + ", ".join("%s %.0f" % (k, statistics.median(x)) for k, x in sorted(ph.items())))
bpath = os.path.join(out, "baseline.jsonl")
if os.path.exists(bpath):
    base = {json.loads(l)["id"]: json.loads(l) for l in open(bpath)}
    blog = open(os.path.join(out, "baseline.log")).read()
    b_s = float(blog.split(" s, ")[0].split(", ")[-1])
    print("baseline: %.1f evals/min (%.1f s)" % (60 * n / b_s, b_s))
    print("ratio: %.2fx the baseline" % (b_s / ours_s))
    agree = sum((ours.get(k, {}).get("error_class") == "pass") == (base[k]["verdict"] == "pass") for k in base)
    both = sum(ours.get(k, {}).get("error_class") == "pass" and base[k]["verdict"] == "pass" for k in base)
    print("verdicts: %d of %d agree on pass/fail (%d pass on both; ours %d pass, baseline %d pass)" % (
        agree, len(base), both, cls.get("pass", 0), sum(b["verdict"] == "pass" for b in base.values())))
    for k in sorted(base):
        a, b = ours.get(k, {}).get("error_class"), base[k]["verdict"]
        if (a == "pass") != (b == "pass"):
            print("  differs: %s ours=%s (%s) baseline=%s %s" % (k, a, (ours.get(k, {}).get("message") or "")[:120],
                                                          b, base[k].get("why", "")[-120:].replace("\n", " ")))
PY
