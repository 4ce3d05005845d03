#!/usr/bin/env bash
# bench/scaleout.sh - evaluator scale-out over the GPUs of one host, one call.
#
# For each N in $NS (default "1 2 4 8", capped at the GPU count): one broker and
# N geak-evaluator processes (one per GPU, --gpu i, --threads $THREADS fork
# servers each), then `geak eval --broker` over the task suite's references
# plus a slower and a wrong variant of each (bench/make_scaleout_candidates.py),
# with timings on. Every N starts from cold caches (fresh --cache-dir), so no N
# profits from an earlier one's compiled kernels or oracle outputs.
# SCALE=weak (default): N GPUs get N copies of the candidate set (each copy a
# distinct source), so every N runs about as long as N = 1 and all of N = 1, 2,
# 4, 8 fit one device call; SCALE=strong: the same set for every N.
# Prints evaluations/min per N and efficiency = thr(N) / (N * thr(1)).
#
# Usage on a GPU host (device tool):
#   BIN=.gpucarry/bin LD_LIBRARY_PATH=.gpucarry/lib bash bench/scaleout.sh
# Env: BIN (build/bin), TASKS (tasks), NS ("1 2 4 8"), THREADS (4),
#      OUT (/tmp/geak-scaleout), VARIANTS (reference,slower,wrong), PORT (free port),
#      ONLY (a file of task names; default bench/scaleout_tasks.txt, sized so that
#      N = 1, 2, 4, 8 fit one 600 s call; ONLY= for the whole suite), SCALE (weak),
#      GEAK_EVAL_PERF_REPS (timing samples per perf case; 20 here)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
TASKS=${TASKS:-tasks}
NS=${NS:-"1 2 4 8"}
THREADS=${THREADS:-4}
SCALE=${SCALE:-weak}
ONLY=${ONLY-bench/scaleout_tasks.txt}
export GEAK_EVAL_PERF_REPS=${GEAK_EVAL_PERF_REPS:-20}
OUT=${OUT:-/tmp/geak-scaleout}
mkdir -p "$OUT"

ngpu=${NGPU:-$(nvidia-smi -L 2>/dev/null | grep -c "^GPU" || true)}
[ "${ngpu:-0}" -gt 0 ] || ngpu=$(rocm-smi --showid 2>/dev/null | grep -c 'GPU\[' || true)
echo "scaleout: gpus=$ngpu threads_per_evaluator=$THREADS scale=$SCALE perf_reps=$GEAK_EVAL_PERF_REPS tasks=${ONLY:-all}"
candidates () {    # $1 = copies -> $OUT/candidates.jsonl
    python3 bench/make_scaleout_candidates.py --tasks "$TASKS" --out "$OUT/candidates.jsonl" \
        --variants "${VARIANTS:-reference,slower,wrong}" ${ONLY:+--only "$ONLY"} --copies "$1" || exit 1
}

free_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
stop_all () { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
              for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; pids=(); }
trap stop_all EXIT

rm -f "$OUT/throughput.txt"
for n in $NS; do
    if [ "$n" -gt "$ngpu" ]; then echo "scaleout: N=$n skipped (only $ngpu GPUs)"; continue; fi
    if [ "$SCALE" = weak ]; then candidates "$n"; else candidates 1; fi
    ncand=$(wc -l < "$OUT/candidates.jsonl")
    port=${PORT:-$(free_port)}
    ep="tcp://127.0.0.1:$port"
    "$BIN/geak-broker" --bind "tcp://127.0.0.1:$port" 2>"$OUT/broker.$n.log" & pids+=($!)
    for ((g = 0; g < n; g++)); do
        cache="$OUT/cache.$n.$g"; rm -rf "$cache" "$cache-candidates"
        "$BIN/geak-evaluator" --broker "$ep" --gpu "$g" --threads "$THREADS" \
            --tasks "$TASKS" --cache-dir "$cache" 2>"$OUT/evaluator.$n.$g.log" & pids+=($!)
    done
    want=$((n * THREADS))
    for ((i = 0; i < 600; i++)); do      # bounded wait for registration (fork servers import torch)
        w=$("$BIN/geak" stats --broker "$ep" 2>/dev/null | python3 -c \
            'import json,sys; d=json.load(sys.stdin); print(d["services"].get("geak.evaluator",{}).get("workers",0))' 2>/dev/null || echo 0)
        [ "${w:-0}" -ge "$want" ] && break
        sleep 0.5
    done
    echo "scaleout: N=$n workers=$w/$want candidates=$ncand"
    t0=$(date +%s.%N)
    "$BIN/geak" eval --broker "$ep" --no-selfcheck --candidates "$OUT/candidates.jsonl" --tasks "$TASKS" \
        --window "$want" --out "$OUT/verdicts.$n.jsonl" --summary "$OUT/summary.$n.json" \
        2>"$OUT/eval.$n.log" || echo "scaleout: geak eval rc=$? (see $OUT/eval.$n.log)"
    t1=$(date +%s.%N)
    stop_all
    python3 - "$OUT/verdicts.$n.jsonl" "$OUT/candidates.jsonl" "$n" "$t0" "$t1" <<'PY'
import collections, json, sys
verdicts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
expect = {json.loads(l)["id"]: json.loads(l)["expect"] for l in open(sys.argv[2]) if l.strip()}
n, wall = int(sys.argv[3]), float(sys.argv[5]) - float(sys.argv[4])
classes = collections.Counter(v.get("error_class", "?") for v in verdicts)
wrong = [v["id"] for v in verdicts if v.get("error_class") != expect.get(v.get("id"))]
print("scaleout: N=%d evals=%d wall_s=%.1f evals_per_min=%.1f classes=%s unexpected=%d %s"
      % (n, len(verdicts), wall, 60.0 * len(verdicts) / wall, dict(classes), len(wrong), wrong[:8]))
with open(sys.argv[1].rsplit("/", 1)[0] + "/throughput.txt", "a") as f:
    f.write("%d %.3f\n" % (n, 60.0 * len(verdicts) / wall))
PY
done
python3 - "$OUT/throughput.txt" <<'PY'
import sys
thr = {}
for line in open(sys.argv[1]):
    n, t = line.split()
    thr[int(n)] = float(t)
base = thr.get(1)
print("scaleout: N  evals/min  efficiency")
for n in sorted(thr):
    eff = thr[n] / (n * base) if base else float("nan")
    print("scaleout: %d  %.1f  %.3f" % (n, thr[n], eff))
PY
