#!/usr/bin/env bash
# make demo: start redis-server, the broker and one of each role service on
# free local ports, check every service answers health through the broker,
# evaluate the bundled demo candidates with the real evaluator (Triton's
# interpreter when there is no GPU), then run a small GEAK scan with
# `geak run` (3 bundled tasks, k=2, 3 iterations) and print its report.
#
# With GEAK_LLM_PROVIDER (and its GEAK_LLM_* variables) set, the LLM roles use
# that LLM; without it they serve the scripted transcript demo/replay.jsonl
# through the replay provider (no model is called; labelled as scripted).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GEAK_BIN:-build/bin}
WORK=$(mktemp -d /tmp/geak-demo.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {   # wait_for SECONDS CMD...: poll a condition, bounded
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "demo: timed out waiting for: $*" >&2; return 1; }
        sleep 0.1
    done
}

REDIS_PORT=$(free_port); BROKER_PORT=$(free_port)
if [ -z "${GEAK_LLM_PROVIDER:-}" ]; then
    # No LLM endpoint configured: the LLM roles serve a scripted transcript
    # through the replay provider (labelled as scripted in README.md).
    export GEAK_LLM_PROVIDER=replay GEAK_LLM_REPLAY=demo/replay.jsonl GEAK_LLM_MODEL=scripted-replay
    LLM_SPEC="replay:demo/replay.jsonl"
    echo "demo: no LLM endpoint configured (GEAK_LLM_PROVIDER unset): the LLM roles serve the SCRIPTED"
    echo "demo: transcript demo/replay.jsonl (replay provider, no model is called)"
else
    LLM_SPEC=env
    echo "demo: the LLM roles use GEAK_LLM_PROVIDER=$GEAK_LLM_PROVIDER model=${GEAK_LLM_MODEL:-?}"
fi
export GEAK_BROKER="tcp://127.0.0.1:$BROKER_PORT" GEAK_REDIS_PORT=$REDIS_PORT GEAK_LOG_LEVEL=${GEAK_LOG_LEVEL:-warn}
if ! python3 -c 'import torch; raise SystemExit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    export TRITON_INTERPRET=1
    echo "demo: no GPU here: the evaluator runs Triton's interpreter (correctness only, no timings)"
fi

redis-server --port "$REDIS_PORT" --save '' --appendonly yes --dir "$WORK" >"$WORK/redis.log" 2>&1 & PIDS+=($!)
"$BIN/geak-broker" --bind "tcp://127.0.0.1:$BROKER_PORT" >"$WORK/broker.log" 2>&1 & PIDS+=($!)
for role in generator reflector optimizer; do
    "$BIN/geak-$role" --threads 4 >"$WORK/$role.log" 2>&1 & PIDS+=($!)
done
"$BIN/geak-evaluator" >"$WORK/evaluator.log" 2>&1 & PIDS+=($!)
wait_for 10 redis-cli -p "$REDIS_PORT" ping
echo "demo: redis on :$REDIS_PORT, broker on :$BROKER_PORT"
for role in generator reflector optimizer evaluator; do
    wait_for 120 "$BIN/geak" ping --timeout-ms 2000 "geak.$role"
done
echo "demo: health of every service through the broker:"
"$BIN/geak" ping geak.generator geak.reflector geak.optimizer geak.evaluator

echo "demo: evaluating demo/candidates.jsonl with the evaluator service"
"$BIN/geak" eval --candidates demo/candidates.jsonl --tasks tasks \
    --out "$WORK/verdicts.jsonl" --summary "$WORK/summary.json"
echo "demo: verdicts"; cat "$WORK/verdicts.jsonl"
echo "demo: summary"; cat "$WORK/summary.json"; echo

RUN_ID="demo-$(date +%Y%m%d-%H%M%S)"
echo "demo: the agent loop: geak run $RUN_ID (gelu, row_sum, softmax; k=2, 3 iterations, llm $LLM_SPEC)"
"$BIN/geak" run --tasks tasks --task gelu --task row_sum --task softmax --k 2 --iterations 3 \
    --llm "$LLM_SPEC" --run-id "$RUN_ID" | tee "$WORK/run.json"
if "$BIN/geak" --help 2>/dev/null | grep -q '^  report '; then
    OUT=${GEAK_DEMO_OUT:-build/demo}/report-$RUN_ID
    mkdir -p "$(dirname "$OUT")"
    "$BIN/geak" report "$RUN_ID" --out "$OUT"
else
    echo "demo: run summary (geak report is not built)"; cat "$WORK/run.json"
fi
echo "demo: broker counters"; "$BIN/geak" stats
