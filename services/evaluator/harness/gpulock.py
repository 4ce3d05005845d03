"""Per-GPU readers-writer lock shared by every fork server on the host (docs/harness.md "GPU lock").

Correctness work (oracle and candidate children running) holds the lock SHARED; timing a pair
holds it EXCLUSIVE, so no other fork server's correctness run overlaps a timing pair on that GPU.

Two flock()ed files in the cache dir per device:
  gpu<KEY>.lock       the lock itself: LOCK_SH for readers, LOCK_EX for the writer
  gpu<KEY>.turnstile  a gate: a reader passes it (LOCK_EX, released as soon as it holds the lock);
                      a writer holds it while it waits for the lock, so readers that arrive after
                      a writer queue behind it, the readers inside drain, and the writer gets in
                      (writer preference: timing never starves however many fork servers keep
                      doing correctness work).
A process holds at most one mode at a time and never waits for anything while holding the lock
(release the shared lock before asking for the exclusive one), so there is no lock-order cycle.
flock belongs to the open file description: a killed process's locks go with it; children that
inherit the descriptors never lock or unlock them.  No torch import here: tests use it alone.
"""
import fcntl
import os
import re

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_VISIBLE_VARS = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")


def device_key(index, environ=None):
    """The physical device behind runtime index `index`, as a file-name-safe string: the index-th
    entry of a *_VISIBLE_DEVICES list when one is set (the C evaluator pins one GPU per evaluator
    and passes index 0), else the index itself.  Two fork servers on the same GPU get the same key."""
    env = os.environ if environ is None else environ
    for var in _VISIBLE_VARS:
        value = env.get(var)
        if value:
            entries = [e.strip() for e in value.split(",") if e.strip()]
            if 0 <= index < len(entries):
                return _SAFE.sub("_", entries[index])[:64]
    return str(int(index))


class GpuLock:
    def __init__(self, directory, key):
        self.path = os.path.join(directory, "gpu%s.lock" % key)
        self.gate_path = os.path.join(directory, "gpu%s.turnstile" % key)
        self.mode = None  # None | "shared" | "exclusive"
        self._fd = None
        self._gate = None

    def _open(self):
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._gate = os.open(self.gate_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _take(self, how):
        assert self.mode is None, "GpuLock: already held %s" % self.mode
        self._open()
        fcntl.flock(self._gate, fcntl.LOCK_EX)  # retried on EINTR by Python (PEP 475)
        try:
            fcntl.flock(self._fd, how)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    def acquire_shared(self):
        """Correctness work: waits while a writer holds the lock or waits for it."""
        self._take(fcntl.LOCK_SH)
        self.mode = "shared"

    def acquire_exclusive(self):
        """Timing: waits until the readers inside are gone; new readers wait behind us."""
        self._take(fcntl.LOCK_EX)
        self.mode = "exclusive"

    def release(self):
        """Safe when not held."""
        if self.mode is not None:
            self.mode = None
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self):
        self.release()
        for fd in (self._fd, self._gate):
            if fd is not None:
                os.close(fd)
        self._fd = self._gate = None

    def shared(self):
        return _Held(self, self.acquire_shared)

    def exclusive(self):
        return _Held(self, self.acquire_exclusive)


class _Held:
    def __init__(self, lock, acquire):
        self.lock = lock
        self.acquire = acquire

    def __enter__(self):
        self.acquire()
        return self.lock

    def __exit__(self, *exc):
        self.lock.release()
