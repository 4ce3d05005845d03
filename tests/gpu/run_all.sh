#!/usr/bin/env bash
# tests/gpu/run_all.sh - everything the evaluator must prove on a GPU host, in one call:
# 1. the C GPU probe (geak gpu), 2. the harness self-check and throughput
# (tests/gpu/run_gpu_selfcheck.py), 3. the whole service path: geak eval
# --standalone over the demo candidates with timings on.
# Usage (device tool): BIN=.gpucarry/bin LD_LIBRARY_PATH=.gpucarry/lib tests/gpu/run_all.sh
set -uo pipefail
BIN=${BIN:-build/bin}
OUT=${OUT:-/tmp/geak-gpu-out}
mkdir -p "$OUT"
echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
echo "== geak gpu"; "$BIN/geak" gpu --require-gpu; echo "rc=$?"
echo "== geak gpu with CUDA_VISIBLE_DEVICES= (must say cpu)"; CUDA_VISIBLE_DEVICES= "$BIN/geak" gpu
echo "== geak eval --standalone 1 over demo/candidates.jsonl (timed)"
"$BIN/geak" eval --standalone 1 --candidates demo/candidates.jsonl --tasks tasks \
    --out "$OUT/verdicts.jsonl" --summary "$OUT/summary.json"; echo "rc=$?"
cat "$OUT/verdicts.jsonl"; cat "$OUT/summary.json"; echo
echo "== harness self-check and throughput"
[ -n "${SKIP_HARNESS:-}" ] || PYTHONUNBUFFERED=1 python3 tests/gpu/run_gpu_selfcheck.py --reps 100 --throughput 20; echo "rc=$?"
