"""A store that loses data, a second driver, a shutdown with Redis away:
`geak run` over real processes (redis-server, the broker, the role services
talking to tests/py/llm_server.py, the evaluator under TRITON_INTERPRET=1),
each scan audited from Redis afterwards (faultkit.audit: every expected
attempt exactly once, lineages in order, counters consistent).

Each test has its own world, so a Redis it restarts or loses is its own."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultkit import Store, audit, copy_tasks, llm_script, sanitizer_reports  # noqa: E402
from geakproc import (BIN, ROOT, Proc, free_port, http_json, start_broker,  # noqa: E402
                      start_llm_double, wait_until)

GEAK = os.path.join(BIN, "geak")
TASKS = ("gelu",)
K, N = 3, 3


class World:
    def __init__(self, tmp, aof):
        self.tmp, self.aof = tmp, aof
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.tasks = tmp / "tasks"
        copy_tasks(str(self.tasks), TASKS)
        (tmp / "key").write_text("sk-test-store-faults\n")
        self.redis_dir = tmp / "redis"
        self.redis_dir.mkdir()
        self.redis_port = free_port()
        self.store = Store("127.0.0.1", self.redis_port)
        self.seq = 0
        self.start_redis()
        self.llm, self.llm_url = start_llm_double(self.logs)
        http_json(self.llm_url + "/_script", llm_script(TASKS, delay=0.4))
        self.broker, self.endpoint = start_broker(self.logs)
        self.env = {"GEAK_REDIS_HOST": "127.0.0.1", "GEAK_REDIS_PORT": str(self.redis_port),
                    "GEAK_TASKS": str(self.tasks), "GEAK_LOG_LEVEL": "info", "TRITON_INTERPRET": "1",
                    "GEAK_BROKER": self.endpoint}
        role_env = dict(self.env, GEAK_LLM_PROVIDER="openai", GEAK_LLM_MODEL="test-model",
                        GEAK_LLM_BASE_URL=self.llm_url + "/v1", GEAK_LLM_API_KEY_FILE=str(tmp / "key"),
                        GEAK_LLM_BACKOFF_MS="20", GEAK_LLM_BACKOFF_MAX_MS="100", GEAK_LLM_STREAM="0")
        self.procs = [Proc([os.path.join(BIN, f"geak-{r}"), "--broker", self.endpoint, "--threads", "3"],
                           str(self.logs / f"{r}.log"), env=role_env)
                      for r in ("generator", "reflector", "optimizer")]
        self.procs.append(Proc([os.path.join(BIN, "geak-evaluator"), "--broker", self.endpoint,
                                "--tasks", str(self.tasks), "--interpret", "--threads", "2"],
                               str(self.logs / "evaluator.log"), env=self.env))
        for p in self.procs:
            assert p.wait_log("worker_started", timeout=120), p.log_text()[-2000:]

    def start_redis(self, aof=None):
        self.seq += 1
        aof = self.aof if aof is None else aof
        self.redis = Proc(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "yes" if aof else "no",
                           "--appendfsync", "always", "--dir", str(self.redis_dir)],
                          str(self.logs / f"redis-{self.seq}.log"))
        wait_until(self.store.ping, timeout=20, what="redis-server answering PING")

    def stop_redis(self, how="SHUTDOWN NOSAVE"):
        if how == "kill":
            self.redis.p.send_signal(signal.SIGKILL)
        else:
            self.store.cmd(*how.split())
        self.redis.p.wait(timeout=20)
        self.redis.log.close()

    def run(self, run_id, *args, resume=False, env=None):
        cmd = [GEAK, "run", "--broker", self.endpoint]
        cmd += ["--resume", run_id] if resume else ["--tasks", str(self.tasks), "--run-id", run_id,
                                                      "--k", str(K), "--iterations", str(N)]
        self.seq += 1
        err = open(self.logs / f"run-{run_id}-{self.seq}.log", "wb")
        p = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=err, cwd=ROOT,
                             env=dict(os.environ, **self.env, **(env or {})))
        p.err_path = err.name
        return p

    def finish(self, p, timeout=120):
        out, _ = p.communicate(timeout=timeout)
        text = open(p.err_path, errors="replace").read()
        lines = [l for l in out.decode().splitlines() if l.strip()]
        return p.returncode, (json.loads(lines[-1]) if lines else None), text

    def attempts(self, run_id):
        return len(self.store.attempt_keys(run_id))

    def started(self, run_id, n):
        """geak run of run_id once it has stored n attempts (and still runs)."""
        p = self.run(run_id)
        wait_until(lambda: self.attempts(run_id) >= n or p.poll() is not None, timeout=120,
                   interval=0.05, what=f"{n} attempts of {run_id}")
        assert p.poll() is None, "the scan ended before the fault: make it slower"
        return p

    def geak(self, *args, timeout=60):
        return subprocess.run([GEAK, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env=dict(os.environ, **self.env))

    def close(self):
        for p in self.procs + [self.broker, self.llm, self.redis]:
            if p.p.poll() is None:
                p.stop()
        assert sanitizer_reports(str(self.logs)) == []


@pytest.fixture
def world(tmp_path, request):
    w = World(tmp_path, aof=getattr(request, "param", True))
    yield w
    w.close()


@pytest.mark.parametrize("world", [False], indirect=True)
def test_redis_restarted_from_an_older_snapshot_stops_the_run_and_resume_repairs_it(world):
    w = world
    run = "t-older"
    p = w.run(run)
    wait_until(lambda: w.attempts(run) >= 3 or p.poll() is not None, timeout=120, interval=0.05,
               what="a few attempts")
    assert w.store.cmd("SAVE") == "OK"                        # the snapshot Redis will come back from
    saved = w.attempts(run)
    wait_until(lambda: w.attempts(run) >= saved + 2 or p.poll() is not None, timeout=120,
               interval=0.05, what="attempts after the snapshot")
    assert p.poll() is None, "the scan ended before the restart: make it slower"
    w.stop_redis("SHUTDOWN NOSAVE")
    w.start_redis()                                           # loads dump.rdb: the older state
    t0 = time.monotonic()
    rc, summary, log = w.finish(p)
    assert rc == 1 and summary["status"] == "failed", (summary, log[-3000:])
    took = time.monotonic() - t0
    assert took < 30
    assert "store_lost" in log and "the store lost attempts" in log, log[-3000:]
    print(f"FAULT redis-older-snapshot: stopped {took:.1f} s after the restart")
    assert "warning: Redis runs without AOF" in log
    # the store says what it holds; it is a consistent older state
    c = w.geak("store", "check", run)
    assert c.returncode == 0 and f"{K} lineages" in c.stdout and "0 problems" in c.stdout, c.stdout
    rc, summary, log = w.finish(w.run(run, resume=True))
    assert rc == 0 and summary["status"] == "done", log[-3000:]
    a = audit(w.store, run, TASKS, K, N)
    assert a["problems"] == [] and a["lost"] == 0 and a["duplicated"] == 0, a
    print(f"FAULT redis-older-snapshot: after --resume expected={a['expected']} found={a['attempts']} "
          f"lost={a['lost']} duplicated={a['duplicated']}")
    c = w.geak("store", "check", run)
    assert c.returncode == 0 and f"{K} complete" in c.stdout, c.stdout


@pytest.mark.parametrize("world", [False], indirect=True)
def test_redis_restarted_empty_stops_the_run_and_resume_says_it_cannot(world):
    w = world
    run = "t-empty"
    p = w.started(run, 2)
    w.stop_redis("SHUTDOWN NOSAVE")
    w.start_redis()
    rc, summary, log = w.finish(p)
    assert rc == 1 and summary["status"] == "failed", (summary, log[-3000:])
    assert "is gone from the store" in log
    assert w.attempts(run) == 0                               # nothing written into a run that is gone
    rc, summary, log = w.finish(w.run(run, resume=True))
    assert rc == 1 and "is not in the store" in log and "it cannot be resumed" in log, log[-2000:]


def test_a_second_driver_of_a_live_run_is_refused(world):
    w = world
    run = "t-two"
    first = w.run(run)
    wait_until(lambda: w.attempts(run) >= 1 or first.poll() is not None, timeout=120, interval=0.05,
               what="the first driver started")
    t0 = time.monotonic()
    rc, summary, log = w.finish(w.run(run, resume=True))
    took = time.monotonic() - t0
    assert rc == 1 and took < 15, log[-2000:]
    print(f"FAULT second-driver: refused in {took:.2f} s")
    assert f"run {run} is being driven by geak run on" in log and f"pid {first.pid}" in log
    rc, summary, log = w.finish(first)
    assert rc == 0 and summary["status"] == "done", log[-3000:]
    assert audit(w.store, run, TASKS, K, N)["problems"] == []
    # the lease was given back: resuming a finished run goes through (and does nothing)
    rc, summary, log = w.finish(w.run(run, resume=True))
    assert rc == 0 and summary["attempts_new"] == 0, log[-2000:]


def test_sigterm_while_redis_is_down_stops_within_5_s_and_resume_finishes(world):
    w = world
    run = "t-term"
    p = w.started(run, 3)
    w.stop_redis("kill")
    # a store write meets the dead Redis and waits for it
    wait_until(lambda: "event=store_conn" in open(p.err_path, errors="replace").read()
               or p.poll() is not None, timeout=60, interval=0.05, what="a write waiting for Redis")
    assert p.poll() is None
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc, summary, log = w.finish(p, timeout=30)
    took = time.monotonic() - t0
    assert took < 5, (took, log[-3000:])
    print(f"FAULT sigterm-redis-down: exited {took:.2f} s after SIGTERM")
    assert rc == 130 and summary["status"] == "interrupted", (summary, log[-3000:])
    assert "attempts saved by this invocation" in log and f"--resume {run}" in log
    w.start_redis()                                           # AOF: what was acknowledged is back
    rc, summary, log = w.finish(w.run(run, resume=True))
    assert rc == 0 and summary["status"] == "done", log[-3000:]
    a = audit(w.store, run, TASKS, K, N)
    assert a["problems"] == [], a
    print(f"FAULT sigterm-redis-down: after --resume expected={a['expected']} found={a['attempts']} "
          f"lost={a['lost']} duplicated={a['duplicated']}")


@pytest.mark.parametrize("world", [False], indirect=True)
def test_require_durable_refuses_a_redis_without_aof(world):
    w = world
    rc, summary, log = w.finish(w.run("t-durable", "--require-durable"))
    assert rc == 1 and "error: Redis runs without AOF" in log, log[-2000:]
    assert w.store.cmd("EXISTS", "geak:run:t-durable") == "0"


# ------------------------------------------------------------------ dead endpoints

def test_a_broker_lost_for_good_mid_scan_stops_the_run_resumable(world):
    w = world
    run = "t-nobroker"
    p = w.started(run, 2)
    port = int(w.endpoint.rsplit(":", 1)[1])
    w.broker.p.send_signal(signal.SIGKILL)
    w.broker.p.wait()
    t0 = time.monotonic()
    rc, summary, log = w.finish(p, timeout=90)
    took = time.monotonic() - t0
    assert rc == 1 and summary["status"] == "failed", (summary, log[-3000:])
    assert took < 45, took                                    # 20 s of silence, not for ever
    print(f"FAULT broker-lost: run stopped {took:.1f} s after the broker died")
    assert f"no answer from the broker at {w.endpoint}" in log
    assert "level=warn" in log and "event=client_broker_silent" in log
    assert w.store.status(run) == "failed"
    # the broker comes back where the workers look for it: the run resumes and ends
    w.broker, _ = start_broker(w.logs, port=port)
    wait_until(lambda: "workers\":" in w.geak("stats", "--broker", w.endpoint).stdout,
               timeout=30, what="broker stats")
    rc, summary, log = w.finish(w.run(run, resume=True))
    assert rc == 0 and summary["status"] == "done", log[-3000:]
    assert audit(w.store, run, TASKS, K, N)["problems"] == []


def test_no_broker_at_the_endpoint_fails_in_seconds(world):
    w = world
    dead = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    p = subprocess.run([GEAK, "run", "--broker", dead, "--tasks", str(w.tasks), "--run-id", "t-dead",
                        "--k", "1", "--iterations", "1"], capture_output=True, text=True, timeout=60,
                       cwd=ROOT, env=dict(os.environ, **w.env))
    took = time.monotonic() - t0
    assert p.returncode == 1 and took < 10, p.stderr[-2000:]
    print(f"FAULT dead-broker-endpoint: geak run failed in {took:.2f} s")
    assert f"no broker answers at {dead}" in p.stderr
    assert w.store.cmd("EXISTS", "geak:run:t-dead") == "0"


def test_a_service_without_workers_stops_the_run_after_its_limit(world):
    w = world
    for proc in w.procs:
        if "optimizer" in proc.args[0]:
            proc.stop()
    run = "t-noopt"
    t0 = time.monotonic()
    rc, summary, log = w.finish(w.run(run, env={"GEAK_RUN_NO_WORKER_MS": "4000"}), timeout=120)
    assert rc == 1 and summary["status"] == "failed", (summary, log[-3000:])
    assert "no geak.optimizer worker has been registered at the broker for" in log
    assert time.monotonic() - t0 < 60
    assert "failed" == w.store.status(run)
