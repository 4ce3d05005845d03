"""Reference self-check through the real service path: geak-broker + geak-evaluator + the Python
fork-server harness under TRITON_INTERPRET=1, driven by `geak eval`.

Fixture tasks (tests/fixtures/tasks, docs/tasks.md format):
  selfcheck_ok      the reference is right                       -> ok
  selfcheck_broken  the reference adds 2 instead of 1            -> broken, reason names the mismatch
  selfcheck_flaky   the oracle returns its own pid (differs between fresh processes) -> flaky

Covers: one selfcheck per distinct task before the candidates; every verdict carries task_status;
candidates of broken/flaky tasks are left out of the accuracy denominators and listed apart; the
evaluator caches the answer per task (a second run is served from the cache, an edited task is
checked again); --no-selfcheck marks tasks unchecked and counts their candidates normally.
"""
import json
import os
import shutil

import pytest

from geakproc import BIN, ROOT, Proc, geak, start_broker, wait_until

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tasks")
HARNESS = os.path.join(ROOT, "services", "evaluator")
ENV = {"TRITON_INTERPRET": "1", "GEAK_GPU": "none"}

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(HARNESS, "harness", "__main__.py")),
    reason="the Python harness is not in the tree")


def reference(task):
    with open(os.path.join(FIXTURES, task, "reference.py")) as f:
        return f.read()


def wrong(task):
    return reference(task).replace("DELTA=1.0", "DELTA=3.0").replace("DELTA=2.0", "DELTA=3.0")


def right(task):
    return reference(task).replace("DELTA=2.0", "DELTA=1.0")


@pytest.fixture
def service(tmp_path):
    """Broker + one evaluator (2 worker threads) over a private copy of the fixture tasks."""
    tasks = tmp_path / "tasks"
    shutil.copytree(FIXTURES, tasks)
    broker, endpoint = start_broker(tmp_path, extra=["--heartbeat-ms", "200"])
    ev = Proc([os.path.join(BIN, "geak-evaluator"), "--broker", endpoint, "--heartbeat-ms", "200",
               "--threads", "2", "--tasks", str(tasks), "--harness-dir", HARNESS,
               "--cache-dir", str(tmp_path / "cache")], str(tmp_path / "evaluator.log"), env=ENV)
    try:
        wait_until(lambda: _workers(endpoint) >= 2, timeout=60, what="evaluator workers registered")
        yield endpoint, tasks, ev
    finally:
        assert ev.stop() == 0, ev.log_text()
        assert broker.stop() == 0, broker.log_text()


def _workers(endpoint):
    rc, lines = geak("stats", broker=endpoint, timeout=10)
    if rc != 0 or not lines or not isinstance(lines[0], dict):
        return 0
    return lines[0].get("services", {}).get("geak.evaluator", {}).get("workers", 0)


def run_eval(tmp_path, endpoint, tasks, rows, *extra):
    k = len(list(tmp_path.iterdir()))
    cands = tmp_path / f"cands-{k}.jsonl"
    cands.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, summary = tmp_path / f"v-{k}.jsonl", tmp_path / f"s-{k}.json"
    rc, _ = geak("eval", "--candidates", str(cands), "--tasks", str(tasks), "--out", str(out),
                 "--summary", str(summary), *extra, broker=endpoint, timeout=300)
    assert rc == 0
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    return {v["id"]: v for v in verdicts}, json.loads(summary.read_text())


ROWS = [
    {"id": "ok-right", "task": "selfcheck_ok", "code": reference("selfcheck_ok")},
    {"id": "ok-wrong", "task": "selfcheck_ok", "code": wrong("selfcheck_ok")},
    {"id": "broken-right", "task": "selfcheck_broken", "code": right("selfcheck_broken")},
    {"id": "broken-none", "task": "selfcheck_broken", "reply": "sorry, no code"},
    {"id": "flaky-ref", "task": "selfcheck_flaky", "code": reference("selfcheck_flaky")},
    {"id": "garbage", "nothing": 1},
]


def test_selfcheck_statuses_and_denominators(tmp_path, service):
    endpoint, tasks, ev = service
    by, s = run_eval(tmp_path, endpoint, tasks, ROWS)

    # one selfcheck per distinct task, each answered by the evaluator
    assert s["task_status"] == {"selfcheck_ok": "ok", "selfcheck_broken": "broken",
                                "selfcheck_flaky": "flaky"}, s
    assert ev.log_text().count("event=selfcheck_done") == 3
    # every verdict carries its task's status; the candidates still get their real verdicts
    assert by["ok-right"]["task_status"] == "ok" and by["ok-right"]["error_class"] == "pass"
    assert by["ok-wrong"]["task_status"] == "ok" and by["ok-wrong"]["error_class"] == "mismatch"
    assert by["broken-right"]["task_status"] == "broken" and by["broken-right"]["error_class"] == "pass"
    assert by["broken-none"]["task_status"] == "broken" and by["broken-none"]["error_class"] == "no_code"
    assert by["flaky-ref"]["task_status"] == "flaky"
    assert by["garbage"]["task_status"] == "unchecked" and by["garbage"]["error_class"] == "invalid_input"

    # denominators: the ok task's two candidates and the unusable line; broken/flaky apart
    assert s["n_all"] == 6 and s["n"] == 3, s
    assert s["call_ok"] == 2 and s["exec_ok"] == 1, s
    assert abs(s["call_accuracy"] - 2 / 3) < 1e-9 and abs(s["execution_accuracy"] - 1 / 3) < 1e-9, s
    assert s["classes"] == {"pass": 1, "mismatch": 1, "invalid_input": 1}, s
    ex = s["excluded"]
    assert ex["n"] == 3 and set(ex["tasks"]) == {"selfcheck_broken", "selfcheck_flaky"}, ex
    b = ex["tasks"]["selfcheck_broken"]
    assert b["status"] == "broken" and b["candidates"] == 2 and b["call_ok"] == 1 and b["exec_ok"] == 1, b
    assert b["reason"].startswith("mismatch: ") and "expected" in b["reason"], b
    f = ex["tasks"]["selfcheck_flaky"]
    assert f["status"] == "flaky" and f["candidates"] == 1 and "not deterministic" in f["reason"], f

    # the answers are cached in the evaluator: a second run checks nothing again ...
    by2, s2 = run_eval(tmp_path, endpoint, tasks, ROWS[:3])
    assert s2["task_status"] == {"selfcheck_ok": "ok", "selfcheck_broken": "broken"}, s2
    assert ev.log_text().count("cached=1") == 2
    assert ev.log_text().count("cached=0") == 3
    # ... until the task changes: the fixed reference of the broken task is checked again
    (tasks / "selfcheck_broken" / "reference.py").write_text(right("selfcheck_broken"))
    _, s3 = run_eval(tmp_path, endpoint, tasks, ROWS[2:4])
    assert s3["task_status"] == {"selfcheck_broken": "ok"}, s3
    assert s3["n"] == 2 and s3["excluded"]["n"] == 0, s3
    assert ev.log_text().count("cached=0") == 4


def test_no_selfcheck_counts_everything(tmp_path, service):
    endpoint, tasks, ev = service
    by, s = run_eval(tmp_path, endpoint, tasks, ROWS[:4], "--no-selfcheck")
    assert all(v["task_status"] == "unchecked" for v in by.values()), by
    assert s["task_status"] == {"selfcheck_ok": "unchecked", "selfcheck_broken": "unchecked"}, s
    assert s["n"] == 4 and s["n_all"] == 4 and s["exec_ok"] == 2 and s["excluded"]["n"] == 0, s
    assert "event=selfcheck_done" not in ev.log_text()


def test_selfcheck_of_a_task_given_by_path(tmp_path, service):
    endpoint, tasks, ev = service
    path = str(tasks / "selfcheck_broken" / "task.json")
    rows = [{"id": "a", "task_file": path, "code": right("selfcheck_broken")},
            {"id": "b", "task_file": str(tasks / "selfcheck_broken"), "code": wrong("selfcheck_broken")}]
    by, s = run_eval(tmp_path, endpoint, tasks, rows)
    # both lines name the same directory: one check, listed under the name first given
    assert ev.log_text().count("event=selfcheck_done") == 1
    assert s["task_status"] == {path: "broken"} and s["excluded"]["tasks"][path]["candidates"] == 2, s
    assert by["a"]["task_status"] == by["b"]["task_status"] == "broken"
