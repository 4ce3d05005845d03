#!/usr/bin/env bash
# tests/gpu/run_all.sh - what the evaluator must prove on a GPU host, in one call:
# 1. the C GPU probe (geak gpu), 2. the whole service path: geak eval --standalone over the
# demo candidates with timings on, 3. `geak tasks check --gpu` over the suite (reference
# self-check twice in fresh processes, timed against itself: the task-suite table),
# 4. the harness directly (tests/gpu/run_gpu_selfcheck.py): every task's reference as the
# candidate (pass, self-speedup 1.00 +- 0.03) and evaluations/min against the naive
# fresh-python baseline.
# Usage (device tool):
#   BIN=.gpucarry/bin LD_LIBRARY_PATH=.gpucarry/lib tests/gpu/run_all.sh
# Env: OUT (logs; /tmp/geak-gpu-out), STEPS ("probe eval check harness"), SERVERS (4, fork
# servers for step 3), HARNESS_ARGS (step 4's arguments; default: all tasks, 4 at a time,
# 100 reps, throughput over 20 evaluations).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/bin}
OUT=${OUT:-/tmp/geak-gpu-out}
STEPS=${STEPS:-"probe eval check harness"}
mkdir -p "$OUT"
status=0
step () { case " $STEPS " in *" $1 "*) return 0;; *) return 1;; esac; }
if step probe; then
    echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
    echo "== geak gpu"; "$BIN/geak" gpu --require-gpu || status=1
    echo "== geak gpu with CUDA_VISIBLE_DEVICES= (must say cpu)"; CUDA_VISIBLE_DEVICES= "$BIN/geak" gpu
fi
if step eval; then
    echo "== geak eval --standalone 1 over demo/candidates.jsonl (timed)"
    "$BIN/geak" eval --standalone 1 --candidates demo/candidates.jsonl --tasks tasks \
        --out "$OUT/verdicts.jsonl" --summary "$OUT/summary.json" 2>"$OUT/eval.log" || status=1
    cat "$OUT/verdicts.jsonl"; cat "$OUT/summary.json"; echo
fi
if step check; then
    echo "== geak tasks check --gpu (reference self-check, timed against itself)"
    GEAK_HARNESS_DIR=services/evaluator "$BIN/geak" tasks check --gpu --tasks tasks --servers "${SERVERS:-4}" \
        --json "$OUT/tasks_check.json" 2>"$OUT/tasks_check.log" || status=1
fi
if step harness; then
    echo "== harness: references as candidates, throughput vs naive"
    # shellcheck disable=SC2086
    PYTHONUNBUFFERED=1 python3 tests/gpu/run_gpu_selfcheck.py ${HARNESS_ARGS:---parallel 4 --skip-selfcheck --reps 100 --throughput 20} \
        || status=1
fi
echo "run_all: status=$status"
exit $status
