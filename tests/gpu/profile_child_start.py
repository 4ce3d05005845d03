#!/usr/bin/env python3
"""Where does a forked evaluation child spend its start-up on a GPU?  Prints the cost of each
step a child of the fork server takes (torch/triton imported in the parent, CUDA only in the child)."""
import os
import sys
import time

t0 = time.monotonic()
import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402
print("parent import torch+triton: %.2f s" % (time.monotonic() - t0))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "services", "evaluator"))
from harness import warmup  # noqa: E402


def step(name, f):
    t = time.monotonic()
    f()
    print("  %-34s %7.1f ms" % (name, (time.monotonic() - t) * 1e3), flush=True)


for attempt in range(3):
    pid = os.fork()
    if pid == 0:
        print("child %d:" % attempt)
        step("torch.cuda.set_device+init", lambda: (torch.cuda.set_device(0), torch.cuda.init()))
        step("first cuda tensor", lambda: torch.zeros(1, device="cuda"))
        step("triton driver active", lambda: triton.runtime.driver.active.get_current_device())
        step("warmup kernel (cached after #0)", lambda: (warmup.run("cuda"), torch.cuda.synchronize()))
        step("randn 2^20 on device", lambda: torch.randn(1 << 20, device="cuda"))
        step("gelu oracle", lambda: torch.nn.functional.gelu(torch.randn(1000, device="cuda")).cpu())
        os._exit(0)
    os.waitpid(pid, 0)

# ---- the oracle child's per-run costs for one task (default gelu)
from harness import task as tasklib, wire  # noqa: E402
task = tasklib.load(os.path.join(os.path.dirname(__file__), "..", "..", "tasks",
                                 sys.argv[1] if len(sys.argv) > 1 else "gelu"))
pid = os.fork()
if pid == 0:
    torch.cuda.set_device(0)
    torch.cuda.init()
    torch.use_deterministic_algorithms(True, warn_only=True)
    for rnd in range(2):
        for case in task.correctness_cases(False):
            t = [time.monotonic()]
            inputs = task.spec.make_inputs(case, 123, "cuda")
            torch.cuda.synchronize(); t.append(time.monotonic())
            d = wire.digest_tensors(inputs); t.append(time.monotonic())
            out = task.spec.oracle(*inputs); torch.cuda.synchronize(); t.append(time.monotonic())
            desc, blob = wire.pack_value(out); t.append(time.monotonic())
            print("round %d %-24s inputs %7.1f digest %7.1f oracle %7.1f pack %7.1f ms" % (
                (rnd, task.label(case)) + tuple((b - a) * 1e3 for a, b in zip(t, t[1:]))), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
