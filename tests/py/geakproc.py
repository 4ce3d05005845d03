"""Process helpers shared by the cross-process tests: free ports, starting
geak binaries, and waiting for conditions with a bounded deadline (polling a
condition, never sleeping a fixed time to synchronise)."""
import json
import os
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GEAK_BUILD", os.path.join(ROOT, "build", "san"))
BIN = os.path.join(BUILD, "bin")


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
