"""Latency statistics (fork-server side; samples arrive as raw milliseconds)."""
import math


def latency_stats(samples):
    xs = sorted(float(x) for x in samples if isinstance(x, (int, float)) and math.isfinite(x) and x >= 0)
    n = len(xs)
    if n == 0:
        return {"n": 0, "median_ms": 0.0, "mean_ms": 0.0, "min_ms": 0.0, "max_ms": 0.0,
                "stdev_ms": 0.0, "p10_ms": 0.0, "p90_ms": 0.0}

    def pct(p):
        if n == 1:
            return xs[0]
        k = (n - 1) * p
        lo = int(math.floor(k))
        hi = min(lo + 1, n - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

    mean = sum(xs) / n
    var = sum((x - mean) ** 2 for x in xs) / (n - 1) if n > 1 else 0.0
    return {"n": n, "median_ms": pct(0.5), "mean_ms": mean, "min_ms": xs[0], "max_ms": xs[-1],
            "stdev_ms": math.sqrt(var), "p10_ms": pct(0.1), "p90_ms": pct(0.9)}


def median_ci_rel(samples, z=1.96):
    """Half-width of the distribution-free confidence interval of the median (order statistics,
    about 95 % for z=1.96), relative to the median; inf when there are too few samples."""
    xs = sorted(float(x) for x in samples if isinstance(x, (int, float)) and math.isfinite(x) and x >= 0)
    n = len(xs)
    if n < 6:
        return float("inf")
    half = z * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)))
    med = latency_stats(xs)["median_ms"]
    if med <= 0:
        return float("inf")
    return (xs[hi] - xs[lo]) / 2 / med
