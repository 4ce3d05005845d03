"""The evaluator as a real service: geak-broker + geak-evaluator processes, the
real Python fork-server harness under TRITON_INTERPRET=1, candidates sent through
the broker by `geak eval` (EvalRequest envelopes over the async client).

Covers: a correct candidate passes the whole service path; a hanging candidate is
killed by the C side (timeout) and the evaluator serves the next request; an LLM
reply with no code is no_code; malformed envelopes get an ErrorReply and the
evaluator keeps serving; `geak eval --standalone 2` writes verdicts and a summary.
A protocol stub stands in for the harness only where a fault must be injected
(fork server dying mid-request, answering garbage): that is the C side's job.
"""
import http.client
import json
import os
import re
import textwrap

import pytest

from geakproc import BIN, ROOT, Proc, geak, start_broker, wait_until

TASK = "gelu"
TASKS = os.path.join(ROOT, "tasks")
HARNESS = os.path.join(ROOT, "services", "evaluator")
ENV = {"TRITON_INTERPRET": "1", "GEAK_GPU": "none"}


def reference_code():
    with open(os.path.join(TASKS, TASK, "reference.py")) as f:
        return f.read()


def correct():
    return reference_code()


def wrong():
    return reference_code() + textwrap.dedent("""
        _exact = gelu


        def gelu(x):
            return _exact(x) * 2.0 + 1.0
        """)


def hanging():
    return reference_code() + textwrap.dedent("""
        import time


        def gelu(x):
            while True:
                time.sleep(0.2)
        """)


needs_harness = pytest.mark.skipif(
    not os.path.exists(os.path.join(HARNESS, "harness", "__main__.py"))
    or not os.path.exists(os.path.join(TASKS, TASK, "task.json")),
    reason="the Python harness or the gelu task is not in the tree")


@pytest.fixture
def broker(tmp_path):
    proc, endpoint = start_broker(tmp_path, extra=["--heartbeat-ms", "200"])
    yield endpoint
    assert proc.stop() == 0, proc.log_text()


def start_evaluator(tmp_path, endpoint, *extra, harness_dir=HARNESS):
    log = tmp_path / f"evaluator-{len(list(tmp_path.iterdir()))}.log"
    proc = Proc([os.path.join(BIN, "geak-evaluator"), "--broker", endpoint,
                 "--heartbeat-ms", "200", "--tasks", TASKS, "--harness-dir", harness_dir,
                 *extra], str(log), env=ENV)
    wait_until(lambda: ping_ok(endpoint), timeout=30, what="evaluator health")
    return proc


def ping_ok(endpoint):
    rc, lines = geak("ping", "--timeout-ms", "3000", "geak.evaluator", broker=endpoint)
    return lines[0] if rc == 0 and lines and isinstance(lines[0], dict) and lines[0].get("ok") else None


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return str(path)


def run_eval(tmp_path, endpoint, rows, *extra, timeout=300):
    cands = write_jsonl(tmp_path / f"cands-{len(list(tmp_path.iterdir()))}.jsonl", rows)
    out = tmp_path / "verdicts.jsonl"
    summary = tmp_path / "summary.json"
    rc, _ = geak("eval", "--candidates", cands, "--tasks", TASKS, "--out", str(out),
                 "--summary", str(summary), *extra, broker=endpoint, timeout=timeout)
    assert rc == 0
    verdicts = {}
    with open(out) as f:
        for line in f:
            v = json.loads(line)
            verdicts[v["id"]] = v
    with open(summary) as f:
        return verdicts, json.load(f)


def test_evaluator_unit_checks():
    import subprocess
    p = subprocess.run([os.path.join(BIN, "geak-evaluator"), "--selftest"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


@needs_harness
def test_correct_candidate_passes_and_health_has_device(tmp_path, broker):
    ev = start_evaluator(tmp_path, broker)
    try:
        verdicts, summary = run_eval(tmp_path, broker, [{"id": "ok", "task": TASK, "code": correct()}])
        v = verdicts["ok"]
        assert v["error_class"] == "pass", v
        assert v["call_ok"] and v["exec_ok"]
        assert v["timed"] is False and v["speedup"] is None     # interpreted: no timings
        assert v["arch"] == "cpu"
        assert summary["n"] == 1 and summary["execution_accuracy"] == 1.0
        assert summary["median_speedup"] is None
    finally:
        assert ev.stop() == 0, ev.log_text()


@needs_harness
def test_hanging_candidate_times_out_and_evaluator_serves_next(tmp_path, broker):
    ev = start_evaluator(tmp_path, broker)
    try:
        rows = [{"id": "hang", "task": TASK, "code": hanging()},
                {"id": "after", "task": TASK, "code": correct()}]
        verdicts, summary = run_eval(tmp_path, broker, rows, "--window", "1",
                                     "--timeout-ms", "3000")
        assert verdicts["hang"]["error_class"] == "timeout", verdicts["hang"]
        assert not verdicts["hang"]["exec_ok"]
        assert verdicts["after"]["error_class"] == "pass", verdicts["after"]
        # the C side killed the candidate's process group, not the harness
        assert "event=eval_timeout" in ev.log_text()
        assert "killed its process group" in verdicts["hang"]["message"]
    finally:
        assert ev.stop() == 0, ev.log_text()


@needs_harness
def test_llm_reply_without_code_is_no_code(tmp_path, broker):
    ev = start_evaluator(tmp_path, broker)
    try:
        rows = [{"id": "prose", "task": TASK, "reply": "I am sorry, I cannot write that kernel."},
                {"id": "empty", "task": TASK, "code": "   \n"},
                {"id": "fenced", "task": TASK, "reply": "Here it is:\n```python\n" + correct() + "```\n"}]
        verdicts, _ = run_eval(tmp_path, broker, rows)
        assert verdicts["prose"]["error_class"] == "no_code"
        assert verdicts["empty"]["error_class"] == "no_code"
        assert not verdicts["prose"]["call_ok"]
        assert verdicts["fenced"]["error_class"] == "pass", verdicts["fenced"]
    finally:
        assert ev.stop() == 0, ev.log_text()


def _envelope(request_id, field, body=b""):
    """Hand-encoded Envelope{version=1, request_id, <field>=body} (protobuf wire format)."""
    rid = request_id.encode()
    return (b"\x08\x01" + b"\x12" + bytes([len(rid)]) + rid
            + bytes([(field << 3) | 2, len(body)]) + body)


@needs_harness
def test_malformed_envelopes_get_error_reply_and_evaluator_keeps_serving(tmp_path, broker):
    ev = start_evaluator(tmp_path, broker)
    try:
        cases = {
            "garbage": (b"\xff\xfe not protobuf at all", {"malformed"}),
            # a body the evaluator does not serve (the decoder may already refuse it)
            "generate": (_envelope("r1", 15), {"protocol", "malformed"}),
            # an EvalRequest without task and candidate
            "empty_eval": (_envelope("r2", 13), {"invalid", "malformed"}),
        }
        for name, (body, codes) in cases.items():
            path = tmp_path / f"{name}.bin"
            path.write_bytes(body)
            rc, lines = geak("call", "--body-file", str(path), "geak.evaluator", broker=broker)
            assert lines and lines[0].get("error") in codes, (name, lines)
        assert ping_ok(broker)
        verdicts, _ = run_eval(tmp_path, broker, [{"id": "ok", "task": TASK, "code": correct()},
                                                 {"id": "nope", "task": "no_such_task", "code": correct()}])
        assert verdicts["ok"]["error_class"] == "pass", verdicts["ok"]
        assert verdicts["nope"].get("error_code") == "not_found"
    finally:
        assert ev.stop() == 0, ev.log_text()


@needs_harness
def test_geak_eval_standalone_writes_verdicts_and_summary(tmp_path):
    cands = write_jsonl(tmp_path / "cands.jsonl", [
        {"id": "c1", "task": TASK, "code": correct()},
        {"id": "c2", "task": TASK, "reply": "```python\n" + wrong() + "```"},
        {"id": "c3", "task": TASK, "reply": "no code here, sorry"},
    ])
    out, summary = tmp_path / "v.jsonl", tmp_path / "s.json"
    import subprocess
    p = subprocess.run([os.path.join(BIN, "geak"), "eval", "--candidates", cands, "--tasks", TASKS,
                        "--out", str(out), "--summary", str(summary), "--standalone", "2"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT,
                       env={**os.environ, **ENV, "GEAK_HARNESS_DIR": HARNESS})
    assert p.returncode == 0, p.stderr
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["id"] for v in verdicts] == ["c1", "c2", "c3"]
    by = {v["id"]: v for v in verdicts}
    assert by["c1"]["error_class"] == "pass", by["c1"]
    assert by["c2"]["error_class"] == "mismatch", by["c2"]
    assert by["c2"]["call_ok"] and not by["c2"]["exec_ok"]
    assert by["c2"]["max_abs_err"] > 0
    assert by["c3"]["error_class"] == "no_code"
    s = json.loads(summary.read_text())
    assert s["n"] == 3 and s["call_ok"] == 2 and s["exec_ok"] == 1
    assert abs(s["call_accuracy"] - 2 / 3) < 1e-9 and abs(s["execution_accuracy"] - 1 / 3) < 1e-9
    assert s["classes"] == {"pass": 1, "mismatch": 1, "no_code": 1}
    # both evaluators were used or at least started, and all children are gone
    assert "standalone_ready" in p.stderr


# ---------------------------------------------------------------- fault injection

STUB = r'''
"""Protocol stub of the fork server, for fault injection only."""
import argparse, json, os, sys
ap = argparse.ArgumentParser()
ap.add_argument("--req-fd", type=int); ap.add_argument("--resp-fd", type=int)
ap.add_argument("--device-index", type=int); ap.add_argument("--cache-dir")
ap.add_argument("--seccomp-fd", type=int); ap.add_argument("--sandbox-uid", type=int)
ap.add_argument("--require-isolation", action="store_true")
a = ap.parse_args()
rin, out = os.fdopen(a.req_fd, "r"), os.fdopen(a.resp_fd, "w")
def send(o):
    out.write(json.dumps(o) + "\n"); out.flush()
for line in rin:
    req = json.loads(line)
    if req["op"] == "ping":
        send({"op": "pong", "device": {"vendor": "cpu", "runtime": "stub"}})
    elif req["op"] == "quit":
        break
    elif req["op"] == "selfcheck":
        # an answer that is not one: the evaluator must call it our fault (unchecked)
        send({"op": "selfcheck", "id": req["id"], "result": {"status": "fine", "error_class": "pass"}})
    elif req["op"] == "eval":
        code = open(os.path.join(req["sandbox_dir"], req["code_file"])).read()
        marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "died-once")
        if "DIE_ONCE" in code and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(9)
        if "DIE_ALWAYS" in code:
            os._exit(9)
        if "GARBAGE" in code:
            out.write("<<not json>>\n"); out.flush(); continue
        if "BAD_TYPES" in code:
            send({"id": req["id"], "event": "result", "result": {"call_ok": "yes", "error_class": "pass"}})
            continue
        send({"id": req["id"], "event": "result", "result": {
            "call_ok": True, "exec_ok": True, "error_class": "pass", "verdicts": [], "timed": True,
            "speedup": 3.0}})
'''


def readyz(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/readyz")
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def test_fork_server_faults_are_harness_errors_never_the_candidate(tmp_path, broker):
    stub = tmp_path / "stub"
    (stub / "harness").mkdir(parents=True)
    (stub / "harness" / "__init__.py").write_text("")
    (stub / "harness" / "__main__.py").write_text(STUB)
    tasks = tmp_path / "tasks" / "t"
    tasks.mkdir(parents=True)
    (tasks / "task.json").write_text('{"name": "t", "entry": {"name": "f"}}')
    log = tmp_path / "ev-stub.log"
    ev = Proc([os.path.join(BIN, "geak-evaluator"), "--broker", broker, "--heartbeat-ms", "200",
               "--tasks", str(tmp_path / "tasks"), "--harness-dir", str(stub / "harness")],
              str(log), env={**ENV, "GEAK_METRICS_BIND": "127.0.0.1:0"})
    try:
        wait_until(lambda: ping_ok(broker), timeout=30, what="evaluator health")
        code = "import torch\n# %s\n"
        rows = [{"id": k, "task": "t", "code": code % k}
                for k in ("DIE_ONCE", "DIE_ALWAYS", "GARBAGE", "BAD_TYPES", "FINE")]
        cands = write_jsonl(tmp_path / "c.jsonl", rows)
        out, summary = tmp_path / "v.jsonl", tmp_path / "s.json"
        rc, _ = geak("eval", "--candidates", cands, "--out", str(out), "--summary", str(summary),
                     "--window", "1", broker=broker, timeout=120)
        assert rc == 0
        by = {v["id"]: v for v in map(json.loads, out.read_text().splitlines())}
        # died once: restarted and retried, the candidate gets its real verdict
        assert by["DIE_ONCE"]["error_class"] == "pass", by["DIE_ONCE"]
        for k in ("DIE_ALWAYS", "GARBAGE", "BAD_TYPES"):
            assert by[k]["error_class"] == "harness_error", by[k]
        assert "invalid" in by["BAD_TYPES"]["message"]
        # the evaluator keeps serving; the stub's "timed" is overruled (no GPU)
        assert by["FINE"]["error_class"] == "pass" and by["FINE"]["timed"] is False
        assert by["FINE"]["speedup"] is None
        assert "event=harness_retry" in ev.log_text()
        # the selfcheck answer was invalid (twice): unchecked, never blamed on the task, and the
        # task's candidates are counted normally
        assert all(v["task_status"] == "unchecked" for v in by.values()), by
        s = json.loads(summary.read_text())
        assert s["task_status"] == {"t": "unchecked"} and s["n"] == 5 and s["excluded"]["n"] == 0, s
        assert "harness_selfcheck_invalid" in ev.log_text()

        # readiness follows the harness: three harness_error verdicts in a row take the pod out
        # of rotation (/readyz 503 with the reason); one good evaluation brings it back
        port = int(wait_until(lambda: re.search(r"event=metrics_ready \S+ port=(\d+)", ev.log_text()),
                              what="metrics_ready").group(1))
        assert readyz(port)[0] == 200
        dying = write_jsonl(tmp_path / "d.jsonl", [{"id": "d%d" % i, "task": "t", "code": code % "DIE_ALWAYS"}
                                                   for i in range(3)])
        rc, _ = geak("eval", "--candidates", dying, "--out", str(tmp_path / "d.out"), "--window", "1",
                     "--no-selfcheck", broker=broker, timeout=120)
        assert rc == 0
        status, body = readyz(port)
        assert status == 503 and "harness failed the last 3 evaluations" in body, (status, body)
        fine = write_jsonl(tmp_path / "f.jsonl", [{"id": "f", "task": "t", "code": code % "FINE"}])
        rc, _ = geak("eval", "--candidates", fine, "--out", str(tmp_path / "f.out"), "--window", "1",
                     "--no-selfcheck", broker=broker, timeout=120)
        assert rc == 0 and readyz(port)[0] == 200
    finally:
        assert ev.stop() == 0, ev.log_text()


def test_verdicts_carry_isolation_and_phases(tmp_path, broker):
    """Every verdict says which sandbox layers it ran under and where its time went."""
    ev = start_evaluator(tmp_path, broker, "--require-isolation")
    try:
        verdicts, _ = run_eval(tmp_path, broker, [{"id": "ok", "task": TASK, "code": correct()},
                                                  {"id": "syn", "task": TASK, "code": "def gelu(x)\n  return x\n"}])
        v = verdicts["ok"]
        assert v["error_class"] == "pass", v
        for layer in ("bwrap", "uid", "mountns", "pidns", "netns", "seccomp", "nnp"):
            assert layer in v["isolation"], v
        assert "missing" not in v["isolation"], v
        assert {"screen", "spawn", "load", "calls", "compare"} <= set(v["phases_ms"]), v
        assert verdicts["syn"]["error_class"] == "syntax_error"
        assert set(verdicts["syn"]["phases_ms"]) == {"screen"}, verdicts["syn"]
    finally:
        assert ev.stop() == 0, ev.log_text()


def _path_without_bwrap(tmp_path):
    import shutil
    import sys
    bindir = tmp_path / "nobwrap-bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    for tool in ("sh", "ps", "cc", "gcc", "ldconfig"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bindir / tool)
    return str(bindir)


@pytest.mark.parametrize("required", [True, False])
def test_missing_isolation_is_named_in_results_and_readyz(tmp_path, broker, required):
    """A host without bubblewrap: with --require-isolation the evaluator refuses (harness_error,
    /readyz 503 naming the layers); without it every result names what is missing."""
    env = dict(ENV, PATH=_path_without_bwrap(tmp_path), GEAK_METRICS_BIND="127.0.0.1:0",
               GEAK_EVAL_REQUIRE_ISOLATION="1" if required else "0")
    log = tmp_path / "ev-nobwrap.log"
    ev = Proc([os.path.join(BIN, "geak-evaluator"), "--broker", broker, "--heartbeat-ms", "200",
               "--tasks", TASKS, "--harness-dir", HARNESS], str(log), env=env)
    try:
        wait_until(lambda: ping_ok(broker), timeout=60, what="evaluator health")
        port = int(wait_until(lambda: re.search(r"event=metrics_ready \S+ port=(\d+)", ev.log_text()),
                              what="metrics_ready").group(1))
        status, body = readyz(port)
        verdicts, _ = run_eval(tmp_path, broker, [{"id": "ok", "task": TASK, "code": correct()}], "--no-selfcheck")
        v = verdicts["ok"]
        if required:
            assert status == 503 and "isolation missing" in body and "bwrap" in body, (status, body)
            assert v["error_class"] == "harness_error" and "isolation required" in v["message"], v
        else:
            assert status == 200, (status, body)
            assert v["error_class"] == "pass", v
            assert "missing=" in v["isolation"] and "mountns" in v["isolation"], v
        assert "event=isolation_missing" in ev.log_text()
    finally:
        assert ev.stop() == 0, ev.log_text()


def test_geak_eval_needs_nothing_set_up_and_names_an_unreachable_broker(tmp_path):
    """No broker configured: geak eval runs a private one.  One configured but unreachable (or
    serving no evaluator): it fails within seconds and names it, instead of waiting for ever."""
    import subprocess
    import time
    cands = write_jsonl(tmp_path / "c.jsonl", [{"id": "ok", "task": TASK, "code": correct()}])
    env = {k: v for k, v in os.environ.items() if k != "GEAK_BROKER"}
    env.update(ENV)
    p = subprocess.run([os.path.join(BIN, "geak"), "eval", "--candidates", cands, "--tasks", TASKS,
                        "--no-selfcheck", "--out", str(tmp_path / "v.jsonl")],
                       capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "starting a private one" in p.stderr
    v = json.loads((tmp_path / "v.jsonl").read_text().splitlines()[0])
    assert v["error_class"] == "pass", v
    t = time.monotonic()
    p = subprocess.run([os.path.join(BIN, "geak"), "eval", "--candidates", cands, "--tasks", TASKS,
                        "--broker", "tcp://127.0.0.1:1"], capture_output=True, text=True, timeout=60,
                       env=env, cwd=ROOT)
    assert p.returncode == 1 and "no broker answers at tcp://127.0.0.1:1" in p.stderr, p.stderr[-2000:]
    assert time.monotonic() - t < 10


def test_geak_eval_against_a_broker_without_evaluators_fails_fast(tmp_path, broker):
    import time
    cands = write_jsonl(tmp_path / "c.jsonl", [{"id": "ok", "task": TASK, "code": correct()}])
    t = time.monotonic()
    rc, _ = geak("eval", "--candidates", cands, "--tasks", TASKS, broker=broker, timeout=60)
    assert rc == 1
    assert time.monotonic() - t < 20
