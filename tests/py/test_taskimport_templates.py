"""The importer's generated Python, kept as Python files (lib/taskimport/) and embedded in the
C library at build time (scripts/embed_py.py): linted, and its helpers unit-tested here as the
Python they are.  End-to-end imports and judging: test_tasks_import.py."""
import os
import subprocess
import sys
import types

import pytest

from geakproc import BIN, ROOT

TEMPLATES = os.path.join(ROOT, "lib", "taskimport")


def test_templates_are_lint_clean():
    files = sorted(os.path.join(TEMPLATES, n) for n in os.listdir(TEMPLATES) if n.endswith(".py"))
    assert [os.path.basename(f) for f in files] == ["bench_glue.py", "spec.py"]
    p = subprocess.run([sys.executable, "-m", "pyflakes"] + files + [os.path.join(ROOT, "scripts", "embed_py.py")],
                       capture_output=True, text=True)
    assert p.returncode == 0 and not p.stdout.strip(), p.stdout + p.stderr


def test_the_library_embeds_these_files(tmp_path):
    """What `geak tasks import` writes is these files: the runner verbatim after the task's data,
    the spec template with its task-data block replaced."""
    bench = tmp_path / "b"
    (bench / "data" / "TritonBench_G_v1").mkdir(parents=True)
    (bench / "data" / "TritonBench_G_v1" / "k.py").write_text(
        "import torch\n\n\ndef f(x):\n    return x\n\n" + "#" * 146 + "\n\n"
        "def test_f():\n    return {'a': f(torch.ones(2))}\n\n\nresult_gold = test_f()\n")
    (bench / "data" / "TritonBench_G_v1.json").write_text('[{"file": "k.py", "difficulty": 1, '
                                                          '"simp_instru": "s", "comp_instru": "c"}]')
    p = subprocess.run([os.path.join(BIN, "geak"), "tasks", "import", "tritonbench-revised", str(bench),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    glue = open(os.path.join(TEMPLATES, "bench_glue.py")).read()
    assert (tmp_path / "out" / "k" / "bench_test.py").read_text().endswith(glue)
    spec = (tmp_path / "out" / "k" / "spec.py").read_text()
    tpl = open(os.path.join(TEMPLATES, "spec.py")).read()
    head, rest = tpl.split("# geak-import: the task's data", 1)
    tail = rest.split("# geak-import: end\n", 1)[1]
    assert spec == head + "NAME = \"k\"\nPERF_CASES = 0\n" + tail


@pytest.fixture(scope="module")
def glue():
    """The runner as a module, with the task data the importer would write above it."""
    m = types.ModuleType("geak_glue_under_test")
    m.__dict__["_GEAK_BENCH"] = {"layout": "plain"}
    exec(compile(open(os.path.join(TEMPLATES, "bench_glue.py")).read(), "bench_glue.py", "exec"), m.__dict__)
    return m


def test_flatten_orders_and_converts_like_the_benchmark_results(glue):
    import numpy
    import torch
    out = glue._geak_flatten({"b": [torch.ones(2), None, 3], "a": (1.5, "hi"), "c": numpy.arange(3)})
    assert [str(t.dtype) for t in out] == ["torch.float64", "torch.uint8", "torch.float32", "torch.int64",
                                           "torch.int64"]
    assert out[0].item() == 1.5 and bytes(out[1].tolist()) == b"hi" and out[3].item() == 3
    assert out[4].tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError, match="nested too deeply"):
        deep = []
        for _ in range(70):
            deep = [deep]
        glue._geak_flatten(deep)


def test_pick_spreads_perf_cases_from_the_largest_input(glue):
    assert [glue._geak_pick(k, 3, 10) for k in range(3)] == [9, 6, 3]
    assert [glue._geak_pick(k, 3, 2) for k in range(3)] == [1, 1, 0]
    assert glue._geak_pick(0, 1, 1) == 0


def test_param_cases_expand_parametrize_marks_and_skip_marks(glue):
    @pytest.mark.parametrize("n", [1, 2])
    @pytest.mark.parametrize("dtype", ["fp16", pytest.param("fp8", marks=pytest.mark.skip)])
    def test_x(n, dtype):
        pass

    cases = glue._geak_param_cases(test_x)
    assert sorted(kw["n"] for _, kw in cases) == [1, 2] and {kw["dtype"] for _, kw in cases} == {"fp16"}
    assert all(case_id.count("-") == 1 for case_id, _ in cases), cases

    @pytest.mark.skipif(True, reason="never")
    def test_y():
        pass

    assert glue._geak_param_cases(test_y) == []


def test_on_cpu_under_the_interpreter(glue, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert glue._geak_on_cpu() is True
    import torch
    t = torch.ones(1)
    assert glue._geak_to_device([t])[0] is t
