#!/usr/bin/env bash
# bench_scan.sh - what `geak run` costs per attempt when the roles cost nothing.
#
#   bench/bench_scan.sh [--build DIR] [--tasks N (184)] [--k K (10)] [--iterations N (10)]
#                       [--threads N (8)] [--eval-threads N (= threads)] [--concurrency C (16)]
#                       [--no-code P (0)] [--seed S (1)] [--keep] [--wrap CMD]
#
# Makes N minimal task directories (task.json only) in a temp dir, starts a
# scratch redis-server (no persistence), geak-broker and bench_roles (instant
# doubles of the four roles, registered as ordinary workers), then runs
#   geak run --tasks DIR --k K --iterations N --broker EP --concurrency C --quiet
# and prints attempts, wall time, ms per attempt (= orchestration overhead:
# the doubles answer at once), Redis commands per attempt (INFO commandstats
# delta), CPU seconds per process, and the targets (<= 2 ms per attempt,
# whole scan <= 60 s). Binaries come from DIR/bin and DIR/bench
# (default: $GEAK_BUILD or build); build them without SAN for numbers:
#   make BUILD=build/x build/x/bin/geak build/x/bin/geak-broker build/x/bench/bench_roles
# --no-code P: share of role replies without code (NO_CODE paths); --seed: the
# doubles' verdict hash seed (same seed, same lineages).
# --wrap CMD prefixes the geak run command line (e.g. --wrap "perf record -g -o /tmp/run.data"
# to profile it; the CPU and wall figures then include the wrapper).
# Exit 0 when both targets are met, 1 when one is missed, 2 on a setup failure.
set -u

BUILD=${GEAK_BUILD:-build}
NTASKS=184 K=10 ITER=10 THREADS=8 EVAL_THREADS= CONC=16 KEEP=0 WRAP= NO_CODE=0 SEED=1
TARGET_MS=2 TARGET_S=60
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$2; shift 2 ;;
        --tasks) NTASKS=$2; shift 2 ;;
        --k) K=$2; shift 2 ;;
        --iterations) ITER=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --eval-threads) EVAL_THREADS=$2; shift 2 ;;
        --concurrency) CONC=$2; shift 2 ;;
        --no-code) NO_CODE=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --wrap) WRAP=$2; shift 2 ;;
        *) sed -n '2,25p' "$0" >&2; exit 2 ;;
    esac
done
EVAL_THREADS=${EVAL_THREADS:-$THREADS}
GEAK=$BUILD/bin/geak BROKER=$BUILD/bin/geak-broker ROLES=$BUILD/bench/bench_roles
for bin in "$GEAK" "$BROKER" "$ROLES"; do
    [ -x "$bin" ] || { echo "bench_scan: missing $bin (build it first)" >&2; exit 2; }
done
command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || { echo "bench_scan: needs redis-server and redis-cli" >&2; exit 2; }

WORK=$(mktemp -d /tmp/geak-bench-scan.XXXXXX)
PIDS=()
cleanup () {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if [ "$KEEP" = 1 ]; then echo "bench_scan: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port () {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait until "$1" (a command) succeeds, at most $2 seconds
wait_for () {
    local deadline=$(( $(date +%s) + $2 ))
    until eval "$1" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# utime + stime of a live process, in clock ticks
cpu_ticks () { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- tasks
TASKS=$WORK/tasks
for i in $(seq 0 $((NTASKS - 1))); do
    name=$(printf 'bench_%03d' "$i")
    mkdir -p "$TASKS/$name"
    printf '{"name":"%s","category":"bench","difficulty":%d,"instruction":"Bench task %d: y = x + 1.","entry":{"name":"add_one","signature":"def add_one(x: torch.Tensor) -> torch.Tensor"}}\n' \
        "$name" $((i % 5 + 1)) "$i" > "$TASKS/$name/task.json"
done

# ---------------------------------------------------------------- services
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" --daemonize no --loglevel warning > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!; PIDS+=("$REDIS_PID")
wait_for "redis-cli -p $REDIS_PORT ping | grep -q PONG" 10 \
    || { echo "bench_scan: redis-server did not start" >&2; cat "$WORK/redis.log" >&2; exit 2; }

BROKER_PORT=$(free_port)
EP=tcp://127.0.0.1:$BROKER_PORT
GEAK_LOG_LEVEL=warn "$BROKER" --bind "$EP" > "$WORK/broker.out" 2> "$WORK/broker.log" &
BROKER_PID=$!; PIDS+=("$BROKER_PID")
wait_for "grep -q broker_ready '$WORK/broker.out'" 10 \
    || { echo "bench_scan: geak-broker did not start" >&2; cat "$WORK/broker.log" >&2; exit 2; }

GEAK_LOG_LEVEL=warn "$ROLES" --endpoint "$EP" --threads "$THREADS" --eval-threads "$EVAL_THREADS" \
    --no-code "$NO_CODE" --seed "$SEED" \
    > "$WORK/roles.out" 2> "$WORK/roles.log" &
ROLES_PID=$!; PIDS+=("$ROLES_PID")
wait_for "grep -q bench_roles_ready '$WORK/roles.out'" 20 \
    || { echo "bench_scan: bench_roles did not register" >&2; cat "$WORK/roles.log" >&2; exit 2; }

# ---------------------------------------------------------------- the scan
redis-cli -p "$REDIS_PORT" config resetstat > /dev/null
r0=$(cpu_ticks "$REDIS_PID") b0=$(cpu_ticks "$BROKER_PID") d0=$(cpu_ticks "$ROLES_PID")
RUN_ID=bench-$(date +%s)
echo "bench_scan: $NTASKS tasks x k=$K x $ITER iterations, concurrency $CONC," \
     "$THREADS role / $EVAL_THREADS evaluator worker threads, broker $EP, redis :$REDIS_PORT"
TIMEFORMAT='%R %U %S'
{ time GEAK_REDIS_HOST=127.0.0.1 GEAK_REDIS_PORT=$REDIS_PORT GEAK_LOG_LEVEL=warn \
      $WRAP "$GEAK" run --tasks "$TASKS" --k "$K" --iterations "$ITER" --broker "$EP" \
      --concurrency "$CONC" --run-id "$RUN_ID" --quiet \
      > "$WORK/run.json" 2> "$WORK/run.log" ; echo "rc=$?" > "$WORK/run.rc"; } 2> "$WORK/run.time"
RUN_RC=$(sed 's/rc=//' "$WORK/run.rc")
r1=$(cpu_ticks "$REDIS_PID") b1=$(cpu_ticks "$BROKER_PID") d1=$(cpu_ticks "$ROLES_PID")
redis-cli -p "$REDIS_PORT" info commandstats > "$WORK/commandstats.txt"
if [ "$RUN_RC" != 0 ]; then
    echo "bench_scan: geak run exited $RUN_RC" >&2
    tail -20 "$WORK/run.log" >&2
fi

# ---------------------------------------------------------------- report
TICK=$(getconf CLK_TCK)
python3 - "$WORK" "$TICK" "$TARGET_MS" "$TARGET_S" "$RUN_RC" \
    "$((r1 - r0))" "$((b1 - b0))" "$((d1 - d0))" "$NTASKS" <<'EOF'
import json, sys
work, tick, target_ms, target_s, run_rc = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    float(sys.argv[4]), int(sys.argv[5])
redis_t, broker_t, roles_t = (int(x) / tick for x in sys.argv[6:9])
try:
    run = json.loads(open(f"{work}/run.json").read().strip().splitlines()[-1])
except (OSError, ValueError, IndexError):
    print("bench_scan: geak run printed no summary"); sys.exit(2)
wall, user, sys_t = (float(x) for x in open(f"{work}/run.time").read().split()[-3:])
calls, usec = {}, {}
for line in open(f"{work}/commandstats.txt"):
    if line.startswith("cmdstat_"):
        name, rest = line[8:].strip().split(":", 1)
        fields = dict(kv.split("=") for kv in rest.split(","))
        calls[name] = int(fields["calls"]); usec[name] = int(fields["usec"])
attempts = run["attempts"]
ntasks = int(sys.argv[9])
# commandstats counts the commands a Lua script runs too: split those off.
# The store's scripts run HSET, RPUSH, HINCRBY, SADD, ZADD, EXISTS (run create
# and status: one EXISTS each) and HGET (attempt put: one each); the only
# direct SADD of geak run is one per task.
inner_names = ("hset", "rpush", "hincrby", "zadd", "exists")
inner = {n: c for n, c in calls.items() if n in inner_names}
if calls.get("sadd", 0) > ntasks:
    inner["sadd"] = calls["sadd"] - ntasks
    calls["sadd"] = ntasks
puts = calls.get("evalsha", 0) + calls.get("eval", 0) - calls.get("exists", 0)
if puts > 0 and calls.get("hget", 0) >= puts:
    inner["hget"] = puts
    calls["hget"] -= puts
top = {n: c for n, c in calls.items()
       if n not in inner_names and not n.startswith("config") and n != "info"}
total_calls = sum(top.values())
ms = wall * 1000.0 / attempts if attempts else float("inf")
print(f"run        status={run['status']} lineages={run['lineages']} "
      f"done={run['lineages_done']} passes={run['passes']}")
print(f"attempts   {attempts} (new {run['attempts_new']}, evaluations {run['evaluations']})")
print(f"wall       {wall:.2f} s for the whole command (scan alone {run['elapsed_s']:.2f} s)")
print(f"per attempt {ms:.3f} ms (scan alone {run['elapsed_s'] * 1000 / max(attempts, 1):.3f} ms)")
per = lambda d: ", ".join(f"{n} {c / max(attempts, 1):.2f}"
                          for n, c in sorted(d.items(), key=lambda kv: -kv[1]))
print(f"redis      {total_calls / max(attempts, 1):.2f} round trips per attempt ({per(top)})")
print(f"           + {sum(inner.values()) / max(attempts, 1):.2f} commands inside Lua scripts "
      f"({per(inner)}); server time {sum(usec.values()) / max(attempts, 1):.1f} us per attempt")
print(f"cpu s      geak run {user + sys_t:.2f} (user {user:.2f} sys {sys_t:.2f}), "
      f"redis {redis_t:.2f}, broker {broker_t:.2f}, bench_roles {roles_t:.2f}")
ok_ms, ok_s = ms <= target_ms, wall <= target_s
print(f"target     <= {target_ms:g} ms per attempt: {'met' if ok_ms else 'MISSED'} ({ms:.3f}); "
      f"<= {target_s:g} s whole scan: {'met' if ok_s else 'MISSED'} ({wall:.1f})")
sys.exit(0 if ok_ms and ok_s and run_rc == 0 and run["status"] == "done" else 1)
EOF
