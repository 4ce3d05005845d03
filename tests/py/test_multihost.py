"""geak-c across hosts on one machine: network namespaces as hosts.

Topology (names unique per test run; everything lives outside the root
namespace, which is never touched):

    switch ns: bridge br0 ── veth ── host A 10.231.0.1  redis-server, geak-broker, geak run
                          ── veth ── host B 10.231.0.2  geak-evaluator (TRITON_INTERPRET=1)
                          ── veth ── host C 10.231.0.3  geak-generator, -reflector, -optimizer,
                                                        the LLM double on C's 127.0.0.1

Every process reaches the others through the bridge only (the roles keep
their prompts in A's Redis over the link). Tests:
  - a scan (gelu, row_sum, vector_add, k=2, 3 iterations) completes across
    the three hosts;
  - host B's, then host C's link is cut mid-scan (its switch port set down:
    TCP sees silence, like a pulled cable) once attempts are stored, held
    until the broker has dropped that host's workers (bounded), then
    restored: the workers notice (heartbeats), reconnect and register again,
    and the scan completes with every expected attempt id exactly once,
    lineage lists in order and without duplicates, counters consistent.

Needs root and `ip netns` (CI runs as root); skipped otherwise, with the reason."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultkit import TASKS, Store, audit, copy_tasks, llm_script, sanitizer_reports  # noqa: E402
from geakproc import BIN, ROOT, Proc, wait_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GEAK = os.path.join(BIN, "geak")
SUBNET = "10.231.0"
HOSTS = {"a": 1, "b": 2, "c": 3}
BROKER_PORT, REDIS_PORT, LLM_PORT = 5555, 6379, 8000
K, ITERATIONS = 2, 3
CUT_HOLD_MAX_S = 15         # bound of each wait while a link is cut
CUT_EXTRA_S = 3             # the link stays down this much longer once both sides noticed
SCAN_TIMEOUT_S = 150
ROLE_THREADS = 2

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(BIN, b)) for b in
            ("geak", "geak-broker", "geak-evaluator", "geak-generator", "geak-reflector",
             "geak-optimizer")),
    reason="geak binaries not built")


def _ip(*args, check=True):
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {p.stderr.strip()}")
    return p


def netns_unavailable():
    """Why namespaces cannot be used here, or None."""
    uid = subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip()
    if uid != "0":
        return f"needs root to create network namespaces (id -u = {uid})"
    if not shutil.which("ip"):
        return "iproute2's ip is not installed"
    probe = f"geakt-probe-{uuid.uuid4().hex[:8]}"
    p = _ip("netns", "add", probe, check=False)
    if p.returncode != 0:
        return f"ip netns is unavailable: {p.stderr.strip()}"
    try:
        # what the test does in its namespaces: a veth pair, links up
        for args in (("link", "add", "v0", "type", "veth", "peer", "name", "v1"),
                     ("link", "set", "v0", "up"), ("link", "set", "lo", "up")):
            p = _ip("-n", probe, *args, check=False)
            if p.returncode != 0:
                return f"ip netns is unavailable: ip {' '.join(args)}: {p.stderr.strip()}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


class Net:
    """Network namespaces joined by a bridge in a switch namespace."""

    def __init__(self):
        self.tag = f"geakt-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.sw = f"{self.tag}-sw"
        self.ns = {}                    # host -> namespace name
        self.made = []                  # namespaces created, in order

    def build(self, hosts):
        _ip("netns", "add", self.sw)
        self.made.append(self.sw)
        _ip("-n", self.sw, "link", "set", "lo", "up")
        _ip("-n", self.sw, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.sw, "link", "set", "br0", "up")
        for host, octet in hosts.items():
            ns = f"{self.tag}-{host}"
            _ip("netns", "add", ns)
            self.made.append(ns)
            self.ns[host] = ns
            _ip("-n", self.sw, "link", "add", f"port-{host}", "type", "veth",
                "peer", "name", "eth0", "netns", ns)
            _ip("-n", self.sw, "link", "set", f"port-{host}", "master", "br0")
            _ip("-n", self.sw, "link", "set", f"port-{host}", "up")
            _ip("-n", ns, "addr", "add", f"{SUBNET}.{octet}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def ip(self, host):
        return f"{SUBNET}.{HOSTS[host]}"

    def argv(self, host, args):
        return ["ip", "netns", "exec", self.ns[host], *args]

    def cut(self, host):
        _ip("-n", self.sw, "link", "set", f"port-{host}", "down")

    def restore(self, host):
        _ip("-n", self.sw, "link", "set", f"port-{host}", "up")

    def destroy(self):
        """Kill what still runs in our namespaces (their processes are ours:
        the namespaces are private to this run), then delete them."""
        for ns in reversed(self.made):
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        for ns in reversed(self.made):
            _ip("netns", "del", ns, check=False)
        self.made = []


class Cluster:
    pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = netns_unavailable()
    if why:
        pytest.skip(why)
    c = Cluster()
    c.dir = tmp_path_factory.mktemp("multihost")
    c.logs = c.dir / "logs"
    c.logs.mkdir()
    c.tasks = c.dir / "tasks"
    copy_tasks(str(c.tasks))
    (c.dir / "key").write_text("sk-test-multihost-key\n")
    c.net = Net()
    c.procs = []
    try:
        c.net.build(HOSTS)
        a = c.net.ip("a")
        c.endpoint = f"tcp://{a}:{BROKER_PORT}"
        c.store = Store(a, REDIS_PORT, prefix=["ip", "netns", "exec", c.net.ns["a"]])
        c.procs.append(Proc(c.net.argv("a", [
            "redis-server", "--port", str(REDIS_PORT), "--bind", "0.0.0.0", "--protected-mode",
            "no", "--save", "", "--appendonly", "no", "--dir", str(c.dir)]),
            str(c.logs / "a-redis.log")))
        wait_until(c.store.ping, timeout=20, what="redis-server on host A")
        broker = Proc(c.net.argv("a", [os.path.join(BIN, "geak-broker"), "--bind",
                                       f"tcp://*:{BROKER_PORT}"]), str(c.logs / "a-broker.log"))
        c.procs.append(broker)
        assert broker.wait_log("broker_ready"), broker.log_text()
        c.env = {"GEAK_REDIS_HOST": a, "GEAK_REDIS_PORT": str(REDIS_PORT),
                 "GEAK_TASKS": str(c.tasks), "GEAK_LOG_LEVEL": "info", "TRITON_INTERPRET": "1"}
        c.llm_url = f"http://127.0.0.1:{LLM_PORT}"
        c.procs.append(Proc(c.net.argv("c", [sys.executable, os.path.join(HERE, "llm_server.py"),
                                             "--port", str(LLM_PORT)]),
                            str(c.logs / "c-llm_server.log")))
        wait_until(lambda: llm(c, "/_requests") is not None, timeout=20, what="LLM double on C")
        role_env = dict(c.env, GEAK_LLM_PROVIDER="openai", GEAK_LLM_MODEL="test-model",
                        GEAK_LLM_BASE_URL=c.llm_url + "/v1",
                        GEAK_LLM_API_KEY_FILE=str(c.dir / "key"), GEAK_LLM_TIMEOUT_MS="5000",
                        GEAK_LLM_MAX_RETRIES="1", GEAK_LLM_BACKOFF_MS="20",
                        GEAK_LLM_BACKOFF_MAX_MS="100")
        c.evaluator = Proc(c.net.argv("b", [os.path.join(BIN, "geak-evaluator"), "--broker",
                                            c.endpoint, "--tasks", str(c.tasks), "--interpret"]),
                           str(c.logs / "b-evaluator.log"), env=c.env)
        c.procs.append(c.evaluator)
        c.roles = []
        for role in ("generator", "reflector", "optimizer"):
            p = Proc(c.net.argv("c", [os.path.join(BIN, f"geak-{role}"), "--broker", c.endpoint,
                                      "--threads", str(ROLE_THREADS)]),
                     str(c.logs / f"c-{role}.log"), env=role_env)
            c.roles.append(p)
            c.procs.append(p)
        wait_until(lambda: registered(c) == {"b": 1, "c": 3 * ROLE_THREADS}, timeout=90,
                   interval=0.2, what="every worker of hosts B and C registered at A's broker")
        yield c
    finally:
        for p in reversed(c.procs):
            if p.p.poll() is None:
                p.stop()
        c.net.destroy()


def llm(c, path, body=None):
    """A control request to the LLM double, made from inside host C."""
    code = ("import json,sys,urllib.request\n"
            "data=sys.stdin.buffer.read() or None\n"
            "req=urllib.request.Request(sys.argv[1],data=data,method='POST' if data else 'GET')\n"
            "print(urllib.request.urlopen(req,timeout=10).read().decode())\n")
    p = subprocess.run(c.net.argv("c", [sys.executable, "-c", code, c.llm_url + path]),
                       input=json.dumps(body).encode() if body is not None else b"",
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def stats(c):
    p = subprocess.run(c.net.argv("a", [GEAK, "stats", "--broker", c.endpoint]),
                       capture_output=True, text=True, timeout=30)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {}


def registered(c):
    """Workers registered at the broker, per host."""
    services = stats(c).get("services", {})
    n = {s: services.get(s, {}).get("workers", 0) for s in
         ("geak.evaluator", "geak.generator", "geak.reflector", "geak.optimizer")}
    return {"b": n["geak.evaluator"],
            "c": n["geak.generator"] + n["geak.reflector"] + n["geak.optimizer"]}


def start_scan(c, run):
    cmd = c.net.argv("a", [GEAK, "run", "--broker", c.endpoint, "--tasks", str(c.tasks),
                           "--run-id", run, "--k", str(K), "--iterations", str(ITERATIONS),
                           "--concurrency", "4"])
    err = open(c.logs / f"a-run-{run}.log", "wb")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT,
                         env=dict(os.environ, **c.env))
    return p, err


def finish_scan(c, run, p, err):
    try:
        out, _ = p.communicate(timeout=SCAN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        partial = audit(c.store, run, TASKS, K, ITERATIONS)
        pytest.fail(f"scan {run} did not finish within {SCAN_TIMEOUT_S} s: "
                    f"{partial['attempts']}/{partial['expected']} attempts stored, "
                    f"{partial['problems']}")
    finally:
        err.close()
    log = (c.logs / f"a-run-{run}.log").read_text(errors="replace")
    assert p.returncode == 0, f"geak run exited {p.returncode}:\n{log[-4000:]}"
    summary = json.loads(out.decode().splitlines()[-1])
    assert summary["status"] == "done", summary
    assert "lineage_stuck" not in log, log[-3000:]
    return summary, log


def test_scan_across_three_hosts(cluster):
    c = cluster
    llm(c, "/_reset", {})
    llm(c, "/_script", llm_script(TASKS))
    run = "mh-plain"
    p, err = start_scan(c, run)
    summary, _ = finish_scan(c, run, p, err)
    result = audit(c.store, run, TASKS, K, ITERATIONS)
    assert result["problems"] == [], result["problems"]
    assert summary["attempts"] == result["expected"] == len(TASKS) * K * ITERATIONS
    # every LLM call went from C's roles to the double on C: one per attempt
    assert len(llm(c, "/_requests")) == result["expected"]
    # the roles on C kept their prompts in A's Redis, across the link
    assert "role_store_unavailable" not in "".join(r.log_text() for r in c.roles)


@pytest.mark.parametrize("host", ["b", "c"])
def test_cut_link_mid_scan_loses_nothing(cluster, host):
    c = cluster
    llm(c, "/_reset", {})
    # a little LLM latency: the scan is still running when the link goes down
    llm(c, "/_script", llm_script(TASKS, delay=0.3))
    run = f"mh-cut-{host}"
    before = stats(c)
    expired_before = before.get("workers_expired", 0)
    workers_before = registered(c)[host]
    p, err = start_scan(c, run)
    try:
        wait_until(lambda: len(c.store.attempt_keys(run)) >= 3 or p.poll() is not None,
                   timeout=60, interval=0.05, what=f"attempts of {run} stored")
        assert p.poll() is None, "the scan ended before the link could be cut"
        stored_at_cut = len(c.store.attempt_keys(run))
        host_logs = [c.evaluator] if host == "b" else c.roles
        silent_before = [p.log_text().count("worker_broker_silent") for p in host_logs]
        c.net.cut(host)
        cut_at = time.monotonic()
        try:
            # fault injection: the link stays down until the broker has
            # dropped the host's workers and every process of the host has
            # noticed the broker's silence (both bounded), then CUT_EXTRA_S
            # more, so that their reconnects go out while the link is down
            wait_until(lambda: registered(c)[host] == 0, timeout=CUT_HOLD_MAX_S, interval=0.2,
                       what=f"the broker dropping host {host.upper()}'s workers")
            wait_until(lambda: all(p.log_text().count("worker_broker_silent") > n
                                   for p, n in zip(host_logs, silent_before)),
                       timeout=CUT_HOLD_MAX_S, interval=0.2,
                       what=f"host {host.upper()}'s workers noticing the broker's silence")
            time.sleep(CUT_EXTRA_S)
        finally:
            c.net.restore(host)
        held = time.monotonic() - cut_at
        # the workers notice the silence, reconnect and register again
        wait_until(lambda: registered(c)[host] == workers_before, timeout=30, interval=0.2,
                   what=f"host {host.upper()}'s workers registered again after the cut")
    except BaseException:
        p.kill()
        raise
    summary, log = finish_scan(c, run, p, err)
    result = audit(c.store, run, TASKS, K, ITERATIONS)
    assert result["problems"] == [], result["problems"]
    assert summary["attempts"] == result["expected"] == len(TASKS) * K * ITERATIONS
    assert stored_at_cut < result["expected"], "the cut came after the scan's end"
    after = stats(c)
    assert after.get("workers_expired", 0) - expired_before >= workers_before, after
    print(f"\nmultihost: cut={host.upper()} held_s={held:.1f} stored_at_cut={stored_at_cut} "
          f"attempts={result['attempts']} lost={result['lost']} "
          f"duplicated={result['duplicated']} requeued="
          f"{after.get('requeued', 0) - before.get('requeued', 0)} "
          f"llm_calls={len(llm(c, '/_requests'))}")


def test_zz_no_sanitizer_reports(cluster):
    """Runs last: the services of every host stop cleanly, no log holds a
    sanitizer report."""
    c = cluster
    for p in [c.evaluator] + c.roles:
        assert p.stop() == 0, p.log_text()[-3000:]
    assert sanitizer_reports(str(c.logs)) == []
