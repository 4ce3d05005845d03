#!/usr/bin/env python3
"""Candidates for bench/scaleout.sh: for every task of a suite, its reference
(expected pass), a deliberately slower correct variant (the entry point runs
twice) and a wrong variant (the result is perturbed after a real kernel ran).
Writes JSONL lines {"id","task","code","expect"} for `geak eval`."""
import argparse
import json
import os
import re


def entry_name(task_dir):
    with open(os.path.join(task_dir, "task.json")) as f:
        spec = json.load(f)
    return spec["entry"]["name"], spec.get("reference", "reference.py")


SLOWER = """

_geak_bench_inner = {entry}


def {entry}(*args, **kwargs):
    _geak_bench_inner(*args, **kwargs)          # wasted work: the whole op once more
    return _geak_bench_inner(*args, **kwargs)
"""

WRONG = """

_geak_bench_inner = {entry}


def _geak_bench_perturb(t):
    if t.is_floating_point():
        return t * 1.5 + 0.25
    if t.dtype == torch.bool:
        return ~t
    return t + 1


def {entry}(*args, **kwargs):
    out = _geak_bench_inner(*args, **kwargs)
    if isinstance(out, tuple):
        return (_geak_bench_perturb(out[0]),) + tuple(out[1:])
    return _geak_bench_perturb(out)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="tasks")
    ap.add_argument("--out", required=True)
    ap.add_argument("--variants", default="reference,slower,wrong")
    ap.add_argument("--only", default="", help="file with one task name per line: only these tasks")
    ap.add_argument("--copies", type=int, default=1,
                    help="each candidate this many times, each copy a distinct source (a marker comment), "
                         "so no copy profits from another's compiled kernel")
    args = ap.parse_args()
    only = None
    if args.only:
        with open(args.only) as f:
            only = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    variants = args.variants.split(",")
    n = 0
    with open(args.out, "w") as out:
        for name in sorted(os.listdir(args.tasks)):
            d = os.path.join(args.tasks, name)
            if not os.path.isfile(os.path.join(d, "task.json")) or (only is not None and name not in only):
                continue
            entry, ref = entry_name(d)
            with open(os.path.join(d, ref)) as f:
                code = f.read()
            if not re.search(r"^import torch", code, re.M):
                code = "import torch\n" + code
            for v in variants:
                body = code
                if v == "slower":
                    body += SLOWER.format(entry=entry)
                elif v == "wrong":
                    body += WRONG.format(entry=entry)
                expect = "mismatch" if v == "wrong" else "pass"
                for c in range(args.copies):
                    ident = "%s.%s" % (name, v) if args.copies == 1 else "%s.%s.c%d" % (name, v, c)
                    text = body if args.copies == 1 else body + "\n# scale-out copy %d\n" % c
                    out.write(json.dumps({"id": ident, "task": name, "code": text, "expect": expect}) + "\n")
                    n += 1
    print("candidates=%d file=%s" % (n, args.out))


if __name__ == "__main__":
    main()
