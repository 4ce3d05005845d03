"""`geak tasks import|list|check` on small benchmarks written for these tests in the
TritonBench-revised and ROCm Triton layouts (tests/fixtures/), under TRITON_INTERPRET=1.

Covers: both importers (default output directory, idempotent re-import, a directory not
made by an import is left alone, unknown format / missing index), `geak tasks list`
recursing into the imported directories, `geak tasks check` passing the imported tasks
through the real fork-server harness (its `selfcheck` op, two servers) and reporting a
broken and a flaky task with exit status 1, and candidates for imported tasks judged by
the real evaluator service (`geak eval --standalone`): right ones pass, wrong ones are
`mismatch`, a missing function is a runtime error.
"""
import filecmp
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from geakproc import BIN, ROOT

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
HARNESS = os.path.join(ROOT, "services", "evaluator")
ENV = {**os.environ, "TRITON_INTERPRET": "1", "GEAK_GPU": "none", "GEAK_HARNESS_DIR": HARNESS}
TB = "tritonbench-revised"
ROCM = "rocm-triton"


def geak(*args, cwd=ROOT, timeout=300):
    p = subprocess.run([os.path.join(os.path.abspath(BIN), "geak"), *args], capture_output=True, text=True,
                       timeout=timeout, cwd=cwd, env=ENV)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Both fixture benchmarks imported into <tmp>/tasks/imported/<format>/ (the default --out)."""
    root = tmp_path_factory.mktemp("imp")
    for fmt in (TB, ROCM):
        rc, out, err = geak("tasks", "import", fmt, os.path.join(FIXTURES, fmt), cwd=str(root))
        assert rc == 0, out + err
    return root


def test_import_writes_our_task_format(imported):
    tb = imported / "tasks" / "imported" / TB
    assert sorted(os.listdir(tb)) == ["add_example", "row_sum", "scale_inplace"]
    for name in os.listdir(tb):
        assert sorted(os.listdir(tb / name)) == ["bench_test.py", "reference.py", "spec.py", "task.json"]
    task = json.loads((tb / "add_example" / "task.json").read_text())
    assert task["name"] == "add_example" and task["difficulty"] == 1
    assert task["append"] == "bench_test.py"
    assert task["entry"]["name"] == "geak_bench_entry"
    assert "def add_wrapper(x, y):" in task["entry"]["signature"]
    assert task["instruction"].startswith("Write a Triton kernel `add_kernel(")   # comp by default
    assert task["source"] == {"format": TB, "file": "data/TritonBench_G_v1/add_example.py", "instruction": "comp",
                              "index": "data/TritonBench_G_v1.json",
                              "perf": "performance_metrics/perf_G/golden_metrics/add_example_perf.py",
                              "perf_cases": 3}
    assert task["tolerances"]["float32"] == {"atol": 1e-3, "rtol": 1e-3}
    # the gold kernel code is the part above the separator, unchanged
    src = open(os.path.join(FIXTURES, TB, "data", "TritonBench_G_v1", "add_example.py")).read()
    assert src.startswith((tb / "add_example" / "reference.py").read_text())
    assert "#" * 146 not in (tb / "add_example" / "reference.py").read_text()
    # no perf script for scale_inplace: correctness only
    scale = json.loads((tb / "scale_inplace" / "task.json").read_text())
    assert scale["source"]["perf"] is None and scale["source"]["perf_cases"] == 0
    rocm = json.loads((imported / "tasks" / "imported" / ROCM / "test_add_kernel" / "task.json").read_text())
    assert rocm["source"]["format"] == ROCM and rocm["difficulty"] == 3
    assert rocm["source"]["perf_cases"] == 3        # its pytest perf tests
    assert "def add_kernel(" in rocm["entry"]["signature"]


def test_reimport_is_idempotent_and_leaves_foreign_directories(imported, tmp_path):
    out = imported / "tasks" / "imported" / TB
    snapshot = tmp_path / "before"
    shutil.copytree(out, snapshot)
    rc, stdout, err = geak("tasks", "import", TB, os.path.join(FIXTURES, TB), "--out", str(out))
    assert rc == 0, stdout + err
    for name in os.listdir(snapshot):
        cmp = filecmp.dircmp(snapshot / name, out / name)
        assert not cmp.diff_files and not cmp.left_only and not cmp.right_only, name
    # the simple instruction, into a directory that already holds somebody else's "row_sum"
    other = tmp_path / "other"
    (other / "row_sum").mkdir(parents=True)
    (other / "row_sum" / "notes.txt").write_text("mine")
    rc, stdout, err = geak("tasks", "import", TB, os.path.join(FIXTURES, TB), "--out", str(other),
                           "--instruction", "simp")
    assert rc == 1, stdout + err
    assert "skipped  row_sum" in stdout and "left alone" in stdout
    assert (other / "row_sum" / "notes.txt").read_text() == "mine"
    task = json.loads((other / "add_example" / "task.json").read_text())
    assert task["source"]["instruction"] == "simp"
    assert task["instruction"].startswith("Write a Triton kernel add_kernel and a wrapper")


def test_import_usage_errors(tmp_path):
    rc, _, err = geak("tasks", "import", "kernelbench", os.path.join(FIXTURES, TB))
    assert rc == 2 and "unknown format" in err
    rc, _, err = geak("tasks", "import", TB, str(tmp_path), "--out", str(tmp_path / "o"))
    assert rc == 1 and "no index JSON" in err
    rc, _, err = geak("tasks", "import", TB, os.path.join(FIXTURES, TB), "--instruction", "long")
    assert rc == 2


def test_list_recurses_into_imported(imported):
    rc, out, err = geak("tasks", "list", "--tasks", str(imported / "tasks"), "--json")
    assert rc == 0, err
    rows = {r["path"]: r for r in json.loads(out)}
    assert set(rows) == {f"imported/{TB}/add_example", f"imported/{TB}/row_sum", f"imported/{TB}/scale_inplace",
                         f"imported/{ROCM}/test_add_kernel", f"imported/{ROCM}/test_row_max"}
    assert rows[f"imported/{TB}/row_sum"]["source"] == f"{TB}:data/TritonBench_G_v1/row_sum.py"
    assert rows[f"imported/{TB}/row_sum"]["difficulty"] == 2
    rc, out, _ = geak("tasks", "list", "--tasks", str(imported / "tasks"))
    assert rc == 0 and "5 tasks" in out and "test_row_max" in out


def test_check_passes_imported_tasks(imported, tmp_path):
    report = tmp_path / "check.json"
    rc, out, err = geak("tasks", "check", "--tasks", str(imported / "tasks"), "--json", str(report))
    assert rc == 0, out + err[-3000:]
    data = json.loads(report.read_text())
    assert {t["name"]: t["status"] for t in data["tasks"]} == {
        "add_example": "ok", "row_sum": "ok", "scale_inplace": "ok", "test_add_kernel": "ok", "test_row_max": "ok"}
    assert data["ok"] == 5 and data["device"]["interpreted"] is True
    assert "5 tasks: 5 ok, 0 broken, 0 flaky" in out


TWICE_SPEC = '''
import os
import torch


def correctness_cases(interpreted):
    return [{"n": 100, "label": "n=100"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)
    return (torch.randn(case["n"], generator=g, device=device),)


def oracle(x):
    return x * 2 + NOISE
'''

TWICE_REF = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _twice(x, o, n, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(o + i, tl.load(x + i, mask=i < n) * FACTOR, mask=i < n)


def twice(x):
    out = torch.empty_like(x)
    _twice[(triton.cdiv(x.numel(), 64),)](x, out, x.numel(), BLOCK=64)
    return out
'''


def native_task(root, name, noise, factor):
    d = root / name
    d.mkdir(parents=True)
    (d / "task.json").write_text(json.dumps({"name": name, "category": "test", "difficulty": 1,
                                             "instruction": "twice", "entry": {"name": "twice", "signature": ""}}))
    (d / "spec.py").write_text(TWICE_SPEC.replace("NOISE", noise))
    (d / "reference.py").write_text(TWICE_REF.replace("FACTOR", factor))


def test_check_reports_broken_and_flaky(tmp_path):
    native_task(tmp_path, "good", "0", "2")
    native_task(tmp_path, "broken", "0", "3")                                   # reference is wrong
    native_task(tmp_path, "flaky", "int.from_bytes(os.urandom(4), \"little\") / 2.0 ** 32", "2")  # oracle not deterministic
    (tmp_path / "unreadable").mkdir()
    (tmp_path / "unreadable" / "task.json").write_text("{not json")
    report = tmp_path / "check.json"
    rc, out, err = geak("tasks", "check", "--tasks", str(tmp_path), "--json", str(report),
                        "--task", "good", "--task", "broken", "--task", "flaky", "--task", "unreadable")
    assert rc == 1, out + err[-3000:]
    rows = {t["name"]: t for t in json.loads(report.read_text())["tasks"]}
    assert rows["good"]["status"] == "ok"
    assert rows["broken"]["status"] == "broken" and "mismatch" in rows["broken"]["reason"]
    assert rows["unreadable"]["status"] == "broken"
    assert rows["flaky"]["status"] == "flaky", rows["flaky"]
    for name in ("good", "broken", "flaky", "unreadable"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), out
    rc, _, err = geak("tasks", "check", "--tasks", str(tmp_path), "--task", "nosuch")
    assert rc == 1 and "no task nosuch" in err


ADD_OK = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _add(a, b, o, n, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = i < n
    tl.store(o + i, tl.load(a + i, mask=m) + tl.load(b + i, mask=m), mask=m)


def add_wrapper(x, y):
    out = torch.empty_like(x)
    _add[(triton.cdiv(x.numel(), 64),)](x, y, out, x.numel(), BLOCK=64)
    return out
'''

ROW_MAX_OK = '''
import torch
import triton
import triton.language as tl


@triton.jit
def row_max_kernel(x_ptr, out_ptr, n_cols, stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * stride + offs, mask=offs < n_cols, other=float("-inf"))
    tl.store(out_ptr + row, tl.max(x, axis=0))


def row_max(x):
    x = x.contiguous()
    out = torch.empty(x.shape[0], device=x.device, dtype=x.dtype)
    row_max_kernel[(x.shape[0],)](x, out, x.shape[1], x.stride(0), BLOCK=triton.next_power_of_2(x.shape[1]))
    return out
'''


def test_candidates_through_the_evaluator(imported, tmp_path):
    tasks = str(imported / "tasks")
    rows = [
        {"id": "add-ok", "task": f"imported/{TB}/add_example", "code": ADD_OK},
        {"id": "add-wrong", "task": f"imported/{TB}/add_example", "code": ADD_OK.replace("+ tl.load(b", "- tl.load(b")},
        {"id": "add-missing", "task": f"imported/{TB}/add_example", "code": ADD_OK.replace("def add_wrapper", "def add2")},
        {"id": "max-ok", "task": f"imported/{ROCM}/test_row_max", "code": ROW_MAX_OK},
        # fails the test's own assert too: the benchmark judges by result_gold, so does geak
        {"id": "max-wrong", "task": f"imported/{ROCM}/test_row_max",
         "code": ROW_MAX_OK.replace("tl.max(x, axis=0)", "tl.max(x, axis=0) * 0.5")},
    ]
    cands = tmp_path / "cands.jsonl"
    cands.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, summary = tmp_path / "v.jsonl", tmp_path / "s.json"
    rc, stdout, err = geak("eval", "--candidates", str(cands), "--tasks", tasks, "--out", str(out),
                           "--summary", str(summary), "--standalone", "1", "--correctness-only")
    assert rc == 0, err[-3000:]
    by = {v["id"]: v for v in map(json.loads, out.read_text().splitlines())}
    assert by["add-ok"]["error_class"] == "pass", by["add-ok"]
    assert by["add-wrong"]["error_class"] == "mismatch", by["add-wrong"]
    assert by["add-wrong"]["call_ok"] and not by["add-wrong"]["exec_ok"]
    # the benchmark function the test section calls is missing: found statically, nothing runs
    assert by["add-missing"]["error_class"] == "import_error", by["add-missing"]
    assert "add_wrapper" in by["add-missing"]["message"]
    assert by["max-ok"]["error_class"] == "pass", by["max-ok"]
    assert by["max-wrong"]["error_class"] == "mismatch", by["max-wrong"]


SELFCHECK_STUB = r'''
"""Protocol stub of the fork server: answers every selfcheck with two timed runs."""
import argparse, json, os
ap = argparse.ArgumentParser()
ap.add_argument("--req-fd", type=int); ap.add_argument("--resp-fd", type=int)
ap.add_argument("--device-index", type=int); ap.add_argument("--cache-dir")
a, _ = ap.parse_known_args()
rin, out = os.fdopen(a.req_fd, "r"), os.fdopen(a.resp_fd, "w")
for line in rin:
    req = json.loads(line)
    if req["op"] == "ping":
        out.write(json.dumps({"op": "pong", "device": {"vendor": "stub"}}) + "\n")
    elif req["op"] == "selfcheck":
        runs = [{"error_class": "pass", "timed": True, "speedup": s, "gbps": 100.0, "tflops": 1.0}
                for s in (0.81, 1.0)]
        out.write(json.dumps({"op": "selfcheck", "id": req["id"], "result": {
            "status": "ok", "reason": "", "error_class": "pass", "call_ok": True, "exec_ok": True,
            "results": runs}}) + "\n")
    elif req["op"] == "quit":
        break
    out.flush()
'''


def test_check_gpu_reports_both_self_timings_and_their_geometric_mean(tmp_path):
    # the two self-check runs time the reference against itself independently: one noisy run
    # (0.81) must not stand alone for the task; the table and JSON give their geometric mean
    stub = tmp_path / "stub"
    (stub / "harness").mkdir(parents=True)
    (stub / "harness" / "__init__.py").write_text("")
    (stub / "harness" / "__main__.py").write_text(SELFCHECK_STUB)
    tasks = tmp_path / "tasks"
    shutil.copytree(os.path.join(ROOT, "tasks", "gelu"), tasks / "gelu")
    report = tmp_path / "check.json"
    rc, out, err = geak("tasks", "check", "--gpu", "--tasks", str(tasks), "--harness-dir",
                        str(stub / "harness"), "--json", str(report))
    assert rc == 0, out + err
    row = json.loads(report.read_text())["tasks"][0]
    assert row["status"] == "ok" and row["timed"] is True, row
    assert row["speedups"] == [0.81, 1.0]
    assert abs(row["speedup"] - 0.9) < 1e-9, row          # sqrt(0.81 * 1.0)
    assert "0.900" in out


def test_geak_eval_reads_geak_eval_and_tritonbench_inputs(imported, tmp_path):
    """GEAK-eval's and TritonBench's records ({"file", "predict", "label"}) as a JSON array and as
    JSONL, and a folder of .py files named by task; a record without code is an input error that
    names it, not a verdict."""
    tasks = str(imported / "tasks" / "imported" / TB)
    reply = "Here is the kernel:\n```python\n" + ADD_OK + "```\n"
    records = [{"file": "add_example.py", "predict": reply, "label": "gold, never evaluated",
                "difficulty": 1},
               {"file": "add_example.py", "label": ADD_OK, "instruction": "no predict here"}]
    as_array = tmp_path / "geak_eval.json"
    as_array.write_text(json.dumps(records))
    as_lines = tmp_path / "tritonbench.jsonl"
    as_lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    folder = tmp_path / "kernels"
    folder.mkdir()
    (folder / "add_example.py").write_text(ADD_OK)
    for source in (as_array, as_lines, folder):
        out = tmp_path / f"v-{source.name}.jsonl"
        rc, stdout, err = geak("eval", "--candidates", str(source), "--tasks", tasks, "--out", str(out),
                               "--standalone", "1", "--correctness-only", "--no-selfcheck")
        assert rc == 0, err[-3000:]
        verdicts = [json.loads(l) for l in out.read_text().splitlines()]
        assert verdicts[0]["error_class"] == "pass", (source.name, verdicts[0])
        assert verdicts[0]["task"] == "add_example"
        if source is folder:
            assert len(verdicts) == 1 and verdicts[0]["id"] == "add_example.py"
        else:
            bad = verdicts[1]
            assert bad["error_class"] == "invalid_input", bad
            assert "has no code field (code, reply or predict)" in bad["message"]
            assert "file, label, instruction" in bad["message"]


def shared_benchmarks():
    """The real benchmark data (../shared/benchmarks; GEAK_BENCHMARKS names another place)."""
    places = [os.environ.get("GEAK_BENCHMARKS", ""), os.path.join(os.path.dirname(ROOT), "shared", "benchmarks"),
              "/work/shared/benchmarks"]
    shared = next((p for p in places if p and os.path.isdir(os.path.join(p, "rocm"))), None)
    assert shared, f"the benchmarks are not at any of {places} (GEAK_BENCHMARKS names them)"
    return shared


def test_every_gold_source_of_both_benchmarks_passes_the_screen(tmp_path):
    """The static screen refuses no gold kernel of the real benchmarks (../shared/benchmarks):
    a false positive there is a false failure of every LLM that writes the same lines."""
    shared = shared_benchmarks()
    out = tmp_path / "gold"
    for fmt, src in ((TB, "tritonbench-revised"), (ROCM, "rocm")):
        rc, stdout, err = geak("tasks", "import", fmt, os.path.join(shared, src), "--out", str(out / fmt))
        assert rc == 0, err[-2000:]
    sys.path.insert(0, os.path.join(HARNESS, "harness"))
    from screen import screen
    refs = sorted(out.glob("*/*/reference.py"))
    assert len(refs) == 184 + 30, len(refs)
    refused = {r.parent.name: screen(r.read_text()) for r in refs}
    refused = {k: v for k, v in refused.items() if v}
    assert refused == {}, refused


def test_geak_eval_summary_by_difficulty_and_status_with_geak_eval_fields(imported, tmp_path):
    """The per-benchmark report: accuracy per difficulty (from each task's task.json, which the
    evaluator reports), tasks per self-check status with the excluded ones and their reasons, in
    the paper's table layout (--table), and GEAK-eval's result fields beside ours
    (--geak-eval-fields)."""
    tasks = str(imported / "tasks" / "imported" / TB)
    wrong = ADD_OK.replace("mask=m) + tl.load(b", "mask=m) - tl.load(b")
    assert wrong != ADD_OK
    records = [{"file": "add_example.py", "predict": "```python\n" + ADD_OK + "```"},
               {"file": "add_example.py", "predict": "```python\n" + wrong + "```"},
               {"task": "row_sum", "code": "import torch\n\n\ndef row_sum(x):\n    return x.float().sum(1)\n"},
               {"task": "scale_inplace", "code": "syntax error here ("}]
    src = tmp_path / "c.json"
    src.write_text(json.dumps(records))
    out, summary, table = tmp_path / "v.jsonl", tmp_path / "s.json", tmp_path / "table.txt"
    rc, stdout, err = geak("eval", "--candidates", str(src), "--tasks", tasks, "--out", str(out),
                           "--summary", str(summary), "--table", str(table), "--geak-eval-fields",
                           "--standalone", "1", "--correctness-only")
    assert rc == 0, err[-3000:]
    v = [json.loads(l) for l in out.read_text().splitlines()]
    assert [x["error_class"] for x in v] == ["pass", "mismatch", "no_kernel_launched", "syntax_error"], v
    assert [x["difficulty"] for x in v] == [1, 1, 2, 1], v     # the fixtures' task.json difficulties
    assert v[0]["file_name"] == "add_example.py" and v[2]["file_name"] == "row_sum.py", v
    assert (v[0]["call_status"], v[0]["exec_status"]) == (True, True)
    assert (v[1]["call_status"], v[1]["exec_status"]) == (True, False)
    assert (v[3]["call_status"], v[3]["exec_status"]) == (False, False)
    assert v[1]["stderr"].startswith(v[1]["message"]) and "out of tolerance" in v[1]["stderr"], v[1]
    assert v[0]["speedup"] == 0 and v[0]["stdout"] == ""      # not timed under the interpreter
    s = json.loads(summary.read_text())
    assert s["n"] == 4 and s["exec_ok"] == 1
    assert s["by_difficulty"]["1"]["n"] == 3 and s["by_difficulty"]["1"]["exec_ok"] == 1
    assert s["by_difficulty"]["1"]["call_ok"] == 2 and s["by_difficulty"]["2"]["n"] == 1
    assert s["by_task_status"]["ok"] == {"tasks": 3, "candidates": 4, "exec_ok": 1}, s["by_task_status"]
    text = table.read_text()
    assert "L1" in text and "L2" in text and "66.7%" in text and "33.3%" in text, text
    assert "Tasks by self-check status" in text and "Excluded tasks" in text and "none" in text, text


def test_check_answers_from_the_host_cache_without_a_fork_server(imported, tmp_path):
    """A second `geak tasks check` of unchanged tasks (same device, torch, triton, harness) is
    answered from the host cache by a lookup that imports no torch, with no fork server started;
    an edited task is checked again by a server."""
    root = tmp_path / "tasks"
    shutil.copytree(imported / "tasks" / "imported" / TB, root)
    cache = tmp_path / "cache"
    args = ("tasks", "check", "--tasks", str(root), "--cache-dir", str(cache))
    rc, out, err = geak(*args)
    assert rc == 0 and "3 tasks: 3 ok" in out, out + err[-2000:]
    assert "tasks_server_ready" in err and "answered=0 of=3" in err, err[-2000:]
    rc, out, err = geak(*args)
    assert rc == 0 and "3 tasks: 3 ok" in out, out + err[-2000:]
    assert "answered=3 of=3" in err and "tasks_server_ready" not in err, err[-2000:]
    with open(root / "row_sum" / "spec.py", "a") as f:
        f.write("\n# edited\n")
    rc, out, err = geak(*args)
    assert rc == 0 and "3 tasks: 3 ok" in out and "answered=2 of=3" in err, out + err[-2000:]
    assert err.count("tasks_server_ready") == 1, err[-2000:]


def test_a_test_section_that_produces_nothing_is_no_pass(imported, tmp_path):
    """A pytest-layout test section whose every test stops at an assert before storing a result
    (as the real ROCm tests do on a machine without the device they name) leaves result_gold
    empty: nothing was compared, so it is a runtime error naming the first assert, never a pass."""
    tasks = str(imported / "tasks" / "imported" / ROCM)
    code = ("import torch\n\n\ndef row_max(x):\n"
            "    raise AssertionError('Torch not compiled with CUDA enabled')\n")
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"task": "test_row_max", "code": code}) + "\n")
    out = tmp_path / "v.jsonl"
    rc, stdout, err = geak("eval", "--candidates", str(src), "--tasks", tasks, "--out", str(out),
                           "--standalone", "1", "--correctness-only", "--no-selfcheck")
    assert rc == 0, err[-3000:]
    v = json.loads(out.read_text().splitlines()[0])
    assert v["error_class"] == "runtime_error" and v["exec_ok"] is False, v
    assert "produced no result" in v["message"] and "stopped at an assert" in v["message"], v
    assert "Torch not compiled with CUDA enabled" in v["message"], v


def test_check_json_keeps_finished_rows_when_cut_short(imported, tmp_path):
    """--json is rewritten as each task ends: a check killed part-way (a device call's limit, a
    pod evicted) leaves every finished row with its status and reason, the rest `pending`."""
    import time
    report = tmp_path / "check.json"
    p = subprocess.Popen([os.path.join(os.path.abspath(BIN), "geak"), "tasks", "check", "--tasks",
                          str(imported / "tasks"), "--servers", "1", "--cache-dir", str(tmp_path / "cache"),
                          "--json", str(report)], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    rows = []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and p.poll() is None:
            if report.exists():
                rows = json.loads(report.read_text())["tasks"]
                if any(r["status"] != "pending" for r in rows):
                    break
            time.sleep(0.05)        # polling a file for a condition, bounded by the deadline
        assert p.poll() is None, "the check ended before a partial report could be seen"
        p.kill()
    finally:
        p.wait(30)
    rows = json.loads(report.read_text())["tasks"]      # what the killed command left
    done = [r for r in rows if r["status"] != "pending"]
    assert len(rows) == 5 and done and len(done) < 5, rows
    assert all(r["status"] == "ok" and r["seconds"] > 0 for r in done), done
