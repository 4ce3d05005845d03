"""The host's self-check cache, readable without torch: `geak tasks check` answers the tasks
checked before from here, before it starts any fork server.

    python3 -m harness.selfcheck_cache [--cache-dir D] [--device-index I] [--interpret]
                                       [--mode correctness|full] TASK_DIR...

prints {"device": facts}, then one JSON line {"task_dir", "result"} per task whose answer is in
the cache.  An answer is
keyed by the task's digest, the device, torch, triton and the harness's own sources; the device
and the versions come from the file the fork server writes after probing its device
(`device-<index>-<gpu|interp>.json`), used only while the machine has not rebooted since (boot id)
and the installed torch and triton are the ones it recorded.
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile

from . import task as tasklib

_HARNESS_DIGEST = []


def default_cache_dir():
    return os.path.join(tempfile.gettempdir(), "geak-harness-cache-%d" % os.getuid())


def harness_digest():
    """sha256 of this harness's own sources: a new harness checks every task again."""
    if not _HARNESS_DIGEST:
        h = hashlib.sha256()
        d = os.path.dirname(os.path.abspath(__file__))
        for n in sorted(os.listdir(d)):
            if n.endswith(".py"):
                with open(os.path.join(d, n), "rb") as f:
                    h.update(n.encode() + b"\0" + f.read())
        _HARNESS_DIGEST.append(h.hexdigest()[:16])
    return _HARNESS_DIGEST[0]


def key(task, facts, torch_version, triton_version, mode):
    return hashlib.sha256(json.dumps([task.digest, task.name, facts.get("name"), facts.get("arch"),
                                      torch_version, triton_version, harness_digest(),
                                      mode or "correctness"]).encode()).hexdigest()[:32]


def answer_path(cache_dir, k):
    return os.path.join(cache_dir, "selfcheck", "%s.json" % k)


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _dists():
    out = {}
    for name in ("torch", "triton"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _device_path(cache_dir, device_index, interpreted):
    return os.path.join(cache_dir, "selfcheck", "device-%d-%s.json"
                        % (int(device_index), "interp" if interpreted else "gpu"))


def write_device(cache_dir, device_index, interpreted, facts, torch_version, triton_version):
    """Called by the fork server once it knows its device (atomic replace)."""
    path = _device_path(cache_dir, device_index, interpreted)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump({"boot_id": _boot_id(), "facts": facts, "torch": torch_version, "triton": triton_version,
                   "dists": _dists()}, f)
    os.replace(tmp, path)


def read_answer(path):
    """A stored answer -> dict or None (never follows a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            hit = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(hit, dict) and hit.get("status") in ("ok", "broken", "flaky", "unsupported_on_device"):
        return hit
    return None


def lookup(cache_dir, device_index, interpreted, task_dirs, mode):
    """-> [(None, device facts), (task_dir, answer)...] for the tasks answered by the cache (nothing
    when the device file is missing, from another boot, or from other torch / triton installs)."""
    try:
        with open(_device_path(cache_dir, device_index, interpreted)) as f:
            dev = json.load(f)
    except (OSError, ValueError):
        return []
    if not isinstance(dev, dict) or dev.get("boot_id") != _boot_id() or dev.get("dists") != _dists():
        return []
    facts = dev.get("facts") or {}
    out = [(None, facts)]
    for d in task_dirs:
        try:
            t = tasklib.load(d)
        except tasklib.TaskError:
            continue
        hit = read_answer(answer_path(cache_dir, key(t, facts, dev.get("torch"), dev.get("triton"), mode)))
        if hit is not None:
            hit["cached"] = True
            out.append((d, hit))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="harness.selfcheck_cache")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--device-index", type=int, default=0)
    p.add_argument("--interpret", action="store_true")
    p.add_argument("--mode", default="correctness")
    p.add_argument("task_dirs", nargs="*")
    a = p.parse_args(argv)
    cache = os.path.realpath(a.cache_dir or default_cache_dir())
    for d, hit in lookup(cache, a.device_index, a.interpret, a.task_dirs, a.mode):
        row = {"device": hit} if d is None else {"task_dir": d, "result": hit}
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
