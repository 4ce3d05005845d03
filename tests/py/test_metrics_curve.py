"""Observability endpoints and ZeroMQ CURVE across real processes
(docs/observability.md, docs/transport.md "CURVE").

- a real geak-broker and a real geak-generator (LLM replies from the local
  tests/py/llm_server.py double) serve /metrics, /healthz and /readyz; the
  counters move with real requests, histograms stay consistent, /readyz flips
  to 200 once the service is registered, garbage HTTP gets 400 and the
  server keeps serving;
- a CURVE broker with an authorized-keys file, testworker / testclient
  processes with key pairs made by `geak keygen`: authorized peers
  round-trip, an unauthorized key, a plain client and a worker holding the
  wrong server key are refused (and counted); no secret key appears in any
  log.

No sleeps as synchronisation: every wait polls a condition with a deadline."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from geakproc import BIN, BUILD, ROOT, Proc, free_port, wait_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD), "tests")
WORKER = os.path.join(TESTS, "testworker")
CLIENT = os.path.join(TESTS, "testclient")
ROLETOOL = os.path.join(TESTS, "roletool")
GEAK = os.path.join(BIN, "geak")
HB = ["--heartbeat-ms", "100"]
BROKER_HB = HB + ["--liveness", "5"]

pytestmark = pytest.mark.skipif(
    not all(os.access(p, os.X_OK) for p in (os.path.join(BIN, "geak-broker"), WORKER, CLIENT,
                                            ROLETOOL, GEAK)),
    reason=f"binaries not built in {BUILD}")

KERNEL = "import torch\n\ndef vector_add(x, y):\n    return x + y\n"
TASK = {"name": "vector_add", "instruction": "Add two float32 vectors element-wise.",
        "signature": "def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor"}


# ------------------------------------------------------------------ helpers

def child_env(extra=None):
    env = {"GEAK_LOG_LEVEL": "info", "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1"}
    env.update(extra or {})
    return env


def metrics_port(proc):
    """The HTTP port a daemon logged in its metrics_ready line."""
    def found():
        m = re.search(r"event=metrics_ready \S+ port=(\d+)", proc.log_text())
        if not m and proc.p.poll() is not None:
            raise AssertionError(f"exited before metrics_ready: {proc.log_text()[-2000:]}")
        return int(m.group(1)) if m else None
    return wait_until(found, what="metrics_ready")


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(), dict(r.getheaders())
    finally:
        conn.close()


def raw_http(port, data):
    """Send raw bytes, return the status code of the answer (0 if none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
        except OSError:
            pass        # the server may answer and close before reading it all
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", out)
    return int(m.group(1)) if m else 0


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels)): value}, checking the text format on the way."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, f"bad sample line {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(m.group(3))
    return samples, types


def scrape(port):
    status, text, headers = http_get(port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(text)[0]


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def check_histogram(samples, name, **labels):
    """Cumulative buckets never decrease; +Inf bucket == _count; returns count."""
    buckets = []
    for (n, ls), v in samples.items():
        d = dict(ls)
        le = d.pop("le", None)
        if n == name + "_bucket" and d == labels:
            buckets.append((float("inf") if le == "+Inf" else float(le), v))
    assert buckets, f"no buckets for {name} {labels}"
    buckets.sort()
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), buckets
    assert buckets[-1][0] == float("inf")
    count = value(samples, name + "_count", **labels)
    assert buckets[-1][1] == count, (buckets[-1], count)
    assert value(samples, name + "_sum", **labels) >= 0
    return count


# ------------------------------------------------------------------ observability

@pytest.fixture
def llm(tmp_path):
    port = free_port()
    proc = Proc([sys.executable, os.path.join(HERE, "llm_server.py"), "--port", str(port)],
                str(tmp_path / "llm_server.log"))
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return http_get(port, "/_requests")[0] == 200
        except OSError:
            return False
    wait_until(up, what="llm_server")
    yield url, port
    proc.stop()


def llm_script(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/_script", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()


def test_broker_and_service_endpoints_under_load(tmp_path, llm):
    llm_url, llm_port = llm
    key = tmp_path / "key"
    key.write_text("sk-test-metrics-0123456789\n")
    llm_script(llm_port, {"actions": [], "default": {
        "kind": "reply", "text": f"Here:\n```python\n{KERNEL}```\n", "tokens_in": 100,
        "tokens_out": 50}})
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    service = "geak.generator.metrics"
    # the service first, against a broker that is not there yet: alive, not ready
    gen = Proc([os.path.join(BIN, "geak-generator"), "--broker", endpoint, "--service", service,
                "--metrics-bind", "127.0.0.1:0", *HB],
               str(tmp_path / "generator.log"),
               env=child_env({"GEAK_LLM_PROVIDER": "openai", "GEAK_LLM_MODEL": "test-model",
                              "GEAK_LLM_BASE_URL": llm_url + "/v1",
                              "GEAK_LLM_API_KEY_FILE": str(key), "GEAK_REDIS_HOST": "",
                              "GEAK_REDIS_PORT": ""}))
    gport = metrics_port(gen)
    assert http_get(gport, "/healthz")[0] == 200
    status, body, _ = http_get(gport, "/readyz")
    assert status == 503 and "registered" in body, body
    broker = Proc([os.path.join(BIN, "geak-broker"), "--bind", endpoint, "--metrics-bind",
                   "127.0.0.1:0", *BROKER_HB], str(tmp_path / "broker.log"), env=child_env())
    bport = metrics_port(broker)
    assert broker.wait_log("broker_ready")
    # (ready once every endpoint is bound: just after the last broker_ready line)
    wait_until(lambda: http_get(bport, "/readyz")[0] == 200, what="broker /readyz 200")
    assert http_get(bport, "/healthz")[0] == 200
    # the service registers: /readyz flips
    wait_until(lambda: http_get(gport, "/readyz")[0] == 200, what="service /readyz 200")
    before = scrape(bport)
    assert value(before, "geak_broker_requests_total", service=service) == 0
    wait_until(lambda: value(scrape(bport), "geak_broker_workers", service=service,
                             state="idle") == 1, what="idle worker gauge")

    # load: 6 generate requests at once (one worker thread: they queue), and
    # one malformed body
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"task": TASK, "lineage": {"run_id": "m1"}}))
    results = []

    def one():
        p = subprocess.run([ROLETOOL, "--broker", endpoint, "--service", service,
                            "--timeout-ms", "60000", "generate", str(spec)],
                           capture_output=True, text=True, timeout=90, cwd=ROOT)
        results.append((p.returncode, p.stdout, p.stderr))
    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for rc, out, err in results:
        assert rc == 0, err
        assert json.loads(out.strip().splitlines()[-1])["body"] == "role_reply", out
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\xff\xfe not a protobuf envelope")
    p = subprocess.run([GEAK, "call", "--broker", endpoint, "--body-file", str(garbage), service],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "malformed" in p.stdout + p.stderr, (p.stdout, p.stderr)

    # the service's view (counted after the reply went out: poll)
    def service_done():
        s = scrape(gport)
        return s if value(s, "geak_service_requests_total", service=service,
                          kind="malformed") == 1 else None
    s = wait_until(service_done, what="service counters")
    wait_until(lambda: value(scrape(gport), "geak_service_requests_total", service=service,
                             kind="generate") == 6, what="6 generate requests counted")
    s = scrape(gport)
    assert value(s, "geak_service_llm_tokens_total", service=service, direction="in") == 600
    assert value(s, "geak_service_llm_tokens_total", service=service, direction="out") == 300
    assert value(s, "geak_service_role_replies_total", service=service, **{"class": "ok"}) == 6
    assert value(s, "geak_service_errors_total", service=service, code="malformed") == 1
    assert check_histogram(s, "geak_service_request_duration_seconds", service=service,
                           kind="generate") == 6
    assert value(s, "geak_service_threads", service=service) == 1
    assert value(s, "geak_service_registered_threads", service=service) == 1
    assert value(s, "geak_service_busy_threads", service=service) == 0
    assert value(s, "geak_build_info", version="0.1.0", role="generator") == 1

    # the broker's view
    b = scrape(bport)
    assert value(b, "geak_broker_requests_total", service=service) == 7
    assert value(b, "geak_broker_replies_total", service=service) == 7
    assert check_histogram(b, "geak_broker_request_duration_seconds", service=service) == 7
    assert value(b, "geak_broker_queue_depth", service=service) == 0
    assert value(b, "geak_broker_workers", service=service, state="idle") == 1
    assert value(b, "geak_broker_workers", service=service, state="busy") == 0
    assert value(b, "geak_broker_errors_total", **{"class": "worker_lost"}) == 0
    assert value(b, "geak_broker_curve_enabled") == 0

    # garbage HTTP: the right status each time, and the server keeps serving
    for port_ in (bport, gport):
        assert raw_http(port_, b"GARBAGE\r\n\r\n") == 400
        assert raw_http(port_, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n") == 400
        assert raw_http(port_, b"GET /metrics HTTP/1.1\r\n\r\n") == 400      # no Host
        assert raw_http(port_, b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n") == 400
        assert raw_http(port_, b"POST /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi") == 405
        assert raw_http(port_, b"GET /nowhere HTTP/1.0\r\n\r\n") == 404
        assert raw_http(port_, b"GET /" + b"a" * 9000) == 431
        assert raw_http(port_, b"GET / HTTP/3.0\r\n\r\n") == 505
        assert http_get(port_, "/healthz")[0] == 200
    assert gen.stop() == 0, gen.log_text()[-3000:]
    assert broker.stop() == 0, broker.log_text()[-3000:]


# ------------------------------------------------------------------ CURVE

def keygen(path):
    p = subprocess.run([GEAK, "keygen", str(path)], capture_output=True, text=True, timeout=30,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr
    public = p.stdout.strip()
    assert len(public) == 40 and "secret" not in p.stdout + p.stderr
    text = path.read_text()
    assert f"public={public}\n" in text and (os.stat(path).st_mode & 0o777) == 0o600
    secret = re.search(r"^secret=(\S+)$", text, re.M).group(1)
    return public, secret


def run_client(tmp_path, name, port, env, *args, timeout=60):
    """testclient as a process; returns its JSON lines; its stderr is kept."""
    full = dict(os.environ)
    full.update(child_env(env))
    p = subprocess.run([CLIENT, "--endpoint", f"tcp://127.0.0.1:{port}", *args],
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=full)
    (tmp_path / f"{name}.log").write_text(p.stdout + p.stderr)
    assert p.returncode == 0, p.stderr[-3000:]
    return [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]


def test_curve_admits_authorized_keys_only(tmp_path):
    keys = {n: keygen(tmp_path / f"{n}.key")
            for n in ("broker", "worker", "client", "stranger", "worker2")}
    (tmp_path / "broker.pub").write_text(keys["broker"][0] + "\n")
    (tmp_path / "authorized").write_text(
        "# workers and clients of this test\n"
        f"{keys['worker'][0]}\npublic={keys['client'][0]}\n{keys['worker2'][0]}\n")
    port = free_port()
    broker = Proc([os.path.join(BIN, "geak-broker"), "--bind", f"tcp://127.0.0.1:{port}",
                   "--metrics-bind", "127.0.0.1:0", *BROKER_HB], str(tmp_path / "broker.log"),
                  env=child_env({"GEAK_CURVE_KEY_FILE": str(tmp_path / "broker.key"),
                                 "GEAK_CURVE_AUTHORIZED_FILE": str(tmp_path / "authorized")}))
    bport = metrics_port(broker)
    assert broker.wait_log("broker_ready")
    b = scrape(bport)
    assert value(b, "geak_broker_curve_enabled") == 1
    assert value(b, "geak_broker_curve_authorized_keys") == 3

    worker_env = child_env({"GEAK_CURVE_KEY_FILE": str(tmp_path / "worker.key"),
                            "GEAK_CURVE_SERVER_PUBLIC": keys["broker"][0]})
    worker = Proc([WORKER, "--endpoint", f"tcp://127.0.0.1:{port}", "--id", "cw", *HB,
                   "--reconnect-ms", "100"], str(tmp_path / "worker.log"), env=worker_env)
    wait_until(lambda: value(scrape(bport), "geak_broker_workers", service="test.echo",
                             state="idle") == 1, what="CURVE worker registered")

    # an authorized client: requests round-trip
    client_env = {"GEAK_CURVE_KEY_FILE": str(tmp_path / "client.key"),
                  "GEAK_CURVE_SERVER_PUBLIC_FILE": str(tmp_path / "broker.pub")}
    lines = run_client(tmp_path, "client", port, client_env, "-n", "3", "--deadline-ms", "20000")
    got = [x for x in lines if "request_id" in x]
    assert len(got) == 3 and all(r["status"] == "ok" and r["worker"] == "cw" for r in got), got

    # a valid key pair that is not authorized: no reply before the deadline
    refused0 = value(scrape(bport), "geak_broker_curve_refused_total", reason="unauthorized_key")
    stranger_env = {"GEAK_CURVE_KEY_FILE": str(tmp_path / "stranger.key"),
                    "GEAK_CURVE_SERVER_PUBLIC": keys["broker"][0]}
    lines = run_client(tmp_path, "stranger", port, stranger_env, "-n", "1",
                       "--deadline-ms", "1500", "--retry-ms", "500")
    got = [x for x in lines if "request_id" in x]
    assert len(got) == 1 and got[0]["status"] == "error" and got[0]["code"] == "timeout", got
    wait_until(lambda: value(scrape(bport), "geak_broker_curve_refused_total",
                             reason="unauthorized_key") > refused0, what="refusal counted")
    assert "event=curve_refused" in broker.log_text()

    # a plain client: refused too
    failed0 = value(scrape(bport), "geak_broker_curve_refused_total", reason="handshake_failed")
    lines = run_client(tmp_path, "plain", port, {}, "-n", "1", "--deadline-ms", "1500",
                       "--retry-ms", "500")
    got = [x for x in lines if "request_id" in x]
    assert len(got) == 1 and got[0]["code"] == "timeout", got
    failed1 = wait_until(lambda: (lambda v: v if v > failed0 else None)(
        value(scrape(bport), "geak_broker_curve_refused_total", reason="handshake_failed")),
        what="plain handshake counted")

    # an authorized worker holding the wrong server public key never registers
    wrong = Proc([WORKER, "--endpoint", f"tcp://127.0.0.1:{port}", "--id", "wrong", "--service",
                  "test.wrong", *HB, "--reconnect-ms", "100"], str(tmp_path / "wrong.log"),
                 env=child_env({"GEAK_CURVE_KEY_FILE": str(tmp_path / "worker2.key"),
                                "GEAK_CURVE_SERVER_PUBLIC": keys["stranger"][0]}))
    # it keeps trying (each try is a failed handshake), and is never a worker
    wait_until(lambda: value(scrape(bport), "geak_broker_curve_refused_total",
                             reason="handshake_failed") >= failed1 + 3,
               what="the wrong-key worker's attempts")
    b = scrape(bport)
    assert value(b, "geak_broker_workers", service="test.wrong", state="idle") == 0
    assert "service=test.wrong" not in broker.log_text()
    assert wrong.p.poll() is None

    # the authorized pair still works after all that
    lines = run_client(tmp_path, "client2", port, client_env, "-n", "1", "--deadline-ms", "20000")
    assert [x["status"] for x in lines if "request_id" in x] == ["ok"]

    assert wrong.stop() == 0, wrong.log_text()[-3000:]
    assert worker.stop() == 0, worker.log_text()[-3000:]
    assert broker.stop() == 0, broker.log_text()[-3000:]
    # no secret key in any log, and public keys only as fingerprints in the broker's
    logs = {f.name: f.read_text(errors="replace") for f in tmp_path.iterdir()
            if f.suffix == ".log"}
    assert {"broker.log", "worker.log", "wrong.log", "client.log", "stranger.log",
            "plain.log"} <= set(logs)
    for name, (public, secret) in keys.items():
        for log_name, text in logs.items():
            assert secret not in text, f"{name}'s secret key in {log_name}"
    assert keys["stranger"][0] not in logs["broker.log"]


def test_curve_misconfiguration_fails_closed(tmp_path):
    public, _ = keygen(tmp_path / "broker.key")
    # a server key without an authorized-keys file: the broker refuses to start
    p = subprocess.run([os.path.join(BIN, "geak-broker"), "--bind",
                        f"tcp://127.0.0.1:{free_port()}"], capture_output=True, text=True,
                       timeout=30, cwd=ROOT,
                       env={**os.environ, **child_env({"GEAK_CURVE_KEY_FILE":
                                                       str(tmp_path / "broker.key")})})
    assert p.returncode == 2 and "broker_ready" not in p.stdout
    # a client with a server key but no key pair: no silent plain TCP
    full = {**os.environ, **child_env({"GEAK_CURVE_SERVER_PUBLIC": public})}
    p = subprocess.run([CLIENT, "--endpoint", f"tcp://127.0.0.1:{free_port()}", "-n", "1",
                        "--deadline-ms", "500"], capture_output=True, text=True, timeout=30,
                       cwd=ROOT, env=full)
    assert p.returncode != 0 and "curve_config_incomplete" in p.stderr
    # keygen never overwrites silently
    p = subprocess.run([GEAK, "keygen", str(tmp_path / "broker.key")], capture_output=True,
                       text=True, timeout=30, cwd=ROOT)
    assert p.returncode == 1 and "exists" in p.stderr
