"""Static screen of candidate source, run in the fork server before any fork.

screen(source) -> None when the code may run, else (error_class, message).
The screen is a fast first gate (a refused construct is answered in milliseconds, no process
started); it is not the boundary: the operating system's sandbox (isolate.py) and the trusted,
out-of-process comparison are what a determined candidate actually meets (docs/security.md).
"""
import ast

# top-level modules a candidate may not import at all
FORBIDDEN_MODULES = {
    "inspect", "gc", "ctypes", "cffi", "threading", "_thread",
    "concurrent", "subprocess", "socket", "ssl", "http", "urllib", "requests",
    "asyncio", "selectors", "signal", "pty", "resource", "mmap",
    "importlib", "builtins", "pickle", "marshal", "code", "codeop",
    "harness", "traceback", "atexit", "faulthandler", "tracemalloc", "weakref",
}
# Imported by benchmark gold code, so an import alone is no offence (the sandbox, not the
# screen, is the boundary): sys's dangerous parts are forbidden attributes (modules,
# _getframe, settrace, ...); of multiprocessing only cpu_count may be used (no processes or
# thread pools doing a kernel's work behind the timer).
MULTIPROCESSING_ALLOWED = {"cpu_count"}
# names from os a candidate may not touch
FORBIDDEN_OS = {
    "fork", "forkpty", "system", "popen", "spawnl", "spawnle", "spawnlp", "spawnlpe",
    "spawnv", "spawnve", "spawnvp", "spawnvpe", "execl", "execle", "execlp", "execlpe",
    "execv", "execve", "execvp", "execvpe", "posix_spawn", "posix_spawnp", "kill",
    "killpg", "_exit", "setpgid", "setsid", "dup2", "write", "open", "register_at_fork",
    "environ", "putenv", "chdir", "remove", "unlink", "rename", "replace",
}
# modules whose attributes may not be assigned / deleted / setattr'ed
PROTECTED_ROOTS = {"torch", "triton", "tl", "np", "numpy", "harness", "os", "math", "random",
                   "time", "builtins", "__builtins__", "sys", "F", "nn", "functional"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "globals", "vars", "locals",
                   "breakpoint", "setattr", "delattr", "input"}
FORBIDDEN_ATTRS = {
    "_getframe", "_current_frames", "f_back", "f_globals", "f_locals", "f_builtins", "tb_frame",
    "gi_frame", "cr_frame", "ag_frame", "__globals__", "__code__", "__closure__", "__subclasses__",
    "__builtins__", "__dict__", "__mro__", "__bases__", "__base__", "__class__", "__getattribute__",
    "__setattr__", "__delattr__", "__reduce__", "__reduce_ex__", "__import__", "__loader__",
    "__spec__", "modules", "get_objects", "get_referrers", "get_referents",
    "Stream", "ExternalStream", "stream", "set_stream", "StreamContext", "_exit",
    "settrace", "setprofile", "addaudithook", "gettrace", "getprofile", "_current_exceptions",
}


def _root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Screen(ast.NodeVisitor):
    def __init__(self):
        self.problem = None
        self.os_aliases = {"os"}
        self.mp_aliases = {"multiprocessing"}
        self.torch_aliases = {"torch"}
        self.protected = set(PROTECTED_ROOTS)

    def flag(self, node, what):
        if self.problem is None:
            self.problem = "line %d: %s" % (getattr(node, "lineno", 0), what)

    def visit_Import(self, node):
        for a in node.names:
            top = a.name.split(".")[0]
            if top in FORBIDDEN_MODULES:
                self.flag(node, "import of %s is not allowed" % a.name)
            if top == "os" and a.asname:
                self.os_aliases.add(a.asname)
            if top == "multiprocessing":
                if "." in a.name:
                    self.flag(node, "import of %s is not allowed" % a.name)
                self.mp_aliases.add(a.asname or "multiprocessing")
            if a.name == "torch" and a.asname:
                self.torch_aliases.add(a.asname)
            if top in ("torch", "triton", "numpy") and a.asname:
                self.protected.add(a.asname)
            if top in ("torch", "triton", "numpy") and "." in a.name and not a.asname:
                pass
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        mod = node.module or ""
        top = mod.split(".")[0]
        if node.level == 0 and top in FORBIDDEN_MODULES:
            self.flag(node, "import from %s is not allowed" % mod)
        if node.level > 0:
            self.flag(node, "relative imports are not allowed")
        if node.level == 0 and top == "multiprocessing":
            for a in node.names:
                if mod != "multiprocessing" or a.name not in MULTIPROCESSING_ALLOWED:
                    self.flag(node, "from %s import %s is not allowed" % (mod, a.name))
        for a in node.names:
            if a.name == "*" and top in ("os",):
                self.flag(node, "from os import * is not allowed")
            if top == "os" and a.name in FORBIDDEN_OS:
                self.flag(node, "os.%s is not allowed" % a.name)
            if a.name in FORBIDDEN_MODULES and top in ("os", ""):
                self.flag(node, "import of %s is not allowed" % a.name)
            if a.name in ("Stream", "ExternalStream", "stream", "set_stream"):
                self.flag(node, "CUDA streams are not allowed")
            if top in ("torch", "triton", "numpy"):
                self.protected.add(a.asname or a.name)
        self.generic_visit(node)

    def _check_target(self, t, node, verb):
        if isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self._check_target(e, node, verb)
            return
        if isinstance(t, ast.Starred):
            self._check_target(t.value, node, verb)
            return
        if isinstance(t, (ast.Attribute, ast.Subscript)):
            root = _root_name(t)
            dotted = _dotted(t) if isinstance(t, ast.Attribute) else None
            if (root in self.torch_aliases and dotted and dotted.split(".")[1:2] == ["backends"]
                    and dotted.count(".") >= 2 and verb == "assignment"):
                # torch.backends.cudnn.allow_tf32 = ...: a numeric setting of the candidate's
                # own process (the reference runs in another one)
                return
            if root in self.protected or root in self.os_aliases:
                self.flag(node, "%s of an attribute of module %s (%s) is not allowed"
                          % (verb, root, _dotted(t) if isinstance(t, ast.Attribute) else root))

    def visit_Assign(self, node):
        for t in node.targets:
            self._check_target(t, node, "assignment")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._check_target(node.target, node, "assignment")
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._check_target(node.target, node, "assignment")
        self.generic_visit(node)

    def visit_Delete(self, node):
        for t in node.targets:
            self._check_target(t, node, "deletion")
        self.generic_visit(node)

    def visit_Global(self, node):
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in FORBIDDEN_ATTRS:
            self.flag(node, "access to .%s is not allowed" % node.attr)
        root = _root_name(node)
        if root in self.os_aliases and node.attr in FORBIDDEN_OS:
            self.flag(node, "os.%s is not allowed" % node.attr)
        if (isinstance(node.value, ast.Name) and node.value.id in self.mp_aliases
                and node.attr not in MULTIPROCESSING_ALLOWED):
            self.flag(node, "multiprocessing.%s is not allowed" % node.attr)
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in ("__builtins__", "__loader__", "__spec__"):
            self.flag(node, "use of %s is not allowed" % node.id)
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS:
            self.flag(node, "call of %s() is not allowed" % f.id)
        if isinstance(f, ast.Name) and f.id == "getattr" and len(node.args) >= 2:
            # computed names pass here on purpose: the run-time gates handle them
            if (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                    and node.args[1].value in FORBIDDEN_ATTRS):
                self.flag(node, "getattr of %s is not allowed" % node.args[1].value)
        for kw in node.keywords:
            if kw.arg == "stream":
                self.flag(node, "passing stream= is not allowed")
        self.generic_visit(node)

    def visit_With(self, node):
        for item in node.items:
            d = _dotted(item.context_expr.func) if isinstance(item.context_expr, ast.Call) else None
            if d and d.split(".")[-1] in ("stream", "Stream"):
                self.flag(node, "stream contexts are not allowed")
        self.generic_visit(node)


def screen(source):
    """-> None if the code may run; else (error_class, message)."""
    if not source or not source.strip():
        return ("no_code", "the candidate file contains no code")
    try:
        tree = ast.parse(source, filename="candidate.py")
    except SyntaxError as e:
        return ("syntax_error", "line %s: %s" % (e.lineno, e.msg))
    except (ValueError, MemoryError, RecursionError) as e:
        return ("syntax_error", str(e))
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if not body:
        return ("no_code", "the candidate file contains no statements")
    s = _Screen()
    try:
        s.visit(tree)
    except RecursionError:
        return ("forbidden_construct", "source nests too deeply")
    if s.problem:
        return ("forbidden_construct", s.problem)
    return None


def _top_level_names(tree):
    """Names a module binds at top level (into if/try/with/for blocks, not into functions).
    None when it cannot tell (a star import)."""
    names = set()
    stack = list(tree.body)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                if a.name == "*":
                    return None
                names.add((a.asname or a.name).split(".")[0])
        elif isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in targets:
                for x in ast.walk(t):
                    if isinstance(x, ast.Name):
                        names.add(x.id)
        elif isinstance(n, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for c in getattr(n, field, []) or []:
                    stack.extend(c.body if isinstance(c, ast.ExceptHandler) else [c])
            if isinstance(n, ast.For):
                for x in ast.walk(n.target):
                    if isinstance(x, ast.Name):
                        names.add(x.id)
        elif isinstance(n, ast.Expr) and isinstance(n.value, ast.NamedExpr):
            names.add(n.value.target.id)
    return names


def missing_names(source, required):
    """Which of `required` the source never binds at top level (static: an LLM reply that
    renamed or forgot the entry point is answered without starting anything).  [] when unsure."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    names = _top_level_names(tree)
    if names is None:
        return []
    return [r for r in required if r not in names]
