"""Chaos: a `geak run` scan over real services while a chaos thread kill -9s
a random worker process (an evaluator or an LLM role) every 2-4 s and
restarts it, and kill -9s redis-server once and restarts it on the same port
(AOF with appendfsync always: an acknowledged write survives the kill; a
Redis restart that loses data is not what is tested here).

Everything is real except the remote LLM API (tests/py/llm_server.py):
redis-server, geak-broker, two geak-evaluator processes running the Python
harness under TRITON_INTERPRET=1, and the generator, reflector and optimizer
services. The scan: gelu, row_sum, vector_add, k=4, 5 iterations (60
attempts, every lineage always exactly 5 attempts, see faultkit.py): about
30-60 s on 2 cores.

Afterwards: run status done, every expected attempt id stored exactly once
and evaluated, lineage lists in iteration order without duplicates, the run
counters equal to what the stored attempts say. The counts go to stdout as
one line
    chaos: seed=S workers_killed=N redis_restarts=1 attempts=A lost=0 duplicated=0 ...
(GEAK_CHAOS_SEED=S replays the same fault schedule)
and to chaos_counts.json in the test's tmp dir. Bounded: the whole test
fails with a clear message past BUDGET_S."""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultkit import (TASKS, Store, audit, copy_tasks, llm_script,  # noqa: E402
                      sanitizer_reports)
from geakproc import (BIN, ROOT, Proc, free_port, http_json, http_ok,  # noqa: E402
                      start_broker, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
GEAK = os.path.join(BIN, "geak")
K, ITERATIONS = 4, 5
BUDGET_S = 170                  # the whole test, setup included (< 3 minutes)
KILL_EVERY_S = (2.0, 4.0)
LLM_DELAY_S = 1.0
EVALUATORS = 2
ROLES = ("generator", "reflector", "optimizer")

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(BIN, b)) for b in
            ("geak", "geak-broker", "geak-evaluator", "geak-generator", "geak-reflector",
             "geak-optimizer")),
    reason="geak binaries not built")


def broker_stats(endpoint):
    p = subprocess.run([GEAK, "stats", "--broker", endpoint], capture_output=True, text=True,
                       timeout=20)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {}


class Chaos:
    """The processes of the test and the chaos thread that kills them."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.tasks = tmp / "tasks"
        copy_tasks(str(self.tasks))
        (tmp / "key").write_text("sk-test-chaos-key\n")
        self.redis_port = free_port()
        self.redis_dir = tmp / "redis"
        self.redis_dir.mkdir()
        self.redis = None
        self.store = Store("127.0.0.1", self.redis_port)
        self.workers = {}               # name -> Proc
        self.seq = 0
        self.killed = {"evaluator": 0, "generator": 0, "reflector": 0, "optimizer": 0}
        self.redis_restarts = 0
        self.events = []
        self.redis_after = 0            # attempts stored before Redis is restarted
        self.stop = threading.Event()
        self.error = None
        self.thread = None

    # ------------------------------------------------------------ processes

    def start_redis(self):
        self.seq += 1
        self.redis = Proc(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                           "--dir", str(self.redis_dir)],
                          str(self.logs / f"redis-{self.seq}.log"))
        wait_until(self.store.ping, timeout=20, what="redis-server answering PING")

    def start_worker(self, name):
        self.seq += 1
        kind = name.rstrip("0123456789")
        if kind == "evaluator":
            args = [os.path.join(BIN, "geak-evaluator"), "--broker", self.endpoint,
                    "--tasks", str(self.tasks), "--interpret"]
            env = self.env
        else:
            args = [os.path.join(BIN, f"geak-{kind}"), "--broker", self.endpoint,
                    "--threads", "2"]
            env = self.role_env
        self.workers[name] = Proc(args, str(self.logs / f"{name}-{self.seq}.log"), env=env)

    def kill_worker(self, name):
        p = self.workers[name]
        p.p.send_signal(signal.SIGKILL)
        p.p.wait()
        p.log.close()
        self.killed[name.rstrip("0123456789")] += 1

    def restart_redis(self):
        self.redis.p.send_signal(signal.SIGKILL)
        self.redis.p.wait()
        self.redis.log.close()
        self.start_redis()
        self.redis_restarts += 1

    # ------------------------------------------------------------ chaos thread

    def run_chaos(self, run_id, deadline):
        """Kill a random worker every 2-4 s; restart Redis once, once the
        scan has stored a few attempts. Ends when told to or at deadline."""
        # the fault schedule's seed, in the summary line: GEAK_CHAOS_SEED=<seed> replays it
        self.seed = int(os.environ.get("GEAK_CHAOS_SEED") or time.time_ns() % (1 << 63))
        rng = random.Random(self.seed)
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                # the pace of fault injection, not a synchronisation
                if self.stop.wait(rng.uniform(*KILL_EVERY_S)):
                    return
                if (self.redis_restarts == 0
                        and len(self.store.attempt_keys(run_id)) >= self.redis_after):
                    self.restart_redis()
                    self.events.append((time.monotonic(), "redis"))
                    continue
                name = rng.choice(sorted(self.workers))
                self.kill_worker(name)
                self.events.append((time.monotonic(), name))
                self.start_worker(name)
        except Exception as e:         # reported by the test, never swallowed
            self.error = e

    def stop_all(self):
        for p in self.workers.values():
            if p.p.poll() is None:
                p.stop()
        for p in (getattr(self, "broker", None), getattr(self, "llm", None), self.redis):
            if p is not None and p.p.poll() is None:
                p.stop()


@pytest.fixture
def chaos(tmp_path):
    c = Chaos(tmp_path)
    c.t0 = time.monotonic()
    try:
        c.start_redis()
        c.llm_port = free_port()
        c.llm = Proc([sys.executable, os.path.join(HERE, "llm_server.py"), "--port",
                      str(c.llm_port)], str(c.logs / "llm_server.log"))
        c.llm_url = f"http://127.0.0.1:{c.llm_port}"
        wait_until(lambda: http_ok(c.llm_url + "/_requests"), what="llm_server")
        c.broker, c.endpoint = start_broker(c.logs)
        c.env = {"GEAK_REDIS_HOST": "127.0.0.1", "GEAK_REDIS_PORT": str(c.redis_port),
                 "GEAK_TASKS": str(c.tasks), "GEAK_LOG_LEVEL": "info", "TRITON_INTERPRET": "1"}
        c.role_env = dict(c.env, GEAK_LLM_PROVIDER="openai", GEAK_LLM_MODEL="test-model",
                          GEAK_LLM_BASE_URL=c.llm_url + "/v1",
                          GEAK_LLM_API_KEY_FILE=str(tmp_path / "key"),
                          GEAK_LLM_TIMEOUT_MS="5000", GEAK_LLM_MAX_RETRIES="1",
                          GEAK_LLM_BACKOFF_MS="20", GEAK_LLM_BACKOFF_MAX_MS="100")
        for i in range(EVALUATORS):
            c.start_worker(f"evaluator{i + 1}")
        for role in ROLES:
            c.start_worker(role)
        want = {"geak.evaluator": EVALUATORS, "geak.generator": 1, "geak.reflector": 1,
                "geak.optimizer": 1}

        def all_registered():
            services = broker_stats(c.endpoint).get("services", {})
            return all(services.get(s, {}).get("workers", 0) >= n for s, n in want.items())
        wait_until(all_registered, timeout=60, interval=0.2, what="every service registered")
        yield c
    finally:
        c.stop.set()
        if c.thread is not None:
            c.thread.join(30)
        c.stop_all()


def test_chaos_scan_accounts_for_every_attempt_once(chaos, tmp_path, capsys, record_property):
    c = chaos
    http_json(c.llm_url + "/_reset", {})
    # every LLM call takes LLM_DELAY_S (an API's latency): the scan lasts
    # long enough for the chaos, and role workers are often killed mid-call
    http_json(c.llm_url + "/_script", llm_script(TASKS, delay=LLM_DELAY_S))
    run = f"chaos-{os.getpid()}"
    cmd = [GEAK, "run", "--broker", c.endpoint, "--tasks", str(c.tasks), "--run-id", run,
           "--k", str(K), "--iterations", str(ITERATIONS), "--concurrency", "8"]
    run_log = c.logs / "geak-run.log"
    err = open(run_log, "wb")
    t_scan = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT,
                         env=dict(os.environ, **c.env))
    deadline = c.t0 + BUDGET_S
    c.redis_after = len(TASKS) * K * ITERATIONS // 4       # mid-scan
    chaos_thread = threading.Thread(target=c.run_chaos, args=(run, deadline - 20), daemon=True)
    chaos_thread.start()
    c.thread = chaos_thread
    try:
        out, _ = p.communicate(timeout=max(5.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        c.stop.set()
        chaos_thread.join(30)
        partial = audit(c.store, run, TASKS, K, ITERATIONS)
        pytest.fail(f"the chaos scan did not finish within the test's {BUDGET_S} s budget "
                    f"(killed: {c.killed}, redis restarts: {c.redis_restarts}); stored so far: "
                    f"{partial['attempts']}/{partial['expected']}; run log "
                    f"{run_log}:\n{run_log.read_text(errors='replace')[-3000:]}")
    finally:
        err.close()
    scan_s = time.monotonic() - t_scan
    c.stop.set()
    chaos_thread.join(30)
    assert not chaos_thread.is_alive(), "the chaos thread did not stop"
    assert c.error is None, f"the chaos thread failed: {c.error!r}"
    log = run_log.read_text(errors="replace")
    assert p.returncode == 0, f"geak run exited {p.returncode}:\n{log[-4000:]}"
    summary = json.loads(out.decode().splitlines()[-1])
    assert summary["status"] == "done", summary

    result = audit(c.store, run, TASKS, K, ITERATIONS)
    killed = sum(c.killed.values())
    requeued = broker_stats(c.endpoint).get("requeued", -1)
    llm_calls = len(http_json(c.llm_url + "/_requests"))
    counts = {"workers_killed": killed, "redis_restarts": c.redis_restarts,
              "attempts": result["attempts"], "expected": result["expected"],
              "lost": result["lost"], "duplicated": result["duplicated"],
              "killed_by_kind": c.killed, "broker_requeued": requeued, "llm_calls": llm_calls,
              "scan_s": round(scan_s, 1), "counters": result["counters"],
              "problems": result["problems"]}
    (tmp_path / "chaos_counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    line = (f"chaos: seed={getattr(c, 'seed', '?')} workers_killed={killed} redis_restarts={c.redis_restarts} "
            f"attempts={result['attempts']} lost={result['lost']} "
            f"duplicated={result['duplicated']} evaluators_killed={c.killed['evaluator']} "
            f"roles_killed={killed - c.killed['evaluator']} requeued={requeued} "
            f"llm_calls={llm_calls} scan_s={scan_s:.1f} json={tmp_path / 'chaos_counts.json'}")
    record_property("chaos", line)         # in the junit XML of tests/run.py
    with capsys.disabled():                 # on the terminal even when output is captured
        print("\n" + line, flush=True)

    assert result["problems"] == [], result["problems"]
    assert result["attempts"] == result["expected"] == len(TASKS) * K * ITERATIONS
    assert result["lost"] == 0 and result["duplicated"] == 0
    # the chaos happened: Redis once, workers several times, while the scan ran
    assert c.redis_restarts == 1, "the scan ended before Redis could be restarted"
    assert killed >= 3, f"only {killed} workers were killed: the scan was too short"
    # no candidate was ever failed by the chaos: only the scripted mismatches
    assert sum(1 for line in log.splitlines() if "lineage_stuck" in line) == 0, log[-3000:]
    c.stop_all()
    assert sanitizer_reports(str(c.logs)) == []
