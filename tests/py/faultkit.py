"""Shared pieces of the fault tests (test_multihost.py, test_chaos.py): the
scripted LLM replies of a small scan over shipped tasks, and the audit of a
finished run straight from Redis (every expected attempt id exactly once,
lineage lists in iteration order without duplicates, counters consistent
with the stored attempts).

Every lineage of these scans has exactly `iterations` attempts whatever
happens to the processes: the optimizer is on, so a lineage only ends when
its N attempts are stored. gelu's generator answers a wrong kernel (a
mismatch, reflected into the reference), the other tasks' generator answers
the reference; every optimizer answers the reference with a comment."""
import json
import os
import shutil
import subprocess

from geakproc import ROOT

GEN = "who writes Triton kernels"           # the roles' system prompts (services/<role>/main.c)
FIX = "who debugs Triton kernels"
OPT = "who makes correct Triton kernels faster"

TASKS = ("gelu", "row_sum", "vector_add")
TOKENS_IN, TOKENS_OUT = 11, 22              # what each reply of the LLM double reports


def reference(task):
    with open(os.path.join(ROOT, "tasks", task, "reference.py")) as f:
        return f.read()


def copy_tasks(dst, tasks=TASKS):
    os.makedirs(dst, exist_ok=True)
    for t in tasks:
        shutil.copytree(os.path.join(ROOT, "tasks", t), os.path.join(dst, t))


def fenced(code, prose="Here is the module."):
    return f"{prose}\n```python\n{code}```\n"


def expected_roles(task, iterations):
    if task == "gelu":
        roles = ["generator", "reflector"] + ["optimizer"] * iterations
    else:
        roles = ["generator"] + ["optimizer"] * iterations
    return roles[:iterations]


def llm_script(tasks=TASKS, delay=0.0):
    """The /_script body of tests/py/llm_server.py for a scan of `tasks`:
    replies picked by the role's system prompt and the task's name (the
    "Name: <task>" line of every role prompt)."""
    rules = []
    for t in tasks:
        ref = reference(t)
        name = f"Name: {t}\\n"                  # as it appears in the JSON request body
        gen = ref.replace("y = 0.5 * x", "y = 0.6 * x") if t == "gelu" else ref
        assert t != "gelu" or gen != ref
        rules.append({"kind": "reply", "match": [GEN, name], "text": fenced(gen), "delay": delay,
                      "tokens_in": TOKENS_IN, "tokens_out": TOKENS_OUT})
        rules.append({"kind": "reply", "match": [FIX, name], "delay": delay,
                      "text": fenced(ref, "Diagnosis: the constant is 0.5."),
                      "tokens_in": TOKENS_IN, "tokens_out": TOKENS_OUT})
        rules.append({"kind": "reply", "match": [OPT, name], "delay": delay,
                      "text": fenced(ref + "\n# optimized variant\n", "Same kernel, tidier."),
                      "tokens_in": TOKENS_IN, "tokens_out": TOKENS_OUT})
    return {"rules": rules}


def expected_ids(run, tasks, k, iterations):
    return [f"{run}.{t}.{s}.{i}" for t in tasks for s in range(k) for i in range(iterations)]


FIELDS = ("id", "role", "parent", "status", "error_class", "exec_ok", "call_ok", "iteration")


class Store:
    """Reads a run back with redis-cli; `prefix` is prepended to every
    command (e.g. ["ip", "netns", "exec", NS]) to reach a Redis in another
    network namespace."""

    def __init__(self, host, port, prefix=(), key_prefix="geak:"):
        self.argv = [*prefix, "redis-cli", "-h", host, "-p", str(port), "--raw"]
        self.kp = key_prefix

    def cmd(self, *args, timeout=10):
        p = subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=timeout)
        return p.stdout.strip() if p.returncode == 0 else None

    def lines(self, *args):
        out = self.cmd(*args)
        return out.splitlines() if out else []

    def ping(self):
        try:
            return self.cmd("PING", timeout=5) == "PONG"
        except subprocess.TimeoutExpired:
            return False

    def attempt_keys(self, run):
        # SCAN rather than KEYS: the same call a Redis in production allows
        cursor, keys = "0", []
        while True:
            out = self.lines("SCAN", cursor, "MATCH", f"{self.kp}attempt:{run}.*", "COUNT", "1000")
            if not out:
                return keys
            cursor, keys = out[0], keys + out[1:]
            if cursor == "0":
                return keys

    def attempt(self, attempt_id):
        values = self.cmd("HMGET", f"{self.kp}attempt:{attempt_id}", *FIELDS)
        values = (values or "").split("\n")[:len(FIELDS)]
        if not values or not values[0]:
            return {}
        return dict(zip(FIELDS, values))

    def lineage(self, run, task, sample):
        return self.lines("LRANGE", f"{self.kp}lineage:{run}:{task}:{sample}", "0", "-1")

    def counters(self, run):
        flat = self.lines("HGETALL", f"{self.kp}run:{run}:counters")
        return {k: int(v) for k, v in zip(flat[0::2], flat[1::2])}

    def status(self, run):
        return self.cmd("HGET", f"{self.kp}run:{run}", "status")


def audit(store, run, tasks, k, iterations):
    """Everything stored for a run against what the scan must have stored.
    Returns a dict; `problems` lists every inconsistency (empty = clean)."""
    want = expected_ids(run, tasks, k, iterations)
    keys = [key[len(store.kp) + len("attempt:"):] for key in store.attempt_keys(run)]
    problems = []
    present = set(keys)
    lost = [a for a in want if a not in present]
    unexpected = sorted(present - set(want))
    duplicated = len(keys) - len(present) + len(unexpected)
    attempts = {a: store.attempt(a) for a in want if a in present}
    for t in tasks:
        for s in range(k):
            ids = store.lineage(run, t, s)
            dup = len(ids) - len(set(ids))
            duplicated += dup
            order = [f"{run}.{t}.{s}.{i}" for i in range(iterations)]
            if ids != order:
                problems.append(f"lineage {t}/{s} is {ids}, expected {order}")
                lost += [a for a in order if a not in ids and a not in lost]
            roles = [attempts.get(a, {}).get("role") for a in order]
            if roles != expected_roles(t, iterations):
                problems.append(f"lineage {t}/{s} roles {roles}")
    not_evaluated = [a for a, f in attempts.items() if f.get("status") != "evaluated"]
    failed = [a for a, f in attempts.items()
              if f.get("error_class") not in ("pass", "mismatch")]
    counters = store.counters(run)
    n = len(want)
    exec_ok = sum(f.get("exec_ok") == "1" for f in attempts.values())
    call_ok = sum(f.get("call_ok") == "1" for f in attempts.values())
    want_counters = {"attempts": n, "evaluated": n, "exec_ok": exec_ok, "call_ok": call_ok,
                     "tokens_in": TOKENS_IN * n, "tokens_out": TOKENS_OUT * n}
    got_counters = {name: counters.get(name, 0) for name in want_counters}
    if got_counters != want_counters:
        problems.append(f"counters {got_counters} != {want_counters}")
    if counters.get("failed", 0):
        problems.append(f"failed counter {counters['failed']}")
    if lost:
        problems.append(f"lost {lost}")
    if duplicated:
        problems.append(f"duplicated {duplicated} (unexpected ids {unexpected})")
    if not_evaluated:
        problems.append(f"not evaluated {not_evaluated}")
    if failed:
        problems.append("unexpected classes " + json.dumps(
            {a: attempts[a].get("error_class") for a in failed}))
    status = store.status(run)
    if status != "done":
        problems.append(f"run status {status}")
    return {"expected": n, "attempts": len(present), "lost": len(lost), "duplicated": duplicated,
            "exec_ok": exec_ok, "counters": counters, "status": status, "problems": problems}


SANITIZER = (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:")


def sanitizer_reports(log_dir):
    """Log files of log_dir holding a sanitizer report: [(path, tail)]."""
    bad = []
    for name in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, name)
        with open(path, "rb") as f:
            data = f.read()
        if any(n in data for n in SANITIZER):
            bad.append((path, data[-3000:].decode(errors="replace")))
    return bad
