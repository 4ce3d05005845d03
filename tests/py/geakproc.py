"""Process helpers shared by the cross-process tests: free ports, starting
geak binaries, a scratch redis-server and the LLM double (llm_server.py),
small HTTP calls, and waiting for conditions with a bounded deadline
(polling a condition, never sleeping a fixed time to synchronise)."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GEAK_BUILD", os.path.join(ROOT, "build", "san"))
BIN = os.path.join(BUILD, "bin")
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=20.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Proc:
    """A child process whose stderr (our structured log) goes to a file."""

    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log,
                                  env=full_env, cwd=ROOT)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, needle, timeout=20.0):
        return wait_until(lambda: needle in self.log_text() or self.p.poll() is not None,
                          timeout, what=f"'{needle}' in {self.log_path}") and needle in self.log_text()

    def stop(self, sig=15, timeout=15.0):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


def geak(*args, broker, timeout=30, check=False):
    """Run the geak CLI; returns (exit code, stdout lines parsed as JSON where possible)."""
    p = subprocess.run([os.path.join(BIN, "geak"), args[0], "--broker", broker, *args[1:]],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, cwd=ROOT)
    lines = []
    for line in p.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            lines.append(line)
    if check and p.returncode != 0:
        raise AssertionError(f"geak {args} failed: {p.returncode} {p.stderr}")
    return p.returncode, lines


def start_broker(tmp_path, port=None, extra=()):
    port = port or free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    proc = Proc([os.path.join(BIN, "geak-broker"), "--bind", endpoint, *extra],
                str(tmp_path / f"broker-{port}-{time.monotonic_ns()}.log"))
    assert proc.wait_log("broker_ready"), proc.log_text()
    return proc, endpoint


class World:
    """What a module's processes share: attributes set by its fixture."""


def new_world(tmp_path_factory, name):
    """A World with a fresh directory (w.dir) and w.logs inside it."""
    w = World()
    w.dir = tmp_path_factory.mktemp(name)
    w.logs = w.dir / "logs"
    w.logs.mkdir()
    return w


def http_ok(url):
    """True when GET url answers 200; False while nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def http_json(url, body=None):
    """GET url, or POST body as JSON when given; returns the parsed answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def start_llm_double(logs):
    """tests/py/llm_server.py on a free port, logging into logs/llm_server.log;
    returns (Proc, base url) once it answers."""
    port = free_port()
    proc = Proc([sys.executable, os.path.join(HERE, "llm_server.py"), "--port", str(port)],
                str(logs / "llm_server.log"))
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(url + "/_requests"), what="llm_server")
    return proc, url


def redis_cli(port, *args):
    """redis-cli --raw against the scratch server: its stdout, stripped."""
    return subprocess.run(["redis-cli", "-p", str(port), "--raw", *args],
                          capture_output=True, text=True).stdout.strip()


def start_redis(data_dir, logs, extra=()):
    """A scratch redis-server on a free port (no persistence unless asked,
    files in data_dir, log in logs/redis.log); returns (Proc, port) once it
    answers PING."""
    port = free_port()
    proc = Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", *extra, "--dir", str(data_dir)], str(logs / "redis.log"))
    wait_until(lambda: redis_cli(port, "PING") == "PONG", what="redis-server")
    return proc, port
