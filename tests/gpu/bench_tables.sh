#!/usr/bin/env bash
# tests/gpu/bench_tables.sh - the paper's two benchmarks on this GPU, in steps a device call can
# hold (docs: bench/README.md, "The paper's benchmarks on the GPU"):
#   import    both benchmarks (TritonBench-revised 184, ROCm 30) into $OUT/all
#   check     self-check of every task, correctness (geak tasks check --gpu --correctness-only),
#             cold, then again answered from the host cache: the status table with reasons
#   gold      every ok task's gold against itself in full mode (geak eval, timed), in chunks of
#             $CHUNK tasks; a chunk already done is skipped, none is started after $BUDGET_S
#   geakeval  GEAK-eval's own method on a sample of TritonBench tasks: its perf script
#             (performance_utils.do_bench) run on the gold twice, the ms ratio per input
#   tables    print every table (tests/gpu/bench_tables.py)
# Usage (device tool; build and carry first with bash bench/gpucarry.sh):
#   BIN=.gpucarry/bin LD_LIBRARY_PATH=$PWD/.gpucarry/lib STEPS="import check gold" tests/gpu/bench_tables.sh
# Env: OUT (.benchout: kept between calls of a warm machine), W (evaluators, 8), CHUNK (24),
#      BUDGET_S (seconds after which no new gold chunk starts, 420), SAMPLE (geakeval tasks, 10),
#      BENCH_ROOT (../shared/benchmarks, or .gpucarry/benchmarks on a device), GPU_FLAG (--gpu;
#      empty for a dry run on the CPU interpreter), CHECK_TASKS (a file of task names: check only
#      those), GOLD_TASKS (a file of task names for the gold step instead of the check's ok tasks)
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/bin}
OUT=${OUT:-.benchout}
W=${W:-8}
CHUNK=${CHUNK:-24}
BUDGET_S=${BUDGET_S:-420}
SAMPLE=${SAMPLE:-10}
STEPS=${STEPS:-"import check gold tables"}
BENCH_ROOT=${BENCH_ROOT:-}
if [ -z "$BENCH_ROOT" ]; then
    for d in ../shared/benchmarks .gpucarry/benchmarks; do
        [ -d "$d/tritonbench-revised" ] && BENCH_ROOT=$d && break
    done
fi
[ -d "$BENCH_ROOT/tritonbench-revised" ] || { echo "bench_tables: no benchmark data (BENCH_ROOT)" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export GEAK_HARNESS_DIR=$PWD/services/evaluator GEAK_EVAL_CACHE_DIR=$OUT/cache
step () { case " $STEPS " in *" $1 "*) return 0;; *) return 1;; esac; }
t_start=$(date +%s)
status=0
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$OUT/device.txt" || true

if step import; then
    rm -rf "$OUT/all" && mkdir -p "$OUT/all"
    "$BIN/geak" tasks import tritonbench-revised "$BENCH_ROOT/tritonbench-revised" --out "$OUT/all" | tail -1
    ROCM_DIR=$BENCH_ROOT/rocm; [ -d "$ROCM_DIR" ] || ROCM_DIR=$BENCH_ROOT/rocm-triton
    "$BIN/geak" tasks import rocm-triton "$ROCM_DIR" --out "$OUT/all" | tail -1
fi
TASK_ARGS=""
if [ -n "${CHECK_TASKS:-}" ]; then
    while read -r t; do [ -n "$t" ] && TASK_ARGS="$TASK_ARGS --task $t"; done < "$CHECK_TASKS"
fi
if step check; then
    rm -rf "$OUT/cache"
    for pass in cold cached; do
        t0=$(date +%s.%N)
        "$BIN/geak" tasks check ${GPU_FLAG---gpu} --correctness-only --servers "$W" --tasks "$OUT/all" $TASK_ARGS \
            --json "$OUT/selfcheck_$pass.json" > "$OUT/selfcheck_$pass.txt" 2> "$OUT/selfcheck_$pass.log"
        t1=$(date +%s.%N)
        python3 -c "print('selfcheck $pass: %.1f s' % ($t1 - $t0))" | tee -a "$OUT/times.txt"
        tail -1 "$OUT/selfcheck_$pass.txt"
    done
fi
if step gold; then
    python3 tests/gpu/bench_tables.py gold-candidates "${GOLD_TASKS:-$OUT/selfcheck_cold.json}" "$OUT/all" "$CHUNK" "$OUT/gold"
    for c in "$OUT"/gold/chunk_*.jsonl; do
        v="${c%.jsonl}.verdicts"
        [ -s "$v" ] && continue
        if [ $(( $(date +%s) - t_start )) -gt "$BUDGET_S" ]; then
            echo "gold: budget spent, $(basename "$c") left for the next call"; continue
        fi
        t0=$(date +%s.%N)
        "$BIN/geak" eval --candidates "$c" --tasks "$OUT/all" --standalone "$W" --no-selfcheck \
            --timeout-ms 180000 --out "$v.tmp" --summary "${c%.jsonl}.summary" > "${c%.jsonl}.log" 2>&1
        rc=$?
        t1=$(date +%s.%N)
        mv "$v.tmp" "$v"
        python3 -c "print('gold $(basename "$c"): rc=$rc %.1f s' % ($t1 - $t0))" | tee -a "$OUT/times.txt"
    done
fi
if step geakeval; then
    python3 tests/gpu/bench_tables.py geak-eval-method "$BENCH_ROOT/tritonbench-revised" "$OUT/selfcheck_cold.json" \
        "$SAMPLE" "$OUT/geakeval" || status=1
fi
if step tables; then
    python3 tests/gpu/bench_tables.py tables "$OUT" || status=1
fi
echo "bench_tables: status=$status ($(( $(date +%s) - t_start )) s)"
exit $status
