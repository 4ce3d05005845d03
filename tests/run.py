#!/usr/bin/env python3
"""The one test runner: C selftests, C test programs, pytest suites across
real processes, and bounded fuzz runs. Prints one line per suite and a
final 'N passed, N failed'. Exit status 1 when anything failed."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNT_RE = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed", re.M)


def run(cmd, env=None, timeout=900):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += f"\n[runner] TIMEOUT after {timeout}s\n"
        rc = 124
    return rc, out, time.time() - t0


def counted(name, cmd, env, verbose):
    rc, out, dt = run(cmd, env)
    m = COUNT_RE.findall(out)
    if m:
        passed, failed = int(m[-1][0]), int(m[-1][1])
    else:
        passed, failed = 0, 1
    if rc != 0 and failed == 0:
        failed = 1          # crashed after counting, or a sanitizer report
    print(f"[{name}] {passed} passed, {failed} failed ({dt:.1f}s)")
    if failed or verbose:
        print(out)
    return passed, failed


def pytest_suite(build, env, verbose, selected):
    xml = tempfile.NamedTemporaryFile(suffix=".xml", delete=False).name
    args = [sys.executable, "-m", "pytest", "-q",
            f"--junitxml={xml}", "-p", "no:cacheprovider"]
    args += selected or ["tests/py"]
    rc, out, dt = run(args, env, timeout=1500)
    passed = failed = skipped = 0
    try:
        for case in ET.parse(xml).getroot().iter("testcase"):
            tags = {child.tag for child in case}
            if "failure" in tags or "error" in tags:
                failed += 1
            elif "skipped" in tags:
                skipped += 1
            else:
                passed += 1
    except (ET.ParseError, FileNotFoundError):
        failed += 1
    finally:
        if os.path.exists(xml):
            os.unlink(xml)
    if rc not in (0, 5) and failed == 0:
        failed = 1
    # a skipped test did not run: a missing binary or tool is a failure, never a skip
    failed += skipped
    print(f"[pytest] {passed} passed, {failed} failed ({skipped} of them skipped) ({dt:.1f}s)")
    if failed or verbose or skipped:
        print(out)
    return passed, failed


def fuzz_suite(fuzz_build, seconds, verbose):
    passed = failed = 0
    if not os.path.isdir(fuzz_build):
        print(f"[fuzz] no fuzz build at {fuzz_build}")
        return 0, 1
    for name in sorted(os.listdir(fuzz_build)):
        path = os.path.join(fuzz_build, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        corpus = os.path.join(ROOT, "fuzz", "corpus", name)
        work = tempfile.mkdtemp(prefix=f"geak-fuzz-{name}-")
        cmd = [path, f"-max_total_time={seconds}", "-timeout=5", "-rss_limit_mb=2048",
               f"-artifact_prefix={work}/", work]
        if os.path.isdir(corpus):
            cmd.append(corpus)
        rc, out, dt = run(cmd, timeout=seconds + 120)
        ok = rc == 0 and "Done" in out
        runs = re.findall(r"Done (\d+) runs", out)
        print(f"[fuzz:{name}] {'ok' if ok else 'FAILED'} "
              f"({runs[-1] if runs else '?'} runs in {dt:.1f}s)")
        if not ok or verbose:
            print(out[-4000:])
        passed += ok
        failed += not ok
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/san")
    ap.add_argument("--fuzz-build", default="build/fuzz")
    ap.add_argument("--fuzz-seconds", type=int, default=int(os.environ.get("GEAK_FUZZ_SECONDS", "10")))
    ap.add_argument("--only", choices=["c", "py", "fuzz"], action="append")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    only = set(a.only or ["c", "py", "fuzz"])

    env = dict(os.environ)
    env["GEAK_BUILD"] = os.path.join(ROOT, a.build)
    env.setdefault("TRITON_INTERPRET", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # ASan: a child we kill -9 cannot report; leaks in processes that exit
    # normally are reported and fail the suite.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

    total_p = total_f = 0
    tests_dir = os.path.join(ROOT, a.build, "tests")
    if "c" in only:
        p, f = counted("selftest", [os.path.join(tests_dir, "selftest")], env, a.verbose)
        total_p += p; total_f += f
        # the roles' own unit checks (policy code that lives in services/<role>/)
        for role in ("evaluator", "optimizer"):
            p, f = counted("geak-%s --selftest" % role,
                           [os.path.join(ROOT, a.build, "bin", "geak-" + role), "--selftest"], env, a.verbose)
            total_p += p; total_f += f
        for name in sorted(os.listdir(tests_dir)) if os.path.isdir(tests_dir) else []:
            if name.startswith("test_"):
                p, f = counted(name, [os.path.join(tests_dir, name)], env, a.verbose)
                total_p += p; total_f += f
    if "py" in only:
        p, f = pytest_suite(a.build, env, a.verbose, a.pytest_args)
        total_p += p; total_f += f
    if "fuzz" in only:
        p, f = fuzz_suite(os.path.join(ROOT, a.fuzz_build), a.fuzz_seconds, a.verbose)
        total_p += p; total_f += f
    print(f"{total_p} passed, {total_f} failed")
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
