"""Cross-process tests of the GMDP/1 transport: a real geak-broker, real
testworker and testclient processes over tcp on 127.0.0.1.

The build directory comes from $GEAK_BUILD (default build/san). No sleeps
as synchronisation: every wait reads a stdout line or polls a condition
with a bounded deadline."""
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GEAK_BUILD", os.path.join(ROOT, "build", "san"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
BROKER = os.path.join(BUILD, "bin", "geak-broker")
WORKER = os.path.join(BUILD, "tests", "testworker")
CLIENT = os.path.join(BUILD, "tests", "testclient")

HB = ["--heartbeat-ms", "100", "--liveness", "5"]

pytestmark = pytest.mark.skipif(
    not all(os.access(p, os.X_OK) for p in (BROKER, WORKER, CLIENT)),
    reason=f"transport binaries not built in {BUILD}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env():
    env = dict(os.environ)
    env.setdefault("GEAK_LOG_LEVEL", "info")
    # a process we kill -9 cannot report leaks; the others must exit clean
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
    return env


class Proc:
    """A child process whose stdout lines are collected by a reader thread."""

    def __init__(self, args, logdir, name, env=None):
        self.name = name
        self.args = args
        self.lines = queue.Queue()
        self.seen = []
        self.stderr_path = os.path.join(logdir, f"{name}.stderr")
        self.stderr = open(self.stderr_path, "w")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr,
                                  text=True, env=dict(child_env(), **(env or {})), cwd=ROOT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, pattern, timeout=10.0):
        """Return the first new line matching pattern (regex), or fail."""
        rx = re.compile(pattern)
        for line in self.seen:
            if rx.search(line):
                self.seen.remove(line)
                return line
        until = time.monotonic() + timeout
        while True:
            left = until - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no line matching {pattern!r} in {timeout}s; "
                                     f"stderr: {self.tail()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"{self.name} exited ({self.p.poll()}) before {pattern!r}; "
                                     f"stderr: {self.tail()}")
            if rx.search(line):
                return line
            self.seen.append(line)

    def all_lines(self, timeout=30.0):
        """Wait for exit, return every stdout line."""
        self.p.wait(timeout=timeout)
        self.reader.join(timeout=5)
        out = list(self.seen)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                out.append(line)
        return out

    def tail(self):
        self.stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()[-3000:]

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=10)

    def stop(self):
        """SIGTERM, and the exit status must be 0 (sanitizers included)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=15)
        return rc


@pytest.fixture
def procs(tmp_path):
    started = []

    def spawn(args, name, env=None):
        p = Proc(args, str(tmp_path), name, env)
        started.append(p)
        return p

    yield spawn
    for p in started:
        if p.p.poll() is None:
            p.p.kill()
            p.p.wait(timeout=10)
        p.stderr.close()


def start_broker(spawn, port, *extra, name="broker", env=None, cache="any"):
    # the echo bodies are not Envelopes: keep them for retries all the same
    b = spawn([BROKER, "--bind", f"tcp://127.0.0.1:{port}", *HB, "--cache-bodies", cache, *extra],
              name, env)
    b.wait_line(r"^broker_ready endpoint=tcp://127\.0\.0\.1:%d$" % port)
    return b


def start_worker(spawn, port, wid, delay_ms=0, *extra):
    return spawn([WORKER, "--endpoint", f"tcp://127.0.0.1:{port}", "--id", wid,
                  "--delay-ms", str(delay_ms), *HB, "--reconnect-ms", "100", *extra], wid)


def client_args(port, *extra):
    return [CLIENT, "--endpoint", f"tcp://127.0.0.1:{port}", *extra]


def run_client(port, *extra, timeout=30, env=None):
    p = subprocess.run(client_args(port, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=dict(child_env(), **(env or {})), cwd=ROOT, timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def stats(port):
    return run_client(port, "--stats", "--deadline-ms", "5000")[0]


def wait_until(what, cond, timeout=10.0, step=0.05):
    until = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)    # polling interval, not synchronisation


def wait_workers(port, n, service="test.echo"):
    def ready():
        s = stats(port)
        svc = s["services"].get(service, {})
        return s if svc.get("idle", 0) + svc.get("busy", 0) >= n else None
    return wait_until(f"{n} workers", ready)


def replies(lines):
    return [x for x in lines if "request_id" in x]


def summary(lines):
    return [x for x in lines if x.get("summary")][-1]


def test_three_workers_share_the_load(procs):
    port = free_port()
    broker = start_broker(procs, port)
    workers = [start_worker(procs, port, f"w{i}", 20) for i in range(3)]
    wait_workers(port, 3)
    lines = run_client(port, "-n", "30", "--window", "6", "--deadline-ms", "20000")
    got = replies(lines)
    assert len(got) == 30 and all(r["status"] == "ok" for r in got)
    per_worker = summary(lines)["workers"]
    assert set(per_worker) == {"w0", "w1", "w2"}, per_worker
    assert all(n > 0 for n in per_worker.values())
    # sync mode too
    lines = run_client(port, "-n", "6", "--deadline-ms", "20000")
    assert summary(lines)["ok"] == 6
    for w in workers:
        assert w.stop() == 0, w.tail()
    assert broker.stop() == 0, broker.tail()


def test_worker_killed_mid_request_moves_to_another_worker(procs):
    port = free_port()
    broker = start_broker(procs, port)
    slow = start_worker(procs, port, "slow", 60000)
    wait_workers(port, 1)
    client = procs(client_args(port, "-n", "1", "--prefix", "move", "--deadline-ms", "20000",
                               "--retry-ms", "500"), "client")
    slow.wait_line(r"^got move-0 ")
    fast = start_worker(procs, port, "fast", 0)
    wait_workers(port, 2)
    slow.kill9()
    lines = [json.loads(x) for x in client.all_lines(timeout=20) if x.startswith("{")]
    got = replies(lines)
    assert len(got) == 1 and got[0]["status"] == "ok", got
    assert got[0]["worker"] == "fast"
    fast.wait_line(r"^got move-0 ")
    s = stats(port)
    assert s["requeued"] >= 1 and s["workers_expired"] >= 1
    assert fast.stop() == 0, fast.tail()
    assert broker.stop() == 0, broker.tail()


def test_worker_killed_and_attempts_exhausted_gives_worker_lost(procs):
    port = free_port()
    broker = start_broker(procs, port, "--max-attempts", "1")
    slow = start_worker(procs, port, "doomed", 60000)
    wait_workers(port, 1)
    t0 = time.monotonic()
    client = procs(client_args(port, "-n", "1", "--prefix", "lost", "--deadline-ms", "20000",
                               "--retry-ms", "500"), "client")
    slow.wait_line(r"^got lost-0 ")
    slow.kill9()
    lines = [json.loads(x) for x in client.all_lines(timeout=20) if x.startswith("{")]
    got = replies(lines)
    assert len(got) == 1, lines
    assert got[0]["status"] == "error" and got[0]["code"] == "worker_lost", got
    assert time.monotonic() - t0 < 10, "worker_lost must come long before the deadline"
    assert stats(port)["failed_worker_lost"] == 1
    assert broker.stop() == 0, broker.tail()


def test_broker_restart_lazy_pirate_completes_pending_request(procs):
    port = free_port()
    broker = start_broker(procs, port, name="broker1")
    worker = start_worker(procs, port, "survivor", 1000)
    wait_workers(port, 1)
    client = procs(client_args(port, "-n", "1", "--prefix", "pirate", "--deadline-ms", "25000",
                               "--retry-ms", "300"), "client")
    worker.wait_line(r"^got pirate-0 ")
    broker.kill9()
    broker2 = start_broker(procs, port, name="broker2")
    lines = [json.loads(x) for x in client.all_lines(timeout=25) if x.startswith("{")]
    got = replies(lines)
    assert len(got) == 1 and got[0]["status"] == "ok", (got, client.tail())
    assert got[0]["worker"] == "survivor"
    # the worker re-registered with the new broker
    wait_workers(port, 1)
    assert worker.stop() == 0, worker.tail()
    assert broker2.stop() == 0, broker2.tail()


def test_malformed_frames_are_rejected_and_counted(procs):
    port = free_port()
    broker = start_broker(procs, port)
    worker = start_worker(procs, port, "steady", 0)
    wait_workers(port, 1)
    for kind in ("client", "worker", "raw"):
        out = run_client(port, "--garbage", kind, "--count", "12")
        assert out[0]["sent"] == 12
    s = wait_until("malformed counted", lambda: (lambda s: s if s["malformed"] >= 36 else None)(stats(port)))
    assert s["malformed"] == 36, s
    assert s["malformed_client"] == 12 and s["malformed_worker"] == 12, s
    # the broker keeps serving, and no worker was created by the garbage
    lines = run_client(port, "-n", "5", "--window", "2", "--deadline-ms", "10000")
    assert summary(lines)["ok"] == 5
    assert stats(port)["workers"] == 1
    assert worker.stop() == 0, worker.tail()
    assert broker.stop() == 0, broker.tail()


def test_queued_request_deadline_expires(procs):
    port = free_port()
    broker = start_broker(procs, port)
    t0 = time.monotonic()
    lines = run_client(port, "--service", "nobody.home", "-n", "1", "--deadline-ms", "600",
                       "--retry-ms", "200")
    got = replies(lines)
    assert len(got) == 1 and got[0]["code"] == "deadline", got
    assert time.monotonic() - t0 < 10
    s = stats(port)
    # (a resend that crosses the expiry may be refused as late once more)
    assert s["failed_deadline"] >= 1 and s["queue_depth"] == 0 and s["requests"] == 1
    assert broker.stop() == 0, broker.tail()


def test_retried_request_id_is_executed_once(procs):
    port = free_port()
    broker = start_broker(procs, port)
    worker = start_worker(procs, port, "once", 1500)
    wait_workers(port, 1)
    # resend every 100 ms while the worker takes 1.5 s, then ask again
    lines = run_client(port, "-n", "1", "--prefix", "idem", "--retry-ms", "100",
                       "--deadline-ms", "20000", "--repeat")
    got = replies(lines)
    assert [r["status"] for r in got] == ["ok", "ok"], got
    assert all(r["worker"] == "once" for r in got)
    # a live broker answers every resend: no needless socket reopening
    assert summary(lines)["reconnects"] == 0
    s = stats(port)
    assert s["requests"] == 1 and s["duplicates"] >= 3 and s["cache_hits"] >= 1, s
    assert worker.stop() == 0, worker.tail()
    executed = [x for x in worker.all_lines() if x.startswith("got idem-0 ")]
    assert len(executed) == 1, executed
    assert broker.stop() == 0, broker.tail()


# ------------------------------------------------------------------ bounds and deadlines

def test_a_hung_worker_that_heartbeats_loses_its_request_at_the_deadline(procs):
    port = free_port()
    broker = start_broker(procs, port)
    hung = start_worker(procs, port, "hung", 4000)            # keeps heartbeating (its actor thread)
    wait_workers(port, 1)
    t0 = time.monotonic()
    lines = run_client(port, "-n", "1", "--prefix", "stuck", "--deadline-ms", "1500",
                       "--retry-ms", "300")
    took = time.monotonic() - t0
    got = replies(lines)
    assert len(got) == 1 and got[0]["code"] == "deadline", got
    assert took < 3.5, took                                   # not the worker's 4 s
    print(f"FAULT hung-worker: deadline error after {took:.2f} s (worker takes 4 s)")
    s = stats(port)
    assert s["running_expired"] == 1 and s["running"] == 0, s
    # its late answer is dropped; then it is free again and serves the next request
    hung.wait_line(r"^got stuck-0 ")
    wait_until("the late reply dropped", lambda: stats(port)["stale_replies"] >= 1, timeout=10)
    lines = run_client(port, "-n", "1", "--prefix", "after", "--deadline-ms", "20000")
    assert replies(lines)[0]["status"] == "ok"
    assert broker.stop() == 0, broker.tail()


def test_a_request_past_the_longest_run_moves_to_another_worker(procs):
    port = free_port()
    broker = start_broker(procs, port, env={"GEAK_BROKER_MAX_RUN_MS": "800"})
    slow = start_worker(procs, port, "slow", 10000)
    wait_workers(port, 1)
    fast = start_worker(procs, port, "fast", 0)
    wait_workers(port, 2)
    t0 = time.monotonic()
    lines = run_client(port, "-n", "1", "--prefix", "moved", "--deadline-ms", "20000",
                       "--retry-ms", "300")
    got = replies(lines)
    assert got[0]["status"] == "ok" and got[0]["worker"] == "fast", got
    assert time.monotonic() - t0 < 5
    slow.wait_line(r"^got moved-0 ")
    s = stats(port)
    assert s["running_expired"] == 1 and s["requeued"] >= 1, s
    assert broker.stop() == 0, broker.tail()


def test_queue_bounds_refuse_with_busy_and_no_deadline_gets_a_default(procs):
    port = free_port()
    broker = start_broker(procs, port, env={"GEAK_BROKER_SERVICE_QUEUE_MAX": "5",
                                            "GEAK_BROKER_DEFAULT_DEADLINE_MS": "1500"})
    t0 = time.monotonic()
    # nobody serves it: 5 wait (and expire at the broker's default deadline), 3 are refused
    lines = run_client(port, "--service", "nobody.home", "-n", "8", "--window", "8",
                       "--deadline-ms", "0", "--retry-ms", "300", timeout=60)
    codes = sorted(r["code"] for r in replies(lines))
    assert codes == ["busy"] * 3 + ["deadline"] * 5, codes
    assert time.monotonic() - t0 < 10
    s = stats(port)
    assert s["refused_full"] >= 3 and s["queue_depth"] == 0, s
    assert broker.stop() == 0, broker.tail()


def test_queued_requests_of_a_client_that_has_gone_are_dropped(procs):
    port = free_port()
    broker = start_broker(procs, port, env={"GEAK_BROKER_CLIENT_SILENCE_MS": "1000"})
    client = procs(client_args(port, "--service", "nobody.home", "-n", "50", "--window", "50",
                               "--deadline-ms", "0", "--retry-ms", "300"), "client")
    wait_until("50 queued", lambda: stats(port)["queue_depth"] == 50, timeout=20)
    client.kill9()
    s = wait_until("dropped", lambda: (lambda x: x if x["queue_depth"] == 0 else None)(stats(port)),
                   timeout=10)
    assert s["dropped_gone"] == 50, s
    assert broker.stop() == 0, broker.tail()


def test_a_reply_that_is_not_an_envelope_is_not_cached(procs):
    port = free_port()
    broker = start_broker(procs, port, cache="envelopes")
    worker = start_worker(procs, port, "raw", 0)
    wait_workers(port, 1)
    lines = run_client(port, "-n", "1", "--prefix", "garbage", "--deadline-ms", "20000", "--repeat")
    assert [r["status"] for r in replies(lines)] == ["ok", "ok"]
    s = stats(port)
    assert s["not_cached"] == 2 and s["cache_hits"] == 0, s
    assert worker.stop() == 0, worker.tail()
    executed = [x for x in worker.all_lines() if x.startswith("got garbage-0 ")]
    assert len(executed) == 2, executed                       # asked again, not answered from cache
    assert broker.stop() == 0, broker.tail()


def test_a_silent_broker_fails_the_client_naming_the_endpoint(procs):
    port = free_port()                                        # nothing listens there
    t0 = time.monotonic()
    lines = run_client(port, "-n", "1", "--deadline-ms", "0", "--retry-ms", "300",
                       env={"GEAK_CLIENT_SILENCE_MS": "1500"})
    got = replies(lines)
    assert len(got) == 1 and got[0]["code"] == "transport", got
    assert f"no answer from the broker at tcp://127.0.0.1:{port}" in got[0]["error"]
    took = time.monotonic() - t0
    assert took < 6
    print(f"FAULT silent-broker-client: transport error after {took:.2f} s (limit 1.5 s)")
