"""geak-c evaluation harness: a fork server that judges Triton candidates (docs/harness.md)."""
__all__ = ["forkserver", "child", "sandbox", "screen", "compare", "stats", "task", "wire"]
