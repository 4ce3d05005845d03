#!/usr/bin/env python3
"""Candidates for bench/bench_eval_real.sh: distinct sources over many tasks, with the mix of
outcomes real LLM output has (most fail to compile or run).

    make_real_candidates.py --tasks ROOT [--per-task N] [--limit-tasks M] [--seed S] > C.jsonl

For every task under ROOT (its reference.py is the gold kernel), up to N variants, each made
unique (a marker inside every @triton.jit body changes Triton's cache key, so no two candidates
share a compiled kernel):
  gold      the gold kernel, unchanged but for the marker          (should pass)
  launch    a launch parameter perturbed (BLOCK sizes, num_warps)  (pass, or a compile/run error)
  bug       an arithmetic operator flipped inside a kernel          (mismatch, mostly)
  mask      a load/store mask dropped                               (illegal access or mismatch)
  syntax    a colon removed from a def line                         (syntax_error, static)
  call      the entry point renamed                                 (import_error)
Rows: {"id", "task", "variant", "code"}."""
import argparse
import json
import os
import random
import re
import sys

VARIANTS = ("gold", "launch", "bug", "mask", "syntax", "call")


def _mark_jit(src, tag):
    """Insert `_geak_mark = <tag>` as the first statement of every @triton.jit function."""
    out, lines, i = [], src.splitlines(True), 0
    while i < len(lines):
        out.append(lines[i])
        if re.match(r"\s*@triton\.jit", lines[i]) or re.match(r"\s*@jit\b", lines[i]):
            j = i + 1
            while j < len(lines) and not re.match(r"\s*def\s", lines[j]):
                out.append(lines[j])
                j += 1
            # the def may span several lines: up to the line ending with ':'
            while j < len(lines):
                out.append(lines[j])
                if lines[j].rstrip().endswith(":"):
                    break
                j += 1
            if j + 1 < len(lines):
                indent = re.match(r"(\s*)", lines[j + 1]).group(1) or "    "
                out.append("%s_geak_mark = %d\n" % (indent, tag))
            i = j + 1
            continue
        i += 1
    return "".join(out)


def _jit_spans(src):
    """(start, end) character spans of @triton.jit function bodies (to the next top-level line)."""
    spans = []
    for m in re.finditer(r"^@triton\.jit.*?$", src, re.M):
        start = m.end()
        nxt = re.search(r"^\S", src[start + 1:], re.M)
        end = start + 1 + nxt.start() if nxt else len(src)
        # skip the decorator's own def line
        spans.append((start, end))
    return spans


def variant(src, kind, entry, rng):
    if kind == "gold":
        return src
    if kind == "launch":
        subs = [(r"\bBLOCK_SIZE\s*=\s*(\d+)", lambda m: m.group(0).replace(m.group(1), str(max(16, int(m.group(1)) // 2)))),
                (r"num_warps\s*=\s*(\d+)", lambda m: m.group(0).replace(m.group(1), "8" if m.group(1) != "8" else "4")),
                (r"\bBLOCK(_[A-Z]+)?\s*=\s*(\d+)", lambda m: m.group(0)[:-len(m.group(2))] + str(int(m.group(2)) * 2))]
        for pat, fn in subs:
            new, n = re.subn(pat, fn, src, count=1)
            if n:
                return new
        return src.replace("num_stages=", "num_stages=1 or ", 1)
    if kind in ("bug", "mask"):
        spans = _jit_spans(src)
        for s, e in spans:
            body = src[s:e]
            if kind == "bug":
                new, n = re.subn(r"(\w) \+ (\w)", r"\1 - \2", body, count=1)
                if not n:
                    new, n = re.subn(r"(\w) \* (\w)", r"\1 + \2", body, count=1)
            else:
                new, n = re.subn(r",\s*mask\s*=\s*[^,)]+", "", body, count=1)
            if n:
                return src[:s] + new + src[e:]
        return src + "\n\ndef _geak_broken():\n    return undefined_name_xyz\n_geak_broken()\n"
    if kind == "syntax":
        new, n = re.subn(r"^(def [^\n]*\)):", r"\1", src, count=1, flags=re.M)
        return new if n else src + "\ndef oops(:\n    pass\n"
    if kind == "call":
        new, n = re.subn(r"^def %s\b" % re.escape(entry), "def %s_renamed" % entry, src, count=1, flags=re.M)
        return new if n else src + "\n%s = None\n" % entry
    raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", required=True, action="append", help="task root (repeatable)")
    ap.add_argument("--per-task", type=int, default=len(VARIANTS))
    ap.add_argument("--limit-tasks", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows, tag = [], 1000
    for root in a.tasks:
        names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "task.json")))
        if a.limit_tasks:
            rng.shuffle(names)
            names = sorted(names[:a.limit_tasks])
        for name in names:
            d = os.path.join(root, name)
            with open(os.path.join(d, "task.json")) as f:
                meta = json.load(f)
            entry = meta.get("entry")
            sig = entry.get("signature", "") if isinstance(entry, dict) else ""
            entry = entry.get("name") if isinstance(entry, dict) else entry
            m = re.search(r"def\s+(\w+)", sig or "")
            if m:  # imported tasks: the benchmark's own function, called by its test section
                entry = m.group(1)
            with open(os.path.join(d, meta.get("reference", "reference.py"))) as f:
                gold = f.read()
            kinds = list(VARIANTS)
            rng.shuffle(kinds)
            for kind in sorted(kinds[:a.per_task], key=VARIANTS.index):
                tag += 1
                code = _mark_jit(variant(gold, kind, entry, rng), tag)
                code = "# candidate %d (%s)\n" % (tag, kind) + code
                rows.append({"id": "%s-%s" % (name, kind), "task": name, "variant": kind, "code": code})
    for r in rows:
        sys.stdout.write(json.dumps(r) + "\n")
    print("candidates: %d over %d task roots" % (len(rows), len(a.tasks)), file=sys.stderr)


if __name__ == "__main__":
    main()
