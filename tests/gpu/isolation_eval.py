#!/usr/bin/env python3
"""Drive one real fork server on the GPU through its sandbox: ping (isolation layers), the gelu
reference in full mode (timed), a wrong answer, a syntax error.  Usage: isolation_eval.py BPF"""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EV = os.path.join(ROOT, "services", "evaluator")


class FS:
    def __init__(self, bpf):
        r, self.w = os.pipe()
        self.r, w = os.pipe()
        self.p = subprocess.Popen([sys.executable, "-m", "harness.forkserver", "--req-fd", str(r), "--resp-fd",
                                   str(w), "--cache-dir", tempfile.mkdtemp(), "--seccomp-bpf", bpf],
                                  pass_fds=(r, w), env=dict(os.environ, PYTHONPATH=EV), cwd=EV)
        os.close(r)
        os.close(w)
        self.buf = b""

    def send(self, o):
        os.write(self.w, (json.dumps(o) + "\n").encode())

    def recv(self, t=300):
        dl = time.monotonic() + t
        while b"\n" not in self.buf:
            rr, _, _ = select.select([self.r], [], [], max(0, dl - time.monotonic()))
            if not rr:
                raise TimeoutError
            c = os.read(self.r, 1 << 16)
            if not c:
                raise EOFError
            self.buf += c
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def main():
    fs = FS(sys.argv[1])
    t = time.monotonic()
    fs.send({"op": "ping"})
    pong = fs.recv()
    print("ping %.1f s isolation=%s" % (time.monotonic() - t, json.dumps(pong.get("isolation"))))
    print("device", json.dumps(pong.get("device")))
    ref = open(os.path.join(ROOT, "tasks", "gelu", "reference.py")).read()
    cases = [("reference full", ref, "full"), ("reference again", ref + "\n# again\n", "full"),
             ("wrong", ref.replace("0.5 * x", "0.25 * x"), "correctness"),
             ("syntax", "def gelu(x)\n  return x\n", "correctness")]
    for label, code, mode in cases:
        sb = tempfile.mkdtemp()
        open(os.path.join(sb, "candidate.py"), "w").write(code)
        t = time.monotonic()
        fs.send({"op": "eval", "id": label, "task_dir": os.path.join(ROOT, "tasks", "gelu"), "sandbox_dir": sb,
                 "seed": 77, "mode": mode, "timeout_s": 120, "perf_reps": 30, "check_determinism": True,
                 "limits": {"cpu_s": 300, "nproc": 512, "nofile": 1024}})
        while True:
            m = fs.recv()
            if m.get("event") == "result":
                break
        r = m["result"]
        print("%-16s %-14s %6.0f ms speedup=%.3f timed=%s sandbox=%s\n   phases=%s\n   msg=%s" % (
            label, r["error_class"], (time.monotonic() - t) * 1e3, r.get("speedup", 0), r.get("timed"),
            r.get("sandbox"), json.dumps(r.get("phases_ms")), r.get("error_message", "")[:300]))
        if r["error_class"] not in ("pass", "mismatch", "syntax_error"):
            print(r.get("trace", "")[-2000:])
        shutil.rmtree(sb, ignore_errors=True)
    fs.send({"op": "quit"})
    fs.recv()


if __name__ == "__main__":
    main()
