"""Row-wise sort task: oracle, inputs and cases (exact). NaN policy: NaNs sort last, as torch.sort."""
import math

import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    # (dtype, M, N, special): special = inject +-inf, NaN (both signs), -0.0/+0.0 and heavy duplicates
    # (tl.sort is slow in Triton's CPU interpreter, ~0.7 ms per element: the interpreted cases are tiny)
    cases = [("float32", 3, 40, True), ("float16", 2, 33, True), ("bfloat16", 3, 10, False), ("float32", 0, 64, False),
             ("float32", 4, 0, False), ("float32", 1, 1, False), ("float16", 5, 7, True)]
    if not interpreted:
        cases += [("float32", 8, 100, True), ("bfloat16", 3, 333, False), ("float32", 2, 1000, False),
                  ("float32", 1024, 4096, True), ("bfloat16", 4096, 4000, True), ("float16", 100000, 16, False),
                  ("float16", 3, 4096, True), ("float32", 2000, 3, True)]
    return [{"dtype": d, "m": m, "n": n, "special": s, "label": "%s %dx%d%s" % (d, m, n, " +inf/nan/dup" if s else "")}
            for d, m, n, s in cases]


def perf_cases(interpreted):
    return [{"dtype": "float32", "m": 16384, "n": 4096, "special": False, "label": "float32 16384x4096"},
            {"dtype": "float16", "m": 65536, "n": 1024, "special": False, "label": "float16 65536x1024"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    m, n = case["m"], case["n"]
    x = torch.randn(m, n, generator=g, device=device) * 100.0
    if case["special"] and m * n:
        u = torch.rand(m, n, generator=g, device=device)
        pick = torch.randint(0, 8, (m, n), generator=g, device=device)
        specials = torch.tensor([float("inf"), float("-inf"), float("nan"), -float("nan"), 0.0, -0.0, 1.5, -3.0],
                                device=device)
        x = torch.where(u < 0.15, specials[pick], x)
    return (x.to(DT[case["dtype"]]),)


def oracle(x):
    # every NaN made positive first: torch.sort on CUDA (a radix sort of the bits) puts NaNs with the sign
    # bit set first, on the CPU last; the contract is "last" on every device
    xf = x.float()
    xf = torch.where(torch.isnan(xf), float("nan"), xf)
    return torch.sort(xf, dim=-1).values.to(x.dtype)


def bytes_moved(case):
    return 2 * case["m"] * case["n"] * DT[case["dtype"]].itemsize


def flops(case):
    n = max(case["n"], 2)
    lg = math.ceil(math.log2(n))
    return case["m"] * (1 << lg) * lg * (lg + 1) // 4
