"""Loading a task directory: task.json (data) and spec.py (oracle, inputs, cases).

spec.py is our own trusted code; importing it is safe in the fork server as long
as nothing touches the GPU (make_inputs/oracle only ever run in children).
"""
import hashlib
import importlib.util
import json
import os

DEFAULT_TOL = {"float32": {"atol": 1e-5, "rtol": 1e-5},
               "float16": {"atol": 1e-2, "rtol": 1e-2},
               "bfloat16": {"atol": 2e-2, "rtol": 2e-2}}


class TaskError(Exception):
    pass


class Task:
    def __init__(self, task_dir):
        self.dir = os.path.realpath(task_dir)
        path = os.path.join(self.dir, "task.json")
        try:
            with open(path) as f:
                self.meta = json.load(f)
        except (OSError, ValueError) as e:
            raise TaskError("cannot read %s: %s" % (path, e))
        entry = self.meta.get("entry") or {}
        self.entry = entry.get("name") if isinstance(entry, dict) else entry
        if not self.entry:
            raise TaskError("task.json has no entry.name")
        self.name = self.meta.get("name") or os.path.basename(self.dir)
        self.tolerances = dict(DEFAULT_TOL)
        self.tolerances.update(self.meta.get("tolerances") or {})
        self.reference_file = os.path.join(self.dir, self.meta.get("reference", "reference.py"))
        self.spec_file = os.path.join(self.dir, self.meta.get("spec", "spec.py"))
        # optional "append": a file whose source is run after the candidate's (and after
        # reference.py) in the same module, e.g. a benchmark's test section (docs/tasks.md)
        append = self.meta.get("append")
        if append is not None and (not isinstance(append, str) or not append):
            raise TaskError("task.json: append must be a file name")
        self.append_file = os.path.join(self.dir, append) if append else None
        self.append_src = None
        h = hashlib.sha256()
        for p in (path, self.reference_file, self.spec_file) + ((self.append_file,) if append else ()):
            try:
                with open(p, "rb") as f:
                    data = f.read()
                h.update(data)
                if p == self.append_file:
                    self.append_src = data  # read here: the candidate child may not read the task dir
            except OSError as e:
                raise TaskError("cannot read %s: %s" % (p, e))
        self.digest = h.hexdigest()[:16]
        self._spec = None

    @property
    def spec(self):
        if self._spec is None:
            mod_name = "geak_task_spec_%s_%s" % (self.name.replace("-", "_"), self.digest)
            s = importlib.util.spec_from_file_location(mod_name, self.spec_file)
            m = importlib.util.module_from_spec(s)
            try:
                s.loader.exec_module(m)
            except Exception as e:
                raise TaskError("spec.py failed to import: %r" % (e,))
            for fn in ("oracle", "make_inputs", "correctness_cases"):
                if not callable(getattr(m, fn, None)):
                    raise TaskError("spec.py lacks %s()" % fn)
            self._spec = m
        return self._spec

    def facts(self):
        """What a result carries about its task: difficulty (1-5, 0 when task.json has none or
        an out-of-range one) and category."""
        d = self.meta.get("difficulty")
        d = d if isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 5 else 0
        c = self.meta.get("category")
        return {"task_difficulty": d, "task_category": c[:100] if isinstance(c, str) else ""}

    def correctness_cases(self, interpreted):
        return list(self.spec.correctness_cases(interpreted))

    def perf_cases(self, interpreted):
        f = getattr(self.spec, "perf_cases", None)
        return list(f(interpreted)) if f else []

    def label(self, case):
        f = getattr(self.spec, "label", None)
        if f:
            return str(f(case))
        if isinstance(case, dict) and "label" in case:
            return str(case["label"])
        return json.dumps(case, sort_keys=True)

    def tol(self, dtype_name):
        t = self.tolerances.get(dtype_name)
        if t is None:
            return {"atol": 0.0, "rtol": 0.0}
        return {"atol": float(t.get("atol", 0.0)), "rtol": float(t.get("rtol", 0.0))}

    def bytes_moved(self, case):
        f = getattr(self.spec, "bytes_moved", None)
        return float(f(case)) if f else 0.0

    def flops(self, case):
        f = getattr(self.spec, "flops", None)
        return float(f(case)) if f else 0.0


_CACHE = {}


def load(task_dir):
    t = Task(task_dir)
    key = (t.dir, t.digest)
    if key not in _CACHE:
        _CACHE[key] = t
    return _CACHE[key]
