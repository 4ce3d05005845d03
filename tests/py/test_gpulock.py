"""The per-GPU readers-writer lock of the harness (services/evaluator/harness/gpulock.py) across
real processes: readers (correctness work) and writers (timing) log enter/exit events to one
O_APPEND file while they hold the lock; the file's order is the order of the events.

- no reader is inside while a writer is, and never two writers;
- a writer that starts while readers keep arriving (their holds overlap, so the lock is never
  free of readers) still gets in, every round, within a bounded deadline (writer preference);
- readers go on after the writers are done.
"""
import os
import subprocess
import sys

from geakproc import ROOT, wait_until

EVALUATOR = os.path.join(ROOT, "services", "evaluator")
sys.path.insert(0, EVALUATOR)
from harness import gpulock  # noqa: E402

WORKER = r'''
import os, random, sys, time
from harness.gpulock import GpuLock
role, lock_dir, key, log_path, stop, rounds, hold_ms = sys.argv[1:8]
rounds, hold = int(rounds), float(hold_ms) / 1e3
lock = GpuLock(lock_dir, key)
log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
me = "%s %d " % (role, os.getpid())
def event(what):
    os.write(log, (me + what + "\n").encode())
safety = time.monotonic() + 120
n = 0
while time.monotonic() < safety and (rounds == 0 or n < rounds):
    if role == "r" and os.path.exists(stop):
        break
    if role == "w":
        event("want")
        lock.acquire_exclusive()
    else:
        lock.acquire_shared()
    event("enter")
    # the work done under the lock (not synchronisation); readers' holds vary so that they never
    # leave together: the lock always has a reader inside and a plain LOCK_EX would starve
    time.sleep(hold * (random.uniform(0.5, 1.5) if role == "r" else 1.0))
    event("exit")
    lock.release()
    n += 1
event("done")
lock.close()
'''


def read_events(path):
    try:
        with open(path) as f:
            return [tuple(line.split()) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def check_exclusion(events):
    """Scan in file order.  -> list of problems; also the number of writer 'want' events that
    found readers inside (the writer had to get past active readers)."""
    readers, writers = set(), set()
    problems, contested = [], 0
    for i, (role, pid, what) in enumerate(events):
        if what == "want" and readers:
            contested += 1
        if what == "enter":
            if role == "w" and (readers or writers):
                problems.append("event %d: writer %s entered with readers %s writers %s"
                                % (i, pid, sorted(readers), sorted(writers)))
            if role == "r" and writers:
                problems.append("event %d: reader %s entered while writer %s inside" % (i, pid, sorted(writers)))
            (writers if role == "w" else readers).add(pid)
        elif what == "exit":
            (writers if role == "w" else readers).discard(pid)
    return problems, contested


def test_checker_sees_overlap():
    bad = [("r", "1", "enter"), ("w", "2", "want"), ("w", "2", "enter"), ("r", "1", "exit"), ("w", "2", "exit")]
    problems, contested = check_exclusion(bad)
    assert problems and contested == 1
    good = [("r", "1", "enter"), ("r", "3", "enter"), ("w", "2", "want"), ("r", "1", "exit"),
            ("r", "3", "exit"), ("w", "2", "enter"), ("w", "2", "exit")]
    assert check_exclusion(good) == ([], 1)


def test_device_key():
    assert gpulock.device_key(0, {}) == "0"
    assert gpulock.device_key(1, {}) == "1"
    assert gpulock.device_key(0, {"CUDA_VISIBLE_DEVICES": "3"}) == "3"
    assert gpulock.device_key(1, {"CUDA_VISIBLE_DEVICES": "2, 5"}) == "5"
    assert gpulock.device_key(0, {"HIP_VISIBLE_DEVICES": "GPU-ab/../x"}) == "GPU-ab_.._x"
    assert gpulock.device_key(4, {"CUDA_VISIBLE_DEVICES": "1"}) == "4"


def test_one_process_trades_shared_for_exclusive(tmp_path):
    lock = gpulock.GpuLock(str(tmp_path), "0")
    with lock.shared():
        assert lock.mode == "shared"
    with lock.exclusive():
        assert lock.mode == "exclusive"
    assert lock.mode is None
    lock.release()  # not held: no-op
    lock.close()
    assert os.path.exists(tmp_path / "gpu0.lock") and os.path.exists(tmp_path / "gpu0.turnstile")


def test_writers_get_in_while_readers_keep_arriving(tmp_path):
    log = str(tmp_path / "events.log")
    stop = str(tmp_path / "stop")
    env = dict(os.environ, PYTHONPATH=EVALUATOR)
    procs = []

    def start(role, rounds, hold_ms):
        p = subprocess.Popen([sys.executable, "-c", WORKER, role, str(tmp_path), "7", log, stop,
                              str(rounds), str(hold_ms)], env=env, cwd=ROOT)
        procs.append(p)
        return p

    try:
        readers = [start("r", 0, 40) for _ in range(4)]
        # readers are arriving and holding the lock (overlapping holds) before any writer starts
        wait_until(lambda: len({pid for role, pid, what in read_events(log)
                                if role == "r" and what == "enter"}) == len(readers),
                   timeout=60, what="all readers inside at least once")
        writers = [start("w", 3, 10) for _ in range(2)]
        # every writer round completes although readers never stop arriving
        wait_until(lambda: all(p.poll() is not None for p in writers), timeout=60,
                   what="writers done while readers keep arriving")
        assert all(p.returncode == 0 for p in writers)
        n_events = len(read_events(log))
        # readers were not starved either: they go on after the writers
        wait_until(lambda: sum(1 for role, _, what in read_events(log)[n_events:]
                               if role == "r" and what == "enter") >= 4,
                   timeout=60, what="readers after the writers")
        assert all(p.poll() is None for p in readers), "a reader stopped early"
    finally:
        open(stop, "w").close()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    events = read_events(log)
    problems, contested = check_exclusion(events)
    assert not problems, problems[:5]
    wants = [e for e in events if e[2] == "want"]
    w_enters = [e for e in events if e[0] == "w" and e[2] == "enter"]
    assert len(wants) == 6 and len(w_enters) == 6
    # the writers really had to get past active readers (not an idle lock)
    assert contested >= 1, events[:40]
    assert all(p.returncode == 0 for p in procs)
