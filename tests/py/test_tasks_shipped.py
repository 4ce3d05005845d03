"""Every task shipped in tasks/ passes its reference self-check (`geak tasks check`:
reference against oracle twice in fresh processes, real fork servers, TRITON_INTERPRET=1).

Its own test so that a failure names the broken or flaky task and why. Only the task
directories directly under tasks/ are checked (an import into tasks/imported/ is the
user's, not shipped)."""
import json
import os
import subprocess

from geakproc import BIN, ROOT

TASKS = os.path.join(ROOT, "tasks")


def shipped():
    return sorted(d for d in os.listdir(TASKS) if os.path.isfile(os.path.join(TASKS, d, "task.json")))


def test_every_shipped_task_passes_its_selfcheck(tmp_path):
    names = shipped()
    assert names, "no tasks under tasks/"
    report = tmp_path / "check.json"
    args = [os.path.join(os.path.abspath(BIN), "geak"), "tasks", "check", "--tasks", TASKS, "--json", str(report)]
    for name in names:
        args += ["--task", name]
    env = {**os.environ, "TRITON_INTERPRET": "1", "GEAK_HARNESS_DIR": os.path.join(ROOT, "services", "evaluator")}
    p = subprocess.run(args, capture_output=True, text=True, timeout=1200, cwd=ROOT, env=env)
    assert os.path.exists(report), p.stdout + p.stderr[-3000:]
    rows = json.loads(report.read_text())["tasks"]
    assert sorted(r["path"] for r in rows) == names
    bad = ["%s: %s (%s)" % (r["name"], r["status"], r["reason"]) for r in rows if r["status"] != "ok"]
    assert not bad, "tasks failing their reference self-check:\n  " + "\n  ".join(bad)
    assert p.returncode == 0, p.stdout
